//! API routes for notifications, merged into the service's router by `taskforce serve`:
//! plan, send, the outbox, tickets and a ticket's detail, acknowledgements. Staff only; every
//! change is audited.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use sqlx::Row;
use taskforce_service::api::{Access, ApiError, ApiResult, AppState, Endpoint, Staff, audit};

use crate::config::NotifyConfig;
use crate::outbox::Composer;
use crate::templates::Templates;

/// What the handlers need besides the service's state.
#[derive(Clone)]
pub struct NotifyState {
    pub config: Arc<NotifyConfig>,
    pub templates: Arc<Templates>,
    /// One send at a time (a second request waits).
    pub sending: Arc<tokio::sync::Mutex<()>>,
}

/// The notification routes, with who may call them (the authorisation-matrix test walks it).
pub const ENDPOINTS: &[Endpoint] = &[
    Endpoint { method: "GET", path: "/api/v1/notify/plan", access: Access::Staff },
    Endpoint { method: "POST", path: "/api/v1/notify/send", access: Access::Staff },
    Endpoint { method: "GET", path: "/api/v1/notify/outbox", access: Access::Staff },
    Endpoint { method: "GET", path: "/api/v1/notify/tickets", access: Access::Staff },
    Endpoint { method: "GET", path: "/api/v1/notify/tickets/{ticket}", access: Access::Staff },
    Endpoint { method: "POST", path: "/api/v1/notify/tickets/{ticket}/acknowledge", access: Access::Staff },
];

pub fn routes(state: NotifyState) -> Router<AppState> {
    Router::new()
        .route("/api/v1/notify/plan", get(plan))
        .route("/api/v1/notify/send", post(send))
        .route("/api/v1/notify/outbox", get(outbox))
        .route("/api/v1/notify/tickets", get(tickets))
        .route("/api/v1/notify/tickets/{ticket}", get(ticket_detail))
        .route("/api/v1/notify/tickets/{ticket}/acknowledge", post(acknowledge))
        .layer(Extension(state))
}

fn any_err(e: anyhow::Error) -> ApiError {
    ApiError::from(e)
}

async fn plan(
    State(s): State<AppState>,
    Staff(_): Staff,
    Extension(n): Extension<NotifyState>,
) -> ApiResult<Json<Value>> {
    let plan = crate::plan::plan(&s.db, &n.config, &taskforce_service::time::now()).await.map_err(any_err)?;
    Ok(Json(serde_json::to_value(plan).map_err(anyhow::Error::from)?))
}

#[derive(Deserialize, Default)]
pub struct SendBody {
    limit: Option<usize>,
}

async fn send(
    State(s): State<AppState>,
    Staff(p): Staff,
    Extension(n): Extension<NotifyState>,
    body: Option<Json<SendBody>>,
) -> ApiResult<Json<Value>> {
    let limit = body.and_then(|b| b.0.limit);
    let _one = n.sending.lock().await;
    let report = crate::deliver::send(&s.db, &n.config, &n.templates, limit).await.map_err(any_err)?;
    let after = serde_json::to_value(&report).map_err(anyhow::Error::from)?;
    audit(&s.db, &p, "send", "notification", "batch", None, Some(after.clone())).await?;
    Ok(Json(after))
}

fn page(q: &[(String, String)]) -> ApiResult<(i64, i64)> {
    let get = |k: &str, d: i64| -> ApiResult<i64> {
        match q.iter().find(|(key, _)| key == k) {
            None => Ok(d),
            Some((_, v)) => v.parse().map_err(|_| ApiError::bad_request(format!("{k} must be a number, not {v:?}"))),
        }
    };
    let per = get("per_page", 50)?.clamp(1, 1000);
    let page = get("page", 1)?.max(1);
    Ok((per, (page - 1) * per))
}

fn param<'a>(q: &'a [(String, String)], k: &str) -> Option<&'a str> {
    q.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str())
}

fn check_params(q: &[(String, String)], allowed: &[&str]) -> ApiResult<()> {
    match q.iter().find(|(k, _)| !allowed.contains(&k.as_str())) {
        Some((k, _)) => Err(ApiError::bad_request(format!("unknown parameter {k:?}"))),
        None => Ok(()),
    }
}

const OUTBOX_COLUMNS: &str = "o.id, t.ticket, o.org_id, o.recipient, o.recipient_kind, o.via, o.lang, o.status, o.message_id, o.subject, o.attempts, o.last_error, o.next_attempt_at, o.created_at, o.updated_at, o.sent_at";

fn outbox_json(r: &sqlx::any::AnyRow) -> Result<Value, sqlx::Error> {
    Ok(json!({
        "id": r.try_get::<i64, _>(0)?, "ticket": r.try_get::<String, _>(1)?, "org_id": r.try_get::<i64, _>(2)?,
        "recipient": r.try_get::<String, _>(3)?, "recipient_kind": r.try_get::<String, _>(4)?, "via": r.try_get::<Option<String>, _>(5)?,
        "lang": r.try_get::<String, _>(6)?, "status": r.try_get::<String, _>(7)?, "message_id": r.try_get::<String, _>(8)?,
        "subject": r.try_get::<String, _>(9)?, "attempts": r.try_get::<i64, _>(10)?, "last_error": r.try_get::<Option<String>, _>(11)?,
        "next_attempt_at": r.try_get::<String, _>(12)?, "created_at": r.try_get::<String, _>(13)?, "updated_at": r.try_get::<String, _>(14)?,
        "sent_at": r.try_get::<Option<String>, _>(15)?,
    }))
}

async fn outbox(
    State(s): State<AppState>,
    Staff(_): Staff,
    Query(q): Query<Vec<(String, String)>>,
) -> ApiResult<Json<Value>> {
    check_params(&q, &["status", "org", "page", "per_page"])?;
    let (limit, offset) = page(&q)?;
    let status = param(&q, "status").map(str::to_string);
    if let Some(st) = &status
        && !["planned", "sending", "sent", "deferred", "failed"].contains(&st.as_str())
    {
        return Err(ApiError::bad_request(format!("unknown status {st:?}")));
    }
    let org: Option<i64> = match param(&q, "org") {
        Some(v) => Some(v.parse().map_err(|_| ApiError::bad_request(format!("org must be a number, not {v:?}")))?),
        None => None,
    };
    let sql = format!(
        "SELECT {OUTBOX_COLUMNS} FROM notify_outbox o JOIN notify_ticket t ON t.id = o.ticket_id \
         WHERE ($1 IS NULL OR o.status = $1) AND ($2 IS NULL OR o.org_id = $2) ORDER BY o.id DESC LIMIT {limit} OFFSET {offset}"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(status.clone()).bind(org).fetch_all(&s.db.pool).await?;
    let total: i64 = sqlx::query(
        "SELECT COUNT(*) FROM notify_outbox o WHERE ($1 IS NULL OR o.status = $1) AND ($2 IS NULL OR o.org_id = $2)",
    )
    .bind(status)
    .bind(org)
    .fetch_one(&s.db.pool)
    .await?
    .try_get(0)?;
    let items = rows.iter().map(outbox_json).collect::<Result<Vec<_>, _>>()?;
    Ok(Json(json!({"items": items, "total": total})))
}

const TICKET_COLUMNS: &str = "t.id, t.ticket, t.org_id, o.name, t.campaign, t.created_at, t.reason, t.worst_state, t.status, t.acknowledged_at, t.acknowledged_by, t.token_expires_at";

fn ticket_json(r: &sqlx::any::AnyRow) -> Result<Value, sqlx::Error> {
    Ok(json!({
        "id": r.try_get::<i64, _>(0)?, "ticket": r.try_get::<String, _>(1)?, "org_id": r.try_get::<i64, _>(2)?,
        "organisation": r.try_get::<String, _>(3)?, "campaign": r.try_get::<String, _>(4)?, "created_at": r.try_get::<String, _>(5)?,
        "reason": r.try_get::<String, _>(6)?, "worst_state": r.try_get::<Option<String>, _>(7)?, "status": r.try_get::<String, _>(8)?,
        "acknowledged_at": r.try_get::<Option<String>, _>(9)?, "acknowledged_by": r.try_get::<Option<String>, _>(10)?,
        "token_expires_at": r.try_get::<Option<String>, _>(11)?,
    }))
}

async fn tickets(
    State(s): State<AppState>,
    Staff(_): Staff,
    Query(q): Query<Vec<(String, String)>>,
) -> ApiResult<Json<Value>> {
    check_params(&q, &["org", "status", "page", "per_page"])?;
    let (limit, offset) = page(&q)?;
    let org: Option<i64> = match param(&q, "org") {
        Some(v) => Some(v.parse().map_err(|_| ApiError::bad_request(format!("org must be a number, not {v:?}")))?),
        None => None,
    };
    let status = param(&q, "status").map(str::to_string);
    let sql = format!(
        "SELECT {TICKET_COLUMNS} FROM notify_ticket t JOIN organisation o ON o.id = t.org_id \
         WHERE ($1 IS NULL OR t.org_id = $1) AND ($2 IS NULL OR t.status = $2) AND t.ticket LIKE 'TF-%' ORDER BY t.id DESC LIMIT {limit} OFFSET {offset}"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(org).bind(status).fetch_all(&s.db.pool).await?;
    let items = rows.iter().map(ticket_json).collect::<Result<Vec<_>, _>>()?;
    Ok(Json(json!({"items": items})))
}

async fn ticket_detail(
    State(s): State<AppState>,
    Staff(_): Staff,
    Path(ticket): Path<String>,
) -> ApiResult<Json<Value>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {TICKET_COLUMNS}, t.hosts_json, t.summary_json FROM notify_ticket t JOIN organisation o ON o.id = t.org_id WHERE t.ticket = $1"
    )))
    .bind(ticket.clone())
    .fetch_optional(&s.db.pool)
    .await?
    .ok_or_else(|| ApiError::not_found("ticket"))?;
    let mut out = ticket_json(&row)?;
    let hosts: Value = serde_json::from_str(&row.try_get::<String, _>(12)?).unwrap_or(Value::Null);
    let summary: Value = serde_json::from_str(&row.try_get::<String, _>(13)?).unwrap_or(Value::Null);
    let messages = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {OUTBOX_COLUMNS} FROM notify_outbox o JOIN notify_ticket t ON t.id = o.ticket_id WHERE t.ticket = $1 ORDER BY o.id"
    )))
    .bind(ticket)
    .fetch_all(&s.db.pool)
    .await?
    .iter()
    .map(outbox_json)
    .collect::<Result<Vec<_>, _>>()?;
    out["hosts"] = hosts;
    out["summary"] = summary;
    out["messages"] = Value::Array(messages);
    Ok(Json(out))
}

async fn acknowledge(State(s): State<AppState>, Staff(p): Staff, Path(ticket): Path<String>) -> ApiResult<Json<Value>> {
    let now = taskforce_service::time::now();
    let actor = format!("analyst:{}", p.name);
    match crate::outbox::acknowledge(&s.db, &ticket, &actor, &now).await.map_err(any_err)? {
        None => Err(ApiError::not_found("ticket")),
        Some(false) => Err(ApiError::new(
            axum::http::StatusCode::CONFLICT,
            "the organisation cannot be acknowledged now (not notified yet, or already acknowledged)",
        )),
        Some(true) => {
            let after = json!({"ticket": ticket, "status": "acknowledged", "at": now});
            audit(&s.db, &p, "acknowledge", "ticket", &ticket, None, Some(after.clone())).await?;
            Ok(Json(after))
        }
    }
}

/// A composer for callers outside the handlers (the `serve` schedule, tests).
pub fn composer<'a>(db: &'a taskforce_service::Db, n: &'a NotifyState) -> Composer<'a> {
    Composer { db, cfg: &n.config, templates: &n.templates }
}
