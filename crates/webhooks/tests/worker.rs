//! The delivery worker stepped with an injected clock against a real SQLite store and a real
//! loopback receiver: signing, the retry schedule, 410, leases taken over, manual resends.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;

use datahooks_domain::settings::DatasetSettings;
use datahooks_store::webhooks::{Attempt, DeliveryStatus, ListFilter};
use datahooks_store::Store;
use datahooks_webhooks::metrics::Metrics;
use datahooks_webhooks::retry::RetrySchedule;
use datahooks_webhooks::signing::{verify, Secret};
use datahooks_webhooks::worker::{Clock, ManualClock, Worker, WorkerConfig};

#[derive(Clone, Default)]
struct Receiver {
    status: Arc<AtomicU16>,
    seen: Arc<Mutex<Vec<(HeaderMap, Bytes)>>>,
}

async fn receive(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    r.seen.lock().unwrap().push((headers, body));
    StatusCode::from_u16(r.status.load(Ordering::SeqCst)).unwrap()
}

struct Setup {
    store: Arc<dyn Store>,
    worker: Arc<Worker>,
    clock: Arc<ManualClock>,
    receiver: Receiver,
    secret: Secret,
    account: i64,
    endpoint: String,
    _dir: tempfile::TempDir,
}

async fn setup(schedule: &str, node: &str) -> Setup {
    let receiver = Receiver {
        status: Arc::new(AtomicU16::new(200)),
        ..Default::default()
    };
    let app = Router::new()
        .route("/hook", post(receive))
        .with_state(receiver.clone());
    let h = common::hooked(app, Duration::from_secs(5)).await;
    // The store stamps new deliveries with the real time; start the test clock a little after.
    let clock = Arc::new(ManualClock::new(
        chrono::Utc::now().timestamp_millis() + 1_000,
    ));
    let config = WorkerConfig {
        node: node.into(),
        schedule: schedule.parse::<RetrySchedule>().unwrap(),
        ..WorkerConfig::default()
    };
    let worker = Arc::new(Worker::new(
        h.store.clone(),
        h.client,
        h.policy,
        h.vault,
        config,
        clock.clone(),
        Arc::new(Metrics::default()),
    ));
    Setup {
        store: h.store,
        worker,
        clock,
        receiver,
        secret: h.secret,
        account: h.account,
        endpoint: h.endpoint,
        _dir: h.dir,
    }
}

impl Setup {
    async fn change(&self) {
        let name = format!(
            "ds{}",
            self.receiver.seen.lock().unwrap().len() + rand_suffix()
        );
        self.store
            .create_dataset(self.account, &name, DatasetSettings::default())
            .await
            .unwrap();
    }
    fn received(&self) -> usize {
        self.receiver.seen.lock().unwrap().len()
    }
    /// The account's attempts (of one message, if given): the first page of ten.
    async fn attempts(&self, msg: Option<&str>) -> Vec<Attempt> {
        let first_ten = ListFilter {
            limit: 10,
            ..Default::default()
        };
        self.store
            .list_attempts(self.account, msg, &first_ten)
            .await
            .unwrap()
    }
}

fn rand_suffix() -> usize {
    (chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0) % 1_000_000) as usize
}

#[tokio::test]
async fn delivers_the_payload_signed_with_both_header_sets() {
    let s = setup("1s", "n1").await;
    s.change().await;
    assert_eq!(s.worker.run_once().await, 1);
    let seen = s.receiver.seen.lock().unwrap().clone();
    let (headers, body) = &seen[0];
    let id = headers["webhook-id"].to_str().unwrap();
    let ts: i64 = headers["webhook-timestamp"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(verify(
        &s.secret,
        id,
        ts,
        body,
        headers["webhook-signature"].to_str().unwrap()
    ));
    assert_eq!(headers["svix-id"], headers["webhook-id"]);
    assert_eq!(headers["svix-signature"], headers["webhook-signature"]);
    assert_eq!(headers["content-type"], "application/json");
    assert!(headers["user-agent"]
        .to_str()
        .unwrap()
        .starts_with("datahooks/"));
    let events = s.store.events_after(0, 10).await.unwrap();
    assert_eq!(events[0].id, id, "the webhook id is the event's id");
    assert_eq!(
        &events[0].payload.as_bytes(),
        body,
        "the exact committed payload"
    );
}

#[tokio::test]
async fn a_header_that_cannot_be_sent_fails_the_attempt_without_sending() {
    let s = setup("1s", "n1").await;
    // The API refuses such a header; one in the store (written before that check, or by
    // hand) must fail the attempt with a reason, not panic or send without it.
    let mut headers = serde_json::Map::new();
    headers.insert("bad header".into(), serde_json::json!("x"));
    s.store
        .set_endpoint_headers(s.account, &s.endpoint, headers)
        .await
        .unwrap();
    s.change().await;
    assert_eq!(s.worker.run_once().await, 1);
    assert_eq!(s.received(), 0, "nothing was sent");
    let attempts = s.attempts(None).await;
    assert_eq!(attempts.len(), 1);
    assert!(
        attempts[0].response.contains("invalid header name"),
        "{}",
        attempts[0].response
    );
}

#[tokio::test]
async fn failures_are_retried_on_schedule_then_marked_failed() {
    let s = setup("10s,20s", "n1").await;
    s.receiver.status.store(500, Ordering::SeqCst);
    s.change().await;
    assert_eq!(s.worker.run_once().await, 1);
    assert_eq!(s.worker.run_once().await, 0, "not due yet");
    s.clock.advance(Duration::from_secs(7)); // below 10 s - 20 %
    assert_eq!(s.worker.run_once().await, 0);
    s.clock.advance(Duration::from_secs(6)); // past 10 s + 20 %
    assert_eq!(s.worker.run_once().await, 1);
    s.clock.advance(Duration::from_secs(25));
    assert_eq!(s.worker.run_once().await, 1);
    s.clock.advance(Duration::from_secs(3600));
    assert_eq!(s.worker.run_once().await, 0, "3 attempts: 1 + 2 retries");
    assert_eq!(s.received(), 3);
    let attempts = s.attempts(None).await;
    assert_eq!(attempts.len(), 3);
    assert!(attempts
        .iter()
        .all(|a| a.response_status_code == 500 && a.status == 2));
    let stats = s
        .store
        .endpoint_stats(s.account, &s.endpoint)
        .await
        .unwrap();
    assert_eq!((stats.fail, stats.pending), (1, 0));
}

#[tokio::test]
async fn gone_disables_the_endpoint_and_keeps_later_messages() {
    let s = setup("1s", "n1").await;
    s.receiver.status.store(410, Ordering::SeqCst);
    s.change().await;
    s.worker.run_once().await;
    let ep = s.store.get_endpoint(s.account, &s.endpoint).await.unwrap();
    assert!(ep.disabled);
    assert_eq!(ep.disabled_reason.as_deref(), Some("gone"));
    s.clock.advance(Duration::from_secs(60));
    assert_eq!(s.worker.run_once().await, 0, "no retry after 410");
}

#[tokio::test]
async fn an_expired_lease_is_taken_over() {
    let s = setup("1s", "live").await;
    s.change().await;
    let now = s.clock.now_ms();
    // A node claims the delivery and dies.
    let taken = s
        .store
        .claim_due("dead", now, now + 30_000, 10)
        .await
        .unwrap();
    assert_eq!(taken.len(), 1);
    assert_eq!(s.worker.run_once().await, 0, "leased to the dead node");
    s.clock.advance(Duration::from_secs(31));
    assert_eq!(s.worker.run_once().await, 1, "lease ran out: taken over");
    assert_eq!(s.received(), 1);
    let views = s
        .store
        .message_deliveries(s.account, &taken[0].msg_id)
        .await
        .unwrap();
    assert_eq!(views[0].status, DeliveryStatus::Success);
}

#[tokio::test]
async fn manual_resends_run_once() {
    let s = setup("1s,1s", "n1").await;
    s.change().await;
    s.worker.run_once().await;
    let msg = s.store.events_after(0, 1).await.unwrap()[0].id.clone();
    s.receiver.status.store(503, Ordering::SeqCst);
    s.store.resend(s.account, &msg, &s.endpoint).await.unwrap();
    assert_eq!(s.worker.run_once().await, 1);
    s.clock.advance(Duration::from_secs(600));
    assert_eq!(
        s.worker.run_once().await,
        0,
        "a manual attempt is not retried"
    );
    let attempts = s.attempts(Some(&msg)).await;
    assert_eq!(
        attempts.iter().map(|a| a.trigger_type).collect::<Vec<_>>(),
        [1, 0]
    );
}

#[tokio::test]
async fn a_429_pauses_the_endpoint_and_defers_its_deliveries_without_using_retries() {
    let s = setup("1s,1s", "n1").await;
    for _ in 0..6 {
        s.change().await;
    }
    s.receiver.status.store(429, Ordering::SeqCst);
    assert_eq!(s.worker.run_once().await, 6, "all six claimed");
    // Four went out (a new endpoint's limit) and were refused; the other two were held back.
    assert_eq!(s.received(), 4);
    let view = s.worker.pace_view(&s.endpoint).unwrap();
    assert_eq!(view.state.name(), "paused");
    let f = ListFilter {
        limit: 50,
        endpoint_id: Some(s.endpoint.clone()),
        ..Default::default()
    };
    let attempts = s.store.list_attempts(s.account, None, &f).await.unwrap();
    assert_eq!(attempts.len(), 4);
    assert!(attempts
        .iter()
        .all(|a| a.response_status_code == 429 && a.response.contains("throttled by receiver")));
    // Nothing is due during the pause; the failure clock did not start for the held ones.
    assert_eq!(s.worker.run_once().await, 0);
    s.receiver.status.store(200, Ordering::SeqCst);
    s.clock.advance(Duration::from_millis(1_000));
    assert_eq!(
        s.worker.run_once().await,
        6,
        "every delivery is due when the pause ends"
    );
    assert_eq!(s.received(), 10);
    let stats = s
        .store
        .endpoint_stats(s.account, &s.endpoint)
        .await
        .unwrap();
    assert_eq!((stats.success, stats.fail, stats.pending), (6, 0, 0));
    let saved = s
        .store
        .endpoint_pace(s.account, &s.endpoint)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(saved.state, "open");
}
