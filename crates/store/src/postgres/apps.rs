//! [`AppStore`] for PostgreSQL: the shared SQL of `crate::shared::apps`.

use async_trait::async_trait;

use super::db::Pg;
use super::{read_tx, write_tx, PgStore};
use crate::apps::{AppSettings, AppStore, AttemptStats};
use crate::shared::apps;
use crate::Result;

#[async_trait]
impl AppStore for PgStore {
    async fn app_settings(&self, account_id: i64) -> Result<Option<AppSettings>> {
        read_tx!(self, |tx| apps::settings(&Pg(&tx), account_id).await)
    }

    async fn set_app_settings(&self, account_id: i64, s: AppSettings) -> Result<AppSettings> {
        write_tx!(self, |tx| apps::set_settings(&Pg(&tx), account_id, &s)
            .await)
    }

    async fn attempt_stats(
        &self,
        account_id: i64,
        endpoint_id: &str,
        since_ms: i64,
        until_ms: i64,
    ) -> Result<AttemptStats> {
        read_tx!(self, |tx| apps::attempt_stats(
            &Pg(&tx),
            account_id,
            endpoint_id,
            since_ms,
            until_ms
        )
        .await)
    }
}
