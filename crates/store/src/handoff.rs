//! The hot path between a node's commits and its own delivery worker, shared by both backends.
//!
//! When a worker is attached ([`crate::WebhookStore::attach_worker`]), a transaction that
//! queues deliveries leases them to the worker's node in that same transaction and *stages*
//! the jobs (payload and endpoint already in memory); after the commit they are handed to the
//! worker through [`Handoff`]: no claim query and no re-read. A rolled-back call's jobs are
//! dropped with it. If the node dies before sending, the lease runs out (or the node takes
//! its leases back at restart): at-least-once holds. Other nodes claim only due, unleased
//! rows. A call that queued work any node may claim (pending rows, a re-enabled endpoint,
//! released leases) stages a wake-up instead, sent after the commit.
//!
//! The staging area is per write call: a thread-local on SQLite's writer thread, a task-local
//! inside a PostgreSQL write transaction.

use std::cell::RefCell;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use datahooks_domain::delivery::{fold_endpoint, next_state, AttemptOutcome, EndpointChange};
use datahooks_domain::delivery::{NextState, Trigger};
use tokio::sync::Notify;

use crate::webhooks::{AttemptResult, DeliveryJob};
use crate::Result;

/// Where a node's commits hand their new deliveries to its worker.
#[derive(Debug)]
pub struct Handoff {
    node: String,
    lease_ms: i64,
    jobs: Mutex<Vec<DeliveryJob>>,
    ready: Notify,
}

impl Handoff {
    /// A hand-off to `node`'s worker, leasing each delivery for `lease`.
    pub fn new(node: &str, lease: Duration) -> Arc<Handoff> {
        Arc::new(Handoff {
            node: node.to_owned(),
            lease_ms: lease.as_millis() as i64,
            jobs: Mutex::new(Vec::new()),
            ready: Notify::new(),
        })
    }

    /// The node the deliveries are leased to.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// Until when a delivery handed over at `now` (unix ms) is leased.
    pub fn lease_until(&self, now: i64) -> i64 {
        now + self.lease_ms
    }

    /// Takes every job handed over so far, oldest first.
    pub fn take(&self) -> Vec<DeliveryJob> {
        match self.jobs.lock() {
            Ok(mut v) => std::mem::take(&mut *v),
            Err(p) => std::mem::take(&mut *p.into_inner()),
        }
    }

    /// Waits until jobs were handed over since the last wait.
    pub async fn ready(&self) {
        self.ready.notified().await
    }

    fn push(&self, jobs: Vec<DeliveryJob>) {
        if jobs.is_empty() {
            return;
        }
        match self.jobs.lock() {
            Ok(mut v) => v.extend(jobs),
            Err(p) => p.into_inner().extend(jobs),
        }
        self.ready.notify_one();
    }
}

/// One finished attempt, as the worker hands it to the store to record.
#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    /// The delivery, as leased.
    pub job: DeliveryJob,
    /// What the attempt taught.
    pub result: AttemptResult,
    /// When it finished (unix ms).
    pub at: i64,
}

impl Completion {
    /// The attempt's outcome, for the rules of `datahooks_domain::delivery`.
    pub(crate) fn outcome(&self) -> AttemptOutcome {
        if self.result.success {
            AttemptOutcome::Success
        } else if self.result.disable.is_some() {
            AttemptOutcome::Gone
        } else {
            AttemptOutcome::Failure {
                retry_at: self.result.retry_at,
            }
        }
    }

    /// Where the delivery goes, if this attempt's worker still holds the lease.
    pub(crate) fn next(&self) -> Result<NextState> {
        let trigger = Trigger::try_from(self.job.trigger_type)?;
        Ok(next_state(trigger, self.outcome(), self.at))
    }

    /// The attempt's own status in the log: 0 success, 2 fail.
    pub(crate) fn attempt_status(&self) -> i64 {
        if self.result.success {
            0
        } else {
            2
        }
    }

    /// The attempt's time in API format.
    pub(crate) fn timestamp(&self) -> Result<String> {
        let at = chrono::DateTime::from_timestamp_millis(self.at).ok_or_else(|| {
            crate::Error::Other(format!("attempt time out of range: {} ms", self.at))
        })?;
        Ok(datahooks_domain::time::format(at))
    }
}

/// Per endpoint, what the batch's attempts do to it (only those for which `counts` is true:
/// the ones whose worker still held the lease), with how many of the batch's rows went to
/// it. Endpoints in first-attempt order.
pub(crate) fn endpoint_changes(
    done: &[Completion],
    counts: impl Fn(&Completion) -> bool,
) -> Vec<(String, EndpointChange, i64)> {
    /// An endpoint, its attempts that count, and how many rows of the batch went to it.
    type PerEndpoint = (String, Vec<(AttemptOutcome, i64)>, i64);
    let mut order: Vec<PerEndpoint> = Vec::new();
    for c in done {
        let i = match order.iter().position(|(e, _, _)| *e == c.job.endpoint_id) {
            Some(i) => i,
            None => {
                order.push((c.job.endpoint_id.clone(), Vec::new(), 0));
                order.len() - 1
            }
        };
        order[i].2 += 1;
        if counts(c) {
            order[i].1.push((c.outcome(), c.at));
        }
    }
    order
        .into_iter()
        .map(|(ep, attempts, n)| (ep, fold_endpoint(&attempts), n))
        .collect()
}

/// What one write call staged for after its commit.
#[derive(Debug, Default)]
pub(crate) struct Staged {
    /// The worker new deliveries are leased and handed to, if one is attached.
    lease_to: Option<Arc<Handoff>>,
    /// Jobs leased to it in this call.
    jobs: Vec<DeliveryJob>,
    /// Work any node may claim was queued: wake the workers.
    wake: bool,
    /// The caller's trace context, kept with the messages this call queues (see
    /// [`crate::trace`]).
    traceparent: Option<String>,
    /// A background job was enqueued: wake the job runner (`crate::jobs`).
    job_enqueued: bool,
}

impl Staged {
    /// After the call committed: wake the job runner if it enqueued a job.
    pub(crate) fn wake_jobs(&self, jobs: &Notify) {
        if self.job_enqueued {
            jobs.notify_one();
        }
    }

    /// After the call committed: hand the jobs over; wake the workers if asked. Returns
    /// whether a wake-up was asked for.
    pub(crate) fn committed(self, wakeup: &Notify) -> bool {
        if let Some(h) = &self.lease_to {
            h.push(self.jobs);
        }
        if self.wake {
            wakeup.notify_one();
        }
        self.wake
    }
}

thread_local! {
    /// SQLite: the write call the writer thread is running.
    static SYNC_STAGE: RefCell<Option<Staged>> = const { RefCell::new(None) };
}

tokio::task_local! {
    /// PostgreSQL: the write transaction this task is running.
    static ASYNC_STAGE: RefCell<Staged>;
}

/// Runs one write call (on the current thread) with its own staging area. `traceparent` was
/// read in the caller's task ([`crate::trace::current`]): the writer thread has no span.
pub(crate) fn scope_sync<R>(
    lease_to: Option<Arc<Handoff>>,
    traceparent: Option<String>,
    f: impl FnOnce() -> R,
) -> (R, Staged) {
    SYNC_STAGE.with(|s| {
        *s.borrow_mut() = Some(Staged {
            lease_to,
            traceparent,
            ..Staged::default()
        })
    });
    let r = f();
    let staged = SYNC_STAGE
        .with(|s| s.borrow_mut().take())
        .unwrap_or_default();
    (r, staged)
}

/// Runs one write transaction (a future) with its own staging area.
pub(crate) async fn scope_async<F: Future>(
    lease_to: Option<Arc<Handoff>>,
    fut: F,
) -> (F::Output, Staged) {
    let staged = RefCell::new(Staged {
        lease_to,
        traceparent: crate::trace::current(),
        ..Staged::default()
    });
    ASYNC_STAGE
        .scope(staged, async {
            let out = fut.await;
            let staged = ASYNC_STAGE
                .try_with(|s| std::mem::take(&mut *s.borrow_mut()))
                .unwrap_or_default();
            (out, staged)
        })
        .await
}

fn with_stage<R>(f: impl FnOnce(&mut Staged) -> R) -> Option<R> {
    let mut f = Some(f);
    let in_task = ASYNC_STAGE
        .try_with(|s| f.take().map(|f| f(&mut s.borrow_mut())))
        .ok()
        .flatten();
    if in_task.is_some() {
        return in_task;
    }
    SYNC_STAGE.with(|s| match (s.borrow_mut().as_mut(), f.take()) {
        (Some(staged), Some(f)) => Some(f(staged)),
        _ => None,
    })
}

/// The node and lease for deliveries queued now, if a worker takes them in this call.
pub(crate) fn lease_to(now: i64) -> Option<(String, i64)> {
    with_stage(|s| {
        s.lease_to
            .as_ref()
            .map(|h| (h.node().to_owned(), h.lease_until(now)))
    })
    .flatten()
}

/// Stages jobs leased to this node's worker, handed over after the commit.
pub(crate) fn hand_over(jobs: Vec<DeliveryJob>) {
    with_stage(|s| s.jobs.extend(jobs));
}

/// The trace context of the call being run, to keep with the messages it queues.
pub(crate) fn traceparent() -> Option<String> {
    with_stage(|s| s.traceparent.clone()).flatten()
}

/// Asks for the workers to be woken after the commit.
pub(crate) fn wake_after_commit() {
    with_stage(|s| s.wake = true);
}

/// Asks for the job runner to be woken after the commit (a job was enqueued).
pub(crate) fn wake_jobs_after_commit() {
    with_stage(|s| s.job_enqueued = true);
}
