//! A router that documents itself: every route is registered with a summary, in both
//! trailing-slash forms, and the OpenAPI document is generated from those registrations.

use axum::handler::Handler;
use axum::routing::{on, MethodFilter};
use axum::Router;
use serde_json::{json, Map, Value};

use crate::state::AppState;

/// One documented route.
#[derive(Debug, Clone)]
pub struct RouteDoc {
    /// HTTP method.
    pub method: &'static str,
    /// Path with `{param}` segments.
    pub path: &'static str,
    /// One-line summary.
    pub summary: &'static str,
    /// Tag (resource group).
    pub tag: &'static str,
}

/// Builds the API router and its documentation together.
pub struct ApiRouter {
    router: Router<AppState>,
    docs: Vec<RouteDoc>,
    tag: &'static str,
}

impl Default for ApiRouter {
    fn default() -> Self {
        Self::new()
    }
}

impl ApiRouter {
    /// An empty router.
    pub fn new() -> Self {
        ApiRouter {
            router: Router::new(),
            docs: Vec::new(),
            tag: "api",
        }
    }

    /// Sets the tag for the routes registered next.
    pub fn tag(mut self, tag: &'static str) -> Self {
        self.tag = tag;
        self
    }

    /// Registers `handler` for `method` at `path`, and at `path` with the trailing slash
    /// toggled: the SDK uses both conventions and must never be redirected.
    pub fn route<H, T>(
        mut self,
        method: &'static str,
        path: &'static str,
        summary: &'static str,
        handler: H,
    ) -> Self
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        let filter = match method {
            "GET" => MethodFilter::GET,
            "POST" => MethodFilter::POST,
            "PUT" => MethodFilter::PUT,
            "PATCH" => MethodFilter::PATCH,
            _ => MethodFilter::DELETE,
        };
        let alt = match path.strip_suffix('/') {
            Some(p) => p.to_owned(),
            None => format!("{path}/"),
        };
        self.router = self
            .router
            .route(path, on(filter, handler.clone()))
            .route(&alt, on(filter, handler));
        self.docs.push(RouteDoc {
            method,
            path,
            summary,
            tag: self.tag,
        });
        self
    }

    /// The router and the docs.
    pub fn finish(self) -> (Router<AppState>, Vec<RouteDoc>) {
        (self.router, self.docs)
    }
}

/// The OpenAPI 3.1 document for the registered routes.
pub fn openapi(docs: &[RouteDoc]) -> Value {
    let mut paths = Map::new();
    for d in docs {
        let params: Vec<Value> = d
            .path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
            .collect();
        let mut op = json!({
            "summary": d.summary,
            "tags": [d.tag],
            "parameters": params,
            "responses": {
                "default": {"description": "Success, or an error `{detail, code}`",
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
            },
        });
        if matches!(d.method, "POST" | "PUT" | "PATCH") {
            op["requestBody"] =
                json!({"content": {"application/json": {"schema": {"type": "object"}}}});
        }
        let entry = paths.entry(d.path.to_owned()).or_insert_with(|| json!({}));
        entry[d.method.to_ascii_lowercase()] = op;
    }
    json!({
        "openapi": "3.1.0",
        "info": {"title": "datahooks", "version": env!("CARGO_PKG_VERSION"),
                 "description": "Data-labeling platform API (segments-ai compatible) with a Svix-compatible webhook API."},
        "components": {
            "securitySchemes": {"apiKey": {"type": "apiKey", "in": "header", "name": "Authorization",
                                           "description": "`APIKey <key>` or `Bearer <key>`"}},
            "schemas": {"Error": {"type": "object", "properties": {"detail": {"type": "string"}, "code": {"type": "string"}}}}
        },
        "security": [{"apiKey": []}],
        "paths": paths,
    })
}
