//! The stylesheet and the one small script, embedded in the binary and served from here (no
//! CDN, no build step).

use axum::http::header;
use axum::response::IntoResponse;

const STYLE: &str = include_str!("../../static/style.css");
/// Adds each date's local time as its tooltip (the page itself shows UTC).
const SCRIPT: &str = include_str!("../../static/local-time.js");

pub async fn style() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8"), (header::CACHE_CONTROL, "max-age=3600")], STYLE)
}

pub async fn script() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8"), (header::CACHE_CONTROL, "max-age=3600")], SCRIPT)
}
