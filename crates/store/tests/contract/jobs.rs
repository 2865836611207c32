//! Background jobs (`JobStore`): claims and leases, a lease that runs out, retries, periodic
//! jobs one at a time, two runners never holding the same job, and the jobs that changes
//! enqueue in their own transaction (release builds, Svix tasks). Times are explicit.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use datahooks_store::jobs::{JobEnd, JobKind, JobStatus, NewJob, TaskArgs};
use datahooks_store::Store;
use serde_json::json;

use crate::fanout::message;
use crate::support::*;

const T0: i64 = 1_000_000;
const LEASE: i64 = 30_000;

fn job(n: i64, run_at: i64) -> NewJob {
    NewJob::release_build(&format!("r{n}"), run_at)
}

pub async fn jobs_are_claimed_once_due_and_leased(store: Arc<dyn Store>) {
    let id = store.enqueue_job(job(1, T0)).await.unwrap().unwrap();
    let queued = store.get_job(id).await.unwrap().unwrap();
    assert_eq!(queued.status, JobStatus::Queued);
    assert_eq!((queued.kind, queued.attempts), (JobKind::ReleaseBuild, 0));
    assert_eq!(queued.args, json!({"release": "r1"}));
    assert_eq!(store.next_job_at().await.unwrap(), Some(T0));

    assert!(store
        .claim_jobs("a", T0 - 1, T0 + LEASE, 10)
        .await
        .unwrap()
        .is_empty());
    let claimed = store.claim_jobs("a", T0, T0 + LEASE, 10).await.unwrap();
    assert_eq!(claimed.len(), 1);
    let j = &claimed[0];
    assert_eq!(j.id, id);
    assert_eq!(j.status, JobStatus::Running);
    assert_eq!(j.lease_node.as_deref(), Some("a"));
    assert_eq!((j.lease_until, j.attempts), (Some(T0 + LEASE), 1));
    // While the lease is live nobody else gets it; the runner sleeps until it could end.
    assert!(store
        .claim_jobs("b", T0 + 1, T0 + LEASE, 10)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(store.next_job_at().await.unwrap(), Some(T0 + LEASE));

    let lease = j.lease("a");
    assert!(store
        .renew_job(&lease, T0 + 2 * LEASE, T0 + 10)
        .await
        .unwrap());
    assert!(store
        .claim_jobs("b", T0 + LEASE, T0 + 2 * LEASE, 10)
        .await
        .unwrap()
        .is_empty());
    assert!(store
        .finish_job(&lease, JobEnd::Succeeded(json!({"ok": true})), T0 + 20)
        .await
        .unwrap());
    let done = store.get_job(id).await.unwrap().unwrap();
    assert_eq!(done.status, JobStatus::Succeeded);
    assert_eq!(done.result, Some(json!({"ok": true})));
    assert_eq!((done.lease_node, done.lease_until), (None, None));
    assert_eq!(store.next_job_at().await.unwrap(), None);
    assert!(store
        .claim_jobs("b", i64::MAX / 2, i64::MAX / 2, 10)
        .await
        .unwrap()
        .is_empty());
}

pub async fn an_expired_lease_lets_another_runner_take_the_job(store: Arc<dyn Store>) {
    let id = store.enqueue_job(job(1, T0)).await.unwrap().unwrap();
    let a = store.claim_jobs("a", T0, T0 + LEASE, 1).await.unwrap();
    let lease_a = a[0].lease("a");
    // Node a dies: its lease runs out and b takes the job, counting a second attempt.
    let b = store
        .claim_jobs("b", T0 + LEASE, T0 + 2 * LEASE, 1)
        .await
        .unwrap();
    assert_eq!(b.len(), 1);
    assert_eq!((b[0].id, b[0].attempts), (id, 2));
    assert_eq!(b[0].lease_node.as_deref(), Some("b"));
    let lease_b = b[0].lease("b");
    // a, back from the dead, can neither renew nor end what is b's now.
    assert!(!store
        .renew_job(&lease_a, T0 + 3 * LEASE, T0 + LEASE)
        .await
        .unwrap());
    assert!(!store
        .finish_job(&lease_a, JobEnd::Succeeded(json!(1)), T0 + LEASE)
        .await
        .unwrap());
    // Nor can a stale claim of the same node (an older attempt).
    let stale_b = datahooks_store::jobs::JobLease {
        attempt: 1,
        ..lease_b.clone()
    };
    assert!(!store
        .finish_job(&stale_b, JobEnd::Succeeded(json!(1)), T0 + LEASE)
        .await
        .unwrap());
    assert!(store
        .finish_job(&lease_b, JobEnd::Succeeded(json!(2)), T0 + LEASE + 1)
        .await
        .unwrap());
    let done = store.get_job(id).await.unwrap().unwrap();
    assert_eq!(
        (done.status, done.result, done.attempts),
        (JobStatus::Succeeded, Some(json!(2)), 2)
    );
}

pub async fn a_failed_attempt_is_retried_then_given_up(store: Arc<dyn Store>) {
    let id = store.enqueue_job(job(1, T0)).await.unwrap().unwrap();
    let first = store.claim_jobs("a", T0, T0 + LEASE, 1).await.unwrap();
    let retry_at = T0 + 5_000;
    assert!(store
        .finish_job(
            &first[0].lease("a"),
            JobEnd::Retry {
                at: retry_at,
                error: "boom".into()
            },
            T0 + 1
        )
        .await
        .unwrap());
    let queued = store.get_job(id).await.unwrap().unwrap();
    assert_eq!(queued.status, JobStatus::Queued);
    assert_eq!(queued.last_error.as_deref(), Some("boom"));
    assert_eq!((queued.run_at, queued.attempts), (retry_at, 1));
    assert_eq!(store.next_job_at().await.unwrap(), Some(retry_at));
    assert!(store
        .claim_jobs("b", retry_at - 1, retry_at + LEASE, 1)
        .await
        .unwrap()
        .is_empty());
    let second = store
        .claim_jobs("b", retry_at, retry_at + LEASE, 1)
        .await
        .unwrap();
    assert_eq!(second[0].attempts, 2);
    assert!(store
        .finish_job(
            &second[0].lease("b"),
            JobEnd::Failed("still boom".into()),
            retry_at + 1
        )
        .await
        .unwrap());
    let failed = store.get_job(id).await.unwrap().unwrap();
    assert_eq!(failed.status, JobStatus::Failed);
    assert_eq!(failed.last_error.as_deref(), Some("still boom"));
    assert_eq!(store.next_job_at().await.unwrap(), None);
    assert!(store
        .claim_jobs("c", i64::MAX / 2, i64::MAX / 2, 1)
        .await
        .unwrap()
        .is_empty());
}

pub async fn periodic_jobs_run_one_at_a_time(store: Arc<dyn Store>) {
    let sweep = || NewJob::periodic(JobKind::FailingSweep, json!({}), T0);
    let id = store.enqueue_job(sweep()).await.unwrap().unwrap();
    assert_eq!(store.enqueue_job(sweep()).await.unwrap(), None);
    let run = store.claim_jobs("a", T0, T0 + LEASE, 5).await.unwrap();
    assert_eq!(run.len(), 1);
    // Running still counts as its one instance.
    assert_eq!(store.enqueue_job(sweep()).await.unwrap(), None);
    let next = T0 + 60_000;
    assert!(store
        .finish_job(
            &run[0].lease("a"),
            JobEnd::RunAgainAt {
                at: next,
                result: json!({"disabled": 0})
            },
            T0 + 1
        )
        .await
        .unwrap());
    let again = store.get_job(id).await.unwrap().unwrap();
    assert_eq!(again.status, JobStatus::Queued);
    assert_eq!((again.run_at, again.attempts), (next, 0));
    assert_eq!(again.result, Some(json!({"disabled": 0})));
    assert_eq!(store.enqueue_job(sweep()).await.unwrap(), None);
    assert_eq!(store.next_job_at().await.unwrap(), Some(next));
}

pub async fn two_runners_never_hold_the_same_job(store: Arc<dyn Store>) {
    const N: i64 = 40;
    for n in 0..N {
        store.enqueue_job(job(n, T0 + n)).await.unwrap().unwrap();
    }
    let runner = |node: &'static str| {
        let store = store.clone();
        async move {
            let mut mine = Vec::new();
            loop {
                let got = store
                    .claim_jobs(node, T0 + N, T0 + N + LEASE, 3)
                    .await
                    .unwrap();
                if got.is_empty() {
                    return mine;
                }
                for j in got {
                    assert_eq!(j.lease_node.as_deref(), Some(node));
                    mine.push(j.id);
                }
                tokio::task::yield_now().await;
            }
        }
    };
    let (a, b) = tokio::join!(tokio::spawn(runner("a")), tokio::spawn(runner("b")),);
    let (a, b) = (a.unwrap(), b.unwrap());
    let all: HashSet<i64> = a.iter().chain(b.iter()).copied().collect();
    assert_eq!(all.len() as i64, N, "every job claimed");
    assert_eq!(a.len() + b.len(), N as usize, "no job claimed twice");
}

pub async fn a_restarted_node_hands_its_jobs_back(store: Arc<dyn Store>) {
    let id = store.enqueue_job(job(1, T0)).await.unwrap().unwrap();
    store.claim_jobs("a", T0, T0 + LEASE, 1).await.unwrap();
    assert_eq!(store.release_job_leases("b", T0 + 5).await.unwrap(), 0);
    assert_eq!(store.release_job_leases("a", T0 + 5).await.unwrap(), 1);
    let j = store.get_job(id).await.unwrap().unwrap();
    assert_eq!(
        (j.status, j.run_at, j.lease_node),
        (JobStatus::Queued, T0 + 5, None)
    );
    // The attempt the crash cost still counts.
    let again = store.claim_jobs("a", T0 + 5, T0 + LEASE, 1).await.unwrap();
    assert_eq!(again[0].attempts, 2);
}

pub async fn a_release_request_enqueues_its_build(store: Arc<dyn Store>) {
    let alice = user(&*store, "alice").await;
    let ds = dataset(&*store, &alice, "ds", false).await;
    let wake = store.jobs_wakeup();
    let release = store.create_release(&ds, "v1", "").await.unwrap();
    tokio::time::timeout(Duration::from_secs(5), wake.notified())
        .await
        .expect("the commit that enqueued a job wakes the runner");
    let now = wall_ms() + 1_000;
    let claimed = store.claim_jobs("a", now, now + LEASE, 10).await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].kind, JobKind::ReleaseBuild);
    assert_eq!(claimed[0].args, json!({"release": release.uuid}));
    // A request refused (the name is taken) enqueues nothing.
    assert!(store.create_release(&ds, "v1", "").await.is_err());
    assert!(store
        .claim_jobs("a", now, now + LEASE, 10)
        .await
        .unwrap()
        .is_empty());
}

pub async fn task_jobs_queue_once_and_record_their_task(store: Arc<dyn Store>) {
    let alice = user(&*store, "alice").await;
    store
        .create_message(alice.id, message("t", None, &["c"]))
        .await
        .unwrap();
    let late = store
        .create_endpoint(
            alice.id,
            endpoint_input("https://hooks.example/late"),
            "s".into(),
        )
        .await
        .unwrap();
    let args = TaskArgs {
        task: "qtask_1".into(),
        account: alice.id,
        endpoint: late.id.clone(),
        since: 0,
        until: i64::MAX,
    };
    let first = json!({"id": "qtask_1", "status": "running"}).to_string();
    let now = wall_ms();
    let id = store
        .start_task_job(
            "qtask_1",
            alice.id,
            &first,
            NewJob::once(
                JobKind::ReplayMissing,
                serde_json::to_value(&args).unwrap(),
                now,
            ),
            now,
        )
        .await
        .unwrap();
    let (_, rec) = store.get_task("qtask_1").await.unwrap().unwrap();
    assert_eq!(rec, first);
    let claimed = store.claim_jobs("a", now, now + LEASE, 1).await.unwrap();
    assert_eq!(claimed[0].id, id);
    let stored: TaskArgs = serde_json::from_value(claimed[0].args.clone()).unwrap();
    assert_eq!(stored, args);
    let lease = claimed[0].lease("a");
    assert_eq!(
        store
            .run_task_job(&lease, JobKind::ReplayMissing, &args, now + 1)
            .await
            .unwrap(),
        Some(1)
    );
    let (_, rec) = store.get_task("qtask_1").await.unwrap().unwrap();
    let rec: serde_json::Value = serde_json::from_str(&rec).unwrap();
    assert_eq!(rec["status"], "finished");
    assert_eq!(rec["task"], "endpoint.replay");
    assert_eq!(rec["data"]["messagesSent"], 1);
    let done = store.get_job(id).await.unwrap().unwrap();
    assert_eq!(done.status, JobStatus::Succeeded);
    assert_eq!(done.result, Some(json!({"messagesSent": 1})));
    // The same claim cannot run it again: the work and the job's end committed together.
    assert_eq!(
        store
            .run_task_job(&lease, JobKind::ReplayMissing, &args, now + 2)
            .await
            .unwrap(),
        None
    );
    let queued = store.endpoint_stats(alice.id, &late.id).await.unwrap();
    assert_eq!(queued.pending + queued.sending, 1);
}

pub async fn finished_jobs_are_pruned_and_open_ones_kept(store: Arc<dyn Store>) {
    let done = store.enqueue_job(job(1, T0)).await.unwrap().unwrap();
    let open = store.enqueue_job(job(2, T0 + 1)).await.unwrap().unwrap();
    let claimed = store.claim_jobs("a", T0, T0 + LEASE, 1).await.unwrap();
    assert_eq!(claimed[0].id, done);
    assert!(store
        .finish_job(&claimed[0].lease("a"), JobEnd::Failed("x".into()), T0)
        .await
        .unwrap());
    // The store stamps `updated_ms` with the times it is given: the finish was at T0.
    assert_eq!(store.prune_jobs(T0).await.unwrap(), 0);
    assert_eq!(store.prune_jobs(T0 + 1).await.unwrap(), 1);
    assert_eq!(store.get_job(done).await.unwrap(), None);
    assert!(store.get_job(open).await.unwrap().is_some());
    assert_eq!(
        store.prune_jobs(i64::MAX).await.unwrap(),
        0,
        "queued jobs stay"
    );
}
