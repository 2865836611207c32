//! Percentile summaries of latency samples.

use serde::Serialize;

/// A latency distribution in milliseconds (nearest-rank percentiles).
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Latency {
    /// Samples summarised.
    pub count: usize,
    /// Smallest sample.
    pub min_ms: f64,
    /// Median.
    pub p50_ms: f64,
    /// 95th percentile.
    pub p95_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Largest sample.
    pub max_ms: f64,
}

/// Summarises samples given in milliseconds; `None` when there are none.
pub fn summarize(mut samples: Vec<f64>) -> Option<Latency> {
    samples.retain(|x| x.is_finite());
    if samples.is_empty() {
        return None;
    }
    samples.sort_by(f64::total_cmp);
    let at = |p: f64| -> f64 {
        let n = samples.len();
        let rank = (p * n as f64).ceil() as usize;
        samples[rank.clamp(1, n) - 1]
    };
    Some(Latency {
        count: samples.len(),
        min_ms: samples[0],
        p50_ms: at(0.50),
        p95_ms: at(0.95),
        p99_ms: at(0.99),
        max_ms: samples[samples.len() - 1],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank() {
        let l = summarize((1..=100).map(f64::from).collect()).unwrap();
        assert_eq!(l.count, 100);
        assert_eq!(l.p50_ms, 50.0);
        assert_eq!(l.p95_ms, 95.0);
        assert_eq!(l.p99_ms, 99.0);
        assert_eq!(l.max_ms, 100.0);
        assert!(summarize(vec![]).is_none());
        assert_eq!(summarize(vec![3.0]).unwrap().p99_ms, 3.0);
    }
}
