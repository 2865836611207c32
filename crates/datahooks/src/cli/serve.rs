//! `datahooks serve`: the API, the web pages and the delivery worker in one process.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use rand::RngCore;
use tokio_util::sync::CancellationToken;

use datahooks_server::ready::WorkerRunning;
use datahooks_server::{build_app, AppState, Hooks, ServerConfig};
use datahooks_webhooks::admission::Admission;
use datahooks_webhooks::jobs::{JobRunner, JobsConfig};
use datahooks_webhooks::metrics::Metrics;
use datahooks_webhooks::retry::RetrySchedule;
use datahooks_webhooks::ssrf::{AllowRule, DestinationPolicy};
use datahooks_webhooks::worker::{SystemClock, Worker, WorkerConfig};

use super::firstrun;
use crate::config::{Role, ServeArgs, StoreArgs};

/// This node's name: the flag, else `<data-dir>/node.id`, created on first start. Keeping it
/// across restarts lets a node take back its own leases at once after a crash.
fn node_id(given: Option<&str>, data_dir: &Path) -> anyhow::Result<String> {
    if let Some(id) = given {
        return Ok(id.to_owned());
    }
    let path = data_dir.join("node.id");
    match std::fs::read_to_string(&path) {
        Ok(s) if !s.trim().is_empty() => Ok(s.trim().to_owned()),
        _ => {
            let mut b = [0u8; 6];
            rand::rngs::OsRng.fill_bytes(&mut b);
            let id = format!("node-{}", hex::encode(b));
            std::fs::write(&path, &id)
                .with_context(|| format!("cannot write {}", path.display()))?;
            Ok(id)
        }
    }
}

async fn shutdown_signal(cancel: CancellationToken) {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
        _ = cancel.cancelled() => {},
    }
    tracing::info!("shutting down");
    cancel.cancel();
}

/// The delivery lease: long enough for an attempt (request timeout) plus recording it.
fn lease(given: Option<u64>, timeout: std::time::Duration) -> anyhow::Result<std::time::Duration> {
    match given {
        None => Ok(timeout + std::time::Duration::from_secs(45)),
        Some(s) => {
            let lease = std::time::Duration::from_secs(s);
            anyhow::ensure!(
                lease >= timeout + std::time::Duration::from_secs(2),
                "--lease-secs must be at least the request timeout + 2 s"
            );
            Ok(lease)
        }
    }
}

/// Runs the server until SIGINT/SIGTERM.
pub async fn serve(store_args: &StoreArgs, args: ServeArgs) -> anyhow::Result<()> {
    std::fs::create_dir_all(&store_args.data_dir)
        .with_context(|| format!("cannot create {}", store_args.data_dir.display()))?;
    let url = store_args.url();
    let store = datahooks_store::open(&url)
        .await
        .with_context(|| format!("cannot open the store at {url}"))?;
    let keys = super::secret_key::load(args.secret_key.as_deref(), &store_args.data_dir, true)?;
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let addr = listener.local_addr()?;
    let public_url = args
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{addr}"));
    let config = ServerConfig {
        public_url: public_url.trim_end_matches('/').to_owned(),
        data_dir: store_args.data_dir.clone(),
        body_limit: args.body_limit,
        asset_limit: 100 * 1024 * 1024,
        asset_quota: args.asset_quota,
        secret_key: keys.first.clone(),
    };
    let allow = args
        .allow_destinations
        .iter()
        .filter(|s| !s.trim().is_empty())
        .map(|s| {
            s.parse::<AllowRule>()
                .map_err(|e| anyhow::anyhow!("--allow-destination: {e}"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let policy = Arc::new(DestinationPolicy::with_rules(allow));
    let schedule = match &args.retry_schedule {
        Some(s) => s
            .parse::<RetrySchedule>()
            .map_err(|e| anyhow::anyhow!("--retry-schedule: {e}"))?,
        None => RetrySchedule::default(),
    };
    let metrics = Arc::new(Metrics::default());
    let mut hooks = Hooks::new(&config.secret_key, policy.clone(), metrics.clone());
    // While the key is rotated, secrets sealed with any of the keys open.
    hooks.vault = keys.vault();
    let worker_running = Arc::new(WorkerRunning::default());
    // The message API waits while this node's worker is more than a round of its slots
    // behind (see `datahooks_webhooks::admission`).
    let admission = Arc::new(Admission::new(args.worker_concurrency.max(1)));
    if args.role != Role::Api {
        hooks.worker = Some(worker_running.clone());
        hooks.admission = admission.clone();
    }
    let hooks = Arc::new(hooks);
    let timeout = std::time::Duration::from_secs(args.request_timeout.max(1));
    let client = datahooks_webhooks::dispatch::build_client(
        policy.clone(),
        timeout,
        concat!("datahooks/", env!("CARGO_PKG_VERSION")),
    )
    .context("cannot build the HTTP client")?;
    let worker_config = WorkerConfig {
        node: node_id(args.node_id.as_deref(), &store_args.data_dir)?,
        schedule,
        concurrency: args.worker_concurrency.max(1),
        endpoint_concurrency: args.endpoint_concurrency.max(1),
        lease: lease(args.lease_secs, timeout)?,
        ..WorkerConfig::default()
    };
    // Background jobs (recover, replay-missing, release builds, the failing sweep) run on
    // the nodes that deliver, under the delivery lease.
    let jobs = Arc::new(JobRunner::new(
        store.clone(),
        JobsConfig {
            node: worker_config.node.clone(),
            lease: worker_config.lease,
            public_url: config.public_url.clone(),
            ..JobsConfig::default()
        },
        Arc::new(SystemClock),
    ));
    let worker = Arc::new(
        Worker::new(
            store.clone(),
            client,
            policy,
            keys.vault(),
            worker_config,
            Arc::new(SystemClock),
            metrics,
        )
        .with_admission(admission),
    );
    let state = AppState {
        store: store.clone(),
        config: Arc::new(config),
        hooks,
    };
    let cancel = CancellationToken::new();
    {
        // Open event streams never end by themselves; close them when shutdown starts.
        let (hooks, cancel) = (state.hooks.clone(), cancel.clone());
        tokio::spawn(async move {
            cancel.cancelled().await;
            hooks.close_streams();
        });
    }
    // Retention runs where deliveries are worked on; several nodes sweeping at once is safe
    // (each pass re-checks what it deletes), only redundant.
    let retention = datahooks_webhooks::retention::parse_duration(&args.retention)
        .map_err(|e| anyhow::anyhow!("--retention: {e}"))?;
    let sweep_every = datahooks_webhooks::retention::parse_duration(&args.retention_sweep_interval)
        .map_err(|e| anyhow::anyhow!("--retention-sweep-interval: {e}"))?
        .ok_or_else(|| anyhow::anyhow!("--retention-sweep-interval must be more than 0"))?;
    if args.role != Role::Api {
        tokio::spawn(datahooks_webhooks::retention::run(
            store.clone(),
            retention,
            sweep_every,
            cancel.clone(),
        ));
    }
    let worker_task = match args.role {
        Role::All | Role::Worker => {
            let running = worker_running.enter();
            let cancel = cancel.clone();
            Some(tokio::spawn(async move {
                // Readiness reports the worker stopped once this task ends, however it ends.
                let _running = running;
                worker.run(cancel).await
            }))
        }
        Role::Api => None,
    };
    let jobs_task = match args.role {
        Role::All | Role::Worker => Some(tokio::spawn(jobs.run(cancel.clone()))),
        Role::Api => None,
    };
    let app = match args.role {
        Role::All | Role::Api => build_app(state.clone()),
        Role::Worker => datahooks_server::build_ops_app(state.clone()),
    };
    let limits = super::limits::conn_limits(&args)?;
    let summary = firstrun::Summary {
        listen: addr,
        public_url: state.config.public_url.as_str(),
        role: args.role,
        store_args,
    };
    firstrun::announce(state.store.as_ref(), &summary).await?;
    tracing::info!(%addr, %public_url, ?limits, "datahooks listening");
    datahooks_server::conn::serve(listener, app, limits, shutdown_signal(cancel.clone())).await;
    cancel.cancel();
    if let Some(w) = worker_task {
        let _ = w.await;
    }
    if let Some(j) = jobs_task {
        let _ = j.await;
    }
    Ok(())
}
