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
use taskforce_service::Db;
use taskforce_service::api::{Access, ApiError, ApiResult, AppState, Endpoint, Staff, audit};
use taskforce_service::tokens::Principal;

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

impl NotifyState {
    /// The settings with their templates (the configured folder, or the shipped ones).
    pub fn new(config: NotifyConfig) -> anyhow::Result<NotifyState> {
        let templates = Templates::load(config.templates.as_deref())?;
        Ok(NotifyState { config: Arc::new(config), templates: Arc::new(templates), sending: Default::default() })
    }
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
    Ok(Json(send_audited(&s.db, &n, &p, body.and_then(|b| b.0.limit)).await?))
}

/// Plans, enqueues what is due and delivers (one send at a time), then audits the batch: the
/// one code path of the API's `POST /notify/send` and the dashboard's send button.
pub async fn send_audited(db: &Db, n: &NotifyState, p: &Principal, limit: Option<usize>) -> ApiResult<Value> {
    let _one = n.sending.lock().await;
    let report = crate::deliver::send(db, &n.config, &n.templates, limit).await.map_err(any_err)?;
    // The audit row keeps the counts and ticket numbers, not every message of the batch.
    audit(db, p, "send", "notification", "batch", None, Some(report.audit_summary())).await?;
    Ok(serde_json::to_value(&report).map_err(anyhow::Error::from)?)
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

const OUTBOX_COLUMNS: &str = "o.id, t.ticket, o.org_id, o.recipient, o.recipient_kind, o.via, o.lang, o.status, o.message_id, o.subject, o.attempts, o.last_error, o.next_attempt_at, o.created_at, o.updated_at, o.sent_at, g.name";

fn outbox_json(r: &sqlx::any::AnyRow) -> Result<Value, sqlx::Error> {
    Ok(json!({
        "id": r.try_get::<i64, _>(0)?, "ticket": r.try_get::<String, _>(1)?, "org_id": r.try_get::<i64, _>(2)?,
        "recipient": r.try_get::<String, _>(3)?, "recipient_kind": r.try_get::<String, _>(4)?, "via": r.try_get::<Option<String>, _>(5)?,
        "lang": r.try_get::<String, _>(6)?, "status": r.try_get::<String, _>(7)?, "message_id": r.try_get::<String, _>(8)?,
        "subject": r.try_get::<String, _>(9)?, "attempts": r.try_get::<i64, _>(10)?, "last_error": r.try_get::<Option<String>, _>(11)?,
        "next_attempt_at": r.try_get::<String, _>(12)?, "created_at": r.try_get::<String, _>(13)?, "updated_at": r.try_get::<String, _>(14)?,
        "sent_at": r.try_get::<Option<String>, _>(15)?, "organisation": r.try_get::<String, _>(16)?,
    }))
}

async fn outbox(
    State(s): State<AppState>,
    Staff(_): Staff,
    Query(q): Query<Vec<(String, String)>>,
) -> ApiResult<Json<Value>> {
    check_params(&q, &["status", "org", "page", "per_page"])?;
    let (limit, offset) = page(&q)?;
    let org: Option<i64> = match param(&q, "org") {
        Some(v) => Some(v.parse().map_err(|_| ApiError::bad_request(format!("org must be a number, not {v:?}")))?),
        None => None,
    };
    let (items, total) = outbox_page(&s.db, param(&q, "status"), org, limit, offset).await?;
    Ok(Json(json!({"items": items, "total": total})))
}

/// A value bound to a list filter.
enum Filter {
    Text(String),
    Int(i64),
}

fn where_sql(clauses: &[String]) -> String {
    if clauses.is_empty() { String::new() } else { format!(" WHERE {}", clauses.join(" AND ")) }
}

fn bind_all<'q>(
    mut q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    binds: &[Filter],
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
    for b in binds {
        q = match b {
            Filter::Text(s) => q.bind(s.clone()),
            Filter::Int(i) => q.bind(*i),
        };
    }
    q
}

/// The outbox statuses a filter may name.
pub const OUTBOX_STATUSES: &[&str] = &["planned", "sending", "sent", "deferred", "failed"];

/// Outbox rows, newest first, optionally of one status and one organisation, with the total:
/// the API's outbox and the dashboard's.
pub async fn outbox_page(
    db: &Db,
    status: Option<&str>,
    org: Option<i64>,
    limit: i64,
    offset: i64,
) -> ApiResult<(Vec<Value>, i64)> {
    if let Some(st) = status
        && !OUTBOX_STATUSES.contains(&st)
    {
        return Err(ApiError::bad_request(format!("unknown status {st:?}")));
    }
    // Only the conditions asked for, so that each can use its index (`o.org_id = $1` on
    // notify_outbox_org: an organisation's page reads its messages without a scan).
    let mut clauses = Vec::new();
    let mut binds: Vec<Filter> = Vec::new();
    if let Some(st) = status {
        binds.push(Filter::Text(st.to_string()));
        clauses.push(format!("o.status = ${}", binds.len()));
    }
    if let Some(org) = org {
        binds.push(Filter::Int(org));
        clauses.push(format!("o.org_id = ${}", binds.len()));
    }
    let cond = where_sql(&clauses);
    let sql = format!(
        "SELECT {OUTBOX_COLUMNS} FROM notify_outbox o JOIN notify_ticket t ON t.id = o.ticket_id JOIN organisation g ON g.id = o.org_id\
         {cond} ORDER BY o.id DESC LIMIT {limit} OFFSET {offset}"
    );
    let rows = bind_all(sqlx::query(sqlx::AssertSqlSafe(sql)), &binds).fetch_all(&db.pool).await?;
    let count = format!("SELECT COUNT(*) FROM notify_outbox o{cond}");
    let total: i64 = bind_all(sqlx::query(sqlx::AssertSqlSafe(count)), &binds).fetch_one(&db.pool).await?.try_get(0)?;
    let items = rows.iter().map(outbox_json).collect::<Result<Vec<_>, _>>()?;
    Ok((items, total))
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
    let (items, _) = ticket_page(&s.db, org, param(&q, "status"), limit, offset).await?;
    Ok(Json(json!({"items": items})))
}

/// Tickets, newest first, optionally of one organisation and one status, with the total: the
/// API's ticket list and the dashboard's.
pub async fn ticket_page(
    db: &Db,
    org: Option<i64>,
    status: Option<&str>,
    limit: i64,
    offset: i64,
) -> ApiResult<(Vec<Value>, i64)> {
    let mut clauses = vec!["t.ticket LIKE 'TF-%'".to_string()];
    let mut binds: Vec<Filter> = Vec::new();
    if let Some(org) = org {
        binds.push(Filter::Int(org));
        clauses.push(format!("t.org_id = ${}", binds.len()));
    }
    if let Some(st) = status {
        binds.push(Filter::Text(st.to_string()));
        clauses.push(format!("t.status = ${}", binds.len()));
    }
    let cond = where_sql(&clauses);
    let sql = format!(
        "SELECT {TICKET_COLUMNS} FROM notify_ticket t JOIN organisation o ON o.id = t.org_id\
         {cond} ORDER BY t.id DESC LIMIT {limit} OFFSET {offset}"
    );
    let rows = bind_all(sqlx::query(sqlx::AssertSqlSafe(sql)), &binds).fetch_all(&db.pool).await?;
    let count = format!("SELECT COUNT(*) FROM notify_ticket t{cond}");
    let total: i64 = bind_all(sqlx::query(sqlx::AssertSqlSafe(count)), &binds).fetch_one(&db.pool).await?.try_get(0)?;
    let items = rows.iter().map(ticket_json).collect::<Result<Vec<_>, _>>()?;
    Ok((items, total))
}

async fn ticket_detail(
    State(s): State<AppState>,
    Staff(_): Staff,
    Path(ticket): Path<String>,
) -> ApiResult<Json<Value>> {
    ticket_with_messages(&s.db, &ticket).await?.map(Json).ok_or_else(|| ApiError::not_found("ticket"))
}

/// A ticket by its number: its organisation, the hosts and summary the message told, and every
/// message sent for it (the API's ticket detail and the dashboard's ticket page).
pub async fn ticket_with_messages(db: &Db, ticket: &str) -> ApiResult<Option<Value>> {
    let Some(row) = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {TICKET_COLUMNS}, t.hosts_json, t.summary_json FROM notify_ticket t JOIN organisation o ON o.id = t.org_id WHERE t.ticket = $1"
    )))
    .bind(ticket.to_string())
    .fetch_optional(&db.pool)
    .await?
    else {
        return Ok(None);
    };
    let mut out = ticket_json(&row)?;
    let hosts: Value = serde_json::from_str(&row.try_get::<String, _>(12)?).unwrap_or(Value::Null);
    let summary: Value = serde_json::from_str(&row.try_get::<String, _>(13)?).unwrap_or(Value::Null);
    let messages = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {OUTBOX_COLUMNS} FROM notify_outbox o JOIN notify_ticket t ON t.id = o.ticket_id JOIN organisation g ON g.id = o.org_id WHERE t.ticket = $1 ORDER BY o.id"
    )))
    .bind(ticket.to_string())
    .fetch_all(&db.pool)
    .await?
    .iter()
    .map(outbox_json)
    .collect::<Result<Vec<_>, _>>()?;
    out["hosts"] = hosts;
    out["summary"] = summary;
    out["messages"] = Value::Array(messages);
    Ok(Some(out))
}

/// Addresses that refuse mail, most recent first, with the total.
pub async fn bounce_page(db: &Db, limit: i64, offset: i64) -> ApiResult<(Vec<Value>, i64)> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT email, first_at, last_at, count, source, reason FROM notify_bounce ORDER BY last_at DESC, id DESC LIMIT {limit} OFFSET {offset}"
    )))
    .fetch_all(&db.pool)
    .await?;
    let items = rows
        .iter()
        .map(|r| {
            Ok(json!({
                "email": r.try_get::<String, _>(0)?, "first_at": r.try_get::<String, _>(1)?, "last_at": r.try_get::<String, _>(2)?,
                "count": r.try_get::<i64, _>(3)?, "source": r.try_get::<String, _>(4)?, "reason": r.try_get::<String, _>(5)?,
            }))
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()?;
    let total: i64 = sqlx::query("SELECT COUNT(*) FROM notify_bounce").fetch_one(&db.pool).await?.try_get(0)?;
    Ok((items, total))
}

async fn acknowledge(State(s): State<AppState>, Staff(p): Staff, Path(ticket): Path<String>) -> ApiResult<Json<Value>> {
    Ok(Json(acknowledge_audited(&s.db, &p, &ticket).await?))
}

/// Records that a ticket's organisation answered (communication → `acknowledged`) and audits
/// it: the one code path of the API's acknowledge and the dashboard's form.
pub async fn acknowledge_audited(db: &Db, p: &Principal, ticket: &str) -> ApiResult<Value> {
    let now = taskforce_service::time::now();
    let actor = format!("analyst:{}", p.name);
    match crate::outbox::acknowledge(db, ticket, &actor, &now).await.map_err(any_err)? {
        None => Err(ApiError::not_found("ticket")),
        Some(false) => Err(ApiError::new(
            axum::http::StatusCode::CONFLICT,
            "the organisation cannot be acknowledged now (not notified yet, or already acknowledged)",
        )),
        Some(true) => {
            let after = json!({"ticket": ticket, "status": "acknowledged", "at": now});
            audit(db, p, "acknowledge", "ticket", ticket, None, Some(after.clone())).await?;
            Ok(after)
        }
    }
}

/// A composer for callers outside the handlers (the `serve` schedule, tests).
pub fn composer<'a>(db: &'a taskforce_service::Db, n: &'a NotifyState) -> Composer<'a> {
    Composer { db, cfg: &n.config, templates: &n.templates }
}
