//! App portal sign-in links (Svix's `app-portal-access`): a link hands the Manage webhooks
//! page of one account to someone without an API key, for a while.
//!
//! The link carries a random token; only its SHA-256 is kept, with the account, the API key
//! that made it (revoking the key ends it), an optional client session id, and its expiry.
//! Each browser that opens the link gets an ordinary web session (see [`crate::sessions`])
//! that names the token, so ending the token (`logout`, `expire-all`) ends those sessions in
//! the same transaction, on every node.

use async_trait::async_trait;

use crate::{Account, NewWebSession, Result};

/// A new portal link.
#[derive(Debug, Clone)]
pub struct NewPortalToken<'a> {
    /// The link's secret token.
    pub token: &'a str,
    /// The account whose page it opens.
    pub account_id: i64,
    /// The client's session id, to end it alone with `expire-all`.
    pub session_id: Option<String>,
    /// Pages opened by it may look but not change anything.
    pub read_only: bool,
    /// Now, unix ms.
    pub now_ms: i64,
    /// When the link (and the sessions it opened) end, unix ms.
    pub expires_ms: i64,
}

/// What opening a portal link gives: the user whose key made it, and the account.
#[derive(Debug, Clone)]
pub struct PortalSignIn {
    /// The user whose API key made the link (the session acts as that user).
    pub user: Account,
    /// The one account the session may see.
    pub account_id: i64,
}

pub(crate) const KEY: &str =
    "SELECT k.id FROM api_keys k WHERE k.hash = $1 AND k.revoked_at IS NULL";

pub(crate) const INSERT: &str = "INSERT INTO portal_tokens (token_hash, account_id, key_id,
        session_id, read_only, created_ms, expires_ms) VALUES ($1, $2, $3, $4, $5, $6, $7)";

/// A live link: its account, key's user, key, read-only flag and expiry.
pub(crate) const LIVE: &str = "SELECT p.account_id, k.user_id, p.key_id, p.read_only, p.expires_ms
   FROM portal_tokens p JOIN api_keys k ON k.id = p.key_id AND k.revoked_at IS NULL
  WHERE p.token_hash = $1 AND p.expires_ms > $2";

pub(crate) const OPEN_SESSION: &str = "INSERT INTO web_sessions (token_hash, user_id, key_id,
        csrf, created_ms, expires_ms, portal_token) VALUES ($1, $2, $3, $4, $5, $6, $7)";

pub(crate) const END_SESSIONS: &str = "DELETE FROM web_sessions WHERE portal_token = $1";
pub(crate) const END: &str = "DELETE FROM portal_tokens WHERE token_hash = $1";

/// Moves the end of the account's (`$2`) links (all, or when `$3` is true the one client
/// session id `$4` names) to `$1` at the latest. (SQLite numbers `$N` parameters in order of
/// first appearance, so they appear in order.)
pub(crate) const EXPIRE_TOKENS: &str = "UPDATE portal_tokens
    SET expires_ms = CASE WHEN expires_ms > $1 THEN $1 ELSE expires_ms END
  WHERE account_id = $2 AND (NOT $3 OR session_id = $4)";

/// The same for the web sessions those links opened.
pub(crate) const EXPIRE_SESSIONS: &str = "UPDATE web_sessions
    SET expires_ms = CASE WHEN expires_ms > $1 THEN $1 ELSE expires_ms END
  WHERE portal_token IN (SELECT token_hash FROM portal_tokens
                          WHERE account_id = $2 AND (NOT $3 OR session_id = $4))";

/// App portal links and the sessions they open.
#[async_trait]
pub trait PortalStore {
    /// Records a link made with `api_key` (which must be live); `None` if it is not.
    async fn create_portal_token(
        &self,
        api_key: &str,
        new: NewPortalToken<'_>,
    ) -> Result<Option<()>>;
    /// Opens a web session from a live link (ending with the link at the latest); `None` when
    /// the link is unknown, expired, ended, or its key revoked.
    async fn open_portal_session(
        &self,
        link_token: &str,
        session: NewWebSession<'_>,
    ) -> Result<Option<PortalSignIn>>;
    /// Ends a link and every session it opened (Svix's `logout` with the link's token);
    /// false when there was no such link.
    async fn end_portal_token(&self, link_token: &str) -> Result<bool>;
    /// Ends the account's links and their sessions at `at_ms` (now, or later for a grace
    /// period); only those of `session_ids` when given.
    async fn expire_portal_tokens(
        &self,
        account_id: i64,
        session_ids: Option<Vec<String>>,
        at_ms: i64,
    ) -> Result<()>;
}
