//! Security headers on every response, pages and API alike: no framing (clickjacking of the
//! signed-in pages), no content sniffing, no referrer to other sites, only our own scripts
//! and styles, and nothing stored by caches except the static files.

use axum::extract::Request;
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;

/// Only our own origin, and never inside a frame. The pages keep their script and style in
/// `/ui/static/`, so no inline code needs an exception.
pub const CSP: &str = "default-src 'self'; frame-ancestors 'none'";

/// Adds the headers; a handler that chose its own `Cache-Control` keeps it.
pub async fn layer(req: Request, next: Next) -> Response {
    // Pages show secrets and API answers carry account data: neither may be stored. The
    // static script and stylesheet hold nothing private.
    let cacheable = req.uri().path().starts_with("/ui/static/");
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    if !cacheable && !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    res
}
