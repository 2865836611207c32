//! The HTTP face of datahooks: the platform API (segments-ai compatible), the webhook
//! management API (Svix compatible), the OpenAPI document and the web pages.
//!
//! [`build_app`] returns the whole [`axum::Router`]; the binary serves it and tests drive it
//! in-process or on a loopback port.

pub mod api;
pub mod conn;
pub mod docs;
pub mod error;
pub mod extract;
pub mod mac;
#[cfg(test)]
mod properties;
pub mod ready;
pub mod request_span;
pub mod routes;
pub mod schema;
pub mod security_headers;
pub mod state;
pub mod svix;
pub mod web;

use std::sync::{Arc, OnceLock};

use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use axum::routing::get;
use axum::Router;
use tower_http::decompression::RequestDecompressionLayer;

pub use state::{AppState, Hooks, ServerConfig};

use crate::error::ApiError;
use crate::routes::ApiRouter;

/// Builds the app: every route, the body limit (applied after gzip decompression, so a
/// compressed bomb is cut off at the limit) and JSON 404s.
pub fn build_app(state: AppState) -> Router {
    let (api, docs) = svix::router(api::router(ApiRouter::new())).finish();
    // Built at the first request, and kept as JSON text: building it runs every schema's code
    // and allocates a few MiB that a node nobody asks for its document need not hold, and as
    // a tree of maps it was a few MiB more for the life of the process.
    let openapi = Arc::new(LazyDocument {
        docs,
        json: OnceLock::new(),
    });
    let uploads = api::assets::upload_router(&state);
    let main = api
        .route(
            "/openapi.json",
            get(move || {
                let doc = openapi.clone();
                async move { openapi_response(doc.json()) }
            }),
        )
        .route("/", get(|| async { Redirect::to("/ui/") }))
        .route("/api/v1/health", get(health))
        .route("/api/v1/health/ping", get(health))
        .route("/api/v1/health/ready", get(ready::ready))
        .route("/ready", get(ready::ready))
        .route("/metrics", get(metrics))
        .fallback(|| async { ApiError::not_found() })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "Method not allowed.",
            )
        })
        .layer(DefaultBodyLimit::max(state.config.body_limit))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            svix::idempotency::layer,
        ));
    let app = Router::new()
        .merge(web::router())
        .merge(docs::router())
        .merge(uploads)
        .merge(main);
    // A span per request only when traces are exported: otherwise no cost at all. As a route
    // layer it sees the matched route, and runs outside the idempotency layer.
    let app = if datahooks_store::trace::enabled() {
        app.route_layer(axum::middleware::from_fn(request_span::layer))
    } else {
        app
    };
    app.layer(RequestDecompressionLayer::new())
        .layer(axum::middleware::from_fn(security_headers::layer))
        .with_state(state)
}

/// The app of a worker-only node: health, readiness and metrics.
pub fn build_ops_app(state: AppState) -> Router {
    Router::new()
        .route("/api/v1/health", get(health))
        .route("/api/v1/health/ping", get(health))
        .route("/api/v1/health/ready", get(ready::ready))
        .route("/ready", get(ready::ready))
        .route("/metrics", get(metrics))
        .fallback(|| async { ApiError::not_found() })
        .layer(axum::middleware::from_fn(security_headers::layer))
        .with_state(state)
}

/// A 204 for health checks.
pub async fn health() -> impl IntoResponse {
    StatusCode::NO_CONTENT
}

/// The routes' documentation, and the OpenAPI document made of it once asked for.
struct LazyDocument {
    docs: Vec<routes::RouteDoc>,
    json: OnceLock<Result<bytes::Bytes, String>>,
}

impl LazyDocument {
    fn json(&self) -> Result<bytes::Bytes, String> {
        self.json
            .get_or_init(|| {
                serde_json::to_vec(&routes::openapi(&self.docs))
                    .map(bytes::Bytes::from)
                    .map_err(|e| e.to_string())
            })
            .clone()
    }
}

/// The OpenAPI document as JSON, or a 500 if it could not be serialized.
fn openapi_response(doc: Result<bytes::Bytes, String>) -> axum::response::Response {
    match doc {
        Ok(json) => (
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            json,
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "cannot serialize the OpenAPI document");
            ApiError::internal().into_response()
        }
    }
}

/// Prometheus metrics of this node.
async fn metrics(axum::extract::State(state): axum::extract::State<AppState>) -> impl IntoResponse {
    let (depth, oldest) = state.store.queue_depth().await.unwrap_or((0, None));
    let now = chrono::Utc::now().timestamp_millis();
    let age = oldest
        .map(|t| ((now - t).max(0) as f64) / 1000.0)
        .unwrap_or(0.0);
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        state.hooks.metrics.render(depth, age) + &state.hooks.admission.render(),
    )
}
