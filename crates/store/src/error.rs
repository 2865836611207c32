//! Store errors: what callers can act on, with the driver's error kept as the source.

/// A store failure.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A domain rule was broken (also "not found" and "already exists" with their texts).
    #[error(transparent)]
    Domain(#[from] datahooks_domain::Error),
    /// A page past the end of a list.
    #[error("Invalid page.")]
    InvalidPage,
    /// The database is locked or busy; the caller may retry.
    #[error("the database is busy")]
    Busy,
    /// The URL names a backend this build cannot open.
    #[error("{0}")]
    Unsupported(String),
    /// Anything else: a bug or an I/O failure.
    #[error("store failure: {0}")]
    Other(String),
}

impl Error {
    /// Not found, with the standard text.
    pub fn not_found() -> Self {
        Error::Domain(datahooks_domain::Error::NotFound)
    }

    /// Already exists, with a message.
    pub fn exists(msg: impl Into<String>) -> Self {
        Error::Domain(datahooks_domain::Error::AlreadyExists(msg.into()))
    }

    /// Invalid input discovered in the store (e.g. an unknown user named in a body).
    pub fn invalid(code: &'static str, msg: impl Into<String>) -> Self {
        Error::Domain(datahooks_domain::Error::invalid(code, msg))
    }
}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        match &e {
            rusqlite::Error::QueryReturnedNoRows => Error::not_found(),
            rusqlite::Error::SqliteFailure(f, _)
                if matches!(
                    f.code,
                    rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
                ) =>
            {
                Error::Busy
            }
            // As on PostgreSQL (`postgres::classify`): a duplicate is the caller's conflict,
            // named better by `shared::on_conflict` where one is expected.
            rusqlite::Error::SqliteFailure(f, _)
                if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                    || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY =>
            {
                Error::exists("This already exists.")
            }
            _ => Error::Other(e.to_string()),
        }
    }
}

impl From<tokio_postgres::Error> for Error {
    fn from(e: tokio_postgres::Error) -> Self {
        crate::postgres::classify(e)
    }
}

impl From<datahooks_domain::delivery::UnknownCode> for Error {
    fn from(e: datahooks_domain::delivery::UnknownCode) -> Self {
        Error::Other(e.to_string())
    }
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Error::Other(format!("bad JSON in the store: {e}"))
    }
}

/// Result with a store [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
