//! Health, dashboard counts, ingests, the audit log and token management.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use sqlx::Row;

use super::{Admin, ApiError, ApiResult, AppState, AtParam, at_param, require_admin, require_staff};
use crate::query::{self, PageParams};
use crate::tokens::{self, Principal, Role};

pub async fn health(State(s): State<AppState>) -> (StatusCode, Json<Value>) {
    match sqlx::query("SELECT 1").fetch_one(&s.db.pool).await {
        Ok(_) => (
            StatusCode::OK,
            Json(
                json!({"status": "ok", "database": s.db.dialect.name(), "schema_version": crate::db::SCHEMA_VERSION, "version": env!("CARGO_PKG_VERSION")}),
            ),
        ),
        Err(e) => {
            // The driver's text (host names, ports, user names) is for the log, not the caller.
            let reference = super::error_reference();
            tracing::error!(reference = %reference, error = %e, "health check: the database is unreachable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(
                    json!({"status": "unavailable", "error": format!("the database is unreachable (reference {reference})")}),
                ),
            )
        }
    }
}

pub async fn stats(State(s): State<AppState>, p: Principal, Query(q): Query<AtParam>) -> ApiResult<Json<query::Stats>> {
    require_staff(&p)?;
    let at = at_param(q.at.as_deref())?;
    Ok(Json(query::stats(&s.db, at.as_deref()).await?))
}

/// `?page=&per_page=` or `?cursor=&per_page=` of a newest-first list keyed by id: the cursor is
/// the id the next page starts below (its `next_cursor`).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct IdPage {
    page: Option<u32>,
    per_page: Option<u32>,
    cursor: Option<i64>,
}

impl IdPage {
    /// `(LIMIT, OFFSET, WHERE)`; a cursor replaces the offset with a seek on the primary key.
    fn plan(&self) -> ApiResult<(i64, i64, String)> {
        let p = PageParams { page: self.page.unwrap_or(1), per_page: self.per_page.unwrap_or(50) };
        let (per, offset) = p.limit_offset();
        match self.cursor {
            Some(_) if self.page.is_some() => Err(ApiError::bad_request("give page or cursor, not both")),
            Some(c) => Ok((per, 0, format!(" WHERE id < {c}"))),
            None => Ok((per, offset, String::new())),
        }
    }

    fn page_number(&self) -> Value {
        if self.cursor.is_some() { json!(0) } else { json!(self.page.unwrap_or(1).max(1)) }
    }
}

/// Keeps a page of `per` rows out of `per + 1` read; the next cursor when there are more.
fn next_id_cursor(items: &mut Vec<Value>, per: i64) -> Value {
    if items.len() as i64 > per {
        items.truncate(per as usize);
        items.last().map(|v| json!(v["id"].as_i64().map(|id| id.to_string()))).unwrap_or(Value::Null)
    } else {
        Value::Null
    }
}

pub async fn ingests(State(s): State<AppState>, p: Principal, Query(page): Query<IdPage>) -> ApiResult<Json<Value>> {
    require_staff(&p)?;
    let (per, offset, seek) = page.plan()?;
    // Kept by the ingest table's triggers (migration 0006), not counted per request.
    let total: i64 = sqlx::query("SELECT COALESCE(MAX(n), 0) FROM row_tally WHERE name = 'ingest'")
        .fetch_one(&s.db.pool)
        .await?
        .try_get(0)?;
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT id, kind, file_name, sha256, received_at, uploader, status, rows_total, rows_ok, rows_duplicate, rows_rejected, rows_ignored FROM ingest{seek} ORDER BY id DESC LIMIT $1 OFFSET $2"
    )))
    .bind(per + 1)
    .bind(offset)
    .fetch_all(&s.db.pool)
    .await?;
    let mut items: Vec<Value> = rows.iter().map(ingest_json).collect::<Result<_, sqlx::Error>>()?;
    let next = next_id_cursor(&mut items, per);
    Ok(Json(json!({"items": items, "page": page.page_number(), "per_page": per, "total": total, "next_cursor": next})))
}

fn ingest_json(r: &sqlx::any::AnyRow) -> Result<Value, sqlx::Error> {
    Ok(json!({
        "id": r.try_get::<i64, _>(0)?, "kind": r.try_get::<String, _>(1)?, "file_name": r.try_get::<String, _>(2)?,
        "sha256": r.try_get::<String, _>(3)?, "received_at": r.try_get::<String, _>(4)?, "uploader": r.try_get::<String, _>(5)?,
        "status": r.try_get::<String, _>(6)?, "rows_total": r.try_get::<i64, _>(7)?, "rows_ok": r.try_get::<i64, _>(8)?,
        "rows_duplicate": r.try_get::<i64, _>(9)?, "rows_rejected": r.try_get::<i64, _>(10)?, "rows_ignored": r.try_get::<i64, _>(11)?,
    }))
}

pub async fn ingest_detail(State(s): State<AppState>, p: Principal, Path(id): Path<i64>) -> ApiResult<Json<Value>> {
    require_staff(&p)?;
    let row = sqlx::query(
        "SELECT id, kind, file_name, sha256, received_at, uploader, status, rows_total, rows_ok, rows_duplicate, rows_rejected, rows_ignored FROM ingest WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(&s.db.pool)
    .await?
    .ok_or_else(|| ApiError::not_found("ingest"))?;
    let mut v = ingest_json(&row)?;
    let errors: Vec<Value> =
        sqlx::query("SELECT line, message FROM ingest_error WHERE ingest_id = $1 ORDER BY line LIMIT 1000")
            .bind(id)
            .fetch_all(&s.db.pool)
            .await?
            .iter()
            .map(|r| Ok(json!({"line": r.try_get::<i64, _>(0)?, "message": r.try_get::<String, _>(1)?})))
            .collect::<Result<_, sqlx::Error>>()?;
    v["errors"] = Value::Array(errors);
    Ok(Json(v))
}

pub async fn audit_log(State(s): State<AppState>, p: Principal, Query(page): Query<IdPage>) -> ApiResult<Json<Value>> {
    require_staff(&p)?;
    let (per, offset, seek) = page.plan()?;
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT id, at, actor, action, object_type, object_id, before_json, after_json FROM audit_log{seek} ORDER BY id DESC LIMIT $1 OFFSET $2"
    )))
    .bind(per + 1)
    .bind(offset)
    .fetch_all(&s.db.pool)
    .await?;
    let parse = |s: Option<String>| s.and_then(|s| serde_json::from_str::<Value>(&s).ok()).unwrap_or(Value::Null);
    let mut items: Vec<Value> = rows
        .iter()
        .map(|r| {
            Ok(json!({
                "id": r.try_get::<i64, _>(0)?, "at": r.try_get::<String, _>(1)?, "actor": r.try_get::<String, _>(2)?,
                "action": r.try_get::<String, _>(3)?, "object_type": r.try_get::<String, _>(4)?, "object_id": r.try_get::<Option<String>, _>(5)?,
                "before": parse(r.try_get(6)?), "after": parse(r.try_get(7)?),
            }))
        })
        .collect::<Result<_, sqlx::Error>>()?;
    let next = next_id_cursor(&mut items, per);
    Ok(Json(json!({"items": items, "page": page.page_number(), "per_page": per, "next_cursor": next})))
}

pub async fn list_tokens(State(s): State<AppState>, p: Principal) -> ApiResult<Json<Vec<tokens::TokenInfo>>> {
    require_admin(&p)?;
    Ok(Json(tokens::list(&s.db).await?))
}

#[derive(Deserialize)]
pub struct NewToken {
    name: String,
    role: String,
    org_id: Option<i64>,
}

pub async fn create_token(
    State(s): State<AppState>,
    Admin(p): Admin,
    Json(body): Json<NewToken>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    require_admin(&p)?;
    let role = Role::parse(&body.role)
        .ok_or_else(|| ApiError::bad_request(format!("unknown role {:?}: admin, analyst or reporter", body.role)))?;
    let (id, secret) = crate::records::create_token(&s.db, &p, &body.name, role, body.org_id).await?;
    let mut out = json!({"id": id, "name": body.name, "role": role.as_str(), "org_id": body.org_id});
    out["token"] = Value::String(secret);
    Ok((StatusCode::CREATED, Json(out)))
}

pub async fn revoke_token(State(s): State<AppState>, p: Principal, Path(id): Path<i64>) -> ApiResult<StatusCode> {
    require_admin(&p)?;
    if !crate::records::revoke_token(&s.db, &p, id).await? {
        return Err(ApiError::not_found("active token"));
    }
    Ok(StatusCode::NO_CONTENT)
}
