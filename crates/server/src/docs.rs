//! `/docs`: the OpenAPI document rendered by Swagger UI, served from assets embedded in the
//! binary (`static/swagger-ui/`, version and licence in its README). No CDN: the page loads
//! only from this origin, so it works under the `default-src 'self'` policy and offline.

use axum::http::header;
use axum::response::{Html, IntoResponse, Redirect};
use axum::routing::get;
use axum::Router;

use crate::state::AppState;

const BUNDLE: &str = include_str!("../static/swagger-ui/swagger-ui-bundle.js");
const CSS: &str = include_str!("../static/swagger-ui/swagger-ui.css");
const INIT: &str = include_str!("../static/swagger-ui/docs.js");

/// The page: the viewer's stylesheet and scripts, all under `/ui/static/` (cacheable).
const PAGE: &str = r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>datahooks API</title>
<link rel="stylesheet" href="/ui/static/swagger-ui/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/ui/static/swagger-ui/swagger-ui-bundle.js"></script>
<script src="/ui/static/swagger-ui/docs.js"></script>
</body>
</html>
"#;

fn asset(content_type: &'static str, body: &'static str) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, content_type)], body)
}

/// `/docs` and its assets.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/docs", get(|| async { Html(PAGE) }))
        .route("/docs/", get(|| async { Redirect::permanent("/docs") }))
        .route(
            "/ui/static/swagger-ui/swagger-ui-bundle.js",
            get(|| async { asset("text/javascript", BUNDLE) }),
        )
        .route(
            "/ui/static/swagger-ui/swagger-ui.css",
            get(|| async { asset("text/css", CSS) }),
        )
        .route(
            "/ui/static/swagger-ui/docs.js",
            get(|| async { asset("text/javascript", INIT) }),
        )
}
