//! Templates (embedded at build time, auto-escaped as HTML whatever their name) and the page
//! errors. Every value reaches the page through the template engine, so a hostname holding
//! markup is shown as text.

use std::sync::OnceLock;

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use minijinja::{AutoEscape, Environment, Value};
use serde::Serialize;
use serde_json::json;

const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("../templates/base.html")),
    ("macros.html", include_str!("../templates/macros.html")),
    ("login.html", include_str!("../templates/login.html")),
    ("error.html", include_str!("../templates/error.html")),
    ("overview.html", include_str!("../templates/overview.html")),
    ("orgs.html", include_str!("../templates/orgs.html")),
    ("org.html", include_str!("../templates/org.html")),
    ("host.html", include_str!("../templates/host.html")),
    ("ingests.html", include_str!("../templates/ingests.html")),
    ("ingest.html", include_str!("../templates/ingest.html")),
    ("tokens.html", include_str!("../templates/tokens.html")),
    ("users.html", include_str!("../templates/users.html")),
    ("notifications.html", include_str!("../templates/notifications.html")),
    ("portal.html", include_str!("../templates/portal.html")),
    ("ticket.html", include_str!("../templates/ticket.html")),
];

fn env() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        env.set_auto_escape_callback(|_| AutoEscape::Html);
        env.add_filter("utc", utc);
        env.add_filter("label", label);
        for (name, source) in TEMPLATES {
            env.add_template(name, source).unwrap_or_else(|e| panic!("template {name}: {e}"));
        }
        env
    })
}

/// `2021-03-12T10:00:00Z` → `2021-03-12 10:00 UTC` (the storage form is always UTC).
fn utc(ts: Value) -> String {
    let Some(s) = ts.as_str() else { return String::new() };
    match (s.get(..10), s.get(11..16)) {
        (Some(d), Some(t)) if s.ends_with('Z') => format!("{d} {t} UTC"),
        _ => s.to_string(),
    }
}

/// `verified_clean` → `verified clean`.
fn label(v: Value) -> String {
    v.as_str().map(|s| s.replace('_', " ")).unwrap_or_default()
}

/// Renders a template with a serialisable context.
pub fn page(name: &str, ctx: impl Serialize) -> Result<Html<String>, PageError> {
    let tmpl = env().get_template(name).map_err(|e| PageError::Internal(format!("template {name}: {e}")))?;
    tmpl.render(Value::from(minijinja::value::Serde(ctx)))
        .map(Html)
        .map_err(|e| PageError::Internal(format!("rendering {name}: {e:#}")))
}

/// Why a page is not shown.
#[derive(Debug)]
pub enum PageError {
    /// Nobody logged in: to the login page, then back.
    Login {
        next: String,
    },
    Forbidden(String),
    NotFound(&'static str),
    BadRequest(String),
    Conflict(String),
    /// The server is too busy to write now (503 with `Retry-After`: `service::api::gate`).
    Busy(String),
    Internal(String),
}

impl PageError {
    pub fn forbidden() -> PageError {
        PageError::Forbidden("You may not see or do this.".into())
    }
}

impl From<anyhow::Error> for PageError {
    fn from(e: anyhow::Error) -> Self {
        // The database writer's refusal (queue full, no turn in time) is a 503, not a fault.
        if let Some(busy) = e.downcast_ref::<taskforce_service::writer::Busy>() {
            return PageError::Busy(busy.0.clone());
        }
        PageError::Internal(format!("{e:#}"))
    }
}

impl From<taskforce_service::query::BadFilter> for PageError {
    fn from(e: taskforce_service::query::BadFilter) -> Self {
        PageError::BadRequest(e.0)
    }
}

impl From<sqlx::Error> for PageError {
    fn from(e: sqlx::Error) -> Self {
        PageError::Internal(e.to_string())
    }
}

impl From<taskforce_service::records::RecordError> for PageError {
    fn from(e: taskforce_service::records::RecordError) -> Self {
        use taskforce_service::records::RecordError as R;
        match e {
            R::BadRequest(m) => PageError::BadRequest(m),
            R::NotFound(what) => PageError::NotFound(what),
            R::Conflict(m) => PageError::Conflict(m),
            R::Other(e) => PageError::from(e),
        }
    }
}

impl From<taskforce_service::api::ApiError> for PageError {
    fn from(e: taskforce_service::api::ApiError) -> Self {
        match e.status {
            StatusCode::FORBIDDEN => PageError::Forbidden(e.message),
            StatusCode::NOT_FOUND => PageError::NotFound("page"),
            StatusCode::CONFLICT => PageError::Conflict(e.message),
            StatusCode::SERVICE_UNAVAILABLE => PageError::Busy(e.message),
            s if s.is_client_error() => PageError::BadRequest(e.message),
            _ => PageError::Internal(e.message),
        }
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let (status, title, message) = match self {
            PageError::Login { next } => {
                let q = percent_encoding::utf8_percent_encode(&next, percent_encoding::NON_ALPHANUMERIC);
                return Redirect::to(&format!("/login?next={q}")).into_response();
            }
            PageError::Forbidden(m) => (StatusCode::FORBIDDEN, "Not allowed", m),
            PageError::NotFound(what) => (StatusCode::NOT_FOUND, "Not found", format!("There is no such {what}.")),
            PageError::BadRequest(m) => (StatusCode::BAD_REQUEST, "Not accepted", m),
            PageError::Conflict(m) => (StatusCode::CONFLICT, "Not possible now", m),
            PageError::Busy(m) => {
                let body = page("error.html", json!({"title": "Busy", "message": m, "status": 503}))
                    .map(|h| h.0)
                    .unwrap_or_else(|_| "503 Busy".to_string());
                let mut r = (StatusCode::SERVICE_UNAVAILABLE, Html(body)).into_response();
                r.headers_mut().insert(axum::http::header::RETRY_AFTER, axum::http::HeaderValue::from_static("2"));
                return r;
            }
            PageError::Internal(m) => {
                tracing::error!(error = %m, "page failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Something went wrong",
                    "The server could not show this page; the error is in its log.".to_string(),
                )
            }
        };
        let body = page("error.html", json!({"title": title, "message": message, "status": status.as_u16()}))
            .map(|h| h.0)
            .unwrap_or_else(|_| format!("{} {title}", status.as_u16()));
        (status, Html(body)).into_response()
    }
}

pub type PageResult<T = Response> = Result<T, PageError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_of_the_database_writer_is_busy_not_internal() {
        let refused = anyhow::Error::new(taskforce_service::writer::Busy("1024 writes queued".into()));
        let e = PageError::from(taskforce_service::records::RecordError::Other(refused));
        assert!(matches!(&e, PageError::Busy(m) if m.contains("1024")), "{e:?}");
        assert_eq!(e.into_response().status(), StatusCode::SERVICE_UNAVAILABLE);
        let other = PageError::from(anyhow::anyhow!("disk full"));
        assert!(matches!(other, PageError::Internal(_)));
    }
}
