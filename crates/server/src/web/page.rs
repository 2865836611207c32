//! What every page shares: rendering, the HTML error page, and form bodies with their
//! CSRF check.

use askama::Template;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};

use super::session::Session;
use crate::error::ApiError;
use crate::extract::serde_urlencoded_pairs;

/// An error shown as a page (or a redirect to sign-in).
#[derive(Debug)]
pub enum HtmlError {
    /// Not signed in (or the session expired): go to the sign-in page.
    SignIn,
    /// Any API error, shown with its status and message.
    Api(ApiError),
}

impl From<ApiError> for HtmlError {
    fn from(e: ApiError) -> Self {
        HtmlError::Api(e)
    }
}

impl From<datahooks_store::Error> for HtmlError {
    fn from(e: datahooks_store::Error) -> Self {
        HtmlError::Api(e.into())
    }
}

impl From<datahooks_domain::Error> for HtmlError {
    fn from(e: datahooks_domain::Error) -> Self {
        HtmlError::Api(e.into())
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    title: &'a str,
    status: u16,
    detail: &'a str,
    signed_in: bool,
    csrf: &'a str,
}

impl IntoResponse for HtmlError {
    fn into_response(self) -> Response {
        match self {
            HtmlError::SignIn => Redirect::to("/ui/login").into_response(),
            HtmlError::Api(e) => {
                let page = ErrorPage {
                    title: "Error",
                    status: e.status.as_u16(),
                    detail: &e.detail,
                    signed_in: false,
                    csrf: "",
                };
                (e.status, render(&page)).into_response()
            }
        }
    }
}

/// Renders a template; a template failure is a bug, shown as a 500 without internals.
pub fn render<T: Template>(t: &T) -> Response {
    match t.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "template failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "Internal server error").into_response()
        }
    }
}

/// A page result.
pub type PageResult = Result<Response, HtmlError>;

/// A submitted HTML form (`application/x-www-form-urlencoded`), with repeated fields kept.
#[derive(Debug, Clone, Default)]
pub struct WebForm {
    pairs: Vec<(String, String)>,
    same_origin: bool,
}

impl<S: Send + Sync> FromRequest<S> for WebForm {
    type Rejection = HtmlError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let host = req
            .headers()
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        // A browser sends Origin on every form POST; a cross-site one must not act.
        let origin = req
            .headers()
            .get(header::ORIGIN)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let same_origin = match origin.as_deref() {
            None => true,
            Some(o) => o.split("://").nth(1).is_some_and(|h| h == host),
        };
        let bytes = Bytes::from_request(req, state).await.map_err(|_| {
            HtmlError::Api(ApiError::bad_request(
                "invalid_form",
                "The form could not be read.",
            ))
        })?;
        let text = String::from_utf8_lossy(&bytes);
        Ok(WebForm {
            pairs: serde_urlencoded_pairs(&text),
            same_origin,
        })
    }
}

impl WebForm {
    /// A field's (first) value, trimmed; empty counts as absent.
    pub fn get(&self, k: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.trim())
            .filter(|v| !v.is_empty())
    }

    /// Every value of a repeated field (checkboxes).
    pub fn all(&self, k: &str) -> Vec<String> {
        self.pairs
            .iter()
            .filter(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// Refuses the form unless it came from our own page in this session, and unless the
    /// session may change things (a read-only app portal session may not).
    pub fn check(&self, session: &Session) -> Result<(), HtmlError> {
        self.check_origin(session)?;
        if session.read_only {
            return Err(HtmlError::Api(ApiError::new(
                StatusCode::FORBIDDEN,
                "read_only",
                "This sign-in link is read-only: it shows the webhooks but cannot change them.",
            )));
        }
        Ok(())
    }

    /// Refuses the form unless it came from our own page in this session (signing out is
    /// allowed to read-only sessions too).
    pub fn check_origin(&self, session: &Session) -> Result<(), HtmlError> {
        let token_ok = self.get("csrf").is_some_and(|t| t == session.csrf);
        if token_ok && self.same_origin {
            Ok(())
        } else {
            Err(HtmlError::Api(ApiError::new(
                StatusCode::FORBIDDEN,
                "csrf",
                "This form has expired or did not come from this site. Reload the page and try again.",
            )))
        }
    }

    /// Whether the request came from a page of this site (used before a session exists).
    pub fn same_origin(&self) -> bool {
        self.same_origin
    }
}

/// An option of a `<select>`.
pub struct Opt {
    /// Submitted value.
    pub value: String,
    /// Shown text.
    pub label: String,
    /// Pre-selected.
    pub selected: bool,
}

impl Opt {
    /// Options with the one equal to `current` selected.
    pub fn list(items: Vec<(String, String)>, current: Option<&str>) -> Vec<Opt> {
        items
            .into_iter()
            .map(|(value, label)| Opt {
                selected: current == Some(value.as_str()),
                value,
                label,
            })
            .collect()
    }
}

/// A stored timestamp (`2026-11-27T07:39:56.509000+00:00`) as people read it
/// (`2026-11-27 07:39:56 UTC`).
pub fn when(ts: &str) -> String {
    match datahooks_domain::time::parse(ts) {
        Some(t) => t.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
        None => ts.to_owned(),
    }
}
