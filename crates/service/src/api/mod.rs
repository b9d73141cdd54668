//! The HTTP API (axum): JSON over HTTP, bearer tokens with roles, documented by
//! `openapi.yaml` (served at `/openapi.yaml`). Handlers are grouped by resource; access rules
//! are in `ENDPOINTS` (the authorisation matrix the tests walk) and enforced in each handler.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use serde_json::json;

use crate::config::Config;
use crate::db::Db;
use crate::tokens::{Principal, Role};

mod admin;
pub mod export;
pub mod gate;
mod hosts;
mod jobs;
mod orgs;
pub mod uploads;

/// What every handler gets.
#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub config: Arc<Config>,
}

/// An error answered as `{"error": "...", "status": N}`.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError { status, message: message.into() }
    }
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }
    pub fn not_found(what: &str) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, format!("no such {what}"))
    }
    pub fn forbidden() -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, "this token may not do that")
    }
}

impl IntoResponse for ApiError {
    /// A 5xx answer never carries the internal error (SQL, paths, driver text): that is logged
    /// with a reference the answer gives, so an operator can find it.
    fn into_response(self) -> Response {
        // A 503 (the write gate's "busy") says why and carries nothing internal.
        let message = if self.status.is_server_error() && self.status != StatusCode::SERVICE_UNAVAILABLE {
            let reference = error_reference();
            tracing::error!(status = self.status.as_u16(), reference = %reference, error = %self.message, "request failed");
            format!("internal error (reference {reference}); the server log has the details")
        } else {
            self.message
        };
        let mut response =
            (self.status, axum::Json(json!({"error": message, "status": self.status.as_u16()}))).into_response();
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            response.headers_mut().insert(header::RETRY_AFTER, axum::http::HeaderValue::from_static("2"));
        }
        response
    }
}

/// A short random id tying an answer to its log line.
pub fn error_reference() -> String {
    use ring::rand::SecureRandom;
    let mut b = [0u8; 6];
    let _ = ring::rand::SystemRandom::new().fill(&mut b);
    crate::ingest::hex(&b)
}

impl From<anyhow::Error> for ApiError {
    fn from(e: anyhow::Error) -> Self {
        // The writer's refusal (queue full, no turn in time) is a 503, like the gate's.
        if let Some(busy) = e.downcast_ref::<crate::writer::Busy>() {
            return ApiError::new(StatusCode::SERVICE_UNAVAILABLE, busy.to_string());
        }
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}"))
    }
}

impl From<crate::records::RecordError> for ApiError {
    fn from(e: crate::records::RecordError) -> Self {
        use crate::records::RecordError as R;
        match e {
            R::BadRequest(m) => ApiError::bad_request(m),
            R::NotFound(what) => ApiError::not_found(what),
            R::Conflict(m) => ApiError::new(StatusCode::CONFLICT, m),
            R::Other(e) => ApiError::from(e),
        }
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        ApiError::from(anyhow::Error::from(e))
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let unauthorised = |m: &str| ApiError::new(StatusCode::UNAUTHORIZED, m);
        let value = parts
            .headers
            .get(header::AUTHORIZATION)
            .ok_or_else(|| unauthorised("missing Authorization: Bearer <token>"))?
            .to_str()
            .map_err(|_| unauthorised("unreadable Authorization header"))?;
        let token = value
            .strip_prefix("Bearer ")
            .ok_or_else(|| unauthorised("the Authorization header must be Bearer <token>"))?;
        crate::tokens::authenticate(&state.db, token.trim())
            .await?
            .ok_or_else(|| unauthorised("unknown or revoked token"))
    }
}

/// admin or analyst, else 403.
pub fn require_staff(p: &Principal) -> ApiResult<()> {
    if p.is_staff() { Ok(()) } else { Err(ApiError::forbidden()) }
}

/// admin, analyst, or the reporter of this organisation.
pub fn require_org_access(p: &Principal, org_id: i64) -> ApiResult<()> {
    if p.is_staff() || p.org_id == Some(org_id) { Ok(()) } else { Err(ApiError::forbidden()) }
}

pub fn require_admin(p: &Principal) -> ApiResult<()> {
    if p.role == Role::Admin { Ok(()) } else { Err(ApiError::forbidden()) }
}

/// Who may call an endpoint (for documentation and the authorisation-matrix test).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// No token needed.
    Public,
    /// admin only.
    Admin,
    /// admin and analyst.
    Staff,
    /// admin, analyst, and the reporter bound to the organisation (or host) in the path.
    OwnOrg,
}

/// One route.
#[derive(Debug, Clone, Copy)]
pub struct Endpoint {
    pub method: &'static str,
    pub path: &'static str,
    pub access: Access,
}

const fn ep(method: &'static str, path: &'static str, access: Access) -> Endpoint {
    Endpoint { method, path, access }
}

/// Every route of the API, with who may call it.
pub const ENDPOINTS: &[Endpoint] = &[
    ep("GET", "/health", Access::Public),
    ep("GET", "/openapi.yaml", Access::Public),
    ep("GET", "/api/v1/stats", Access::Staff),
    ep("GET", "/api/v1/organisations", Access::Staff),
    ep("POST", "/api/v1/organisations", Access::Staff),
    ep("GET", "/api/v1/organisations/{id}", Access::OwnOrg),
    ep("GET", "/api/v1/organisations/{id}/hosts", Access::OwnOrg),
    ep("GET", "/api/v1/organisations/{id}/accounts", Access::OwnOrg),
    ep("GET", "/api/v1/organisations/{id}/export.csv", Access::OwnOrg),
    ep("GET", "/api/v1/organisations/{id}/export.jsonl", Access::OwnOrg),
    ep("POST", "/api/v1/organisations/{id}/hunt-reports", Access::OwnOrg),
    ep("POST", "/api/v1/organisations/{id}/contacts", Access::Staff),
    ep("POST", "/api/v1/organisations/{id}/networks", Access::Staff),
    ep("POST", "/api/v1/organisations/{id}/communication", Access::Staff),
    ep("GET", "/api/v1/hosts", Access::Staff),
    ep("GET", "/api/v1/hosts/{id}", Access::OwnOrg),
    ep("POST", "/api/v1/hosts/{id}/remediation", Access::Staff),
    ep("POST", "/api/v1/ingest/{kind}", Access::Staff),
    ep("GET", "/api/v1/ingests", Access::Staff),
    ep("GET", "/api/v1/ingests/{id}", Access::Staff),
    ep("GET", "/api/v1/audit", Access::Staff),
    ep("GET", "/api/v1/jobs", Access::Staff),
    ep("POST", "/api/v1/jobs/reenrich", Access::Staff),
    ep("GET", "/api/v1/jobs/{id}", Access::Staff),
    ep("GET", "/api/v1/tokens", Access::Admin),
    ep("POST", "/api/v1/tokens", Access::Admin),
    ep("DELETE", "/api/v1/tokens/{id}", Access::Admin),
];

/// The OpenAPI document (hand-written; a test keeps it in step with `ENDPOINTS`).
pub const OPENAPI_YAML: &str = include_str!("../../openapi.yaml");

pub fn router(state: AppState) -> Router {
    router_with(state, Router::new())
}

/// The API plus `extra` routes from other crates (e.g. `taskforce_notify::api::routes()`), which
/// get the same state, body limit, timeout and tracing.
pub fn router_with(state: AppState, extra: Router<AppState>) -> Router {
    // Behind the API, long work (re-enrichment) runs as a background job, never in a request.
    state.db.background_jobs.store(true, std::sync::atomic::Ordering::SeqCst);
    let upload_routes = Router::new()
        .route("/api/v1/ingest/{kind}", post(uploads::ingest))
        .route("/api/v1/organisations/{id}/hunt-reports", post(uploads::hunt_report))
        // Uploads are streamed to disk with their own limit (config.max_upload_bytes).
        .layer(DefaultBodyLimit::disable());
    let json_routes = Router::new()
        .route("/health", get(admin::health))
        .route("/openapi.yaml", get(openapi))
        .route("/api/v1/stats", get(admin::stats))
        .route("/api/v1/organisations", get(orgs::list).post(orgs::create))
        .route("/api/v1/organisations/{id}", get(orgs::detail))
        .route("/api/v1/organisations/{id}/hosts", get(orgs::hosts))
        .route("/api/v1/organisations/{id}/accounts", get(orgs::accounts))
        .route("/api/v1/organisations/{id}/export.csv", get(export::csv))
        .route("/api/v1/organisations/{id}/export.jsonl", get(export::intelmq))
        .route("/api/v1/organisations/{id}/networks", post(orgs::add_mapping))
        .route("/api/v1/hosts", get(hosts::list))
        .route("/api/v1/hosts/{id}", get(hosts::detail))
        .route("/api/v1/ingests", get(admin::ingests))
        .route("/api/v1/ingests/{id}", get(admin::ingest_detail))
        .route("/api/v1/audit", get(admin::audit_log))
        .route("/api/v1/jobs", get(jobs::list))
        .route("/api/v1/jobs/reenrich", post(jobs::reenrich))
        .route("/api/v1/jobs/{id}", get(jobs::detail))
        .route("/api/v1/tokens", get(admin::list_tokens).post(admin::create_token))
        .route("/api/v1/tokens/{id}", delete(admin::revoke_token))
        // Writes take turns before they take a connection (uploads do so in their handler,
        // once the body is on disk; the notification routes serialise themselves).
        .layer(axum::middleware::from_fn_with_state(state.db.write_gate.clone(), gate::admit_writes))
        // Analysts' records queue at the group-commit writer instead (`writer`): it takes them
        // in groups, so they must not take turns one by one before it.
        .route("/api/v1/organisations/{id}/contacts", post(orgs::add_contact))
        .route("/api/v1/organisations/{id}/communication", post(orgs::communication))
        .route("/api/v1/hosts/{id}/remediation", post(hosts::remediation))
        .merge(extra)
        .layer(DefaultBodyLimit::max(state.config.max_json_bytes));
    let timeout = Duration::from_secs(state.config.request_timeout_secs);
    upload_routes
        .merge(json_routes)
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "no such endpoint") })
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, timeout))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
}

async fn openapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/yaml")], OPENAPI_YAML)
}

/// Records a change made through the API (on its own: prefer `audit_in` inside the change's
/// transaction).
pub async fn audit(
    db: &Db,
    actor: &Principal,
    action: &str,
    object_type: &str,
    object_id: impl ToString,
    before: Option<serde_json::Value>,
    after: Option<serde_json::Value>,
) -> anyhow::Result<()> {
    crate::audit::record(&db.pool, &actor_label(actor), action, object_type, &object_id.to_string(), before, after)
        .await
}

/// Records a change in the transaction that makes it: both commit, or neither.
pub async fn audit_in(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    actor: &Principal,
    action: &str,
    object_type: &str,
    object_id: impl ToString,
    before: Option<serde_json::Value>,
    after: Option<serde_json::Value>,
) -> anyhow::Result<()> {
    crate::audit::record(&mut **tx, &actor_label(actor), action, object_type, &object_id.to_string(), before, after)
        .await
}

/// How the audit log names a principal: `role:name`.
pub fn actor_label(p: &Principal) -> String {
    format!("{}:{}", p.role.as_str(), p.name)
}

/// The `?at=` query parameter of the past-date views.
#[derive(serde::Deserialize)]
pub struct AtParam {
    pub at: Option<String>,
}

/// `?at=` as a storage-form upper bound (a bare date means the end of that day).
pub fn at_param(at: Option<&str>) -> ApiResult<Option<String>> {
    match at {
        None => Ok(None),
        Some(s) => {
            crate::time::parse_bound(s).map(Some).ok_or_else(|| ApiError::bad_request(format!("unreadable date {s:?}")))
        }
    }
}

/// A principal that is admin or analyst: checked before the body is read, so a reporter gets
/// 403 whatever it sends.
pub struct Staff(pub Principal);

impl FromRequestParts<AppState> for Staff {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let p = Principal::from_request_parts(parts, state).await?;
        require_staff(&p)?;
        Ok(Staff(p))
    }
}

/// An admin principal, checked before the body is read.
pub struct Admin(pub Principal);

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let p = Principal::from_request_parts(parts, state).await?;
        require_admin(&p)?;
        Ok(Admin(p))
    }
}
