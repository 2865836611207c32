//! [`ChartStore`] for PostgreSQL: the shared counting SQL in a read-only transaction.

use async_trait::async_trait;

use super::db::Pg;
use super::{read_tx, PgStore};
use crate::charts::{ChartStore, HourCount, HourDurations};
use crate::shared::charts;
use crate::Result;

#[async_trait]
impl ChartStore for PgStore {
    async fn endpoint_hourly(
        &self,
        account_id: i64,
        endpoint_id: &str,
        since_ms: i64,
    ) -> Result<Vec<HourCount>> {
        read_tx!(self, |tx| charts::hourly(
            &Pg(&tx),
            account_id,
            Some(endpoint_id),
            since_ms
        )
        .await)
    }

    async fn endpoint_durations(
        &self,
        account_id: i64,
        endpoint_id: &str,
        since_ms: i64,
    ) -> Result<Vec<HourDurations>> {
        read_tx!(self, |tx| charts::durations(
            &Pg(&tx),
            account_id,
            endpoint_id,
            since_ms
        )
        .await)
    }

    async fn account_hourly(&self, account_id: i64, since_ms: i64) -> Result<Vec<HourCount>> {
        read_tx!(self, |tx| charts::hourly(
            &Pg(&tx),
            account_id,
            None,
            since_ms
        )
        .await)
    }
}
