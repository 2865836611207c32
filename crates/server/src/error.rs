//! `ApiError`: the one place an HTTP status is chosen.
//!
//! Body: `{"detail": "...", "code": "..."}`. `detail` is what the `segments-ai` SDK reads to
//! pick its exception (so its wording is part of the API), and `{code, detail}` is the Svix
//! error shape, so one envelope serves both APIs.
//!
//! A 422 is the one exception: the `svix` client reads it as Svix's `HTTPValidationError`,
//! whose `detail` is a list `[{loc, msg, type}]` (with a string it crashes), so every 422 gets
//! that shape. Only the Svix API answers 422; the platform API's validation errors are 400s
//! with a string `detail`, which the segments SDK reads.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// An error answered to an API caller.
#[derive(Debug)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable code.
    pub code: &'static str,
    /// Message for the caller.
    pub detail: String,
    /// Where a 422's fault lies (`["body", "uid"]`, `["query", "limit"]`): the `loc` of Svix's
    /// validation error. `None` on other errors (a 422 without it says `["body"]`).
    pub loc: Option<Vec<String>>,
}

impl ApiError {
    /// Any status, code and message.
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            detail: detail.into(),
            loc: None,
        }
    }

    /// 500, saying nothing of the cause (which the caller logs).
    pub fn internal() -> Self {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "Internal server error.",
        )
    }

    /// 422: a well-formed request whose `loc` field (`["body", "since"]`) breaks a rule, in
    /// Svix's validation-error shape.
    pub fn validation(loc: &[&str], code: &'static str, detail: impl Into<String>) -> Self {
        ApiError {
            loc: Some(loc.iter().map(|s| (*s).to_owned()).collect()),
            ..Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, detail)
        }
    }

    /// 400 with a code.
    pub fn bad_request(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, detail)
    }

    /// 404 "Not found."
    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", "Not found.")
    }

    /// 401 for a request without credentials.
    pub fn unauthenticated() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "authentication_required",
            "Authentication credentials were not provided.",
        )
    }

    /// 401 for a wrong or revoked key.
    pub fn bad_key() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "invalid_api_key",
            "Invalid API key.",
        )
    }

    /// 403.
    pub fn forbidden() -> Self {
        Self::from(datahooks_domain::Error::Forbidden)
    }
}

impl From<datahooks_domain::Error> for ApiError {
    fn from(e: datahooks_domain::Error) -> Self {
        use datahooks_domain::Error as E;
        let status = match &e {
            E::Invalid { .. } => StatusCode::BAD_REQUEST,
            E::Forbidden => StatusCode::FORBIDDEN,
            E::NotFound => StatusCode::NOT_FOUND,
            E::AlreadyExists(_) => StatusCode::CONFLICT,
        };
        ApiError::new(status, e.code(), e.to_string())
    }
}

impl From<datahooks_domain::setup::SetupRefusal> for ApiError {
    fn from(r: datahooks_domain::setup::SetupRefusal) -> Self {
        use datahooks_domain::setup::SetupRefusal as R;
        let (status, code) = match r {
            R::UsersExist => (StatusCode::CONFLICT, "users_exist"),
            R::Unknown => (StatusCode::NOT_FOUND, "unknown_setup_link"),
            R::Used | R::Expired => (StatusCode::GONE, "setup_link_gone"),
        };
        ApiError::new(status, code, r.message())
    }
}

impl From<datahooks_store::Error> for ApiError {
    fn from(e: datahooks_store::Error) -> Self {
        use datahooks_store::Error as E;
        match e {
            E::Domain(d) => d.into(),
            E::InvalidPage => ApiError::new(StatusCode::NOT_FOUND, "invalid_page", "Invalid page."),
            E::Busy => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "busy",
                "The server is busy; please retry.",
            ),
            other => {
                // Internals are logged, never shown.
                tracing::error!(error = %other, "store failure");
                ApiError::internal()
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = if self.status == StatusCode::UNPROCESSABLE_ENTITY {
            let loc = self.loc.unwrap_or_else(|| vec!["body".to_owned()]);
            json!({
                "detail": [{"loc": loc, "msg": self.detail, "type": self.code}],
                "code": self.code,
            })
        } else {
            json!({"detail": self.detail, "code": self.code})
        };
        (self.status, axum::Json(body)).into_response()
    }
}

/// Result of an API handler.
pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    async fn body(e: ApiError) -> serde_json::Value {
        let r = e.into_response();
        let bytes = axum::body::to_bytes(r.into_body(), 1 << 16).await.unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[tokio::test]
    async fn a_422_has_svix_validation_shape_and_others_a_string() {
        let v = body(ApiError::validation(
            &["query", "limit"],
            "invalid_limit",
            "too big",
        ))
        .await;
        assert_eq!(
            v,
            json!({"detail": [{"loc": ["query", "limit"], "msg": "too big", "type": "invalid_limit"}],
                   "code": "invalid_limit"})
        );
        let v = body(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "x",
            "no loc",
        ))
        .await;
        assert_eq!(v["detail"][0]["loc"], json!(["body"]));
        let v = body(ApiError::bad_request("validation", "bad")).await;
        assert_eq!(v, json!({"detail": "bad", "code": "validation"}));
    }
}
