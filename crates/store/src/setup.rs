//! First-run setup: counting users and the one-time links that create the first one.
//!
//! A link's token is 256 random bits shown once on the server's console; only its SHA-256 is
//! kept, in the database, so the link works on whichever node a load balancer picks and
//! survives a restart until it expires. Whether a link may still be used is decided by
//! [`datahooks_domain::setup::check_setup`], in the same transaction that creates the user.

use async_trait::async_trait;

use datahooks_domain::setup::SetupRefusal;

use crate::{Account, NewApiKey, Result};

/// A setup step's outcome: done, or refused for a reason the page explains.
pub type Setup<T> = std::result::Result<T, SetupRefusal>;

/// What the first-run setup needs from the store.
#[async_trait]
pub trait SetupStore {
    /// How many users exist (organizations are not counted).
    async fn count_users(&self) -> Result<i64>;
    /// Stores a new setup link that works until `expires_ms` (unix ms); returns its token,
    /// which is not kept.
    async fn create_setup_link(&self, expires_ms: i64) -> Result<String>;
    /// Whether the link with this token could create the first user at `now_ms`.
    async fn check_setup_link(&self, token: &str, now_ms: i64) -> Result<Setup<()>>;
    /// Creates the first user and its API key with the link, and uses the link up, in one
    /// transaction: of two attempts at once, one creates the user and the other is refused.
    async fn redeem_setup_link(
        &self,
        token: &str,
        now_ms: i64,
        name: &str,
        email: Option<&str>,
    ) -> Result<Setup<(Account, NewApiKey)>>;
}
