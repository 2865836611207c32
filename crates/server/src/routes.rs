//! A router that documents itself: every route is registered with a summary, in both
//! trailing-slash forms, and the OpenAPI document is generated from those registrations.
//!
//! A route's bodies are declared right after it: `.body::<T>()` for the request,
//! `.returns::<T>(status)` / `.returns_list::<T>(status)` / `.no_content()` for the answer,
//! with `T: utoipa::ToSchema` (see [`crate::schema`]); `.returns_media(status, type)` for a
//! file or an event stream, `.public()` for a link that needs no key. A route without a
//! declared answer is documented as untyped (`x-untyped: true`, any JSON) rather than with a
//! made-up schema.

use std::collections::{BTreeMap, HashMap};

use axum::handler::Handler;
use axum::routing::{on, MethodFilter};
use axum::Router;
use serde::Serialize;
use serde_json::{json, Map, Value};
use utoipa::openapi::{RefOr, Schema};
use utoipa::ToSchema;

use crate::schema::{Body, ErrorBody, ValidationErrorBody};
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
    /// The handler's `module_function`, the base of the operation id.
    pub handler: String,
    /// Query parameters: name and description.
    pub query: &'static [(&'static str, &'static str)],
    /// The request body, when declared.
    pub request: Option<Body>,
    /// Declared answers: status and body (`None`: no content).
    pub responses: Vec<(u16, Option<Body>)>,
    /// Declared answers that are not a typed JSON body: status and media type.
    pub media: Vec<(u16, &'static str)>,
    /// Served without an API key (an unguessable URL is the credential).
    pub public: bool,
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
            handler: handler_name::<H>(),
            query: &[],
            request: None,
            responses: Vec::new(),
            media: Vec::new(),
            public: false,
        });
        self
    }

    /// Applies `f` to the route registered last.
    fn last(mut self, f: impl FnOnce(&mut RouteDoc)) -> Self {
        if let Some(d) = self.docs.last_mut() {
            f(d);
        }
        self
    }

    /// Declares the last route's request body.
    pub fn body<T: ToSchema>(self) -> Self {
        self.last(|d| d.request = Some(Body::of::<T>()))
    }

    /// Declares the last route's request body as a JSON array of `T`.
    pub fn body_list<T: ToSchema>(self) -> Self {
        self.last(|d| d.request = Some(Body::list::<T>()))
    }

    /// Declares an answer of the last route.
    pub fn returns<T: ToSchema>(self, status: u16) -> Self {
        self.last(|d| d.responses.push((status, Some(Body::of::<T>()))))
    }

    /// Declares an answer of the last route that is a JSON array of `T`.
    pub fn returns_list<T: ToSchema>(self, status: u16) -> Self {
        self.last(|d| d.responses.push((status, Some(Body::list::<T>()))))
    }

    /// Declares that the last route answers 204 without a body.
    pub fn no_content(self) -> Self {
        self.last(|d| d.responses.push((204, None)))
    }

    /// Declares an answer of the last route that is not JSON (a file, an event stream).
    pub fn returns_media(self, status: u16, media_type: &'static str) -> Self {
        self.last(|d| d.media.push((status, media_type)))
    }

    /// Declares that the last route needs no API key.
    pub fn public(self) -> Self {
        self.last(|d| d.public = true)
    }

    /// Declares the last route's query parameters (all optional strings or numbers).
    pub fn query(self, params: &'static [(&'static str, &'static str)]) -> Self {
        self.last(|d| d.query = params)
    }

    /// The router and the docs.
    pub fn finish(self) -> (Router<AppState>, Vec<RouteDoc>) {
        (self.router, self.docs)
    }
}

/// `module_function` of a handler (`datahooks_server::svix::endpoints::create` →
/// `endpoints_create`): operation ids that read well in generated clients, without naming
/// each route twice.
fn handler_name<H>() -> String {
    let full = std::any::type_name::<H>();
    let mut parts = full.rsplit("::");
    match (parts.next(), parts.next()) {
        (Some(f), Some(m)) => format!("{m}_{f}"),
        (Some(f), None) => f.to_owned(),
        _ => full.to_owned(),
    }
}

/// Query parameters of Svix lists and platform pages.
pub const SVIX_LIST: &[(&str, &str)] = &[
    ("limit", "Page size, 1 to 250 (default 50)"),
    ("iterator", "The `iterator` of the previous page"),
];

/// Query parameters of platform pages.
pub const PAGE: &[(&str, &str)] = &[
    ("page", "Page number, from 1"),
    ("per_page", "Page size, 1 to 1000 (default 1000)"),
];

/// Query parameters of a dataset's sample list.
pub const SAMPLE_LIST: &[(&str, &str)] = &[
    ("page", "Page number, from 1"),
    ("per_page", "Page size, 1 to 1000 (default 1000)"),
    ("labelset", "Include each sample's label in this labelset"),
    (
        "include_full_label",
        "With `labelset`: the full label instead of a summary",
    ),
    ("name__contains", "Only samples whose name contains this"),
    ("filters", "Metadata filters `key:value`, comma separated"),
    ("label_status", "Only these label statuses, comma separated"),
    (
        "sort",
        "name, created_at, priority, updated_at or gt_label__updated_at; `-` for descending",
    ),
];

/// Query parameters of Svix message and attempt lists.
pub const MESSAGE_LIST: &[(&str, &str)] = &[
    ("limit", "Page size, 1 to 250 (default 50)"),
    ("iterator", "The `iterator` of the previous page"),
    ("event_types", "Only these event types"),
    ("channel", "Only messages on this channel"),
    (
        "status",
        "Only deliveries with this status (0 success, 1 pending, 2 fail, 3 sending)",
    ),
    ("before", "Only before this time (RFC 3339)"),
    ("after", "Only after this time (RFC 3339)"),
];

/// Statuses an error may come with; every operation lists them with the error body.
const ERROR_STATUSES: &[(&str, &str)] = &[
    ("400", "The request is malformed or a field is invalid"),
    ("401", "No or wrong API key"),
    ("403", "The caller may see but not do this"),
    ("404", "Not found (or not visible to the caller)"),
    ("409", "Conflicts with what exists"),
    ("422", "A value is out of range"),
];

/// The whole document; `components.schemas` holds utoipa's schemas as they are.
#[derive(Serialize)]
pub struct OpenApi {
    openapi: &'static str,
    info: Value,
    servers: Value,
    security: Value,
    tags: Value,
    paths: Map<String, Value>,
    components: Components,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Components {
    schemas: BTreeMap<String, RefOr<Schema>>,
    security_schemes: Value,
}

fn content(schema: Value) -> Value {
    json!({"application/json": {"schema": schema}})
}

/// The OpenAPI 3.1 document for the registered routes.
pub fn openapi(docs: &[RouteDoc]) -> OpenApi {
    let mut schemas = Vec::new();
    Body::of::<ErrorBody>().collect(&mut schemas);
    Body::of::<ValidationErrorBody>().collect(&mut schemas);
    let mut paths = Map::new();
    let mut ids: HashMap<String, usize> = HashMap::new();
    let mut tags: Vec<&str> = Vec::new();
    for d in docs {
        if !tags.contains(&d.tag) {
            tags.push(d.tag);
        }
        let mut params: Vec<Value> = d
            .path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
            .collect();
        params.extend(d.query.iter().map(|(name, description)| {
            json!({"name": name, "in": "query", "required": false,
                   "description": description, "schema": {"type": "string"}})
        }));
        // A handler registered on several paths gets a numbered id on the later ones.
        let n = ids.entry(d.handler.clone()).or_insert(0);
        *n += 1;
        let op_id = if *n == 1 {
            d.handler.clone()
        } else {
            format!("{}_{}", d.handler, n)
        };
        let mut responses = Map::new();
        for (status, body) in &d.responses {
            let r = match body {
                Some(b) => {
                    b.collect(&mut schemas);
                    json!({"description": d.summary, "content": content(b.schema_ref())})
                }
                None => json!({"description": "No content"}),
            };
            responses.insert(status.to_string(), r);
        }
        for (status, media) in &d.media {
            // A file's bytes, an event stream's text, or a JSON file of no fixed shape.
            let schema = if *media == "application/json" {
                json!({"type": "object"})
            } else {
                json!({"type": "string", "contentMediaType": media})
            };
            responses.insert(
                status.to_string(),
                json!({"description": d.summary, "content": {*media: {"schema": schema}}}),
            );
        }
        let untyped = d.responses.is_empty() && d.media.is_empty();
        if untyped {
            responses.insert(
                "200".into(),
                json!({"description": "Untyped answer (any JSON)", "content": content(json!({}))}),
            );
        }
        for (status, description) in ERROR_STATUSES {
            // A 422 has Svix's shape (`detail` a list), every other error `{code, detail}`.
            let schema = if *status == "422" {
                "#/components/schemas/HTTPValidationError"
            } else {
                "#/components/schemas/Error"
            };
            responses.insert(
                (*status).into(),
                json!({"description": description, "content": content(json!({"$ref": schema}))}),
            );
        }
        let mut op = json!({
            "operationId": op_id,
            "summary": d.summary,
            "tags": [d.tag],
            "parameters": params,
            "responses": responses,
        });
        if untyped {
            op["x-untyped"] = json!(true);
        }
        if d.public {
            op["security"] = json!([]);
        }
        match &d.request {
            Some(b) => {
                b.collect(&mut schemas);
                op["requestBody"] = json!({"required": true, "content": content(b.schema_ref())});
            }
            // A typed route without a declared body takes none (a resend, a rotation).
            None if untyped && matches!(d.method, "POST" | "PUT" | "PATCH") => {
                op["requestBody"] = json!({"content": content(json!({"type": "object"}))});
                op["x-untyped"] = json!(true);
            }
            None => {}
        }
        let entry = paths.entry(d.path.to_owned()).or_insert_with(|| json!({}));
        entry[d.method.to_ascii_lowercase()] = op;
    }
    OpenApi {
        openapi: "3.1.0",
        info: json!({"title": "datahooks", "version": env!("CARGO_PKG_VERSION"),
                     "description": "Data-labeling platform API (segments-ai compatible) with a Svix-compatible webhook API.",
                     "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"}}),
        servers: json!([{"url": "/"}]),
        security: json!([{"apiKey": []}, {"bearer": []}]),
        tags: Value::Array(tags.into_iter().map(|t| json!({"name": t})).collect()),
        paths,
        components: Components {
            // Later copies of a name are the same type reached another way.
            schemas: schemas.into_iter().rev().collect(),
            security_schemes: json!({
                "apiKey": {"type": "apiKey", "in": "header", "name": "Authorization",
                           "description": "`APIKey <key>` (the segments-ai SDK's form)"},
                "bearer": {"type": "http", "scheme": "bearer",
                           "description": "`Bearer <key>` (the svix client's form)"},
            }),
        },
    }
}
