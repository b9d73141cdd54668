//! The task force's web dashboard and the owners' self-service portal: server-rendered pages
//! (minijinja templates embedded in the binary, auto-escaped), served by `taskforce serve` next
//! to the JSON API.
//!
//! Flow: a request passes the security headers ([`headers`]), is identified by [`auth`] (a
//! session cookie from [`sessions`], opened by a [`users`] password or a reporter's token link,
//! or the API's bearer token), then a handler in `pages` reads through the service's read models
//! (`query`, `dashboard`) and writes through `records` — the same functions as the API, so one
//! set of rules and one audit log — and renders a template ([`render`]).

pub mod auth;
pub mod headers;
mod pages;
pub mod render;
pub mod sessions;
pub mod throttle;
pub mod users;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::{Extension, Router};
use taskforce_notify::api::NotifyState;
use taskforce_service::api::{self, AppState};

/// The pages alone (no API), with the security headers. The notification pages act through
/// `notify` (the same state, lock and functions as the notification API).
pub fn routes(state: AppState, notify: NotifyState) -> Router {
    // Uploads stream to disk with the service's own limit (max_upload_bytes).
    let uploads = Router::new()
        .route("/ingests", get(pages::ingests::list).post(pages::ingests::upload))
        .route("/portal/hunt-report", post(pages::portal::upload))
        .layer(DefaultBodyLimit::disable());
    // The analysts' records take turns with every other writer before they take a connection
    // (`service::api::gate`); uploads do so once the file is on disk.
    let records = Router::new()
        .route("/organisations/{id}/communication", post(pages::orgs::communication))
        .route("/organisations/{id}/contacts", post(pages::orgs::contact))
        .route("/hosts/{id}/remediation", post(pages::hosts::remediation))
        .layer(axum::middleware::from_fn_with_state(state.db.write_gate.clone(), api::gate::admit_writes));
    Router::new()
        .route("/", get(pages::overview::page))
        .route("/login", get(auth::login_form).post(auth::login))
        .route("/logout", post(auth::logout))
        .route("/static/style.css", get(pages::assets::style))
        .route("/static/local-time.js", get(pages::assets::script))
        .route("/organisations", get(pages::orgs::list))
        .route("/organisations/{id}", get(pages::orgs::detail))
        .route("/organisations/{id}/export.csv", get(pages::orgs::export_csv))
        .route("/organisations/{id}/export.jsonl", get(pages::orgs::export_jsonl))
        .route("/hosts/{id}", get(pages::hosts::detail))
        .route("/ingests/{id}", get(pages::ingests::detail))
        .route("/notifications", get(pages::notifications::page))
        .route("/notifications/send", post(pages::notifications::send))
        .route("/notifications/tickets/{ticket}", get(pages::notifications::ticket))
        .route("/notifications/tickets/{ticket}/acknowledge", post(pages::notifications::acknowledge))
        .route("/admin/tokens", get(pages::admin::tokens).post(pages::admin::create_token))
        .route("/admin/tokens/{id}/revoke", post(pages::admin::revoke_token))
        .route("/admin/users", get(pages::admin::users).post(pages::admin::create_user))
        .route("/admin/users/{id}/disable", post(pages::admin::disable_user))
        .route("/portal", get(pages::portal::page))
        .merge(uploads)
        .merge(records)
        .layer(Extension(notify))
        .layer(Extension(std::sync::Arc::new(throttle::LoginThrottle::default())))
        .layer(axum::middleware::map_response(headers::add))
        .with_state(state)
}

/// The whole application `taskforce serve` runs: the JSON API with the notification routes, and
/// the pages, every response with the security headers.
pub fn app(state: AppState, notify: NotifyState) -> Router {
    let extra = taskforce_notify::api::routes(notify.clone());
    api::router_with(state.clone(), extra)
        .merge(routes(state, notify))
        .layer(axum::middleware::map_response(headers::add))
}
