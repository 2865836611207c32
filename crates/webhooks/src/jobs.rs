//! The background job runner: recover, replay-missing, release builds and the sweep that
//! disables failing endpoints, run as leased rows of the store's `jobs` table
//! (`datahooks_store::jobs`), so they survive a crash and any node finishes them.
//!
//! One trait, [`JobHandler`], per kind; the [`JobRunner`] claims due, unleased jobs (or jobs
//! whose lease ran out: their node died), renews the lease while a handler runs, and records
//! the end: success, a retry with backoff, or failure after the last attempt
//! (`datahooks_domain::jobs` decides). It sleeps until a commit enqueues a job (the store's
//! `jobs_wakeup`: in-process, and `NOTIFY` from other PostgreSQL nodes), a running job
//! finishes, or the next job falls due; there is no polling timer.
//!
//! A job may run more than once (a node dies after its work committed but before its end was
//! recorded), so each handler is idempotent or does its work and records its end in one
//! transaction:
//! - recover / replay-missing: the messages are queued, the Svix task's final record written
//!   and the job marked succeeded in one transaction (`JobStore::run_task_job`), under the
//!   lease: the work happens once;
//! - release build: `build_release` builds only a release still PENDING (row-locked on
//!   PostgreSQL), so a second run finds it built and does nothing;
//! - failing sweep: disabling endpoints whose failures began before the cutoff is the same
//!   change when repeated.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use rand::RngCore;
use serde_json::{json, Value};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

use datahooks_domain::delivery::failing_since;
use datahooks_domain::jobs::{
    after_failure, on_claim, renew_every_ms, task_record, AfterFailure, ClaimVerdict,
    KEEP_FINISHED_MS,
};
use datahooks_store::jobs::{Job, JobEnd, JobKind, JobLease, NewJob, TaskArgs};
use datahooks_store::Store;

use crate::worker::Clock;

/// Longest sleep between two looks at the queue: a safety net against a lost wake-up, not a
/// polling timer (every enqueue wakes the runner, and it sleeps until the next due time).
const MAX_SLEEP: Duration = Duration::from_secs(60);

/// How long to wait when a job is due but was not claimable: another node's transaction holds
/// its row for a moment (PostgreSQL `SKIP LOCKED`). Only in that case, never as a poll.
const CONTENDED: Duration = Duration::from_millis(100);

/// Claims past the last attempt that retry a failing `give_up` before the job is marked
/// failed without it.
const GIVE_UP_TRIES: i64 = 3;

/// How a runner behaves.
#[derive(Debug, Clone)]
pub struct JobsConfig {
    /// This node's name (lease holder).
    pub node: String,
    /// How long a claimed job stays this node's without a renewal.
    pub lease: Duration,
    /// Jobs run at once on this node.
    pub concurrency: usize,
    /// The server's public URL, for release file links.
    pub public_url: String,
    /// An endpoint failing without a success for this long is disabled.
    pub failure_window: Duration,
    /// How often the failing-endpoint sweep runs.
    pub sweep_every: Duration,
}

impl Default for JobsConfig {
    fn default() -> Self {
        JobsConfig {
            node: "node".into(),
            lease: Duration::from_secs(60),
            concurrency: 4,
            public_url: String::new(),
            failure_window: Duration::from_secs(5 * 24 * 3600),
            sweep_every: Duration::from_secs(60),
        }
    }
}

/// What a handler's run came to.
#[derive(Debug, Clone, PartialEq)]
pub enum Ran {
    /// The handler's own transaction recorded the end (with the work).
    Recorded,
    /// The lease was lost before the work committed: nothing was done here.
    LeaseLost,
    /// Done; the runner records this result.
    Succeeded(Value),
    /// A periodic job's run is done; run it again at this time (unix ms).
    RunAgainAt(i64, Value),
}

/// A failed run.
#[derive(Debug, Clone, PartialEq)]
pub struct JobError {
    /// What went wrong (stored as the job's `last_error`).
    pub message: String,
    /// Retrying cannot help (unreadable arguments, the object is gone).
    pub permanent: bool,
}

impl JobError {
    fn permanent(message: impl Into<String>) -> JobError {
        JobError {
            message: message.into(),
            permanent: true,
        }
    }
}

impl From<datahooks_store::Error> for JobError {
    fn from(e: datahooks_store::Error) -> JobError {
        let permanent = matches!(e, datahooks_store::Error::Domain(_));
        JobError {
            message: e.to_string(),
            permanent,
        }
    }
}

/// One kind of background job.
#[async_trait]
pub trait JobHandler: Send + Sync {
    /// The kind it runs.
    fn kind(&self) -> JobKind;
    /// Runs the job once, at `now`, under `lease`. Must be idempotent, or record its end in
    /// the transaction of its work (see the module docs).
    async fn run(
        &self,
        store: &dyn Store,
        lease: &JobLease,
        args: &Value,
        now: i64,
    ) -> Result<Ran, JobError>;
    /// The last attempt failed: leave the job's object in a final state (idempotent; runs
    /// before the job is marked failed, so a crash in between runs it again).
    async fn give_up(
        &self,
        store: &dyn Store,
        args: &Value,
        error: &str,
        now: i64,
    ) -> datahooks_store::Result<()>;
}

fn parse<T: serde::de::DeserializeOwned>(args: &Value) -> Result<T, JobError> {
    serde_json::from_value(args.clone())
        .map_err(|e| JobError::permanent(format!("unreadable job arguments: {e}")))
}

/// Recover and replay-missing: queue an endpoint's messages of a window, report through the
/// Svix task record.
struct TaskJob(JobKind);

#[async_trait]
impl JobHandler for TaskJob {
    fn kind(&self) -> JobKind {
        self.0
    }
    async fn run(
        &self,
        store: &dyn Store,
        lease: &JobLease,
        args: &Value,
        now: i64,
    ) -> Result<Ran, JobError> {
        let args: TaskArgs = parse(args)?;
        Ok(match store.run_task_job(lease, self.0, &args, now).await? {
            Some(_) => Ran::Recorded,
            None => Ran::LeaseLost,
        })
    }
    async fn give_up(
        &self,
        store: &dyn Store,
        args: &Value,
        _error: &str,
        now: i64,
    ) -> datahooks_store::Result<()> {
        let Ok(args) = serde_json::from_value::<TaskArgs>(args.clone()) else {
            return Ok(()); // no task to report to
        };
        if store.get_task(&args.task).await?.is_none() {
            return Ok(()); // gone with its account
        }
        let record = task_record(&args.task, self.0, "failed", 0, now);
        store
            .put_task(&args.task, args.account, &record.to_string(), now)
            .await
    }
}

/// Arguments of a release build.
#[derive(serde::Deserialize)]
struct ReleaseArgs {
    release: String,
}

/// Builds a PENDING release's file under a fresh unguessable token.
struct ReleaseBuild {
    public_url: String,
}

#[async_trait]
impl JobHandler for ReleaseBuild {
    fn kind(&self) -> JobKind {
        JobKind::ReleaseBuild
    }
    async fn run(
        &self,
        store: &dyn Store,
        _lease: &JobLease,
        args: &Value,
        _now: i64,
    ) -> Result<Ran, JobError> {
        let args: ReleaseArgs = parse(args)?;
        let mut bytes = [0u8; 24];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        let token = hex::encode(bytes);
        let url = format!(
            "{}/releases/{token}/release.json",
            self.public_url.trim_end_matches('/')
        );
        // `None`: deleted, or already built (by an earlier run of this job): nothing to do.
        let built = store.build_release(&args.release, &token, &url).await?;
        if built.is_some() {
            tracing::info!(release = %args.release, "release built");
        }
        Ok(Ran::Succeeded(json!({ "built": built.is_some() })))
    }
    async fn give_up(
        &self,
        store: &dyn Store,
        args: &Value,
        error: &str,
        _now: i64,
    ) -> datahooks_store::Result<()> {
        let Ok(args) = serde_json::from_value::<ReleaseArgs>(args.clone()) else {
            return Ok(());
        };
        tracing::error!(release = %args.release, %error, "release build failed");
        store.fail_release(&args.release).await
    }
}

/// Disables endpoints failing for the whole failure window and deletes jobs finished more
/// than a week ago; runs again after `every`.
struct FailingSweep {
    failure_window: Duration,
    every: Duration,
}

#[async_trait]
impl JobHandler for FailingSweep {
    fn kind(&self) -> JobKind {
        JobKind::FailingSweep
    }
    async fn run(
        &self,
        store: &dyn Store,
        _lease: &JobLease,
        _args: &Value,
        now: i64,
    ) -> Result<Ran, JobError> {
        let cutoff = failing_since(now, self.failure_window.as_millis() as i64);
        let disabled = store.disable_failing_endpoints(cutoff).await?;
        if disabled > 0 {
            tracing::info!(endpoints = disabled, "disabled failing endpoints");
        }
        // Housekeeping rides along: finished jobs are kept a week, for inspection.
        let pruned = store.prune_jobs(now - KEEP_FINISHED_MS).await?;
        Ok(Ran::RunAgainAt(
            now + self.every.as_millis() as i64,
            json!({ "disabled": disabled, "pruned": pruned }),
        ))
    }
    async fn give_up(
        &self,
        _store: &dyn Store,
        _args: &Value,
        _error: &str,
        _now: i64,
    ) -> datahooks_store::Result<()> {
        Ok(())
    }
}

/// Runs this node's share of the background jobs.
pub struct JobRunner {
    store: Arc<dyn Store>,
    config: JobsConfig,
    clock: Arc<dyn Clock>,
    handlers: HashMap<JobKind, Arc<dyn JobHandler>>,
}

impl JobRunner {
    /// A runner with a handler for every kind.
    pub fn new(store: Arc<dyn Store>, config: JobsConfig, clock: Arc<dyn Clock>) -> JobRunner {
        let handlers: Vec<Arc<dyn JobHandler>> = vec![
            Arc::new(TaskJob(JobKind::Recover)),
            Arc::new(TaskJob(JobKind::ReplayMissing)),
            Arc::new(ReleaseBuild {
                public_url: config.public_url.clone(),
            }),
            Arc::new(FailingSweep {
                failure_window: config.failure_window,
                every: config.sweep_every,
            }),
        ];
        JobRunner {
            store,
            clock,
            handlers: handlers.into_iter().map(|h| (h.kind(), h)).collect(),
            config,
        }
    }

    fn lease_ms(&self) -> i64 {
        self.config.lease.as_millis() as i64
    }

    /// Runs until `cancel`, then waits (up to a lease) for the jobs in flight.
    pub async fn run(self: Arc<Self>, cancel: CancellationToken) {
        let wake = self.store.jobs_wakeup();
        let now = self.clock.now_ms();
        // Jobs this node held before a restart are not running: make them due now.
        match self.store.release_job_leases(&self.config.node, now).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(
                jobs = n,
                "took back this node's jobs from before the restart"
            ),
            Err(e) => tracing::warn!(error = %e, "could not take back this node's jobs"),
        }
        // The periodic sweep exists once in the whole deployment; the first node creates it.
        let sweep = NewJob::periodic(JobKind::FailingSweep, json!({}), now);
        if let Err(e) = self.store.enqueue_job(sweep).await {
            tracing::warn!(error = %e, "could not schedule the failing-endpoint sweep");
        }
        let concurrency = self.config.concurrency.max(1);
        let slots = Arc::new(Semaphore::new(concurrency));
        let freed = Arc::new(Notify::new());
        let mut backoff = Duration::from_millis(100);
        loop {
            if cancel.is_cancelled() {
                break;
            }
            let free = slots.available_permits();
            if free > 0 {
                let now = self.clock.now_ms();
                match self
                    .store
                    .claim_jobs(&self.config.node, now, now + self.lease_ms(), free as i64)
                    .await
                {
                    Ok(jobs) => {
                        backoff = Duration::from_millis(100);
                        let claimed = jobs.len();
                        for job in jobs {
                            let Ok(permit) = slots.clone().try_acquire_owned() else {
                                break; // cannot happen: at most `free` were claimed
                            };
                            let (me, freed) = (self.clone(), freed.clone());
                            tokio::spawn(async move {
                                me.execute(job, permit).await;
                                freed.notify_one();
                            });
                        }
                        if claimed == free {
                            continue; // there may be more due right now
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "could not claim jobs");
                        tokio::select! {
                            _ = tokio::time::sleep(backoff) => {},
                            _ = cancel.cancelled() => break,
                        }
                        backoff = (backoff * 2).min(Duration::from_secs(5));
                        continue;
                    }
                }
            }
            // Sleep until the next job falls due, unless every slot is busy: then a finished
            // job (or an enqueue) wakes the loop.
            let wait = if slots.available_permits() == 0 {
                MAX_SLEEP
            } else {
                match self.store.next_job_at().await {
                    Ok(Some(t)) => {
                        let ms = t - self.clock.now_ms();
                        if ms <= 0 {
                            CONTENDED
                        } else {
                            Duration::from_millis(ms as u64).min(MAX_SLEEP)
                        }
                    }
                    Ok(None) => MAX_SLEEP,
                    Err(e) => {
                        tracing::warn!(error = %e, "could not read when the next job is due");
                        backoff
                    }
                }
            };
            tokio::select! {
                _ = wake.notified() => {},
                _ = freed.notified() => {},
                _ = tokio::time::sleep(wait) => {},
                _ = cancel.cancelled() => break,
            }
        }
        // Let the jobs in flight end (their work is idempotent or transactional either way).
        let _ =
            tokio::time::timeout(self.config.lease, slots.acquire_many(concurrency as u32)).await;
    }

    /// Claims and runs every job due now, one after another; returns how many ran. For tests
    /// that step the runner.
    pub async fn run_once(&self) -> datahooks_store::Result<usize> {
        let mut n = 0;
        loop {
            let now = self.clock.now_ms();
            let jobs = self
                .store
                .claim_jobs(&self.config.node, now, now + self.lease_ms(), 16)
                .await?;
            if jobs.is_empty() {
                return Ok(n);
            }
            for job in jobs {
                self.run_job(job).await;
                n += 1;
            }
        }
    }

    async fn execute(&self, job: Job, _permit: OwnedSemaphorePermit) {
        self.run_job(job).await
    }

    /// Runs one claimed job, renewing its lease meanwhile, and records how it ended.
    async fn run_job(&self, job: Job) {
        let lease = job.lease(&self.config.node);
        let Some(handler) = self.handlers.get(&job.kind).cloned() else {
            // Claims only return kinds this binary knows, and each has a handler.
            self.end(&lease, JobEnd::Failed("no handler for this kind".into()))
                .await;
            return;
        };
        let now = self.clock.now_ms();
        if on_claim(job.attempts, job.max_attempts) == ClaimVerdict::GiveUp {
            let error = format!(
                "gave up after {} attempts (the last node running it stopped)",
                job.max_attempts
            );
            self.give_up(&*handler, &job, &lease, error, now).await;
            return;
        }
        let run = handler.run(&*self.store, &lease, &job.args, now);
        let result = tokio::select! {
            biased;
            r = run => r,
            _ = self.keep_lease(&lease) => return,
        };
        let now = self.clock.now_ms();
        match result {
            Ok(Ran::Recorded) => {}
            Ok(Ran::LeaseLost) => {
                tracing::warn!(
                    job = job.id,
                    kind = job.kind.as_str(),
                    "another node took this job over"
                )
            }
            Ok(Ran::Succeeded(v)) => self.end(&lease, JobEnd::Succeeded(v)).await,
            Ok(Ran::RunAgainAt(at, result)) => {
                self.end(&lease, JobEnd::RunAgainAt { at, result }).await
            }
            Err(e) => {
                tracing::warn!(job = job.id, kind = job.kind.as_str(), attempt = job.attempts, error = %e.message, "job failed");
                match after_failure(job.attempts, job.max_attempts, e.permanent, now) {
                    AfterFailure::RetryAt(at) => {
                        self.end(
                            &lease,
                            JobEnd::Retry {
                                at,
                                error: e.message,
                            },
                        )
                        .await
                    }
                    AfterFailure::GiveUp => {
                        self.give_up(&*handler, &job, &lease, e.message, now).await
                    }
                }
            }
        }
    }

    /// Renews the lease every third of it; returns only if the lease was lost (another node
    /// took the job), which ends the run here: that node runs it now.
    async fn keep_lease(&self, lease: &JobLease) {
        let every = Duration::from_millis(renew_every_ms(self.lease_ms()) as u64);
        loop {
            tokio::time::sleep(every).await;
            let now = self.clock.now_ms();
            match self
                .store
                .renew_job(lease, now + self.lease_ms(), now)
                .await
            {
                Ok(true) => {}
                Ok(false) => {
                    tracing::warn!(job = lease.id, "lost a job's lease; another node runs it");
                    return;
                }
                // The store is unreachable: keep trying while the lease may still hold.
                Err(e) => {
                    tracing::warn!(job = lease.id, error = %e, "could not renew a job's lease")
                }
            }
        }
    }

    async fn give_up(
        &self,
        handler: &dyn JobHandler,
        job: &Job,
        lease: &JobLease,
        error: String,
        now: i64,
    ) {
        tracing::error!(job = job.id, kind = job.kind.as_str(), %error, "job failed for good");
        if let Err(e) = handler.give_up(&*self.store, &job.args, &error, now).await {
            tracing::error!(job = job.id, error = %e, "could not give a job up");
            // Not marked failed: the lease runs out and a claim gives up again, a few times;
            // then the job is marked failed all the same, so it cannot come back for ever.
            if job.attempts <= job.max_attempts + GIVE_UP_TRIES {
                return;
            }
        }
        self.end(lease, JobEnd::Failed(error)).await
    }

    async fn end(&self, lease: &JobLease, end: JobEnd) {
        match self.store.finish_job(lease, end, self.clock.now_ms()).await {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!(
                    job = lease.id,
                    "another node took this job over before it ended"
                )
            }
            // Unrecorded: the lease runs out and the job runs again (idempotent).
            Err(e) => tracing::error!(job = lease.id, error = %e, "could not record a job's end"),
        }
    }
}
