//! Figures the pages chart, computed once for both backends: percentiles of attempt durations.

/// The `p`-th percentile (0 < p ≤ 100) of `sorted` (ascending) by the nearest-rank method: the
/// smallest value with at least `p`% of the values at or below it. `None` for no values.
pub fn percentile(sorted: &[i64], p: u32) -> Option<i64> {
    if sorted.is_empty() || p == 0 || p > 100 {
        return None;
    }
    // rank = ceil(p/100 · n), 1-based.
    let n = sorted.len();
    let rank = (p as usize * n).div_ceil(100).max(1);
    sorted.get(rank - 1).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank() {
        let v: Vec<i64> = (1..=100).collect();
        assert_eq!(percentile(&v, 50), Some(50));
        assert_eq!(percentile(&v, 95), Some(95));
        assert_eq!(percentile(&v, 100), Some(100));
        assert_eq!(percentile(&[7], 50), Some(7));
        assert_eq!(percentile(&[7], 95), Some(7));
        // 20 values: p95 is the 19th, p50 the 10th.
        let w: Vec<i64> = (1..=20).map(|x| x * 10).collect();
        assert_eq!(percentile(&w, 95), Some(190));
        assert_eq!(percentile(&w, 50), Some(100));
        assert_eq!(percentile(&[1, 2, 3], 50), Some(2));
        assert_eq!(percentile(&[1, 1000], 95), Some(1000));
    }

    #[test]
    fn nothing_to_rank() {
        assert_eq!(percentile(&[], 50), None);
        assert_eq!(percentile(&[1, 2], 0), None);
        assert_eq!(percentile(&[1, 2], 101), None);
    }
}
