//! Trace context: the `traceparent` current in the caller's task when a write queues a
//! message is kept with the message, and every job for it carries it, whether handed to this
//! node's worker in memory or claimed from the queue later (a retry, another node).
//!
//! The test installs its own `Propagation`, whose "current span" is a task-local the test
//! sets (the real one, with OpenTelemetry, lives in the binary). Outside that task-local it
//! answers `None`, so the other tests of this binary see no trace context.

use std::sync::Arc;

use datahooks_store::trace::Propagation;
use datahooks_store::webhooks::Handoff;
use datahooks_store::Store;

use crate::fanout::message;
use crate::support::*;

const LEASE: i64 = 30_000;
const TP1: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
const TP2: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

tokio::task_local! {
    static CALLER: String;
}

struct TaskLocal;

impl Propagation for TaskLocal {
    fn current(&self) -> Option<String> {
        CALLER.try_with(|t| t.clone()).ok()
    }
    fn set_parent(&self, _span: &tracing::Span, _traceparent: &str) {}
}

fn install() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        assert!(datahooks_store::trace::install(Box::new(TaskLocal)));
    });
}

pub async fn the_callers_trace_context_travels_with_the_message(store: Arc<dyn Store>) {
    install();
    let alice = user(&*store, "alice").await;
    store
        .create_endpoint(
            alice.id,
            endpoint_input("https://hooks.example/t"),
            "sealed".into(),
        )
        .await
        .unwrap();

    // Handed over in memory: the job carries the caller's context.
    let handoff = Handoff::new("n1", std::time::Duration::from_millis(LEASE as u64));
    store.attach_worker(Some(handoff.clone()));
    let m1 = CALLER
        .scope(
            TP1.to_owned(),
            store.create_message(alice.id, message("t", None, &["c"])),
        )
        .await
        .unwrap();
    let handed = handoff.take();
    assert_eq!(handed.len(), 1, "{handed:?}");
    assert_eq!(handed[0].msg_id, m1.id);
    assert_eq!(handed[0].traceparent.as_deref(), Some(TP1));
    store.attach_worker(None);

    // Queued, then claimed (by any node): the context comes from the message row.
    let m2 = CALLER
        .scope(
            TP2.to_owned(),
            store.create_message(alice.id, message("t", None, &["c"])),
        )
        .await
        .unwrap();
    let m3 = store
        .create_message(alice.id, message("t", None, &["c"]))
        .await
        .unwrap();
    let t0 = later();
    let jobs = store.claim_due("n2", t0, t0 + LEASE, 10).await.unwrap();
    let of = |id: &str| {
        jobs.iter()
            .find(|j| j.msg_id == id)
            .map(|j| j.traceparent.clone())
    };
    assert_eq!(of(&m2.id), Some(Some(TP2.to_owned())));
    assert_eq!(of(&m3.id), Some(None), "no span was current: no context");

    // A retry claimed later still joins the caller's trace.
    let job = jobs.iter().find(|j| j.msg_id == m2.id).unwrap();
    let retry = t0 + 1_000;
    store
        .complete_delivery("n2", job, failed(Some(retry)), t0 + 5)
        .await
        .unwrap();
    let again = store
        .claim_due("n3", retry, retry + LEASE, 10)
        .await
        .unwrap();
    let again: Vec<_> = again.iter().filter(|j| j.msg_id == m2.id).collect();
    assert_eq!(again.len(), 1, "{again:?}");
    assert_eq!(again[0].attempts, 1);
    assert_eq!(again[0].traceparent.as_deref(), Some(TP2));
}
