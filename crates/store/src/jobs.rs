//! Background jobs on the durable queue: the `jobs` table (migration 0018), its trait and the
//! statements both backends run (placeholders `$N`, first used in ascending order, so the same
//! text binds positionally on both drivers).
//!
//! A job is claimed under a lease (node, until, and the attempt number that claim made, which
//! tells a stale holder from the current one even on the same node); the holder renews the
//! lease while it runs and records the end. A lease that runs out makes the job claimable by
//! any node (PostgreSQL claims with `FOR UPDATE SKIP LOCKED`; SQLite's one writer serialises
//! claims). The rules (claimable, retry, give up) are `datahooks_domain::jobs`; the runner is
//! `datahooks_webhooks::jobs`.
//!
//! Jobs are enqueued in the transaction of the change that asks for them (the release row, the
//! Svix task record), and a commit that enqueued one wakes the runners ([`JobStore::jobs_wakeup`]
//! on this node; `NOTIFY datahooks_jobs` across PostgreSQL nodes).

use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::Notify;

pub use datahooks_domain::jobs::{JobKind, JobStatus};
use datahooks_domain::jobs::{MAX_ATTEMPTS, PERIODIC_MAX_ATTEMPTS};

use crate::Result;

/// A job to enqueue.
#[derive(Debug, Clone, PartialEq)]
pub struct NewJob {
    /// What it does.
    pub kind: JobKind,
    /// Its arguments (JSON).
    pub args: Value,
    /// At most one queued or running job per key (periodic jobs); `None` for one-off jobs.
    pub singleton: Option<String>,
    /// Due (unix ms).
    pub run_at: i64,
    /// Claims it gets before it fails for good.
    pub max_attempts: i64,
}

impl NewJob {
    /// A one-off job, due at `run_at`.
    pub fn once(kind: JobKind, args: Value, run_at: i64) -> NewJob {
        NewJob {
            kind,
            args,
            singleton: None,
            run_at,
            max_attempts: MAX_ATTEMPTS,
        }
    }

    /// The one instance of a periodic job (its kind is its key), first due at `run_at`.
    pub fn periodic(kind: JobKind, args: Value, run_at: i64) -> NewJob {
        NewJob {
            kind,
            args,
            singleton: Some(kind.as_str().to_owned()),
            run_at,
            max_attempts: PERIODIC_MAX_ATTEMPTS,
        }
    }

    /// Builds the release `uuid`.
    pub fn release_build(uuid: &str, run_at: i64) -> NewJob {
        NewJob::once(
            JobKind::ReleaseBuild,
            serde_json::json!({ "release": uuid }),
            run_at,
        )
    }
}

/// A stored job.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    /// Row id.
    pub id: i64,
    /// What it does.
    pub kind: JobKind,
    /// Its arguments.
    pub args: Value,
    /// Where it is.
    pub status: JobStatus,
    /// Due (unix ms) while queued.
    pub run_at: i64,
    /// The node running it.
    pub lease_node: Option<String>,
    /// Until when that node holds it.
    pub lease_until: Option<i64>,
    /// Claims so far (of this run, for a periodic job).
    pub attempts: i64,
    /// Claims it gets.
    pub max_attempts: i64,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// What it reported when it succeeded.
    pub result: Option<Value>,
}

impl Job {
    /// The lease this job was claimed under (meaningful for a job just claimed).
    pub fn lease(&self, node: &str) -> JobLease {
        JobLease {
            id: self.id,
            node: node.to_owned(),
            attempt: self.attempts,
        }
    }
}

/// Proof of holding a job: only the claim that made `attempt` may renew or end it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobLease {
    /// Row id.
    pub id: i64,
    /// The holder.
    pub node: String,
    /// The attempt number its claim made.
    pub attempt: i64,
}

/// How a run of a job ended.
#[derive(Debug, Clone, PartialEq)]
pub enum JobEnd {
    /// Done, with what it reports.
    Succeeded(Value),
    /// Failed; queued again, due at `at`.
    Retry {
        /// Due (unix ms).
        at: i64,
        /// Why this attempt failed.
        error: String,
    },
    /// Failed for good.
    Failed(String),
    /// A periodic job's run is done: queued again for its next run at `at`, attempts reset.
    RunAgainAt {
        /// Next run (unix ms).
        at: i64,
        /// What this run reports.
        result: Value,
    },
}

/// The columns [`FINISH`] writes for an end: status, run_at, result, last_error, attempts.
pub(crate) struct EndColumns {
    pub status: i64,
    pub run_at: i64,
    pub result: Option<String>,
    pub last_error: Option<String>,
    pub attempts: i64,
}

impl JobEnd {
    /// The row as this end leaves it; `now` stands for `run_at` of a finished job.
    pub(crate) fn columns(&self, lease: &JobLease, now: i64) -> EndColumns {
        match self {
            JobEnd::Succeeded(v) => EndColumns {
                status: JobStatus::Succeeded.code(),
                run_at: now,
                result: Some(v.to_string()),
                last_error: None,
                attempts: lease.attempt,
            },
            JobEnd::Retry { at, error } => EndColumns {
                status: JobStatus::Queued.code(),
                run_at: *at,
                result: None,
                last_error: Some(error.clone()),
                attempts: lease.attempt,
            },
            JobEnd::Failed(error) => EndColumns {
                status: JobStatus::Failed.code(),
                run_at: now,
                result: None,
                last_error: Some(error.clone()),
                attempts: lease.attempt,
            },
            JobEnd::RunAgainAt { at, result } => EndColumns {
                status: JobStatus::Queued.code(),
                run_at: *at,
                result: Some(result.to_string()),
                last_error: None,
                attempts: 0,
            },
        }
    }
}

/// Arguments of a recover or replay-missing job: the Svix task it reports through and the
/// endpoint's window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskArgs {
    /// `qtask_…`.
    pub task: String,
    /// The endpoint's account.
    pub account: i64,
    /// Endpoint id.
    pub endpoint: String,
    /// Window start (unix ms).
    pub since: i64,
    /// Window end (unix ms).
    pub until: i64,
}

/// The background jobs' queue.
#[async_trait]
pub trait JobStore: Send + Sync {
    /// Notified after a commit that enqueued a job (on PostgreSQL also another node's): the
    /// runner waits on it.
    fn jobs_wakeup(&self) -> Arc<Notify>;

    /// Enqueues a job on its own; `None` when it is periodic and its one instance is already
    /// queued or running.
    async fn enqueue_job(&self, job: NewJob) -> Result<Option<i64>>;
    /// Records a Svix background task (`record`, its first state) and enqueues the job that
    /// runs it, in one transaction.
    async fn start_task_job(
        &self,
        task_id: &str,
        account_id: i64,
        record: &str,
        job: NewJob,
        now: i64,
    ) -> Result<i64>;
    /// Leases up to `limit` claimable jobs (due and queued, or running on a lease that ran out)
    /// to `node` until `lease_until`, oldest due first; each claim counts an attempt.
    async fn claim_jobs(
        &self,
        node: &str,
        now: i64,
        lease_until: i64,
        limit: i64,
    ) -> Result<Vec<Job>>;
    /// Extends a lease; false when `lease` no longer holds the job (another node took it).
    async fn renew_job(&self, lease: &JobLease, lease_until: i64, now: i64) -> Result<bool>;
    /// Records how a run ended; false (nothing written) when `lease` no longer holds the job.
    async fn finish_job(&self, lease: &JobLease, end: JobEnd, now: i64) -> Result<bool>;
    /// Runs a recover or replay-missing job and, in the same transaction, writes its task's
    /// final record and marks the job succeeded: the messages are queued exactly once.
    /// `None` (nothing written) when `lease` no longer holds the job.
    async fn run_task_job(
        &self,
        lease: &JobLease,
        kind: JobKind,
        args: &TaskArgs,
        now: i64,
    ) -> Result<Option<i64>>;
    /// Makes the jobs `node` was running due now: called at start-up, when none of them can
    /// still be running there.
    async fn release_job_leases(&self, node: &str, now: i64) -> Result<i64>;
    /// When the next job becomes claimable (unix ms): a queued job's due time or a lease's end.
    async fn next_job_at(&self) -> Result<Option<i64>>;
    /// A job by id.
    async fn get_job(&self, id: i64) -> Result<Option<Job>>;
    /// Deletes succeeded and failed jobs last changed before `before` (unix ms); returns how
    /// many.
    async fn prune_jobs(&self, before: i64) -> Result<i64>;
}

// ---- statements shared by both backends --------------------------------------------------

/// Every column of a job (read by `shared::jobs::job_of`).
pub(crate) const COLS: &str = "id, kind, args, status, run_at, lease_node, lease_until, attempts, \
                               max_attempts, last_error, result";

/// $1 kind, $2 args, $3 singleton, $4 run_at, $5 max_attempts, $6 now. No row when the
/// singleton is taken.
pub(crate) const INSERT: &str =
    "INSERT INTO jobs (kind, args, singleton, status, run_at, attempts, \
     max_attempts, created_ms, updated_ms) VALUES ($1, $2, $3, 0, $4, 0, $5, $6, $6) \
     ON CONFLICT (singleton) WHERE status IN (0, 1) DO NOTHING RETURNING id";

/// The kinds this binary runs, as an SQL list: a job of a kind a newer version added is left
/// for a node that knows it (neither claimed nor waited for).
fn known_kinds() -> String {
    let names: Vec<String> = JobKind::ALL
        .iter()
        .map(|k| format!("'{}'", k.as_str()))
        .collect();
    names.join(", ")
}

/// The claim, `$1` now, `$2` node, `$3` lease_until, `$4` limit; `lock` is the backend's row
/// lock clause for the inner select. Mirrors `domain::jobs::claimable`.
pub(crate) fn claim_sql(lock: &str) -> String {
    format!(
        "UPDATE jobs SET updated_ms = $1, lease_node = $2, lease_until = $3, status = 1, \
         attempts = attempts + 1 \
         WHERE id IN (SELECT id FROM jobs \
             WHERE ((status = 0 AND run_at <= $1) OR (status = 1 AND lease_until <= $1)) \
               AND kind IN ({kinds}) \
             ORDER BY run_at, id LIMIT $4 {lock}) \
         RETURNING {COLS}",
        kinds = known_kinds()
    )
}

/// $1 lease_until, $2 now, $3 id, $4 node, $5 attempt.
pub(crate) const RENEW: &str = "UPDATE jobs SET lease_until = $1, updated_ms = $2 \
     WHERE id = $3 AND status = 1 AND lease_node = $4 AND attempts = $5";

/// $1 status, $2 run_at, $3 result, $4 last_error, $5 attempts, $6 now, then the lease:
/// $7 id, $8 node, $9 attempt.
pub(crate) const FINISH: &str = "UPDATE jobs SET status = $1, run_at = $2, result = $3, \
     last_error = $4, attempts = $5, updated_ms = $6, lease_node = NULL, lease_until = NULL \
     WHERE id = $7 AND status = 1 AND lease_node = $8 AND attempts = $9";

/// $1 id, $2 node, $3 attempt: the row, if the lease still holds it.
pub(crate) const HELD: &str =
    "SELECT id FROM jobs WHERE id = $1 AND status = 1 AND lease_node = $2 AND attempts = $3";

/// $1 now, $2 node.
pub(crate) const RELEASE: &str = "UPDATE jobs SET run_at = $1, updated_ms = $1, status = 0, \
     lease_node = NULL, lease_until = NULL WHERE status = 1 AND lease_node = $2";

/// $1 before.
pub(crate) const PRUNE: &str = "DELETE FROM jobs WHERE status IN (2, 3) AND updated_ms < $1";

/// The next time a job this binary runs becomes claimable.
pub(crate) fn next_at_sql() -> String {
    format!(
        "SELECT MIN(t) AS t FROM (\
         SELECT MIN(run_at) AS t FROM jobs WHERE status = 0 AND kind IN ({kinds}) \
         UNION ALL SELECT MIN(lease_until) AS t FROM jobs WHERE status = 1 AND kind IN ({kinds})) \
         AS due",
        kinds = known_kinds()
    )
}

/// $1 id.
pub(crate) fn get_sql() -> String {
    format!("SELECT {COLS} FROM jobs WHERE id = $1")
}

/// Claimed jobs in claim order (RETURNING gives no order).
pub(crate) fn in_claim_order(mut jobs: Vec<Job>) -> Vec<Job> {
    jobs.sort_by_key(|j| (j.run_at, j.id));
    jobs
}

/// The final record of a task job that queued `sent` messages.
pub(crate) fn finished_record(kind: JobKind, args: &TaskArgs, sent: i64, now: i64) -> String {
    datahooks_domain::jobs::task_record(&args.task, kind, "finished", sent, now).to_string()
}
