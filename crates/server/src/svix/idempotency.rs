//! `Idempotency-Key` on POSTs: the first response (status and body) is kept for 12 hours in
//! the store and replayed for the same key, account and path, by whichever node answers. A
//! duplicate that arrives while the first is still running waits for it (up to 5 s).
//!
//! The key is looked at only once the caller is authenticated, and it is scoped by the
//! authenticated account, not by the `Authorization` header's text: `Bearer K` and `APIKey K`
//! are one scope, and a request without a valid key writes nothing to the store (the handler
//! refuses it as usual).

use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;
use sha2::{Digest, Sha256};

use datahooks_store::webhooks::Idempotent;

use crate::error::ApiError;
use crate::extract::{key_from_header, Caller};
use crate::state::AppState;

const TTL_MS: i64 = 12 * 3600 * 1000;
/// Responses larger than this are not kept.
const MAX_KEPT: usize = 1024 * 1024;
const WAIT_STEP: Duration = Duration::from_millis(100);
const WAIT_STEPS: usize = 50;

fn replay(status: u16, body: Vec<u8>) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// The caller, if the request carries a valid API key. Anything else (no key, a bad one, the
/// store failing) is left to the handler, which answers it without the idempotency table.
async fn authenticated(state: &AppState, authorization: Option<String>) -> Option<Caller> {
    let key = key_from_header(authorization.as_deref()?)?;
    match state.store.authenticate(key).await {
        Ok(account) => account.map(Caller),
        Err(e) => {
            tracing::warn!(error = %e, "could not authenticate an idempotent request");
            None
        }
    }
}

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
    let mut req = req;
    let authorization = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let Some(caller) = authenticated(&state, authorization).await else {
        return next.run(req).await;
    };
    let cache_key = hex::encode(Sha256::digest(format!(
        "{}\n{key}\n{}",
        caller.0.id,
        req.uri().path()
    )));
    // The handler's `Caller` extractor takes this one instead of asking the store again.
    req.extensions_mut().insert(caller);
    let mut claimed = false;
    for _ in 0..WAIT_STEPS {
        let now = chrono::Utc::now().timestamp_millis();
        match state
            .store
            .idempotency_begin(&cache_key, now, now - TTL_MS)
            .await
        {
            Ok(Idempotent::Run) => {
                claimed = true;
                break;
            }
            Ok(Idempotent::Done(status, body)) => return replay(status, body),
            Ok(Idempotent::InFlight) => tokio::time::sleep(WAIT_STEP).await,
            Err(e) => {
                // Without the store's help the request still runs, just without the guarantee.
                tracing::warn!(error = %e, "idempotency keys unavailable");
                return next.run(req).await;
            }
        }
    }
    if !claimed {
        return ApiError::new(
            StatusCode::CONFLICT,
            "idempotency_in_flight",
            "A request with this Idempotency-Key is still being processed; retry shortly.",
        )
        .into_response();
    }
    let resp = next.run(req).await;
    let (parts, body) = resp.into_parts();
    let bytes = match body.collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => {
            let _ = state.store.idempotency_finish(&cache_key, None).await;
            return Response::from_parts(parts, Body::empty());
        }
    };
    // Only settled outcomes are replayed; a 5xx may succeed on retry.
    let keep = (!parts.status.is_server_error() && bytes.len() <= MAX_KEPT)
        .then(|| (parts.status.as_u16(), bytes.to_vec()));
    if let Err(e) = state.store.idempotency_finish(&cache_key, keep).await {
        tracing::warn!(error = %e, "could not record an idempotent response");
    }
    Response::from_parts(parts, Body::from(bytes))
}
