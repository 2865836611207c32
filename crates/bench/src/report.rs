//! What a run measured, and how it is shown: a readable block per run plus a summary table,
//! or one JSON object.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::procstats::ProcSample;
use crate::stats::Latency;

/// Resource use of the server process (server and embedded database) during one run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ServerFigures {
    /// Peak resident memory (VmHWM), MiB.
    pub peak_rss_mib: f64,
    /// User + system CPU seconds over the server's life.
    pub cpu_s: f64,
    /// CPU milliseconds per delivered event (per accepted event where nothing is delivered).
    pub cpu_ms_per_event: f64,
    /// CPU seconds of the bench itself (load generator + receiver) during the run.
    pub bench_cpu_s: f64,
}

/// One measured run (a scenario may have several, e.g. fan-out to 10 and to 100).
#[derive(Debug, Clone, Serialize)]
pub struct Run {
    /// The scenario flag.
    pub scenario: &'static str,
    /// Unique name, e.g. `fanout.10`.
    pub name: String,
    /// What was done, in words.
    pub what: String,
    /// Events the bench meant to send.
    pub events: u64,
    /// Events the server accepted.
    pub accepted: u64,
    /// Events whose request failed.
    pub send_errors: u64,
    /// The first send failure, if any.
    pub first_error: Option<String>,
    /// Deliveries expected at the measured endpoints (accepted × endpoints; 0 for ingest).
    pub expected_deliveries: u64,
    /// Distinct deliveries observed there.
    pub delivered: u64,
    /// Repeated deliveries of a message already seen (at-least-once redeliveries).
    pub duplicates: u64,
    /// Everything sent was accepted and everything expected arrived.
    pub complete: bool,
    /// The duration the headline rate is computed over, seconds.
    pub seconds: f64,
    /// The headline rate.
    pub rate_per_s: f64,
    /// What `rate_per_s` counts.
    pub rate_unit: &'static str,
    /// Commit (2xx answer) to arrival, ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_commit_ms: Option<Latency>,
    /// Send start to arrival, ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_send_ms: Option<Latency>,
    /// Further figures of this scenario.
    pub figures: BTreeMap<String, f64>,
    /// Server resource use.
    pub server: ServerFigures,
    /// Remarks.
    pub notes: Vec<String>,
}

impl Run {
    /// An empty run.
    pub fn new(scenario: &'static str, name: impl Into<String>, what: impl Into<String>) -> Run {
        Run {
            scenario,
            name: name.into(),
            what: what.into(),
            events: 0,
            accepted: 0,
            send_errors: 0,
            first_error: None,
            expected_deliveries: 0,
            delivered: 0,
            duplicates: 0,
            complete: false,
            seconds: 0.0,
            rate_per_s: 0.0,
            rate_unit: "",
            latency_commit_ms: None,
            latency_send_ms: None,
            figures: BTreeMap::new(),
            server: ServerFigures::default(),
            notes: Vec::new(),
        }
    }

    /// Adds a named figure.
    pub fn figure(&mut self, name: &str, value: f64) {
        self.figures.insert(name.to_owned(), value);
    }

    /// Sets the headline rate as `count / seconds`.
    pub fn rate(&mut self, count: u64, seconds: f64, unit: &'static str) {
        self.seconds = seconds;
        self.rate_per_s = if seconds > 0.0 {
            count as f64 / seconds
        } else {
            0.0
        };
        self.rate_unit = unit;
    }

    /// Fills in server figures and completeness once the run is over.
    pub fn close(&mut self, server: ProcSample, bench_cpu_s: f64) {
        let basis = if self.expected_deliveries > 0 {
            self.delivered
        } else {
            self.accepted
        };
        self.server = ServerFigures {
            peak_rss_mib: server.peak_rss_kib as f64 / 1024.0,
            cpu_s: server.cpu_s,
            cpu_ms_per_event: if basis > 0 {
                server.cpu_s * 1000.0 / basis as f64
            } else {
                0.0
            },
            bench_cpu_s,
        };
        self.complete = self.send_errors == 0
            && self.accepted == self.events
            && self.delivered >= self.expected_deliveries;
    }
}

fn lat_line(l: &Latency) -> String {
    format!(
        "{:.2} / {:.2} / {:.2} / {:.2} ms  (p50 / p95 / p99 / max, n={})",
        l.p50_ms, l.p95_ms, l.p99_ms, l.max_ms, l.count
    )
}

/// The readable block of one run.
pub fn block(r: &Run) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "== {}: {}", r.name, r.what);
    let mut row = |k: &str, v: String| {
        let _ = writeln!(s, "  {k:<28} {v}");
    };
    row(
        "accepted",
        format!("{} of {} ({} errors)", r.accepted, r.events, r.send_errors),
    );
    if r.expected_deliveries > 0 {
        row(
            "delivered (distinct)",
            format!(
                "{} of {} ({} duplicates)",
                r.delivered, r.expected_deliveries, r.duplicates
            ),
        );
    }
    row("measured over", format!("{:.3} s", r.seconds));
    row(r.rate_unit, format!("{:.0}", r.rate_per_s));
    if let Some(l) = &r.latency_commit_ms {
        row("commit-to-arrival", lat_line(l));
    }
    if let Some(l) = &r.latency_send_ms {
        row("send-to-arrival", lat_line(l));
    }
    for (k, v) in &r.figures {
        row(k, format!("{v:.3}"));
    }
    row(
        "server peak RSS",
        format!("{:.1} MiB", r.server.peak_rss_mib),
    );
    row(
        "server CPU",
        format!(
            "{:.2} s ({:.3} ms per event)",
            r.server.cpu_s, r.server.cpu_ms_per_event
        ),
    );
    row(
        "bench CPU (load + receiver)",
        format!("{:.2} s", r.server.bench_cpu_s),
    );
    if let Some(e) = &r.first_error {
        row("first error", e.clone());
    }
    for n in &r.notes {
        row("note", n.clone());
    }
    if !r.complete {
        row(
            "INCOMPLETE",
            "not every event was accepted and delivered".to_owned(),
        );
    }
    s
}

/// One line per run.
pub fn summary(runs: &[Run]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:<16} {:>10}  {:<22} {:>8} {:>8} {:>9} {:>8} {:>10}",
        "run", "rate", "unit", "p50 ms", "p99 ms", "RSS MiB", "CPU s", "CPU ms/ev"
    );
    for r in runs {
        let (p50, p99) = r
            .latency_commit_ms
            .map(|l| (format!("{:.2}", l.p50_ms), format!("{:.2}", l.p99_ms)))
            .unwrap_or_else(|| ("-".to_owned(), "-".to_owned()));
        let _ = writeln!(
            s,
            "{:<16} {:>10.0}  {:<22} {:>8} {:>8} {:>9.1} {:>8.2} {:>10.3}{}",
            r.name,
            r.rate_per_s,
            r.rate_unit,
            p50,
            p99,
            r.server.peak_rss_mib,
            r.server.cpu_s,
            r.server.cpu_ms_per_event,
            if r.complete { "" } else { "  INCOMPLETE" }
        );
    }
    s
}
