//! Background jobs on SQLite: the statements of `crate::jobs`, run by the one writer (which
//! serialises claims, so no row lock is needed).

use std::sync::Arc;

use async_trait::async_trait;
use rusqlite::{params, OptionalExtension, Transaction};
use tokio::sync::Notify;

use super::db::Lite;
use super::SqliteStore;
use crate::handoff::wake_jobs_after_commit;
use crate::jobs::{
    claim_sql, finished_record, get_sql, in_claim_order, next_at_sql, Job, JobEnd, JobKind,
    JobLease, JobRow, JobStore, NewJob, TaskArgs, FINISH, HELD, INSERT, PRUNE, RELEASE, RENEW,
};
use crate::shared::messages::{self, Again};
use crate::shared::tasks;
use crate::sql::block_now;
use crate::{Error, Result};

fn job_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<JobRow> {
    Ok(JobRow {
        id: r.get("id")?,
        kind: r.get("kind")?,
        args: r.get("args")?,
        status: r.get("status")?,
        run_at: r.get("run_at")?,
        lease_node: r.get("lease_node")?,
        lease_until: r.get("lease_until")?,
        attempts: r.get("attempts")?,
        max_attempts: r.get("max_attempts")?,
        last_error: r.get("last_error")?,
        result: r.get("result")?,
    })
}

/// Enqueues `job` in the caller's transaction; the runner is woken after the commit.
pub(crate) fn enqueue(tx: &Transaction<'_>, job: &NewJob, now: i64) -> Result<Option<i64>> {
    let id = tx
        .query_row(
            INSERT,
            params![
                job.kind.as_str(),
                job.args.to_string(),
                job.singleton,
                job.run_at,
                job.max_attempts,
                now
            ],
            |r| r.get::<_, i64>(0),
        )
        .optional()?;
    if id.is_some() {
        wake_jobs_after_commit();
    }
    Ok(id)
}

/// Whether `lease` still holds its job, in the caller's transaction.
fn held(tx: &Transaction<'_>, lease: &JobLease) -> Result<bool> {
    Ok(tx
        .query_row(HELD, params![lease.id, lease.node, lease.attempt], |_| {
            Ok(())
        })
        .optional()?
        .is_some())
}

fn finish(tx: &Transaction<'_>, lease: &JobLease, end: &JobEnd, now: i64) -> Result<bool> {
    let c = end.columns(lease, now);
    let n = tx.execute(
        FINISH,
        params![
            c.status,
            c.run_at,
            c.result,
            c.last_error,
            c.attempts,
            now,
            lease.id,
            lease.node,
            lease.attempt
        ],
    )?;
    Ok(n == 1)
}

#[async_trait]
impl JobStore for SqliteStore {
    fn jobs_wakeup(&self) -> Arc<Notify> {
        self.inner.jobs.clone()
    }

    async fn enqueue_job(&self, job: NewJob) -> Result<Option<i64>> {
        let now = super::now_ms();
        self.write(move |tx| enqueue(tx, &job, now)).await
    }

    async fn start_task_job(
        &self,
        task_id: &str,
        account_id: i64,
        record: &str,
        job: NewJob,
        now: i64,
    ) -> Result<i64> {
        let (task_id, record) = (task_id.to_owned(), record.to_owned());
        self.write(move |tx| {
            block_now(tasks::put_task(
                &Lite(tx),
                &task_id,
                account_id,
                &record,
                now,
            ))??;
            enqueue(tx, &job, now)?
                .ok_or_else(|| Error::Other("a one-off job met a singleton key".into()))
        })
        .await
    }

    async fn claim_jobs(
        &self,
        node: &str,
        now: i64,
        lease_until: i64,
        limit: i64,
    ) -> Result<Vec<Job>> {
        let node = node.to_owned();
        self.write_relaxed(move |tx| {
            let mut stmt = tx.prepare(&claim_sql(""))?;
            let rows = stmt.query_map(params![now, node, lease_until, limit], job_row)?;
            let jobs = rows
                .map(|r| Job::try_from(r?))
                .collect::<Result<Vec<_>>>()?;
            Ok(in_claim_order(jobs))
        })
        .await
    }

    async fn renew_job(&self, lease: &JobLease, lease_until: i64, now: i64) -> Result<bool> {
        let lease = lease.clone();
        self.write_relaxed(move |tx| {
            let n = tx.execute(
                RENEW,
                params![lease_until, now, lease.id, lease.node, lease.attempt],
            )?;
            Ok(n == 1)
        })
        .await
    }

    async fn finish_job(&self, lease: &JobLease, end: JobEnd, now: i64) -> Result<bool> {
        let lease = lease.clone();
        self.write(move |tx| finish(tx, &lease, &end, now)).await
    }

    async fn run_task_job(
        &self,
        lease: &JobLease,
        kind: JobKind,
        args: &TaskArgs,
        now: i64,
    ) -> Result<Option<i64>> {
        let (lease, args) = (lease.clone(), args.clone());
        self.write(move |tx| {
            if !held(tx, &lease)? {
                return Ok(None);
            }
            let db = Lite(tx);
            let which = Again::try_from(kind)?;
            let (account, endpoint) = (args.account, args.endpoint.as_str());
            let sent = messages::send_again(&db, which, account, endpoint, args.since, args.until);
            let sent = block_now(sent)??;
            let record = finished_record(kind, &args, sent, now);
            block_now(tasks::put_task(&db, &args.task, args.account, &record, now))??;
            let result = serde_json::json!({ "messagesSent": sent });
            finish(tx, &lease, &JobEnd::Succeeded(result), now)?;
            Ok(Some(sent))
        })
        .await
    }

    async fn release_job_leases(&self, node: &str, now: i64) -> Result<i64> {
        let node = node.to_owned();
        self.write_relaxed(move |tx| Ok(tx.execute(RELEASE, params![now, node])? as i64))
            .await
    }

    async fn next_job_at(&self) -> Result<Option<i64>> {
        self.read(|tx| Ok(tx.query_row(&next_at_sql(), [], |r| r.get(0))?))
            .await
    }

    async fn get_job(&self, id: i64) -> Result<Option<Job>> {
        self.read(move |tx| {
            tx.query_row(&get_sql(), [id], job_row)
                .optional()?
                .map(Job::try_from)
                .transpose()
        })
        .await
    }

    async fn prune_jobs(&self, before: i64) -> Result<i64> {
        self.write_relaxed(move |tx| Ok(tx.execute(PRUNE, [before])? as i64))
            .await
    }
}

/// Enqueues the build of a release just requested, in its transaction.
pub(crate) fn enqueue_release_build(tx: &Transaction<'_>, uuid: &str) -> Result<()> {
    let now = super::now_ms();
    enqueue(tx, &NewJob::release_build(uuid, now), now)?;
    Ok(())
}
