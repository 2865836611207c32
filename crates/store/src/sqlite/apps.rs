//! [`AppStore`] for SQLite: the shared SQL of `crate::shared::apps`.

use async_trait::async_trait;

use super::db::Lite;
use super::SqliteStore;
use crate::apps::{AppSettings, AppStore, AttemptStats};
use crate::shared::apps;
use crate::sql::block_now;
use crate::Result;

#[async_trait]
impl AppStore for SqliteStore {
    async fn app_settings(&self, account_id: i64) -> Result<Option<AppSettings>> {
        self.read(move |tx| block_now(apps::settings(&Lite(tx), account_id))?)
            .await
    }

    async fn set_app_settings(&self, account_id: i64, s: AppSettings) -> Result<AppSettings> {
        self.write(move |tx| block_now(apps::set_settings(&Lite(tx), account_id, &s))?)
            .await
    }

    async fn attempt_stats(
        &self,
        account_id: i64,
        endpoint_id: &str,
        since_ms: i64,
        until_ms: i64,
    ) -> Result<AttemptStats> {
        let id = endpoint_id.to_owned();
        self.read(move |tx| {
            block_now(apps::attempt_stats(
                &Lite(tx),
                account_id,
                &id,
                since_ms,
                until_ms,
            ))?
        })
        .await
    }
}
