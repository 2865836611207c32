//! Background jobs on PostgreSQL: the shared statements of `crate::shared::jobs`. Claims lock
//! with `FOR UPDATE SKIP LOCKED`, so two nodes never lease the same job while its lease is
//! live; a commit that enqueues a job sends `NOTIFY datahooks_jobs` to every node's runner.
//! Claims, renewals and ends run on their own (one round trip, no transaction), so they stay
//! here.

use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::Notify;

use super::db::Pg;
use super::{read_tx, write_tx, PgStore};
use crate::jobs::{
    claim_sql, finished_record, in_claim_order, Job, JobEnd, JobKind, JobLease, JobStore, NewJob,
    TaskArgs, FINISH, RENEW,
};
use crate::shared::jobs;
use crate::shared::messages::{self, Again};
use crate::shared::tasks;
use crate::sql::Arg;
use crate::{Error, Result};

#[async_trait]
impl JobStore for PgStore {
    fn jobs_wakeup(&self) -> Arc<Notify> {
        self.jobs_notify()
    }

    async fn enqueue_job(&self, job: NewJob) -> Result<Option<i64>> {
        let now = super::now_ms();
        write_tx!(self, |tx| jobs::enqueue(&Pg(&tx), &job, now).await)
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
            jobs::enqueue(&Pg(&tx), &job, now)
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
            let claimed = rows.iter().map(jobs::job_of).collect::<Result<Vec<_>>>()?;
            Ok(in_claim_order(claimed))
        })
        .await
    }

    async fn renew_job(&self, lease: &JobLease, lease_until: i64, now: i64) -> Result<bool> {
        self.single(|client| async move {
            let stmt = client.prepare_cached(RENEW).await?;
            let args = jobs::renew_args(lease, &lease_until, &now).map(Arg::pg);
            Ok(client.execute(&stmt, &args).await? == 1)
        })
        .await
    }

    async fn finish_job(&self, lease: &JobLease, end: JobEnd, now: i64) -> Result<bool> {
        let c = &end.columns(lease, now);
        self.single(|client| async move {
            let stmt = client.prepare_cached(FINISH).await?;
            let args = jobs::finish_args(c, lease, &now).map(Arg::pg);
            Ok(client.execute(&stmt, &args).await? == 1)
        })
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
            if !jobs::held(&Pg(&tx), lease).await? {
                return Ok(None);
            }
            let which = Again::try_from(kind)?;
            let (account, endpoint) = (args.account, args.endpoint.as_str());
            let sent =
                messages::send_again(&Pg(&tx), which, account, endpoint, args.since, args.until)
                    .await?;
            let record = finished_record(kind, args, sent, now);
            tasks::put_task(&Pg(&tx), &args.task, account, &record, now).await?;
            jobs::task_done(&Pg(&tx), lease, sent, now).await?;
            Ok::<_, crate::Error>(Some(sent))
        }
        .await)
    }

    async fn release_job_leases(&self, node: &str, now: i64) -> Result<i64> {
        write_tx!(self, |tx| jobs::release(&Pg(&tx), node, now).await)
    }

    async fn next_job_at(&self) -> Result<Option<i64>> {
        read_tx!(self, |tx| jobs::next_at(&Pg(&tx)).await)
    }

    async fn get_job(&self, id: i64) -> Result<Option<Job>> {
        read_tx!(self, |tx| jobs::get(&Pg(&tx), id).await)
    }

    async fn prune_jobs(&self, before: i64) -> Result<i64> {
        write_tx!(self, |tx| jobs::prune(&Pg(&tx), before).await)
    }
}
