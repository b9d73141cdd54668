//! Who is looking: a session cookie (a user's password or a reporter's self-service link opened
//! it) or the API's bearer token (scripts and tests). Roles are the API's. Every POST carries
//! the session's CSRF token in a hidden field; a bearer token needs none (a browser never adds
//! that header to a forged cross-site form).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{ConnectInfo, FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use serde::Deserialize;
use serde_json::json;
use taskforce_service::api::AppState;
use taskforce_service::audit;
use taskforce_service::tokens::{Principal, Role};

use crate::render::{PageError, PageResult, page};
use crate::sessions::{self, Owner};
use crate::throttle::{self, LoginThrottle};

pub const SESSION_COOKIE: &str = "tf_session";
/// Double-submit cookie of the login form (there is no session yet to hold its CSRF token).
pub const LOGIN_COOKIE: &str = "tf_login";

/// The person (or script) behind a request.
#[derive(Debug, Clone)]
pub struct Viewer {
    pub principal: Principal,
    /// The session's CSRF token; `None` for a bearer token.
    pub csrf: Option<String>,
}

impl Viewer {
    pub fn is_staff(&self) -> bool {
        self.principal.is_staff()
    }
    pub fn is_admin(&self) -> bool {
        self.principal.role == Role::Admin
    }

    pub fn require_staff(&self) -> PageResult<()> {
        if self.is_staff() { Ok(()) } else { Err(PageError::forbidden()) }
    }

    pub fn require_admin(&self) -> PageResult<()> {
        if self.is_admin() { Ok(()) } else { Err(PageError::forbidden()) }
    }

    /// Refuses a form whose CSRF field does not match the session's token.
    pub fn check_csrf(&self, presented: &str) -> PageResult<()> {
        match &self.csrf {
            None => Ok(()),
            Some(expected) if constant_time_eq(expected.as_bytes(), presented.as_bytes()) => Ok(()),
            Some(_) => Err(PageError::Forbidden(
                "This form's security token is missing or stale (CSRF check). Reload the page and send it again."
                    .into(),
            )),
        }
    }

    /// What the templates need to know about the viewer.
    pub fn context(&self) -> serde_json::Value {
        json!({
            "name": self.principal.name,
            "role": self.principal.role.as_str(),
            "org_id": self.principal.org_id,
            "staff": self.is_staff(),
            "admin": self.is_admin(),
            "csrf": self.csrf.clone().unwrap_or_default(),
        })
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A cookie's value from the request.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// `Set-Cookie` for a session-scoped secret: HttpOnly, SameSite=Lax (a self-service link from
/// an e-mail is a cross-site navigation), Secure behind TLS.
pub fn set_cookie(state: &AppState, headers: &HeaderMap, name: &str, value: &str, max_age_secs: u64) -> HeaderValue {
    let behind_tls = state.config.secure_cookies
        || headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("https"));
    let secure = if behind_tls { "; Secure" } else { "" };
    HeaderValue::from_str(&format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age_secs}{secure}"))
        .unwrap_or_else(|_| HeaderValue::from_static("invalid=; Max-Age=0"))
}

impl FromRequestParts<AppState> for Viewer {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        if let Some(value) = parts.headers.get(header::AUTHORIZATION) {
            let token = value.to_str().ok().and_then(|v| v.strip_prefix("Bearer ")).map(str::trim);
            let principal = match token {
                Some(t) => taskforce_service::tokens::authenticate(&state.db, t).await?,
                None => None,
            };
            return principal
                .map(|principal| Viewer { principal, csrf: None })
                .ok_or_else(|| PageError::Forbidden("Unknown or revoked token.".into()));
        }
        if let Some(secret) = cookie(&parts.headers, SESSION_COOKIE)
            && let Some(s) = sessions::lookup(&state.db, secret).await?
        {
            return Ok(Viewer { principal: s.principal, csrf: Some(s.csrf) });
        }
        let next = parts.uri.path_and_query().map(|p| p.as_str().to_string()).unwrap_or_else(|| "/".into());
        Err(PageError::Login { next })
    }
}

/// Only a local path (not `//host`, not a scheme) may be a redirect target.
pub fn safe_next(next: Option<&str>) -> Option<String> {
    next.filter(|n| n.starts_with('/') && !n.starts_with("//") && !n.starts_with("/\\") && !n.contains(['\r', '\n']))
        .map(str::to_string)
}

#[derive(Deserialize, Default)]
pub struct LoginQuery {
    next: Option<String>,
}

pub async fn login_form(State(s): State<AppState>, headers: HeaderMap, Query(q): Query<LoginQuery>) -> PageResult {
    render_login(&s, &headers, q.next.as_deref(), None)
}

fn render_login(s: &AppState, headers: &HeaderMap, next: Option<&str>, error: Option<&str>) -> PageResult {
    let csrf = sessions::random_secret()?;
    let html = page(
        "login.html",
        json!({"title": "Log in", "next": safe_next(next).unwrap_or_default(), "csrf": csrf, "error": error}),
    )?;
    let cookie = set_cookie(s, headers, LOGIN_COOKIE, &csrf, 3600);
    Ok(([(header::SET_COOKIE, cookie)], html).into_response())
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    next: String,
}

/// The client's address, when the server was started with connection info (`taskforce serve`
/// is); `None` in-process (then only the per-account limit applies).
pub struct ClientAddr(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientAddr(parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip())))
    }
}

pub async fn login(
    State(s): State<AppState>,
    Extension(throttle): Extension<Arc<LoginThrottle>>,
    ClientAddr(addr): ClientAddr,
    headers: HeaderMap,
    Form(f): Form<LoginForm>,
) -> PageResult {
    let expected = cookie(&headers, LOGIN_COOKIE).unwrap_or("");
    if expected.is_empty() || !constant_time_eq(expected.as_bytes(), f.csrf.as_bytes()) {
        return Err(PageError::Forbidden(
            "This form's security token is missing or stale (CSRF check). Reload the login page.".into(),
        ));
    }
    let address = addr.map(|a| a.to_string()).unwrap_or_else(|| "unknown".into());
    if let Some(refused) = throttle.check(&f.name, addr, Instant::now()) {
        tracing::warn!(user = %f.name, %address, by = refused.by, "login refused: too many failures");
        let minutes = refused.retry_after.as_secs().div_ceil(60).max(1);
        let whose = if refused.by == "account" { "for this account" } else { "from your address" };
        let message = format!(
            "Too many failed logins {whose} in the last {} minutes. Try again in {minutes} minute{}.",
            throttle::WINDOW.as_secs() / 60,
            if minutes == 1 { "" } else { "s" }
        );
        let mut r = render_login(&s, &headers, Some(&f.next), Some(&message))?;
        *r.status_mut() = StatusCode::TOO_MANY_REQUESTS;
        r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(refused.retry_after.as_secs().max(1)));
        return Ok(r);
    }
    let Some(user_id) = crate::users::verify(&s.db, &f.name, &f.password).await? else {
        tracing::warn!(user = %f.name, %address, "failed login");
        let locked = throttle.failed(&f.name, addr, Instant::now());
        let detail = json!({"address": address, "locked": locked});
        let actor = format!("anonymous@{address}");
        audit::record(&s.db.pool, &actor, "login_failed", "user", f.name.trim(), None, Some(detail)).await?;
        let mut r = render_login(&s, &headers, Some(&f.next), Some("Unknown name or wrong password."))?;
        *r.status_mut() = StatusCode::UNAUTHORIZED;
        return Ok(r);
    };
    throttle.succeeded(&f.name);
    let secret = sessions::create(&s.db, Owner::User(user_id), s.config.session_hours).await?;
    let target = safe_next(Some(&f.next)).unwrap_or_else(|| "/".into());
    Ok(session_redirect(&s, &headers, &secret, &target))
}

/// Sets the session cookie and sends the browser on.
pub fn session_redirect(s: &AppState, headers: &HeaderMap, secret: &str, target: &str) -> Response {
    let mut r = Redirect::to(target).into_response();
    let h = r.headers_mut();
    h.append(header::SET_COOKIE, set_cookie(s, headers, SESSION_COOKIE, secret, s.config.session_hours * 3600));
    h.append(header::SET_COOKIE, set_cookie(s, headers, LOGIN_COOKIE, "", 0));
    r
}

#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    pub csrf: String,
}

pub async fn logout(
    State(s): State<AppState>,
    viewer: Viewer,
    headers: HeaderMap,
    Form(f): Form<CsrfForm>,
) -> PageResult {
    viewer.check_csrf(&f.csrf)?;
    if let Some(secret) = cookie(&headers, SESSION_COOKIE) {
        sessions::delete(&s.db, secret).await?;
    }
    let mut r = Redirect::to("/login").into_response();
    r.headers_mut().append(header::SET_COOKIE, set_cookie(&s, &headers, SESSION_COOKIE, "", 0));
    Ok(r)
}
