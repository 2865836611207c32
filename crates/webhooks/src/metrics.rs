//! Delivery metrics in Prometheus text format: counters by outcome and a latency histogram.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

/// Upper bounds (seconds) of the delivery latency histogram buckets.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 15.0,
];

/// Counters shared by the worker (which records) and the `/metrics` handler (which renders).
#[derive(Debug, Default)]
pub struct Metrics {
    success: AtomicU64,
    retry: AtomicU64,
    failed: AtomicU64,
    buckets: [AtomicU64; 12],
    count: AtomicU64,
    sum_micros: AtomicU64,
    /// Deliveries held back by the pace, by [`Deferral`].
    deferred: [AtomicU64; 4],
    /// Live worker nodes at this node's last heartbeat (0: this node runs no worker).
    live_nodes: AtomicU64,
}

/// Why the pace held a delivery back (see `crate::pace`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deferral {
    /// The receiver paused the endpoint (429, or 503 with `Retry-After`).
    Paused,
    /// The endpoint is down; one delivery probes it.
    Down,
    /// The endpoint had as many deliveries in flight as its limit for too long.
    Busy,
    /// A send already in flight was refused as part of a pause; deferred, not counted.
    Refused,
}

impl Deferral {
    const ALL: [Deferral; 4] = [
        Deferral::Paused,
        Deferral::Down,
        Deferral::Busy,
        Deferral::Refused,
    ];

    fn name(self) -> &'static str {
        match self {
            Deferral::Paused => "paused",
            Deferral::Down => "down",
            Deferral::Busy => "busy",
            Deferral::Refused => "refused",
        }
    }
}

/// How one attempt ended, for counting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// 2xx.
    Success,
    /// Failed, will be retried.
    Retry,
    /// Failed for good (retries exhausted, manual attempt, or endpoint gone).
    Failed,
}

impl Metrics {
    /// Records one attempt and its HTTP duration.
    pub fn record(&self, outcome: Outcome, seconds: f64) {
        let c = match outcome {
            Outcome::Success => &self.success,
            Outcome::Retry => &self.retry,
            Outcome::Failed => &self.failed,
        };
        c.fetch_add(1, Ordering::Relaxed);
        for (i, le) in BUCKETS.iter().enumerate() {
            if seconds <= *le {
                self.buckets[i].fetch_add(1, Ordering::Relaxed);
            }
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_micros
            .fetch_add((seconds * 1e6) as u64, Ordering::Relaxed);
    }

    /// Counts one delivery held back by the pace.
    pub fn deferred(&self, why: Deferral) {
        self.deferred_many(why, 1);
    }

    /// Counts `n` deliveries held back by the pace (an endpoint's waiting queue).
    pub fn deferred_many(&self, why: Deferral, n: u64) {
        self.deferred[why as usize].fetch_add(n, Ordering::Relaxed);
    }

    /// Deliveries held back so far for this reason.
    pub fn deferrals(&self, why: Deferral) -> u64 {
        self.deferred[why as usize].load(Ordering::Relaxed)
    }

    /// Notes the live worker nodes seen by this node's heartbeat.
    pub fn set_live_nodes(&self, n: u32) {
        self.live_nodes.store(u64::from(n), Ordering::Relaxed);
    }

    /// Attempts that succeeded so far.
    pub fn successes(&self) -> u64 {
        self.success.load(Ordering::Relaxed)
    }

    /// The Prometheus text, with the queue figures the caller read from the store.
    pub fn render(&self, queue_depth: i64, oldest_due_age_secs: f64) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP datahooks_deliveries_total Delivery attempts by outcome."
        );
        let _ = writeln!(out, "# TYPE datahooks_deliveries_total counter");
        for (name, c) in [
            ("success", &self.success),
            ("retry", &self.retry),
            ("failed", &self.failed),
        ] {
            let _ = writeln!(
                out,
                "datahooks_deliveries_total{{outcome=\"{name}\"}} {}",
                c.load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(
            out,
            "# HELP datahooks_deliveries_deferred_total Deliveries held back by the endpoint's pace (not failed, no attempt counted), by reason."
        );
        let _ = writeln!(out, "# TYPE datahooks_deliveries_deferred_total counter");
        for why in Deferral::ALL {
            let _ = writeln!(
                out,
                "datahooks_deliveries_deferred_total{{reason=\"{}\"}} {}",
                why.name(),
                self.deferrals(why)
            );
        }
        let _ = writeln!(
            out,
            "# HELP datahooks_delivery_duration_seconds Time of one delivery attempt."
        );
        let _ = writeln!(out, "# TYPE datahooks_delivery_duration_seconds histogram");
        for (i, le) in BUCKETS.iter().enumerate() {
            let _ = writeln!(
                out,
                "datahooks_delivery_duration_seconds_bucket{{le=\"{le}\"}} {}",
                self.buckets[i].load(Ordering::Relaxed)
            );
        }
        let count = self.count.load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "datahooks_delivery_duration_seconds_bucket{{le=\"+Inf\"}} {count}"
        );
        let _ = writeln!(
            out,
            "datahooks_delivery_duration_seconds_sum {}",
            self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6
        );
        let _ = writeln!(out, "datahooks_delivery_duration_seconds_count {count}");
        let _ = writeln!(
            out,
            "# HELP datahooks_queue_depth Deliveries waiting or in flight."
        );
        let _ = writeln!(out, "# TYPE datahooks_queue_depth gauge");
        let _ = writeln!(out, "datahooks_queue_depth {queue_depth}");
        let _ = writeln!(
            out,
            "# HELP datahooks_oldest_due_delivery_age_seconds Age of the oldest due delivery."
        );
        let _ = writeln!(
            out,
            "# TYPE datahooks_oldest_due_delivery_age_seconds gauge"
        );
        let _ = writeln!(
            out,
            "datahooks_oldest_due_delivery_age_seconds {oldest_due_age_secs}"
        );
        let _ = writeln!(
            out,
            "# HELP datahooks_worker_nodes_live Worker nodes alive at this node's last heartbeat; each sends its share of an endpoint's limit."
        );
        let _ = writeln!(out, "# TYPE datahooks_worker_nodes_live gauge");
        let _ = writeln!(
            out,
            "datahooks_worker_nodes_live {}",
            self.live_nodes.load(Ordering::Relaxed)
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_cumulative_buckets() {
        let m = Metrics::default();
        m.record(Outcome::Success, 0.002);
        m.record(Outcome::Retry, 0.3);
        let text = m.render(3, 1.5);
        assert!(text.contains("datahooks_deliveries_total{outcome=\"success\"} 1"));
        assert!(text.contains("datahooks_delivery_duration_seconds_bucket{le=\"0.0025\"} 1"));
        assert!(text.contains("datahooks_delivery_duration_seconds_bucket{le=\"0.5\"} 2"));
        assert!(text.contains("datahooks_queue_depth 3"));
        assert!(text.contains("datahooks_worker_nodes_live 0"));
        m.set_live_nodes(3);
        assert!(m.render(3, 0.0).contains("datahooks_worker_nodes_live 3"));
        assert!(text.contains("datahooks_deliveries_deferred_total{reason=\"paused\"} 0"));
    }

    #[test]
    fn counts_deferrals_by_reason() {
        let m = Metrics::default();
        m.deferred(Deferral::Paused);
        m.deferred(Deferral::Paused);
        m.deferred(Deferral::Down);
        let text = m.render(0, 0.0);
        assert!(text.contains("datahooks_deliveries_deferred_total{reason=\"paused\"} 2"));
        assert!(text.contains("datahooks_deliveries_deferred_total{reason=\"down\"} 1"));
        assert!(text.contains("datahooks_deliveries_deferred_total{reason=\"busy\"} 0"));
    }
}
