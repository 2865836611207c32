//! One monotonic clock for the whole bench: microseconds since the bench started measuring.
//!
//! The load generator and the receiver live in the same process, so send, commit and arrival
//! times are all read from this clock and can be subtracted directly.

use std::sync::OnceLock;
use std::time::Instant;

static EPOCH: OnceLock<Instant> = OnceLock::new();

/// Fixes the epoch (call once at start; later calls are no-ops).
pub fn init() {
    let _ = EPOCH.get_or_init(Instant::now);
}

/// Microseconds since the epoch.
pub fn now_us() -> u64 {
    let epoch = *EPOCH.get_or_init(Instant::now);
    u64::try_from(epoch.elapsed().as_micros()).unwrap_or(u64::MAX)
}

/// Seconds between two clock readings (0 if `end` is not after `start`).
pub fn secs_between(start_us: u64, end_us: u64) -> f64 {
    end_us.saturating_sub(start_us) as f64 / 1e6
}
