//! Background jobs (see [`crate::jobs`]): the statements of `crate::jobs` run through
//! [`Db`], written once for both backends. Where PostgreSQL runs a job statement on its own
//! (claims, renewals, ends: one round trip, no transaction) its backend keeps that call and
//! takes the parameters from here.

use crate::handoff::wake_jobs_after_commit;
use crate::jobs::{
    get_sql, next_at_sql, EndColumns, Job, JobEnd, JobKind, JobLease, JobStatus, NewJob, FINISH,
    HELD, INSERT, PRUNE, RELEASE, RENEW,
};
use crate::sql::{from_cols, Arg, Cols, Db};
use crate::{Error, Result};

/// A row of [`crate::jobs::COLS`] as a job. A kind or status this binary does not know, or
/// arguments or a result that are not JSON, are corrupt data: an error, not a guess.
pub(crate) fn job_of(r: &impl Cols) -> Result<Job> {
    let kind: String = r.get("kind")?;
    let result: Option<String> = r.get("result")?;
    Ok(from_cols!(r => Job {
        id, run_at, lease_node, lease_until, attempts, max_attempts, last_error,
        kind: JobKind::try_from(kind.as_str()).map_err(|e| Error::Other(e.to_string()))?,
        args: serde_json::from_str(&r.get::<String>("args")?)?,
        status: JobStatus::try_from(r.get::<i64>("status")?)?,
        result: result.as_deref().map(serde_json::from_str).transpose()?,
    }))
}

/// Enqueues `job` in the caller's transaction; the job runners are woken at the commit (on
/// PostgreSQL every node's, [`crate::sql::Dialect::notify_jobs`]). `None` when its singleton
/// key is taken.
pub(crate) async fn enqueue(db: &impl Db, job: &NewJob, now: i64) -> Result<Option<i64>> {
    let id = db
        .opt(
            INSERT,
            &[
                &job.kind.as_str(),
                &job.args.to_string(),
                &job.singleton,
                &job.run_at,
                &job.max_attempts,
                &now,
            ],
            |r| r.get::<i64>("id"),
        )
        .await?;
    if id.is_some() {
        if let Some(sql) = db.dialect().notify_jobs() {
            db.exec(sql, &[]).await?;
        }
        wake_jobs_after_commit();
    }
    Ok(id)
}

/// Enqueues the build of a release just requested, in its transaction.
pub(crate) async fn enqueue_release_build(db: &impl Db, uuid: &str) -> Result<()> {
    let now = super::now_ms();
    enqueue(db, &NewJob::release_build(uuid, now), now).await?;
    Ok(())
}

/// Whether `lease` still holds its job. Locked until the commit: a node that takes the job
/// over after the lease ran out waits, then finds it no longer held by this claim.
pub(crate) async fn held(db: &impl Db, lease: &JobLease) -> Result<bool> {
    let sql = format!("{HELD}{}", db.dialect().lock_row());
    let found = db
        .opt(&sql, &[&lease.id, &lease.node, &lease.attempt], |_| Ok(()))
        .await?;
    Ok(found.is_some())
}

/// [`RENEW`]'s parameters.
pub(crate) fn renew_args<'a>(
    lease: &'a JobLease,
    lease_until: &'a i64,
    now: &'a i64,
) -> [&'a dyn Arg; 5] {
    [lease_until, now, &lease.id, &lease.node, &lease.attempt]
}

/// Moves the end of a held lease to `lease_until`; false when it is no longer held.
pub(crate) async fn renew(
    db: &impl Db,
    lease: &JobLease,
    lease_until: i64,
    now: i64,
) -> Result<bool> {
    let n = db
        .exec(RENEW, &renew_args(lease, &lease_until, &now))
        .await?;
    Ok(n == 1)
}

/// [`FINISH`]'s parameters: the columns an end leaves, then the lease.
pub(crate) fn finish_args<'a>(
    c: &'a EndColumns,
    lease: &'a JobLease,
    now: &'a i64,
) -> [&'a dyn Arg; 9] {
    [
        &c.status,
        &c.run_at,
        &c.result,
        &c.last_error,
        &c.attempts,
        now,
        &lease.id,
        &lease.node,
        &lease.attempt,
    ]
}

/// Ends a held job's run as `end` says; false when the lease no longer holds it.
pub(crate) async fn finish(db: &impl Db, lease: &JobLease, end: &JobEnd, now: i64) -> Result<bool> {
    let c = end.columns(lease, now);
    let n = db.exec(FINISH, &finish_args(&c, lease, &now)).await?;
    Ok(n == 1)
}

/// Ends a task job's run that queued `sent` messages (its task record is the caller's).
pub(crate) async fn task_done(db: &impl Db, lease: &JobLease, sent: i64, now: i64) -> Result<()> {
    let result = serde_json::json!({ "messagesSent": sent });
    finish(db, lease, &JobEnd::Succeeded(result), now).await?;
    Ok(())
}

/// Queues again every job a node holds (it is shutting down or starting afresh); returns
/// how many.
pub(crate) async fn release(db: &impl Db, node: &str, now: i64) -> Result<i64> {
    Ok(db.exec(RELEASE, &[&now, &node]).await? as i64)
}

/// When the next job this binary runs becomes claimable.
pub(crate) async fn next_at(db: &impl Db) -> Result<Option<i64>> {
    Ok(db
        .opt(&next_at_sql(), &[], |r| r.get::<Option<i64>>("t"))
        .await?
        .flatten())
}

/// A job by id.
pub(crate) async fn get(db: &impl Db, id: i64) -> Result<Option<Job>> {
    db.opt(&get_sql(), &[&id], |r| job_of(r)).await
}

/// Deletes succeeded and failed jobs last changed before `before`; returns how many.
pub(crate) async fn prune(db: &impl Db, before: i64) -> Result<i64> {
    Ok(db.exec(PRUNE, &[&before]).await? as i64)
}

/// Leases up to `limit` claimable jobs to `node` until `lease_until`, in claim order. One
/// statement: on PostgreSQL it locks, leases and returns the rows at once, passing over rows
/// another node is claiming ([`crate::sql::Dialect::skip_locked`]).
pub(crate) async fn claim(
    db: &impl Db,
    node: &str,
    now: i64,
    lease_until: i64,
    limit: i64,
) -> Result<Vec<Job>> {
    let sql = crate::jobs::claim_sql(db.dialect().skip_locked());
    let claimed = db
        .rows(&sql, &[&now, &node, &lease_until, &limit], |r| job_of(r))
        .await?;
    Ok(crate::jobs::in_claim_order(claimed))
}

/// Records a task and enqueues the one-off job that runs it, in one transaction.
pub(crate) async fn start_task(
    db: &impl Db,
    task_id: &str,
    account_id: i64,
    record: &str,
    job: &NewJob,
    now: i64,
) -> Result<i64> {
    super::tasks::put_task(db, task_id, account_id, record, now).await?;
    enqueue(db, job, now)
        .await?
        .ok_or_else(|| crate::Error::Other("a one-off job met a singleton key".into()))
}

/// Runs a task job held by `lease` (sends its messages again, records the task finished and
/// ends the job), in one transaction; `None` when the lease no longer holds the job.
pub(crate) async fn run_task(
    db: &impl Db,
    lease: &JobLease,
    kind: crate::jobs::JobKind,
    args: &crate::jobs::TaskArgs,
    now: i64,
) -> Result<Option<i64>> {
    use super::messages::{send_again, Again};
    if !held(db, lease).await? {
        return Ok(None);
    }
    let which = Again::try_from(kind)?;
    let (account, endpoint) = (args.account, args.endpoint.as_str());
    let sent = send_again(db, which, account, endpoint, args.since, args.until).await?;
    let record = crate::jobs::finished_record(kind, args, sent, now);
    super::tasks::put_task(db, &args.task, account, &record, now).await?;
    task_done(db, lease, sent, now).await?;
    Ok(Some(sent))
}

// Claims, renewals and ends are the job runner's bookkeeping: SQLite commits them relaxed (or,
// for an end, durably) through its writer; PostgreSQL runs each as one statement on its own.
crate::both::on_both! {
    impl crate::jobs::JobStore;
    items {
        fn jobs_wakeup(&self) -> std::sync::Arc<tokio::sync::Notify> {
            self.jobs_notify()
        }
    }
    write fn enqueue_job(job: NewJob) -> Result<Option<i64>> =
        |db| enqueue(db, job, super::now_ms());
    write fn start_task_job(task_id: &str, account_id: i64, record: &str, job: NewJob, now: i64)
        -> Result<i64> = |db| start_task(db, task_id, account_id, record, job, now);
    relaxed_single fn claim_jobs(node: &str, now: i64, lease_until: i64, limit: i64)
        -> Result<Vec<Job>> = |db| claim(db, node, now, lease_until, limit);
    relaxed_single fn renew_job(lease: &JobLease, lease_until: i64, now: i64) -> Result<bool> =
        |db| renew(db, lease, lease_until, now);
    write_single fn finish_job(lease: &JobLease, end: JobEnd, now: i64) -> Result<bool> =
        |db| finish(db, lease, end, now);
    write fn run_task_job(
        lease: &JobLease,
        kind: crate::jobs::JobKind,
        args: &crate::jobs::TaskArgs,
        now: i64,
    ) -> Result<Option<i64>> = |db| run_task(db, lease, kind, args, now);
    relaxed fn release_job_leases(node: &str, now: i64) -> Result<i64> =
        |db| release(db, node, now);
    read fn next_job_at() -> Result<Option<i64>> = |db| next_at(db);
    read fn get_job(id: i64) -> Result<Option<Job>> = |db| get(db, id);
    relaxed fn prune_jobs(before: i64) -> Result<i64> = |db| prune(db, before);
}
