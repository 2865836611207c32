//! Background jobs on PostgreSQL: the statements of `crate::jobs`. Claims lock with
//! `FOR UPDATE SKIP LOCKED`, so two nodes never lease the same job while its lease is live; a
//! commit that enqueues a job sends `NOTIFY datahooks_jobs` to every node's runner.

use std::sync::Arc;

use async_trait::async_trait;
use deadpool_postgres::GenericClient;
use tokio::sync::Notify;
use tokio_postgres::Row;

use super::db::Pg;
use super::{exec, opt, read_tx, write_tx, PgStore, Tx, JOBS_CHANNEL};
use crate::handoff::wake_jobs_after_commit;
use crate::jobs::{
    claim_sql, finished_record, get_sql, in_claim_order, next_at_sql, Job, JobEnd, JobKind,
    JobLease, JobRow, JobStore, NewJob, TaskArgs, FINISH, HELD, INSERT, PRUNE, RELEASE, RENEW,
};
use crate::shared::messages::{self, Again};
use crate::shared::tasks;
use crate::{Error, Result};

fn job_row(r: &Row) -> Result<Job> {
    Job::try_from(JobRow {
        id: r.try_get("id")?,
        kind: r.try_get("kind")?,
        args: r.try_get("args")?,
        status: r.try_get("status")?,
        run_at: r.try_get("run_at")?,
        lease_node: r.try_get("lease_node")?,
        lease_until: r.try_get("lease_until")?,
        attempts: r.try_get("attempts")?,
        max_attempts: r.try_get("max_attempts")?,
        last_error: r.try_get("last_error")?,
        result: r.try_get("result")?,
    })
}

/// Enqueues `job` in the caller's transaction; every node's runner is woken at the commit.
pub(crate) async fn enqueue(tx: &Tx<'_>, job: &NewJob, now: i64) -> Result<Option<i64>> {
    let row = opt(
        tx,
        INSERT,
        &[
            &job.kind.as_str(),
            &job.args.to_string(),
            &job.singleton,
            &job.run_at,
            &job.max_attempts,
            &now,
        ],
    )
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    exec(tx, "SELECT pg_notify($1, '')", &[&JOBS_CHANNEL]).await?;
    wake_jobs_after_commit();
    Ok(Some(row.try_get(0)?))
}

/// Enqueues the build of a release just requested, in its transaction.
pub(crate) async fn enqueue_release_build(tx: &Tx<'_>, uuid: &str) -> Result<()> {
    let now = super::now_ms();
    enqueue(tx, &NewJob::release_build(uuid, now), now).await?;
    Ok(())
}

async fn finish(
    client: &impl GenericClient,
    lease: &JobLease,
    end: &JobEnd,
    now: i64,
) -> Result<bool> {
    let c = end.columns(lease, now);
    let stmt = client.prepare_cached(FINISH).await?;
    let n = client
        .execute(
            &stmt,
            &[
                &c.status,
                &c.run_at,
                &c.result,
                &c.last_error,
                &c.attempts,
                &now,
                &lease.id,
                &lease.node,
                &lease.attempt,
            ],
        )
        .await?;
    Ok(n == 1)
}

#[async_trait]
impl JobStore for PgStore {
    fn jobs_wakeup(&self) -> Arc<Notify> {
        self.jobs_notify()
    }

    async fn enqueue_job(&self, job: NewJob) -> Result<Option<i64>> {
        let now = super::now_ms();
        write_tx!(self, |tx| enqueue(&tx, &job, now).await)
    }

    async fn start_task_job(
        &self,
        task_id: &str,
        account_id: i64,
        record: &str,
        job: NewJob,
        now: i64,
    ) -> Result<i64> {
        write_tx!(self, |tx| async {
            tasks::put_task(&Pg(&tx), task_id, account_id, record, now).await?;
            enqueue(&tx, &job, now)
                .await?
                .ok_or_else(|| Error::Other("a one-off job met a singleton key".into()))
        }
        .await)
    }

    async fn claim_jobs(
        &self,
        node: &str,
        now: i64,
        lease_until: i64,
        limit: i64,
    ) -> Result<Vec<Job>> {
        let sql = claim_sql("FOR UPDATE SKIP LOCKED");
        let sql = sql.as_str();
        // One statement, one round trip: it locks, leases and returns the rows.
        self.single(|client| async move {
            let stmt = client.prepare_cached(sql).await?;
            let rows = client
                .query(&stmt, &[&now, &node, &lease_until, &limit])
                .await?;
            let jobs = rows.iter().map(job_row).collect::<Result<Vec<_>>>()?;
            Ok(in_claim_order(jobs))
        })
        .await
    }

    async fn renew_job(&self, lease: &JobLease, lease_until: i64, now: i64) -> Result<bool> {
        self.single(|client| async move {
            let stmt = client.prepare_cached(RENEW).await?;
            let n = client
                .execute(
                    &stmt,
                    &[&lease_until, &now, &lease.id, &lease.node, &lease.attempt],
                )
                .await?;
            Ok(n == 1)
        })
        .await
    }

    async fn finish_job(&self, lease: &JobLease, end: JobEnd, now: i64) -> Result<bool> {
        let end = &end;
        self.single(|client| async move { finish(&client, lease, end, now).await })
            .await
    }

    async fn run_task_job(
        &self,
        lease: &JobLease,
        kind: JobKind,
        args: &TaskArgs,
        now: i64,
    ) -> Result<Option<i64>> {
        write_tx!(self, |tx| async {
            // Locked until the commit: a node that takes the job over after the lease ran
            // out waits here, then finds it no longer held by its claim.
            let held = opt(
                &tx,
                &format!("{HELD} FOR UPDATE"),
                &[&lease.id, &lease.node, &lease.attempt],
            )
            .await?;
            if held.is_none() {
                return Ok(None);
            }
            let which = Again::try_from(kind)?;
            let (account, endpoint) = (args.account, args.endpoint.as_str());
            let sent =
                messages::send_again(&Pg(&tx), which, account, endpoint, args.since, args.until)
                    .await?;
            let record = finished_record(kind, args, sent, now);
            tasks::put_task(&Pg(&tx), &args.task, account, &record, now).await?;
            let result = serde_json::json!({ "messagesSent": sent });
            finish(&tx, lease, &JobEnd::Succeeded(result), now).await?;
            Ok::<_, Error>(Some(sent))
        }
        .await)
    }

    async fn release_job_leases(&self, node: &str, now: i64) -> Result<i64> {
        write_tx!(self, |tx| async {
            Ok::<_, Error>(exec(&tx, RELEASE, &[&now, &node]).await? as i64)
        }
        .await)
    }

    async fn next_job_at(&self) -> Result<Option<i64>> {
        read_tx!(self, |tx| async {
            let row = opt(&tx, &next_at_sql(), &[]).await?;
            Ok::<_, Error>(match row {
                Some(r) => r.try_get::<_, Option<i64>>(0)?,
                None => None,
            })
        }
        .await)
    }

    async fn get_job(&self, id: i64) -> Result<Option<Job>> {
        read_tx!(self, |tx| async {
            opt(&tx, &get_sql(), &[&id])
                .await?
                .as_ref()
                .map(job_row)
                .transpose()
        }
        .await)
    }

    async fn prune_jobs(&self, before: i64) -> Result<i64> {
        write_tx!(self, |tx| async {
            Ok::<_, Error>(exec(&tx, PRUNE, &[&before]).await? as i64)
        }
        .await)
    }
}
