//! A span per API request, for OpenTelemetry traces (see `datahooks_store::trace`).
//!
//! Installed by [`crate::build_app`] only when traces are exported. The span is the root of
//! the trace that runs from ingest to every delivery attempt: a store call made while it is
//! current keeps its `traceparent` with the messages it queues. An incoming W3C
//! `traceparent` header makes the span its child, so a caller's trace goes on through us.

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

/// Runs the request inside its span and notes the response's status on it.
pub async fn layer(req: Request, next: Next) -> Response {
    let method = req.method().clone();
    // The route template (`/api/v1/app/{app_id}/msg`), not the path: span names stay few.
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| req.uri().path().to_owned());
    let span = tracing::info_span!(
        "HTTP request",
        otel.name = %format!("{method} {route}"),
        otel.kind = "server",
        otel.status_code = tracing::field::Empty,
        http.request.method = %method,
        http.route = %route,
        url.path = %req.uri().path(),
        http.response.status_code = tracing::field::Empty,
    );
    if let Some(tp) = req
        .headers()
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
    {
        datahooks_store::trace::set_parent(&span, tp);
    }
    let response = next.run(req).instrument(span.clone()).await;
    let status = response.status();
    // As i64: the OpenTelemetry layer turns a recorded u64 into a string attribute.
    span.record("http.response.status_code", i64::from(status.as_u16()));
    if status.is_server_error() {
        // OpenTelemetry's rule for server spans: only 5xx is an error of ours.
        span.record("otel.status_code", "ERROR");
    }
    response
}
