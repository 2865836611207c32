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
