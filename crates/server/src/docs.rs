//! `/docs`: the OpenAPI document rendered by Swagger UI, served from assets embedded in the
//! binary (`static/swagger-ui/`, version and licence in its README). No CDN: the page loads
//! only from this origin, so it works under the `default-src 'self'` policy and offline.
//!
//! The stylesheet draws its icons (arrows, locks, copy) as `data:` images, which `img-src
//! 'self'` refuses. Rather than loosen the policy, the stylesheet is served with each `data:`
//! image moved to a URL of its own under `/ui/static/swagger-ui/icon/` ([`Styles`]).

use std::sync::OnceLock;

use axum::extract::Path;
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use base64::Engine;

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

/// Where the stylesheet's icons are served; `{n}` is the icon's index.
const ICON_PATH: &str = "/ui/static/swagger-ui/icon/";

/// The stylesheet with its `data:` images replaced by URLs, and those images.
pub struct Styles {
    /// The rewritten stylesheet.
    pub css: String,
    /// Each image: its content type and bytes, in order of appearance.
    pub icons: Vec<(String, Vec<u8>)>,
}

/// Decodes `%XX` escapes (the `data:` URLs of the stylesheet escape `#` as `%23`).
fn percent_decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = b
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        match (b[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(v)) => {
                out.push(v);
                i += 3;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

/// One `data:` URL's content type and bytes; `None` if it is not one we can decode.
fn decode_data_url(url: &str) -> Option<(String, Vec<u8>)> {
    let rest = url.strip_prefix("data:")?;
    let (meta, data) = rest.split_once(',')?;
    let mime = meta.split(';').next()?.to_owned();
    if meta.ends_with(";base64") {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(data)
            .ok()?;
        return Some((mime, bytes));
    }
    // Inside a quoted CSS string the SVG's quotes are escaped.
    Some((mime, percent_decode(&data.replace("\\\"", "\""))))
}

impl Styles {
    /// Moves every `url(data:…)` / `url("data:…")` of `css` to [`ICON_PATH`]`<n>`.
    pub fn from_css(css: &str) -> Styles {
        let mut out = String::with_capacity(css.len());
        let mut icons = Vec::new();
        let mut rest = css;
        while let Some(at) = rest.find("url(") {
            let (before, from) = rest.split_at(at + 4);
            out.push_str(before);
            let quoted = from.starts_with('"');
            let body = if quoted { &from[1..] } else { from };
            // The URL ends at the closing quote not preceded by a backslash, or at `)`.
            let end = if quoted {
                body.match_indices('"')
                    .find(|(i, _)| !body[..*i].ends_with('\\'))
                    .map(|(i, _)| i)
            } else {
                body.find(')')
            };
            let decoded = end.and_then(|e| Some((e, decode_data_url(&body[..e])?)));
            match decoded {
                Some((e, icon)) => {
                    out.push_str(&format!("\"{ICON_PATH}{}\"", icons.len()));
                    icons.push(icon);
                    rest = &body[e + usize::from(quoted)..];
                }
                None => rest = from,
            }
        }
        out.push_str(rest);
        Styles { css: out, icons }
    }
}

fn styles() -> &'static Styles {
    static STYLES: OnceLock<Styles> = OnceLock::new();
    STYLES.get_or_init(|| Styles::from_css(CSS))
}

async fn icon(Path(n): Path<String>) -> Response {
    let found = n
        .strip_suffix(".svg")
        .unwrap_or(&n)
        .parse::<usize>()
        .ok()
        .and_then(|i| styles().icons.get(i));
    match found {
        Some((mime, bytes)) => {
            ([(header::CONTENT_TYPE, mime.clone())], bytes.clone()).into_response()
        }
        None => StatusCode::NOT_FOUND.into_response(),
    }
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
            get(|| async { ([(header::CONTENT_TYPE, "text/css")], styles().css.as_str()) }),
        )
        .route("/ui/static/swagger-ui/icon/{n}", get(icon))
        .route(
            "/ui/static/swagger-ui/docs.js",
            get(|| async { asset("text/javascript", INIT) }),
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_images_move_to_urls_of_their_own() {
        let css = r#"a{background:url("data:image/svg+xml;charset=utf-8,<svg a=\"1\"><path fill=\"%23fff\"/></svg>") center}b{background:url(data:image/png;base64,iVBORw0K)}c{background:url(/x.png)}"#;
        let s = Styles::from_css(css);
        assert_eq!(
            s.css,
            r#"a{background:url("/ui/static/swagger-ui/icon/0") center}b{background:url("/ui/static/swagger-ui/icon/1")}c{background:url(/x.png)}"#
        );
        assert_eq!(s.icons[0].0, "image/svg+xml");
        assert_eq!(
            String::from_utf8(s.icons[0].1.clone()).unwrap(),
            r##"<svg a="1"><path fill="#fff"/></svg>"##
        );
        assert_eq!(s.icons[1].0, "image/png");
        assert_eq!(s.icons[1].1, b"\x89PNG\r\n"[..6].to_vec());
    }

    #[test]
    fn the_bundled_stylesheet_keeps_no_data_images() {
        let s = styles();
        assert!(!s.css.contains("data:"), "a data: URL is left");
        assert_eq!(s.icons.len(), 24);
        assert!(s
            .icons
            .iter()
            .all(|(mime, b)| mime.starts_with("image/") && !b.is_empty()));
    }
}
