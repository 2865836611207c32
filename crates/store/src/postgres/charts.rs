//! [`ChartStore`] for PostgreSQL: the shared counting SQL in a read-only transaction.

use async_trait::async_trait;
use tokio_postgres::Row;

use super::{read_tx, rows, PgStore};
use crate::charts::{
    group_durations, hour_ms, since_text, ChartStore, HourCount, HourDurations, ACCOUNT_HOURLY,
    ENDPOINT_DURATIONS, ENDPOINT_HOURLY, MAX_DURATIONS,
};
use crate::Result;

fn counts(rows: Vec<Row>) -> Result<Vec<HourCount>> {
    rows.iter()
        .map(|r| {
            Ok(HourCount {
                hour_ms: hour_ms(r.try_get(0)?)?,
                success: r.try_get(1)?,
                fail: r.try_get(2)?,
            })
        })
        .collect()
}

#[async_trait]
impl ChartStore for PgStore {
    async fn endpoint_hourly(
        &self,
        account_id: i64,
        endpoint_id: &str,
        since_ms: i64,
    ) -> Result<Vec<HourCount>> {
        let since = since_text(since_ms)?;
        let found = read_tx!(self, |tx| rows(
            &tx,
            ENDPOINT_HOURLY,
            &[&account_id, &endpoint_id, &since]
        )
        .await)?;
        counts(found)
    }

    async fn endpoint_durations(
        &self,
        account_id: i64,
        endpoint_id: &str,
        since_ms: i64,
    ) -> Result<Vec<HourDurations>> {
        let since = since_text(since_ms)?;
        let found = read_tx!(self, |tx| rows(
            &tx,
            ENDPOINT_DURATIONS,
            &[&account_id, &endpoint_id, &since, &MAX_DURATIONS]
        )
        .await)?;
        let pairs = found
            .iter()
            .map(|r| Ok((r.try_get::<_, String>(0)?, r.try_get::<_, i64>(1)?)))
            .collect::<Result<Vec<_>>>()?;
        group_durations(pairs)
    }

    async fn account_hourly(&self, account_id: i64, since_ms: i64) -> Result<Vec<HourCount>> {
        let since = since_text(since_ms)?;
        let found = read_tx!(self, |tx| rows(&tx, ACCOUNT_HOURLY, &[&account_id, &since])
            .await)?;
        counts(found)
    }
}
