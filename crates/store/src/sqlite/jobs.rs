//! Background jobs on SQLite: the shared statements of `crate::shared::jobs`, run by the one
//! writer (which serialises claims, so no row lock is needed).

use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::Notify;

use super::db::Lite;
use super::SqliteStore;
use crate::jobs::{
    claim_sql, finished_record, in_claim_order, Job, JobEnd, JobKind, JobLease, JobStore, NewJob,
    TaskArgs,
};
use crate::shared::jobs;
use crate::shared::messages::{self, Again};
use crate::shared::tasks;
use crate::sql::{block_now, Db};
use crate::{Error, Result};

#[async_trait]
impl JobStore for SqliteStore {
    fn jobs_wakeup(&self) -> Arc<Notify> {
        self.inner.jobs.clone()
    }

    async fn enqueue_job(&self, job: NewJob) -> Result<Option<i64>> {
        let now = super::now_ms();
        self.write(move |tx| block_now(jobs::enqueue(&Lite(tx), &job, now))?)
            .await
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
            block_now(jobs::enqueue(&Lite(tx), &job, now))??
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
            let claimed = block_now(Lite(tx).rows(
                &claim_sql(""),
                &[&now, &node, &lease_until, &limit],
                |r| jobs::job_of(r),
            ))??;
            Ok(in_claim_order(claimed))
        })
        .await
    }

    async fn renew_job(&self, lease: &JobLease, lease_until: i64, now: i64) -> Result<bool> {
        let lease = lease.clone();
        self.write_relaxed(move |tx| block_now(jobs::renew(&Lite(tx), &lease, lease_until, now))?)
            .await
    }

    async fn finish_job(&self, lease: &JobLease, end: JobEnd, now: i64) -> Result<bool> {
        let lease = lease.clone();
        self.write(move |tx| block_now(jobs::finish(&Lite(tx), &lease, &end, now))?)
            .await
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
            if !block_now(jobs::held(&Lite(tx), &lease))?? {
                return Ok(None);
            }
            let db = Lite(tx);
            let which = Again::try_from(kind)?;
            let (account, endpoint) = (args.account, args.endpoint.as_str());
            let sent = messages::send_again(&db, which, account, endpoint, args.since, args.until);
            let sent = block_now(sent)??;
            let record = finished_record(kind, &args, sent, now);
            block_now(tasks::put_task(&db, &args.task, args.account, &record, now))??;
            block_now(jobs::task_done(&db, &lease, sent, now))??;
            Ok(Some(sent))
        })
        .await
    }

    async fn release_job_leases(&self, node: &str, now: i64) -> Result<i64> {
        let node = node.to_owned();
        self.write_relaxed(move |tx| block_now(jobs::release(&Lite(tx), &node, now))?)
            .await
    }

    async fn next_job_at(&self) -> Result<Option<i64>> {
        self.read(|tx| block_now(jobs::next_at(&Lite(tx)))?).await
    }

    async fn get_job(&self, id: i64) -> Result<Option<Job>> {
        self.read(move |tx| block_now(jobs::get(&Lite(tx), id))?)
            .await
    }

    async fn prune_jobs(&self, before: i64) -> Result<i64> {
        self.write_relaxed(move |tx| block_now(jobs::prune(&Lite(tx), before))?)
            .await
    }
}
