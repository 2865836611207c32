//! Read-only figures for the pages' charts: attempts counted per hour, and the durations
//! each hour's percentiles are computed from (by `datahooks_domain::charts`, once for both
//! backends). Counting is done in SQL, by hour bucket, so a busy endpoint's week is a few
//! hundred rows however many attempts it had.

use async_trait::async_trait;

use crate::{Error, Result};

/// Attempts that started in one hour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HourCount {
    /// Start of the hour (unix ms, UTC).
    pub hour_ms: i64,
    /// Attempts that succeeded.
    pub success: i64,
    /// Attempts that failed.
    pub fail: i64,
}

/// The durations of one hour's attempts, shortest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HourDurations {
    /// Start of the hour (unix ms, UTC).
    pub hour_ms: i64,
    /// Durations in ms, ascending.
    pub durations_ms: Vec<i64>,
}

/// Most durations read for one latency chart: the newest are kept, so an endpoint with
/// millions of attempts a week still draws from a bounded read.
pub const MAX_DURATIONS: i64 = 100_000;

/// What the charts read. Hours without attempts are absent; the caller fills the gaps.
#[async_trait]
pub trait ChartStore {
    /// An endpoint's attempts per hour since `since_ms`, oldest hour first.
    async fn endpoint_hourly(
        &self,
        account_id: i64,
        endpoint_id: &str,
        since_ms: i64,
    ) -> Result<Vec<HourCount>>;
    /// An endpoint's attempt durations per hour since `since_ms` (at most [`MAX_DURATIONS`],
    /// the newest), oldest hour first.
    async fn endpoint_durations(
        &self,
        account_id: i64,
        endpoint_id: &str,
        since_ms: i64,
    ) -> Result<Vec<HourDurations>>;
    /// All of an account's attempts per hour since `since_ms`, oldest hour first.
    async fn account_hourly(&self, account_id: i64, since_ms: i64) -> Result<Vec<HourCount>>;
}

/// `since_ms` as the attempts table writes timestamps, so that text order is time order.
pub(crate) fn since_text(since_ms: i64) -> Result<String> {
    chrono::DateTime::from_timestamp_millis(since_ms)
        .map(datahooks_domain::time::format)
        .ok_or_else(|| Error::Other(format!("time out of range: {since_ms}")))
}

/// An hour bucket as SQL cuts it (`substr(timestamp, 1, 13)`, `2026-12-02T06`) to unix ms.
pub(crate) fn hour_ms(bucket: &str) -> Result<i64> {
    datahooks_domain::time::parse(&format!("{bucket}:00:00+00:00"))
        .map(|t| t.timestamp_millis())
        .ok_or_else(|| Error::Other(format!("bad attempt timestamp: {bucket:?}")))
}

/// Groups `(bucket, duration)` rows, sorted by bucket then duration, into hours.
pub(crate) fn group_durations(rows: Vec<(String, i64)>) -> Result<Vec<HourDurations>> {
    let mut out: Vec<HourDurations> = Vec::new();
    let mut last: Option<String> = None;
    for (bucket, d) in rows {
        if last.as_deref() != Some(bucket.as_str()) {
            out.push(HourDurations {
                hour_ms: hour_ms(&bucket)?,
                durations_ms: Vec::new(),
            });
            last = Some(bucket);
        }
        if let Some(h) = out.last_mut() {
            h.durations_ms.push(d);
        }
    }
    Ok(out)
}
