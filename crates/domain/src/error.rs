//! Rule and validation failures, each with a stable machine-readable code.

/// A rule or validation failure. The message is shown to API callers, so its wording matters:
/// the `segments-ai` SDK picks its exception class from the text (see `docs/API.md`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The input is malformed or breaks a rule (400).
    #[error("{message}")]
    Invalid {
        /// Stable code, e.g. `invalid_name`.
        code: &'static str,
        /// Human-readable explanation.
        message: String,
    },
    /// The caller may see the object but not do this to it (403).
    #[error("You do not have permission to perform this action.")]
    Forbidden,
    /// The object does not exist or the caller may not see it (404).
    #[error("Not found.")]
    NotFound,
    /// The object already exists (409).
    #[error("{0}")]
    AlreadyExists(String),
}

impl Error {
    /// Shorthand for an [`Error::Invalid`].
    pub fn invalid(code: &'static str, message: impl Into<String>) -> Self {
        Error::Invalid {
            code,
            message: message.into(),
        }
    }

    /// The stable code of this error.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Invalid { code, .. } => code,
            Error::Forbidden => "permission_denied",
            Error::NotFound => "not_found",
            Error::AlreadyExists(_) => "already_exists",
        }
    }
}

/// Result with a domain [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
