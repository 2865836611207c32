//! [`ChartStore`] for SQLite: the shared counting SQL on a reader connection.

use async_trait::async_trait;

use super::db::Lite;
use super::SqliteStore;
use crate::charts::{ChartStore, HourCount, HourDurations};
use crate::shared::charts;
use crate::sql::block_now;
use crate::Result;

#[async_trait]
impl ChartStore for SqliteStore {
    async fn endpoint_hourly(
        &self,
        account_id: i64,
        endpoint_id: &str,
        since_ms: i64,
    ) -> Result<Vec<HourCount>> {
        let id = endpoint_id.to_owned();
        self.read(move |tx| block_now(charts::hourly(&Lite(tx), account_id, Some(&id), since_ms))?)
            .await
    }

    async fn endpoint_durations(
        &self,
        account_id: i64,
        endpoint_id: &str,
        since_ms: i64,
    ) -> Result<Vec<HourDurations>> {
        let id = endpoint_id.to_owned();
        self.read(move |tx| block_now(charts::durations(&Lite(tx), account_id, &id, since_ms))?)
            .await
    }

    async fn account_hourly(&self, account_id: i64, since_ms: i64) -> Result<Vec<HourCount>> {
        self.read(move |tx| block_now(charts::hourly(&Lite(tx), account_id, None, since_ms))?)
            .await
    }
}
