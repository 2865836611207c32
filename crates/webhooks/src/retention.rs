//! Retention: the background task that keeps the store from growing for ever. Every interval
//! it runs `LifecycleStore::sweep` passes (each one bounded transaction) until a pass comes
//! back with no full batch: payloads whose `payloadRetentionPeriod` ran out are expunged, and
//! with a retention set, finished messages older than it (with their deliveries and attempts),
//! events and idempotency rows are deleted. A message with a delivery still to make is never
//! deleted. `datahooks retention sweep` runs the same passes once, at any `now`.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use datahooks_store::lifecycle::SweepReport;
use datahooks_store::Store;

/// Rows per table per pass: small enough that a pass never holds the writer for long.
pub const BATCH: i64 = 500;

/// At most this many passes per sweep, so one sweep ends even while data keeps arriving; the
/// next interval goes on.
const MAX_PASSES: usize = 10_000;

/// Parses a duration flag: `90d`, `12h`, `30m`, `45s`, `500ms`; `0`, `off` and `none` are
/// `None` (kept for ever).
pub fn parse_duration(s: &str) -> Result<Option<Duration>, String> {
    let t = s.trim().to_ascii_lowercase();
    if matches!(t.as_str(), "0" | "off" | "none") {
        return Ok(None);
    }
    let split = t
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("{s:?}: give a unit, e.g. 90d, 12h, 30m, 45s"))?;
    let (n, unit) = t.split_at(split);
    let n: u64 = n
        .parse()
        .map_err(|_| format!("{s:?}: expected a number followed by d, h, m, s or ms"))?;
    let ms = match unit {
        "d" => n.checked_mul(86_400_000),
        "h" => n.checked_mul(3_600_000),
        "m" => n.checked_mul(60_000),
        "s" => n.checked_mul(1_000),
        "ms" => Some(n),
        _ => return Err(format!("{s:?}: the unit must be d, h, m, s or ms")),
    }
    .ok_or_else(|| format!("{s:?}: too long"))?;
    if ms == 0 {
        return Ok(None);
    }
    Ok(Some(Duration::from_millis(ms)))
}

/// Runs sweep passes at `now_ms` until none fills a batch; returns the totals.
pub async fn sweep_once(
    store: &dyn Store,
    now_ms: i64,
    retention: Option<Duration>,
) -> datahooks_store::Result<SweepReport> {
    // Saturates: a retention longer than i64 ms keeps everything, as it should.
    let retention_ms = retention.map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    let mut total = SweepReport::default();
    for _ in 0..MAX_PASSES {
        let r = store.sweep(now_ms, retention_ms, BATCH).await?;
        total.add(r);
        if !r.more(BATCH) {
            break;
        }
        // Let API writes in between passes.
        tokio::task::yield_now().await;
    }
    Ok(total)
}

/// Sweeps every `interval` (the first right away) until `cancel`. Failures are logged and
/// retried at the next interval.
pub async fn run(
    store: Arc<dyn Store>,
    retention: Option<Duration>,
    interval: Duration,
    cancel: CancellationToken,
) {
    loop {
        let now = chrono::Utc::now().timestamp_millis();
        match sweep_once(store.as_ref(), now, retention).await {
            Ok(r) if r == SweepReport::default() => {
                tracing::debug!("retention sweep: nothing to do")
            }
            Ok(r) => tracing::info!(
                payloads_expired = r.payloads_expired,
                messages = r.messages,
                attempts = r.attempts,
                events = r.events,
                idempotency = r.idempotency,
                "retention sweep"
            ),
            Err(e) => {
                tracing::warn!(error = %e, "retention sweep failed; retrying at the next interval")
            }
        }
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(interval) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(
            parse_duration("90d"),
            Ok(Some(Duration::from_secs(90 * 86_400)))
        );
        assert_eq!(
            parse_duration("12h"),
            Ok(Some(Duration::from_secs(12 * 3_600)))
        );
        assert_eq!(parse_duration("30m"), Ok(Some(Duration::from_secs(1_800))));
        assert_eq!(parse_duration(" 45s "), Ok(Some(Duration::from_secs(45))));
        assert_eq!(
            parse_duration("250ms"),
            Ok(Some(Duration::from_millis(250)))
        );
        for off in ["0", "off", "OFF", "none", "0d"] {
            assert_eq!(parse_duration(off), Ok(None), "{off}");
        }
        for bad in ["", "90", "d", "9x", "-1d", "1.5d", "99999999999999999999d"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
