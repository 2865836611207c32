//! Charts drawn on the server as inline SVG: no script and no chart library in the browser,
//! and no `style=` attributes (the pages' CSP forbids inline styles; colours come from
//! `style.css` classes). Each chart is an `<svg role="img">` with a `<title>` and a `<desc>`
//! that says in words what it shows, and each bar or point has its own `<title>` (hour and
//! figures) for pointer and screen-reader users.
//!
//! Everything here is pure: figures in, markup out.

use std::fmt::Write;

use chrono::DateTime;
use datahooks_domain::charts::percentile;
use datahooks_store::charts::{HourCount, HourDurations};

/// One hour in ms.
pub const HOUR_MS: i64 = 3_600_000;
/// Hours the charts cover (7 days).
pub const HOURS: usize = 7 * 24;

const W: f64 = 720.0;
const H: f64 = 180.0;
const LEFT: f64 = 48.0;
const RIGHT: f64 = 8.0;
const TOP: f64 = 10.0;
const BOTTOM: f64 = 24.0;

/// The first hour of a chart ending with the hour of `now_ms`.
pub fn start_hour(now_ms: i64) -> i64 {
    (now_ms.div_euclid(HOUR_MS) - (HOURS as i64 - 1)) * HOUR_MS
}

/// Counts per hour from `start_ms`, one slot per hour for [`HOURS`] hours, zero where the
/// store had none.
pub fn fill_counts(start_ms: i64, counts: &[HourCount]) -> Vec<(i64, i64)> {
    let mut out = vec![(0, 0); HOURS];
    for c in counts {
        if let Some(slot) = slot(start_ms, c.hour_ms).and_then(|i| out.get_mut(i)) {
            *slot = (c.success, c.fail);
        }
    }
    out
}

/// p50 and p95 per hour from `start_ms`, `None` for hours without attempts.
pub fn latency_series(start_ms: i64, hours: &[HourDurations]) -> Vec<Option<(i64, i64)>> {
    let mut out = vec![None; HOURS];
    for h in hours {
        if let Some(s) = slot(start_ms, h.hour_ms).and_then(|i| out.get_mut(i)) {
            *s = percentile(&h.durations_ms, 50).zip(percentile(&h.durations_ms, 95));
        }
    }
    out
}

fn slot(start_ms: i64, hour_ms: i64) -> Option<usize> {
    let i = (hour_ms - start_ms).div_euclid(HOUR_MS);
    usize::try_from(i).ok().filter(|i| *i < HOURS)
}

/// The smallest of 1, 2, 5 × 10ⁿ at or above `v` (at least 1): a y axis with round ticks.
pub fn nice_max(v: i64) -> i64 {
    let mut step = 1i64;
    loop {
        for m in [1, 2, 5] {
            if step.saturating_mul(m) >= v {
                return step.saturating_mul(m);
            }
        }
        step = step.saturating_mul(10);
    }
}

/// Escapes text for SVG (XML) content and attributes.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn hour_label(ms: i64) -> String {
    DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%b %-d %H:00 UTC").to_string())
        .unwrap_or_default()
}

/// Opens the `<svg>` with its title and description, and draws the axes: y ticks at 0,
/// half and `max` (with `unit`), x labels at each midnight (UTC).
fn frame(out: &mut String, id: &str, title: &str, desc: &str, start_ms: i64, max: i64, unit: &str) {
    let _ = write!(
        out,
        r#"<svg class="chart" id="{id}" role="img" viewBox="0 0 {W} {H}" aria-labelledby="{id}-title {id}-desc"><title id="{id}-title">{t}</title><desc id="{id}-desc">{d}</desc>"#,
        t = esc(title),
        d = esc(desc),
    );
    let plot_h = H - TOP - BOTTOM;
    let mut ticks = vec![0, max / 2, max];
    ticks.dedup(); // max 1: no second 0
    for v in ticks {
        let y = TOP + plot_h * (1.0 - v as f64 / max as f64);
        let _ = write!(
            out,
            r#"<line class="grid" x1="{LEFT}" x2="{x2}" y1="{y:.1}" y2="{y:.1}"/><text class="axis" x="{tx}" y="{ty:.1}" text-anchor="end">{v}{unit}</text>"#,
            x2 = W - RIGHT,
            tx = LEFT - 4.0,
            ty = y + 4.0,
        );
    }
    let step = (W - LEFT - RIGHT) / HOURS as f64;
    for i in 0..HOURS {
        let ms = start_ms + i as i64 * HOUR_MS;
        if ms.rem_euclid(24 * HOUR_MS) == 0 {
            let x = LEFT + i as f64 * step;
            let label = DateTime::from_timestamp_millis(ms)
                .map(|t| t.format("%b %-d").to_string())
                .unwrap_or_default();
            let _ = write!(
                out,
                r#"<line class="tick" x1="{x:.1}" x2="{x:.1}" y1="{TOP}" y2="{yb}"/><text class="axis" x="{x:.1}" y="{ty}" text-anchor="middle">{label}</text>"#,
                yb = H - BOTTOM,
                ty = H - 6.0,
            );
        }
    }
}

/// Stacked bars per hour: successes below, failures on top.
pub fn attempts_chart(id: &str, title: &str, start_ms: i64, values: &[(i64, i64)]) -> String {
    let (ok, fail) = values.iter().fold((0, 0), |(a, b), (s, f)| (a + s, b + f));
    let max = nice_max(values.iter().map(|(s, f)| s + f).max().unwrap_or(0));
    let desc = format!(
        "Attempts per hour over the last 7 days: {ok} succeeded, {fail} failed. Green is success, red is failure."
    );
    let mut out = String::new();
    frame(&mut out, id, title, &desc, start_ms, max, "");
    let plot_h = H - TOP - BOTTOM;
    let step = (W - LEFT - RIGHT) / HOURS as f64;
    let base = H - BOTTOM;
    for (i, (s, f)) in values.iter().enumerate() {
        if s + f == 0 {
            continue;
        }
        let x = LEFT + i as f64 * step;
        let hs = plot_h * *s as f64 / max as f64;
        let hf = plot_h * *f as f64 / max as f64;
        let label = format!(
            "{}: {s} succeeded, {f} failed",
            hour_label(start_ms + i as i64 * HOUR_MS)
        );
        let _ = write!(out, r#"<g class="hour"><title>{}</title>"#, esc(&label));
        if *s > 0 {
            let _ = write!(
                out,
                r#"<rect class="bar-ok" x="{x:.1}" y="{y:.1}" width="{w:.1}" height="{hs:.1}"/>"#,
                y = base - hs,
                w = step * 0.9,
            );
        }
        if *f > 0 {
            let _ = write!(
                out,
                r#"<rect class="bar-fail" x="{x:.1}" y="{y:.1}" width="{w:.1}" height="{hf:.1}"/>"#,
                y = base - hs - hf,
                w = step * 0.9,
            );
        }
        out.push_str("</g>");
    }
    out.push_str("</svg>");
    out
}

/// Two lines, p50 and p95 latency per hour; hours without attempts break the lines.
pub fn latency_chart(
    id: &str,
    title: &str,
    start_ms: i64,
    values: &[Option<(i64, i64)>],
) -> String {
    let max = nice_max(
        values
            .iter()
            .flatten()
            .map(|(_, p95)| *p95)
            .max()
            .unwrap_or(0),
    );
    let worst = values.iter().flatten().map(|(_, p95)| *p95).max();
    let desc = match worst {
        Some(w) => format!(
            "Latency per hour over the last 7 days, median (p50, solid) and 95th percentile (p95, dashed); the slowest hour's p95 was {w} ms."
        ),
        None => "Latency per hour over the last 7 days: no attempts yet.".to_owned(),
    };
    let mut out = String::new();
    frame(&mut out, id, title, &desc, start_ms, max, " ms");
    let plot_h = H - TOP - BOTTOM;
    let step = (W - LEFT - RIGHT) / HOURS as f64;
    let y = |v: i64| H - BOTTOM - plot_h * v as f64 / max as f64;
    let x = |i: usize| LEFT + (i as f64 + 0.5) * step;
    for (class, pick) in [("line-p50", 0usize), ("line-p95", 1usize)] {
        let mut run: Vec<String> = Vec::new();
        let flush = |run: &mut Vec<String>, out: &mut String| {
            if run.len() > 1 {
                let _ = write!(
                    out,
                    r#"<polyline class="{class}" points="{}"/>"#,
                    run.join(" ")
                );
            }
            run.clear();
        };
        for (i, v) in values.iter().enumerate() {
            match v {
                Some(p) => {
                    let v = if pick == 0 { p.0 } else { p.1 };
                    run.push(format!("{:.1},{:.1}", x(i), y(v)));
                }
                None => flush(&mut run, &mut out),
            }
        }
        flush(&mut run, &mut out);
    }
    for (i, v) in values.iter().enumerate() {
        if let Some((p50, p95)) = v {
            let label = format!(
                "{}: p50 {p50} ms, p95 {p95} ms",
                hour_label(start_ms + i as i64 * HOUR_MS)
            );
            let _ = write!(
                out,
                r#"<g class="hour"><title>{}</title><circle class="dot-p50" cx="{cx:.1}" cy="{a:.1}" r="2"/><circle class="dot-p95" cx="{cx:.1}" cy="{b:.1}" r="2"/></g>"#,
                esc(&label),
                cx = x(i),
                a = y(*p50),
                b = y(*p95),
            );
        }
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY0: i64 = 1_764_633_600_000; // 2025-12-02T00:00:00Z

    #[test]
    fn start_hour_covers_seven_days_to_now() {
        let now = DAY0 + 7 * 24 * HOUR_MS + 30 * 60_000; // 00:30 seven days later
        let start = start_hour(now);
        assert_eq!(start % HOUR_MS, 0);
        assert_eq!(start + (HOURS as i64 - 1) * HOUR_MS, now - 30 * 60_000);
    }

    #[test]
    fn counts_land_in_their_hour_and_gaps_are_zero() {
        let counts = [
            HourCount {
                hour_ms: DAY0 + HOUR_MS,
                success: 3,
                fail: 1,
            },
            HourCount {
                hour_ms: DAY0 - HOUR_MS,
                success: 9,
                fail: 9,
            }, // before the chart
            HourCount {
                hour_ms: DAY0 + HOURS as i64 * HOUR_MS,
                success: 9,
                fail: 9,
            }, // after
        ];
        let v = fill_counts(DAY0, &counts);
        assert_eq!(v.len(), HOURS);
        assert_eq!(v[1], (3, 1));
        assert_eq!(v.iter().map(|(s, f)| s + f).sum::<i64>(), 4);
    }

    #[test]
    fn latency_uses_nearest_rank_percentiles() {
        let hours = [HourDurations {
            hour_ms: DAY0 + 2 * HOUR_MS,
            durations_ms: (1..=20).map(|x| x * 10).collect(),
        }];
        let v = latency_series(DAY0, &hours);
        assert_eq!(v[2], Some((100, 190)));
        assert_eq!(v.iter().flatten().count(), 1);
    }

    #[test]
    fn nice_maxima() {
        assert_eq!(nice_max(0), 1);
        assert_eq!(nice_max(1), 1);
        assert_eq!(nice_max(3), 5);
        assert_eq!(nice_max(7), 10);
        assert_eq!(nice_max(11), 20);
        assert_eq!(nice_max(250), 500);
        assert_eq!(nice_max(1000), 1000);
    }

    #[test]
    fn attempts_chart_draws_one_group_per_busy_hour_with_axes() {
        let mut v = vec![(0, 0); HOURS];
        v[0] = (4, 0);
        v[30] = (2, 3);
        let svg = attempts_chart("c1", "Attempts to <a&b>", DAY0, &v);
        assert!(
            svg.starts_with(r#"<svg class="chart" id="c1" role="img""#),
            "{svg}"
        );
        assert!(svg.contains(r#"aria-labelledby="c1-title c1-desc""#));
        assert!(svg.contains("<title id=\"c1-title\">Attempts to &lt;a&amp;b&gt;</title>"));
        assert!(svg.contains("6 succeeded, 3 failed"));
        assert_eq!(svg.matches("<g class=\"hour\">").count(), 2);
        assert_eq!(svg.matches("class=\"bar-ok\"").count(), 2);
        assert_eq!(svg.matches("class=\"bar-fail\"").count(), 1);
        assert!(
            svg.contains("<title>Dec 3 06:00 UTC: 2 succeeded, 3 failed</title>"),
            "{svg}"
        );
        // y axis 0, 2.5→2 and 5 (max 5 rounds to 5); one x label per midnight, 7 in all.
        assert!(svg.contains(">5</text>") && svg.contains(">0</text>"));
        assert!(svg.contains(">Dec 2</text>") && svg.contains(">Dec 8</text>"));
        assert_eq!(svg.matches("class=\"tick\"").count(), 7);
        assert!(!svg.contains("style="));
        assert!(svg.ends_with("</svg>"));
    }

    #[test]
    fn latency_chart_breaks_lines_at_empty_hours() {
        let mut v = vec![None; HOURS];
        v[0] = Some((10, 40));
        v[1] = Some((12, 80));
        v[5] = Some((11, 30)); // alone: a dot, no line
        let svg = latency_chart("l1", "Latency", DAY0, &v);
        assert_eq!(svg.matches("class=\"line-p50\"").count(), 1);
        assert_eq!(svg.matches("class=\"line-p95\"").count(), 1);
        assert_eq!(svg.matches("class=\"dot-p95\"").count(), 3);
        assert!(svg.contains(">100 ms</text>"), "{svg}");
        assert!(svg.contains("the slowest hour's p95 was 80 ms"));
        assert!(svg.contains("<title>Dec 2 01:00 UTC: p50 12 ms, p95 80 ms</title>"));
        let empty = latency_chart("l2", "Latency", DAY0, &vec![None; HOURS]);
        assert!(empty.contains("no attempts yet"));
        // With max 1 the y axis has 0 and 1 ms once each.
        assert_eq!(empty.matches("class=\"grid\"").count(), 2);
        assert!(!empty.contains("polyline"));
    }
}
