//! An endpoint's delivery counts by status over a window of message times (Svix's
//! `get_stats` with `since` and `until`). The SQL is written once here and run by both
//! backends through `crate::shared::event_types`.

use async_trait::async_trait;

use crate::webhooks::EndpointStats;
use crate::Result;

/// A message's state at an endpoint is its latest delivery row (a resend adds a row); the
/// window is on the message's creation time, `since <= created_ms < until`.
pub(crate) const STATS_BETWEEN: &str = "SELECT d.status, COUNT(*) AS n FROM deliveries d
   JOIN messages m ON m.id = d.msg_id
  WHERE d.endpoint_id = $1 AND m.created_ms >= $2 AND m.created_ms < $3
    AND d.id = (SELECT MAX(d2.id) FROM deliveries d2
                 WHERE d2.msg_id = d.msg_id AND d2.endpoint_id = d.endpoint_id)
  GROUP BY d.status";

/// Windowed endpoint stats.
#[async_trait]
pub trait WindowStatsStore {
    /// Counts by status of the messages created in `[since_ms, until_ms)` at an endpoint (by
    /// id or uid) of the account.
    async fn endpoint_stats_between(
        &self,
        account_id: i64,
        endpoint: &str,
        since_ms: i64,
        until_ms: i64,
    ) -> Result<EndpointStats>;
}

/// Folds `(status, count)` rows into the counts.
pub(crate) fn fold(rows: impl IntoIterator<Item = (i64, i64)>) -> Result<EndpointStats> {
    use crate::webhooks::DeliveryStatus;
    let mut s = EndpointStats::default();
    for (status, n) in rows {
        match DeliveryStatus::try_from(status)? {
            DeliveryStatus::Success => s.success = n,
            DeliveryStatus::Pending => s.pending = n,
            DeliveryStatus::Fail => s.fail = n,
            DeliveryStatus::Sending => s.sending = n,
            DeliveryStatus::Canceled => s.canceled = n,
        }
    }
    Ok(s)
}
