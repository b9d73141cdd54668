//! Security headers on every response: feed and report strings are hostile, so even if markup
//! slipped past the template escaping, the browser would run no inline script, load nothing from
//! elsewhere and never render the dashboard in someone else's frame.

use axum::http::{HeaderValue, header};
use axum::response::Response;

/// Scripts only from this server (one small file, `/static/local-time.js`), no inline script or
/// style, no plugins, forms post only here, never framed.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

pub async fn add(mut response: Response) -> Response {
    let h = response.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}
