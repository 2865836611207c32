//! Command-line flags and the sizes they resolve to (full defaults from the benchmark issue,
//! or small `--quick` ones that finish in seconds).

use std::path::PathBuf;

use clap::Parser;

/// Reproducible benchmark of datahooks: starts the server on a temp store, a loopback
/// receiver, and drives load through the real HTTP API. With no scenario flag, runs all.
#[derive(Debug, Parser)]
#[command(name = "datahooks-bench", version, about)]
pub struct Args {
    /// Run every scenario.
    #[arg(long)]
    pub all: bool,
    /// Accepted events/s through the Svix-style and the platform ingest paths.
    #[arg(long)]
    pub ingest: bool,
    /// Delivered events/s to one endpoint, from first send until all have arrived.
    #[arg(long)]
    pub e2e: bool,
    /// Commit-to-arrival latency at a fixed rate.
    #[arg(long)]
    pub latency: bool,
    /// Deliveries/s with every event going to many endpoints.
    #[arg(long)]
    pub fanout: bool,
    /// Latency of a healthy endpoint beside a slow one and a dead one.
    #[arg(long)]
    pub isolation: bool,
    /// Drain rate of a backlog of due deliveries once the endpoint comes back.
    #[arg(long)]
    pub backlog: bool,
    /// Memory per idle connection and how soon the server closes them (silent and half-sent
    /// requests). Runs only when asked for, not with `--all`.
    #[arg(long)]
    pub idle: bool,
    /// Bursts to two fragile receivers: a single-threaded one with a listen backlog of 5
    /// (about 250 requests/s) and one allowing 40 requests/s with 429 + Retry-After beyond.
    #[arg(long)]
    pub fragile: bool,
    /// Small sizes for a run of seconds (used by the test suite).
    #[arg(long)]
    pub quick: bool,
    /// Print one JSON object instead of tables.
    #[arg(long)]
    pub json: bool,
    /// The datahooks binary (default: beside this one, else target/release/datahooks).
    #[arg(long)]
    pub server_bin: Option<PathBuf>,
    /// Passed to the server as `--database-url` (default: its embedded SQLite file).
    #[arg(long)]
    pub database_url: Option<String>,
    /// Directory for the temp data dirs (default: the system temp dir).
    #[arg(long)]
    pub tmp_dir: Option<PathBuf>,
    /// Events per ingest path [20000; quick 100].
    #[arg(long)]
    pub ingest_events: Option<u64>,
    /// Concurrent senders for ingest, e2e, fan-out and backlog [64; quick 16].
    #[arg(long)]
    pub concurrency: Option<usize>,
    /// Events of the e2e scenario [20000; quick 200].
    #[arg(long)]
    pub e2e_events: Option<u64>,
    /// Events/s of the latency and isolation scenarios [200; quick 20].
    #[arg(long)]
    pub rate: Option<f64>,
    /// Seconds of the latency and isolation scenarios [10; quick 1].
    #[arg(long)]
    pub seconds: Option<f64>,
    /// Events of each fan-out run [2000; quick 10].
    #[arg(long)]
    pub fanout_events: Option<u64>,
    /// Endpoint counts of the fan-out runs, comma-separated [10,100].
    #[arg(long, value_delimiter = ',')]
    pub fanout_endpoints: Option<Vec<usize>>,
    /// How long the slow endpoint of the isolation scenario takes to answer, seconds [5].
    #[arg(long)]
    pub slow_secs: Option<f64>,
    /// Events queued while the backlog endpoint fails [100000; quick 300].
    #[arg(long)]
    pub backlog_events: Option<u64>,
    /// Connections the idle scenario opens [10000; quick 200].
    #[arg(long)]
    pub idle_connections: Option<usize>,
    /// Events of each fragile burst [600; quick 100].
    #[arg(long)]
    pub fragile_events: Option<u64>,
    /// Longest wait for deliveries in any one scenario, seconds [600; quick 60].
    #[arg(long)]
    pub timeout_secs: Option<u64>,
}

/// The scenarios, in the order `--all` runs them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    /// See [`Args::ingest`].
    Ingest,
    /// See [`Args::e2e`].
    E2e,
    /// See [`Args::latency`].
    Latency,
    /// See [`Args::fanout`].
    Fanout,
    /// See [`Args::isolation`].
    Isolation,
    /// See [`Args::backlog`].
    Backlog,
    /// See [`Args::idle`].
    Idle,
    /// See [`Args::fragile`].
    Fragile,
}

impl Scenario {
    /// Its flag name.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Ingest => "ingest",
            Scenario::E2e => "e2e",
            Scenario::Latency => "latency",
            Scenario::Fanout => "fanout",
            Scenario::Isolation => "isolation",
            Scenario::Backlog => "backlog",
            Scenario::Idle => "idle",
            Scenario::Fragile => "fragile",
        }
    }
}

/// Resolved sizes.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Sizes {
    /// Events per ingest path.
    pub ingest_events: u64,
    /// Concurrent senders of closed-loop scenarios.
    pub concurrency: usize,
    /// Events of e2e.
    pub e2e_events: u64,
    /// Events/s of latency and isolation.
    pub rate: f64,
    /// Seconds of latency and isolation.
    pub seconds: f64,
    /// Events per fan-out run.
    pub fanout_events: u64,
    /// Endpoint counts of the fan-out runs.
    pub fanout_endpoints: Vec<usize>,
    /// Delay of the slow endpoint, seconds.
    pub slow_secs: f64,
    /// Events of the backlog.
    pub backlog_events: u64,
    /// Connections of the idle scenario.
    pub idle_connections: usize,
    /// Quick sizes (the idle scenario then uses short server timeouts).
    pub quick: bool,
    /// Events of each fragile burst.
    pub fragile_events: u64,
    /// Longest wait for deliveries per scenario, seconds.
    pub timeout_secs: u64,
}

impl Args {
    /// The scenarios asked for (all when none is).
    pub fn scenarios(&self) -> Vec<Scenario> {
        let flags = [
            (self.ingest, Scenario::Ingest),
            (self.e2e, Scenario::E2e),
            (self.latency, Scenario::Latency),
            (self.fanout, Scenario::Fanout),
            (self.isolation, Scenario::Isolation),
            (self.backlog, Scenario::Backlog),
            (self.fragile, Scenario::Fragile),
        ];
        let any = flags.iter().any(|(on, _)| *on) || self.idle;
        let mut chosen: Vec<Scenario> = flags
            .into_iter()
            .filter(|(on, _)| self.all || !any || *on)
            .map(|(_, s)| s)
            .collect();
        if self.idle {
            chosen.push(Scenario::Idle);
        }
        chosen
    }

    /// Explicit flags, else the quick or the full defaults.
    pub fn sizes(&self) -> Sizes {
        let q = self.quick;
        let pick = |given: Option<u64>, full: u64, quick: u64| {
            given.unwrap_or(if q { quick } else { full })
        };
        Sizes {
            ingest_events: pick(self.ingest_events, 20_000, 100),
            concurrency: self.concurrency.unwrap_or(if q { 16 } else { 64 }).max(1),
            e2e_events: pick(self.e2e_events, 20_000, 200),
            rate: self.rate.unwrap_or(if q { 20.0 } else { 200.0 }).max(0.1),
            seconds: self.seconds.unwrap_or(if q { 1.0 } else { 10.0 }).max(0.1),
            fanout_events: pick(self.fanout_events, 2_000, 10),
            fanout_endpoints: self
                .fanout_endpoints
                .clone()
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| vec![10, 100]),
            slow_secs: self.slow_secs.unwrap_or(5.0).max(0.0),
            backlog_events: pick(self.backlog_events, 100_000, 300),
            idle_connections: self
                .idle_connections
                .unwrap_or(if q { 200 } else { 10_000 })
                .max(1),
            quick: q,
            fragile_events: pick(self.fragile_events, 600, 100),
            timeout_secs: pick(self.timeout_secs, 600, 60).max(1),
        }
    }
}
