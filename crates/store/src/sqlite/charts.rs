//! [`ChartStore`] for SQLite: the shared counting SQL on a reader connection.

use async_trait::async_trait;
use rusqlite::params;

use super::SqliteStore;
use crate::charts::{
    group_durations, hour_ms, since_text, ChartStore, HourCount, HourDurations, ACCOUNT_HOURLY,
    ENDPOINT_DURATIONS, ENDPOINT_HOURLY, MAX_DURATIONS,
};
use crate::Result;

fn counts(rows: Vec<(String, i64, i64)>) -> Result<Vec<HourCount>> {
    rows.into_iter()
        .map(|(h, success, fail)| {
            Ok(HourCount {
                hour_ms: hour_ms(&h)?,
                success,
                fail,
            })
        })
        .collect()
}

#[async_trait]
impl ChartStore for SqliteStore {
    async fn endpoint_hourly(
        &self,
        account_id: i64,
        endpoint_id: &str,
        since_ms: i64,
    ) -> Result<Vec<HourCount>> {
        let (id, since) = (endpoint_id.to_owned(), since_text(since_ms)?);
        let rows = self
            .read(move |tx| {
                let mut st = tx.prepare_cached(ENDPOINT_HOURLY)?;
                let rows = st
                    .query_map(params![account_id, id, since], |r| {
                        Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                    })?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                Ok(rows)
            })
            .await?;
        counts(rows)
    }

    async fn endpoint_durations(
        &self,
        account_id: i64,
        endpoint_id: &str,
        since_ms: i64,
    ) -> Result<Vec<HourDurations>> {
        let (id, since) = (endpoint_id.to_owned(), since_text(since_ms)?);
        let rows = self
            .read(move |tx| {
                let mut st = tx.prepare_cached(ENDPOINT_DURATIONS)?;
                let rows = st
                    .query_map(params![account_id, id, since, MAX_DURATIONS], |r| {
                        Ok((r.get(0)?, r.get(1)?))
                    })?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                Ok(rows)
            })
            .await?;
        group_durations(rows)
    }

    async fn account_hourly(&self, account_id: i64, since_ms: i64) -> Result<Vec<HourCount>> {
        let since = since_text(since_ms)?;
        let rows = self
            .read(move |tx| {
                let mut st = tx.prepare_cached(ACCOUNT_HOURLY)?;
                let rows = st
                    .query_map(params![account_id, since], |r| {
                        Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                    })?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                Ok(rows)
            })
            .await?;
        counts(rows)
    }
}
