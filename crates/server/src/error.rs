//! `ApiError`: the one place an HTTP status is chosen.
//!
//! Body: `{"detail": "...", "code": "..."}`. `detail` is what the `segments-ai` SDK reads to
//! pick its exception (so its wording is part of the API), and `{code, detail}` is the Svix
//! error shape, so one envelope serves both APIs.

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
}

impl ApiError {
    /// Any status, code and message.
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            detail: detail.into(),
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
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "Internal server error.",
                )
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            axum::Json(json!({"detail": self.detail, "code": self.code})),
        )
            .into_response()
    }
}

/// Result of an API handler.
pub type ApiResult<T> = Result<T, ApiError>;
