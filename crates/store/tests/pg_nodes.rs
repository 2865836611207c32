//! PostgreSQL with several nodes on one database: what a single store cannot show. Each
//! "node" is its own store (its own pool and listener) on a shared, fresh database. Runs
//! when `DATAHOOKS_TEST_PG_URL` names a server (`scripts/with-postgres.sh` sets it); passes
//! without running otherwise.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use datahooks_domain::settings::DatasetSettings;
use datahooks_store::webhooks::{EndpointInput, NewMessage};
use datahooks_store::{Account, Store};

// ---- harness -------------------------------------------------------------------------------

use common::FreshDb as Db;

async fn hooked_user(store: &dyn Store, name: &str) -> Account {
    let (a, _) = store.create_user(name, None).await.unwrap();
    store.set_webhooks_enabled(a.id, true).await.unwrap()
}

async fn endpoint(store: &dyn Store, account: &Account, n: usize) -> String {
    store
        .create_endpoint(
            account.id,
            EndpointInput {
                url: format!("https://hooks.example/{n}"),
                version: 1,
                ..Default::default()
            },
            "sealed".into(),
        )
        .await
        .unwrap()
        .id
}

fn message(n: usize) -> NewMessage {
    NewMessage {
        event_type: "test.event".into(),
        event_id: None,
        channels: Vec::new(),
        payload: format!("{{\"n\":{n}}}"),
        only_endpoint: None,
    }
}

fn later() -> i64 {
    chrono::Utc::now().timestamp_millis() + 60_000
}

/// Waits for a wake-up; `false` after `within`.
async fn woken(store: &dyn Store, within: Duration) -> bool {
    tokio::time::timeout(within, store.wakeup().notified())
        .await
        .is_ok()
}

/// Takes the wake-up permit earlier commits left.
async fn drain(store: &dyn Store) {
    let _ = woken(store, Duration::from_millis(100)).await;
}

// ---- tests ---------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_starting_at_once_migrate_once() {
    let Some(db) = Db::new("n").await else { return };
    let opens = (0..4).map(|_| {
        let url = db.url.clone();
        async move { datahooks_store::open(&url).await.unwrap() }
    });
    let opened = futures_join(opens.collect()).await;
    assert_eq!(opened.len(), 4);
    let sql = db.sql().await;
    let row = sql
        .query_one(
            "SELECT COUNT(*), COALESCE(MAX(version), 0) FROM schema_migrations",
            &[],
        )
        .await
        .unwrap();
    let (count, max): (i64, i64) = (row.get(0), row.get(1));
    assert!(max >= 1, "migrations were applied");
    assert_eq!(count, max, "each migration is recorded once, none missing");
    // and every node works on the result
    for (i, node) in opened.iter().enumerate() {
        node.create_user(&format!("u{i}"), None).await.unwrap();
    }
}

/// Runs the futures concurrently, each on its own task.
async fn futures_join<F>(futs: Vec<F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futs.into_iter().map(tokio::spawn).collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_never_claim_the_same_delivery() {
    let Some(db) = Db::new("n").await else { return };
    let (a, b) = (db.node().await, db.node().await);
    let alice = hooked_user(&*a, "alice").await;
    for n in 0..3 {
        endpoint(&*a, &alice, n).await;
    }
    for n in 0..100 {
        a.create_message(alice.id, message(n)).await.unwrap();
    }
    let total = 300;
    let now = later();
    let claimer = |store: Arc<dyn Store>, node: &'static str| async move {
        let mut mine = Vec::new();
        loop {
            let jobs = store.claim_due(node, now, now + 600_000, 7).await.unwrap();
            if jobs.is_empty() {
                return mine;
            }
            mine.extend(jobs.into_iter().map(|j| j.delivery_id));
        }
    };
    let (one, two) = tokio::join!(
        tokio::spawn(claimer(a.clone(), "node-a")),
        tokio::spawn(claimer(b.clone(), "node-b"))
    );
    let (one, two) = (one.unwrap(), two.unwrap());
    let mut all: HashSet<i64> = HashSet::new();
    for id in one.iter().chain(&two) {
        assert!(all.insert(*id), "delivery {id} was claimed twice");
    }
    assert_eq!(all.len(), total, "every delivery was claimed");
    assert!(
        !one.is_empty() && !two.is_empty(),
        "both nodes took a share ({} and {})",
        one.len(),
        two.len()
    );
    // While the leases are live, nothing more is claimable from either node.
    assert!(a
        .claim_due("node-a", now, now + 1, 100)
        .await
        .unwrap()
        .is_empty());
    assert!(b
        .claim_due("node-b", now, now + 1, 100)
        .await
        .unwrap()
        .is_empty());
    // Once they run out, another node takes the work over.
    let taken = b
        .claim_due("node-b", now + 600_000, now + 700_000, 1000)
        .await
        .unwrap();
    assert_eq!(taken.len(), total);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_on_one_node_wakes_the_other() {
    let Some(db) = Db::new("n").await else { return };
    let (a, b) = (db.node().await, db.node().await);
    let alice = hooked_user(&*a, "alice").await;
    endpoint(&*a, &alice, 0).await;
    drain(&*b).await;
    assert!(!woken(&*b, Duration::from_millis(200)).await, "nothing yet");
    a.create_message(alice.id, message(0)).await.unwrap();
    assert!(
        woken(&*b, Duration::from_secs(5)).await,
        "NOTIFY reached the other node"
    );
    // A commit that queues nothing wakes no other node.
    drain(&*b).await;
    a.create_user("bob", None).await.unwrap();
    assert!(!woken(&*b, Duration::from_millis(300)).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_enqueued_on_one_node_wakes_the_other_runner_only() {
    let Some(db) = Db::new("n").await else { return };
    let (a, b) = (db.node().await, db.node().await);
    let jobs_woken = |store: Arc<dyn Store>, within: Duration| async move {
        tokio::time::timeout(within, store.jobs_wakeup().notified())
            .await
            .is_ok()
    };
    // Take what set-up left, then: nothing until a job is enqueued.
    let _ = jobs_woken(b.clone(), Duration::from_millis(100)).await;
    drain(&*b).await;
    let alice = hooked_user(&*a, "alice").await;
    endpoint(&*a, &alice, 0).await;
    assert!(!jobs_woken(b.clone(), Duration::from_millis(200)).await);
    let _ = jobs_woken(b.clone(), Duration::from_millis(100)).await;
    drain(&*b).await;
    let job = datahooks_store::jobs::NewJob::release_build("r1", later());
    a.enqueue_job(job).await.unwrap().unwrap();
    assert!(
        jobs_woken(b.clone(), Duration::from_secs(5)).await,
        "NOTIFY datahooks_jobs reached the other node's runner"
    );
    // Its own channel: the delivery workers are not woken by a job.
    assert!(!woken(&*b, Duration::from_millis(300)).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_listener_reconnects_and_wakes_once() {
    let Some(db) = Db::new("n").await else { return };
    let (a, b) = (db.node().await, db.node().await);
    let alice = hooked_user(&*a, "alice").await;
    endpoint(&*a, &alice, 0).await;
    drain(&*b).await;
    // Cut every listening connection, as a server restart would.
    let sql = db.sql().await;
    let cut: i64 = sql
        .query_one(
            "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity
             WHERE datname = current_database() AND query ILIKE 'LISTEN%'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(cut, 2, "one listener per node");
    assert!(
        woken(&*b, Duration::from_secs(10)).await,
        "reconnecting wakes the workers once"
    );
    drain(&*b).await;
    a.create_message(alice.id, message(0)).await.unwrap();
    assert!(
        woken(&*b, Duration::from_secs(5)).await,
        "the new listener hears commits"
    );
}

/// Writers on two nodes commit events concurrently while a reader pages through them with
/// `events_after`: the reader must see every event, in `seq` order, none skipped. Without
/// commit-ordered sequence numbers a later seq could commit first and be paged past an
/// earlier one that was still in flight.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_after_never_skips_an_event_committed_late() {
    let Some(db) = Db::new("n").await else { return };
    let (a, b) = (db.node().await, db.node().await);
    let (alice, _) = a.create_user("alice", None).await.unwrap();
    a.create_dataset(alice.id, "ds", DatasetSettings::default())
        .await
        .unwrap();
    let ds = a.dataset_access(alice.id, "alice", "ds").await.unwrap().0;
    let writer = |store: Arc<dyn Store>, prefix: &'static str| {
        let ds = ds.clone();
        async move {
            for i in 0..60 {
                let sample = datahooks_domain::inputs::NewSample {
                    name: format!("{prefix}{i}"),
                    attributes: None,
                    metadata: Default::default(),
                    priority: 0.0,
                    readme: String::new(),
                    assigned_labeler: None,
                    assigned_reviewer: None,
                };
                store
                    .create_samples(&ds, vec![sample], "alice", false)
                    .await
                    .unwrap();
            }
        }
    };
    let reader = {
        let a = a.clone();
        async move {
            let mut seen = Vec::new();
            let mut cursor = 0;
            let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
            while seen.len() < 121 && tokio::time::Instant::now() < deadline {
                for e in a.events_after(cursor, 1000).await.unwrap() {
                    cursor = e.seq;
                    seen.push(e.seq);
                }
            }
            seen
        }
    };
    let (w1, w2, seen) = tokio::join!(
        tokio::spawn(writer(a.clone(), "a")),
        tokio::spawn(writer(b.clone(), "b")),
        tokio::spawn(reader)
    );
    w1.unwrap();
    w2.unwrap();
    let seen = seen.unwrap();
    let all: Vec<i64> = a
        .events_after(0, 10_000)
        .await
        .unwrap()
        .iter()
        .map(|e| e.seq)
        .collect();
    assert_eq!(all.len(), 121, "dataset.created and 120 sample.created");
    assert_eq!(seen, all, "paging by seq saw every event, in order");
}

/// Two nodes receive the same idempotency key at once: exactly one runs the request, the
/// other sees it in flight, and afterwards both find the recorded response.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_node_runs_an_idempotent_request() {
    use datahooks_store::webhooks::Idempotent;
    let Some(db) = Db::new("n").await else { return };
    let (a, b) = (db.node().await, db.node().await);
    let now = later();
    for round in 0..20 {
        let key = format!("k{round}");
        let (ra, rb) = tokio::join!(
            {
                let (a, key) = (a.clone(), key.clone());
                tokio::spawn(async move { a.idempotency_begin(&key, now, 0).await })
            },
            {
                let (b, key) = (b.clone(), key.clone());
                tokio::spawn(async move { b.idempotency_begin(&key, now, 0).await })
            }
        );
        let mut got = [ra.unwrap().unwrap(), rb.unwrap().unwrap()];
        got.sort_by_key(|g| matches!(g, Idempotent::Run));
        assert_eq!(
            got,
            [Idempotent::InFlight, Idempotent::Run],
            "round {round}"
        );
        a.idempotency_finish(&key, Some((201, b"made".to_vec())))
            .await
            .unwrap();
        assert_eq!(
            b.idempotency_begin(&key, now, 0).await.unwrap(),
            Idempotent::Done(201, b"made".to_vec())
        );
    }
    // A released key (the request failed) may run again.
    assert_eq!(
        a.idempotency_begin("again", now, 0).await.unwrap(),
        Idempotent::Run
    );
    a.idempotency_finish("again", None).await.unwrap();
    assert_eq!(
        b.idempotency_begin("again", now, 0).await.unwrap(),
        Idempotent::Run
    );
}

/// Background task records are shared: written on one node, read on another.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn task_records_are_shared() {
    let Some(db) = Db::new("n").await else { return };
    let (a, b) = (db.node().await, db.node().await);
    let (alice, _) = a.create_user("alice", None).await.unwrap();
    a.put_task("t1", alice.id, "{\"status\":\"running\"}", 1)
        .await
        .unwrap();
    a.put_task("t1", alice.id, "{\"status\":\"finished\"}", 2)
        .await
        .unwrap();
    a.put_task("t2", alice.id, "{\"n\":2}", 3).await.unwrap();
    assert_eq!(
        b.get_task("t1").await.unwrap(),
        Some((alice.id, "{\"status\":\"finished\"}".to_owned()))
    );
    assert_eq!(b.get_task("nope").await.unwrap(), None);
    assert_eq!(
        b.list_tasks(&[alice.id]).await.unwrap(),
        ["{\"n\":2}", "{\"status\":\"finished\"}"]
    );
}

/// Nodes reserving send slots of one throttled endpoint at once get distinct slots, `1/rate`
/// apart: the limit holds for the endpoint as a whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttle_slots_never_collide_across_nodes() {
    let Some(db) = Db::new("n").await else { return };
    let (a, b) = (db.node().await, db.node().await);
    let alice = hooked_user(&*a, "alice").await;
    let ep = endpoint(&*a, &alice, 0).await;
    let now = later();
    let reserve = |store: Arc<dyn Store>, ep: String| async move {
        let mut got = Vec::new();
        for _ in 0..25 {
            got.push(store.reserve_send_slot(&ep, 10, now).await.unwrap());
        }
        got
    };
    let (x, y) = tokio::join!(
        tokio::spawn(reserve(a.clone(), ep.clone())),
        tokio::spawn(reserve(b.clone(), ep.clone()))
    );
    let mut all: Vec<i64> = x.unwrap().into_iter().chain(y.unwrap()).collect();
    all.sort();
    let want: Vec<i64> = (0..50).map(|i| now + 100 * i).collect();
    assert_eq!(all, want);
}

/// The event stream resumes after a message `seq` (`Last-Event-ID`), so messages must commit
/// in `seq` order: two nodes create messages through the message API (and one through the
/// outbox) while a reader pages with `messages_after`; it must see every message, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_after_never_skips_a_message_committed_late() {
    let Some(db) = Db::new("n").await else { return };
    let (a, b) = (db.node().await, db.node().await);
    let alice = hooked_user(&*a, "alice").await;
    // An endpoint, so each message also queues a delivery (a longer transaction).
    endpoint(&*a, &alice, 0).await;
    let writer = |store: Arc<dyn Store>, from: usize| async move {
        for i in from..from + 80 {
            store.create_message(alice.id, message(i)).await.unwrap();
        }
    };
    let reader = {
        let a = a.clone();
        async move {
            let mut seen = Vec::new();
            let mut cursor = 0;
            let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
            while seen.len() < 160 && tokio::time::Instant::now() < deadline {
                for m in a.messages_after(alice.id, cursor, 1000).await.unwrap() {
                    cursor = m.seq;
                    seen.push(m.seq);
                }
            }
            seen
        }
    };
    let (w1, w2, seen) = tokio::join!(
        tokio::spawn(writer(a.clone(), 0)),
        tokio::spawn(writer(b.clone(), 1000)),
        tokio::spawn(reader)
    );
    w1.unwrap();
    w2.unwrap();
    let seen = seen.unwrap();
    let all: Vec<i64> = a
        .messages_after(alice.id, 0, 10_000)
        .await
        .unwrap()
        .iter()
        .map(|m| m.seq)
        .collect();
    assert_eq!(all.len(), 160);
    assert_eq!(seen, all, "paging by seq saw every message, in order");
}
