//! [`SetupStore`] for PostgreSQL: the shared setup code in a transaction. Redeems take one
//! advisory lock, so two nodes (or two browsers) redeeming links at once run one after the
//! other.

use async_trait::async_trait;

use super::db::Pg;
use super::{read_tx, write_tx, PgStore};
use crate::setup::{Setup, SetupStore};
use crate::shared::setup;
use crate::{Account, NewApiKey, Result};

#[async_trait]
impl SetupStore for PgStore {
    async fn count_users(&self) -> Result<i64> {
        read_tx!(self, |tx| setup::count_users(&Pg(&tx)).await)
    }

    async fn create_setup_link(&self, expires_ms: i64) -> Result<String> {
        write_tx!(self, |tx| setup::create_link(&Pg(&tx), expires_ms).await)
    }

    async fn check_setup_link(&self, token: &str, now_ms: i64) -> Result<Setup<()>> {
        read_tx!(self, |tx| setup::check(&Pg(&tx), token, now_ms).await)
    }

    async fn redeem_setup_link(
        &self,
        token: &str,
        now_ms: i64,
        name: &str,
        email: Option<&str>,
    ) -> Result<Setup<(Account, NewApiKey)>> {
        write_tx!(self, |tx| setup::redeem(
            &Pg(&tx),
            token,
            now_ms,
            name,
            email
        )
        .await)
    }
}
