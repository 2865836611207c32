//! [`SetupStore`] for SQLite: the shared setup code on the reader and writer threads. The
//! single writer runs one redeem at a time.

use async_trait::async_trait;

use super::db::Lite;
use super::SqliteStore;
use crate::setup::{Setup, SetupStore};
use crate::shared::setup;
use crate::sql::block_now;
use crate::{Account, NewApiKey, Result};

#[async_trait]
impl SetupStore for SqliteStore {
    async fn count_users(&self) -> Result<i64> {
        self.read(|tx| block_now(setup::count_users(&Lite(tx)))?)
            .await
    }

    async fn create_setup_link(&self, expires_ms: i64) -> Result<String> {
        self.write(move |tx| block_now(setup::create_link(&Lite(tx), expires_ms))?)
            .await
    }

    async fn check_setup_link(&self, token: &str, now_ms: i64) -> Result<Setup<()>> {
        let token = token.to_owned();
        self.read(move |tx| block_now(setup::check(&Lite(tx), &token, now_ms))?)
            .await
    }

    async fn redeem_setup_link(
        &self,
        token: &str,
        now_ms: i64,
        name: &str,
        email: Option<&str>,
    ) -> Result<Setup<(Account, NewApiKey)>> {
        let (token, name) = (token.to_owned(), name.to_owned());
        let email = email.map(str::to_owned);
        self.write(move |tx| {
            block_now(setup::redeem(
                &Lite(tx),
                &token,
                now_ms,
                &name,
                email.as_deref(),
            ))?
        })
        .await
    }
}
