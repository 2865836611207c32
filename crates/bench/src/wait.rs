//! Bounded waiting for the receiver to catch up, with progress on stderr for long waits.

use std::time::{Duration, Instant};

/// How often the condition is checked. Timing figures come from recorded arrival times, not
/// from when this loop notices, so the poll interval does not affect them.
const POLL: Duration = Duration::from_millis(5);
/// How often a long wait reports progress.
const PROGRESS_EVERY: Duration = Duration::from_secs(10);

/// Waits until `have() >= want` or `limit` passes; returns whether the target was reached.
pub async fn until(what: &str, want: u64, limit: Duration, have: impl Fn() -> u64) -> bool {
    let start = Instant::now();
    let mut last_report = start;
    loop {
        let now = have();
        if now >= want {
            return true;
        }
        if start.elapsed() >= limit {
            eprintln!(
                "  {what}: gave up after {:.0} s with {now} of {want}",
                limit.as_secs_f64()
            );
            return false;
        }
        if last_report.elapsed() >= PROGRESS_EVERY {
            last_report = Instant::now();
            eprintln!(
                "  {what}: {now} of {want} after {:.0} s",
                start.elapsed().as_secs_f64()
            );
        }
        tokio::time::sleep(POLL).await;
    }
}
