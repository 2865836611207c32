//! Admission with the real worker loop, a real SQLite store and a real loopback receiver
//! that holds every request until the test lets go: the worker counts the handed-over
//! deliveries that wait for one of its slots, and only those (not the ones waiting for their
//! endpoint's own limit), so the message API slows down for a saturated node and not for a
//! slow endpoint.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::Router;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use datahooks_store::webhooks::NewMessage;
use datahooks_store::Store;
use datahooks_webhooks::admission::Admission;
use datahooks_webhooks::metrics::Metrics;
use datahooks_webhooks::worker::{SystemClock, Worker, WorkerConfig};

/// A receiver that answers a request only when the test adds a permit.
#[derive(Clone)]
struct Held {
    go: Arc<Semaphore>,
    seen: Arc<AtomicUsize>,
}

async fn hold(State(h): State<Held>) -> StatusCode {
    h.seen.fetch_add(1, Ordering::SeqCst);
    h.go.acquire().await.unwrap().forget();
    StatusCode::OK
}

struct Rig {
    store: Arc<dyn Store>,
    admission: Arc<Admission>,
    held: Held,
    account: i64,
    cancel: CancellationToken,
    _dir: tempfile::TempDir,
}

/// A worker with `concurrency` slots and `endpoint_concurrency` per endpoint, running.
async fn rig(concurrency: usize, endpoint_concurrency: usize) -> Rig {
    let held = Held {
        go: Arc::new(Semaphore::new(0)),
        seen: Arc::new(AtomicUsize::new(0)),
    };
    let receiver = Router::new()
        .route("/hook", post(hold))
        .with_state(held.clone());
    let h = common::hooked(receiver, Duration::from_secs(30)).await;
    let admission = Arc::new(Admission::new(concurrency));
    let config = WorkerConfig {
        node: "n1".into(),
        concurrency,
        endpoint_concurrency,
        ..WorkerConfig::default()
    };
    let worker = Arc::new(
        Worker::new(
            h.store.clone(),
            h.client,
            h.policy,
            h.vault,
            config,
            Arc::new(SystemClock),
            Arc::new(Metrics::default()),
        )
        .with_admission(admission.clone()),
    );
    let cancel = CancellationToken::new();
    tokio::spawn(worker.run(cancel.clone()));
    // The worker attaches its hand-off when it starts; messages before that are claimed
    // from the queue instead, which this test does not look at.
    tokio::time::sleep(Duration::from_millis(200)).await;
    Rig {
        store: h.store,
        admission,
        held,
        account: h.account,
        cancel,
        _dir: h.dir,
    }
}

impl Rig {
    async fn send(&self, n: usize) {
        for i in 0..n {
            self.store
                .create_message(
                    self.account,
                    NewMessage {
                        event_type: "sample.created".into(),
                        event_id: None,
                        channels: vec![],
                        payload: format!(r#"{{"n":{i}}}"#),
                        only_endpoint: None,
                    },
                )
                .await
                .unwrap();
        }
    }

    /// Waits (up to 10 s) until `f` holds.
    async fn until(&self, what: &str, f: impl Fn(&Rig) -> bool) {
        for _ in 0..1000 {
            if f(self) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!(
            "{what}: waiting {}, received {}",
            self.admission.waiting(),
            self.held.seen.load(Ordering::SeqCst)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_waiting_for_the_nodes_slots_close_the_gate_until_they_start() {
    let rig = rig(2, 64).await;
    rig.send(8).await;
    rig.until("two in flight", |r| r.held.seen.load(Ordering::SeqCst) == 2)
        .await;
    // Six could go (the endpoint has room) and wait for one of the two slots.
    rig.until("six waiting", |r| r.admission.waiting() == 6)
        .await;
    let waited = tokio::time::timeout(Duration::from_millis(50), rig.admission.admit()).await;
    assert!(
        waited.is_err(),
        "a new message must wait while the node is behind"
    );
    // The receiver answers: the slots turn over, the backlog drains, the gate opens.
    rig.held.go.add_permits(100);
    rig.until("all delivered", |r| r.held.seen.load(Ordering::SeqCst) == 8)
        .await;
    rig.until("nothing waiting", |r| r.admission.waiting() == 0)
        .await;
    assert!(!rig.admission.admit().await);
    rig.cancel.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_waiting_for_their_endpoints_own_limit_leave_the_gate_open() {
    // The endpoint takes one delivery at a time; the node has slots to spare.
    let rig = rig(4, 1).await;
    rig.send(8).await;
    rig.until("one in flight", |r| r.held.seen.load(Ordering::SeqCst) == 1)
        .await;
    // Give the loop time to count; seven wait, all for the endpoint, none for the node.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(rig.admission.waiting(), 0);
    assert!(
        !rig.admission.admit().await,
        "a slow endpoint must not slow acceptance"
    );
    rig.held.go.add_permits(100);
    rig.until("all delivered", |r| r.held.seen.load(Ordering::SeqCst) == 8)
        .await;
    rig.cancel.cancel();
}
