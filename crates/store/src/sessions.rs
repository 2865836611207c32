//! Web sessions, kept server-side so that signing out, revoking the API key that opened a
//! session, or deleting its user ends it at once (a copied cookie is then worth nothing).
//!
//! The cookie carries a random token; the store keeps only its SHA-256, as for API keys.

use crate::{Account, Error};

/// A live web session.
#[derive(Debug, Clone)]
pub struct WebSession {
    /// The signed-in user, as the store has it now.
    pub user: Account,
    /// The CSRF token every form of this session must echo.
    pub csrf: String,
    /// When the session ends (unix ms) unless it is ended earlier.
    pub expires_ms: i64,
    /// For a session opened by an app portal link (see [`crate::portal`]): the one account
    /// it may see.
    pub portal_account: Option<i64>,
    /// An app portal session that may look but not change anything.
    pub read_only: bool,
}

/// What a new session is made of: its secret token (only its hash is kept), its CSRF token,
/// and its lifetime.
#[derive(Debug, Clone)]
pub struct NewWebSession<'a> {
    /// The cookie's secret token.
    pub token: &'a str,
    /// The CSRF token.
    pub csrf: &'a str,
    /// Now, unix ms.
    pub now_ms: i64,
    /// When the session ends, unix ms.
    pub expires_ms: i64,
}

/// A [`NewWebSession`] that owns its tokens: what SQLite's writer thread is handed (its work
/// must own what it reads).
pub(crate) struct OwnedWebSession {
    token: String,
    csrf: String,
    now_ms: i64,
    expires_ms: i64,
}

impl OwnedWebSession {
    pub(crate) fn of(new: &NewWebSession<'_>) -> OwnedWebSession {
        OwnedWebSession {
            token: new.token.to_owned(),
            csrf: new.csrf.to_owned(),
            now_ms: new.now_ms,
            expires_ms: new.expires_ms,
        }
    }

    pub(crate) fn as_new(&self) -> NewWebSession<'_> {
        NewWebSession {
            token: &self.token,
            csrf: &self.csrf,
            now_ms: self.now_ms,
            expires_ms: self.expires_ms,
        }
    }
}

/// The refusal to delete a user who still owns datasets or assets.
pub(crate) fn owns_data(name: &str) -> Error {
    Error::invalid(
        "user_owns_data",
        format!("{name} still owns datasets or assets; delete them before the user."),
    )
}
