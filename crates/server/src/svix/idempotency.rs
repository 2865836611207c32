//! `Idempotency-Key` on POSTs: the first response (status and body) is kept for 12 hours and
//! replayed for the same key, caller and path.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;
use sha2::{Digest, Sha256};

use crate::state::AppState;

const TTL_SECS: i64 = 12 * 3600;
/// Responses larger than this are not kept.
const MAX_KEPT: usize = 1024 * 1024;

/// Middleware for `/api/v1/*`.
pub async fn layer(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let key = req
        .headers()
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let (Some(key), true) = (key, req.method() == Method::POST) else {
        return next.run(req).await;
    };
    let auth = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let cache_key = hex::encode(Sha256::digest(format!(
        "{auth}\n{key}\n{}",
        req.uri().path()
    )));
    let now = chrono::Utc::now().timestamp();
    if let Ok(mut map) = state.hooks.idempotency.lock() {
        map.retain(|_, (at, _, _)| now - *at < TTL_SECS);
        if let Some((_, status, body)) = map.get(&cache_key) {
            let status = StatusCode::from_u16(*status).unwrap_or(StatusCode::OK);
            return (
                status,
                [(header::CONTENT_TYPE, "application/json")],
                body.clone(),
            )
                .into_response();
        }
    }
    let resp = next.run(req).await;
    let (parts, body) = resp.into_parts();
    let bytes = match body.collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return Response::from_parts(parts, Body::empty()),
    };
    // Only settled outcomes are replayed; a 5xx may succeed on retry.
    if !parts.status.is_server_error() && bytes.len() <= MAX_KEPT {
        if let Ok(mut map) = state.hooks.idempotency.lock() {
            map.insert(cache_key, (now, parts.status.as_u16(), bytes.to_vec()));
        }
    }
    Response::from_parts(parts, Body::from(bytes))
}
