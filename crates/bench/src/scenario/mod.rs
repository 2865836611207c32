//! The scenarios, and the rig each one runs on: a fresh server on a fresh temp data dir, a
//! fresh receiver, and a client with webhooks enabled for the bench user.

pub mod backlog;
pub mod e2e;
pub mod fanout;
pub mod fragile;
pub mod idle;
pub mod ingest;
pub mod isolation;
pub mod latency;

use std::sync::Arc;
use std::time::Duration;

use crate::api::Api;
use crate::cli::{Scenario, Sizes};
use crate::procstats::{self, ProcSample};
use crate::receiver::Receiver;
use crate::report::Run;
use crate::server::{Server, ServerOpts};

/// What every scenario shares.
pub struct Ctx {
    /// How to start the server.
    pub opts: ServerOpts,
    /// Sizes.
    pub sizes: Sizes,
    /// The latency scenario's commit-to-arrival p99, once measured (isolation compares to it).
    pub baseline_p99_ms: Option<f64>,
}

impl Ctx {
    /// Longest wait for deliveries.
    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.sizes.timeout_secs)
    }
}

/// Runs one scenario; a scenario may produce several runs.
pub async fn run(ctx: &mut Ctx, s: Scenario) -> anyhow::Result<Vec<Run>> {
    match s {
        Scenario::Ingest => ingest::run(ctx).await,
        Scenario::E2e => e2e::run(ctx).await,
        Scenario::Latency => latency::run(ctx).await.map(|r| vec![r]),
        Scenario::Fanout => fanout::run(ctx).await,
        Scenario::Isolation => isolation::run(ctx).await,
        Scenario::Backlog => backlog::run(ctx).await.map(|r| vec![r]),
        Scenario::Idle => idle::run(ctx).await,
        Scenario::Fragile => fragile::run(ctx).await,
    }
}

/// A server, a receiver and a client, for one run.
pub struct Rig {
    /// The server under test (killed if the rig is dropped without [`Rig::finish`]).
    pub server: Server,
    /// Its client.
    pub api: Arc<Api>,
    /// The receiver.
    pub rx: Receiver,
    bench_before: ProcSample,
    /// Whether the database outlives this run (`--database-url`): then [`Rig::finish`]
    /// deletes the run's endpoints, so their pending retries (the isolation scenario's dead
    /// endpoint, say) do not load the runs after it and count in their `/metrics`.
    shared_db: bool,
}

impl Rig {
    /// Starts a receiver with `endpoints` paths and a server with webhooks enabled.
    pub async fn start(ctx: &Ctx, endpoints: usize, retry: Option<&str>) -> anyhow::Result<Rig> {
        let bench_before = procstats::own().unwrap_or_default();
        let rx = Receiver::start(endpoints, Duration::from_secs_f64(ctx.sizes.slow_secs)).await?;
        let server = Server::start(&ctx.opts, retry).await?;
        let api = Arc::new(Api::new(&server, ctx.sizes.concurrency)?);
        api.enable_webhooks().await?;
        Ok(Rig {
            server,
            api,
            rx,
            bench_before,
            shared_db: ctx.opts.database_url.is_some(),
        })
    }

    /// Adds endpoints for receiver paths `0..n`.
    pub async fn add_endpoints(&self, n: usize) -> anyhow::Result<()> {
        for i in 0..n {
            self.api.add_endpoint(&self.rx.url(i)).await?;
        }
        Ok(())
    }

    /// Records resource use into `run`, then stops the server.
    pub async fn finish(self, run: &mut Run) -> anyhow::Result<()> {
        let server = self.server.stats()?;
        let bench = procstats::own().unwrap_or_default();
        run.duplicates = self.rx.duplicates_total();
        if self.rx.malformed() > 0 {
            run.notes
                .push(format!("{} malformed deliveries", self.rx.malformed()));
        }
        run.close(server, (bench.cpu_s - self.bench_before.cpu_s).max(0.0));
        if !run.complete {
            run.notes
                .push(format!("server log tail:\n{}", self.server.log_tail(10)));
        }
        if self.shared_db {
            self.api.delete_endpoints().await?;
        }
        self.server.stop().await
    }
}

/// Commit-to-arrival of every delivery of a closed-loop run (`answers`: each event's
/// sequence number and when its 2xx answer arrived) to receiver endpoints `0..endpoints`, in
/// ms, as `figure`s: whether arrivals keep up with acceptance while the server is saturated.
pub fn saturated_lag(r: &mut Run, rx: &Receiver, endpoints: usize, answers: &[(u64, u64)]) {
    let answered: std::collections::HashMap<u64, u64> = answers.iter().copied().collect();
    let lag: Vec<f64> = (0..endpoints)
        .flat_map(|i| rx.arrivals(i))
        .filter_map(|a| Some((a.at_us as f64 - *answered.get(&a.seq?)? as f64) / 1000.0))
        .collect();
    if let Some(l) = crate::stats::summarize(lag) {
        r.figure("commit-to-arrival p50 ms (saturated)", l.p50_ms);
        r.figure("commit-to-arrival p99 ms (saturated)", l.p99_ms);
    }
}
