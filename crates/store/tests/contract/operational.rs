//! Operational webhooks: operational endpoints are kept apart from the application's, and the
//! events about the application's endpoints are queued to them in the transaction of their
//! cause (endpoint changes, the worker's batch record, the failure clock's sweep, tasks).

use std::sync::Arc;

use serde_json::{Map, Value};

use datahooks_store::webhooks::{DeliveryJob, ListFilter};
use datahooks_store::Store;

use crate::fanout::message;
use crate::support::*;

const LEASE: i64 = 30_000;

/// Claims everything due and returns the jobs of `ep` with their payloads parsed; the others
/// go back to the queue.
async fn claim_for(store: &dyn Store, ep: &str) -> (Vec<DeliveryJob>, Vec<Value>) {
    let t = later();
    let (jobs, others): (Vec<DeliveryJob>, Vec<DeliveryJob>) = store
        .claim_due("n1", t, t + LEASE, 100)
        .await
        .unwrap()
        .into_iter()
        .partition(|j| j.endpoint_id == ep);
    let others: Vec<i64> = others.iter().map(|j| j.delivery_id).collect();
    store.release_deliveries("n1", &others, t).await.unwrap();
    let payloads = jobs
        .iter()
        .map(|j| serde_json::from_str(&j.payload).unwrap())
        .collect();
    (jobs, payloads)
}

fn types(payloads: &[Value]) -> Vec<&str> {
    payloads
        .iter()
        .map(|p| p["type"].as_str().unwrap_or_default())
        .collect()
}

pub async fn operational_endpoints_are_kept_apart(store: Arc<dyn Store>) {
    let alice = user(&*store, "alice").await;
    let op = store
        .create_op_endpoint(
            alice.id,
            endpoint_input("https://ops.example/a"),
            "s".into(),
            Map::new(),
        )
        .await
        .unwrap();
    let app = store
        .create_endpoint(
            alice.id,
            endpoint_input("https://hooks.example/a"),
            "s".into(),
        )
        .await
        .unwrap();
    let ids = |v: Vec<datahooks_store::webhooks::Endpoint>| {
        v.into_iter().map(|e| e.id).collect::<Vec<_>>()
    };
    assert_eq!(
        ids(store.list_endpoints(alice.id, 10, None).await.unwrap()),
        vec![app.id.clone()]
    );
    assert_eq!(
        ids(store.list_op_endpoints(alice.id, 10, None).await.unwrap()),
        vec![op.id.clone()]
    );
    expect_not_found(store.get_endpoint(alice.id, &op.id).await);
    expect_not_found(store.get_op_endpoint(alice.id, &app.id).await);
    expect_not_found(store.delete_endpoint(alice.id, &op.id).await);
    expect_not_found(store.delete_op_endpoint(alice.id, &app.id).await);

    // endpoint.created went to the operational endpoint only, and is not an app message.
    let (jobs, payloads) = claim_for(&*store, &op.id).await;
    assert_eq!(types(&payloads), vec!["endpoint.created"]);
    assert_eq!(payloads[0]["data"]["endpointId"], app.id.as_str());
    assert_eq!(payloads[0]["data"]["appUid"], "alice");
    assert_eq!(jobs[0].secrets, vec!["s".to_owned()]);
    let msgs = store
        .list_messages(
            alice.id,
            &ListFilter {
                limit: 10,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(msgs.is_empty(), "{msgs:?}");

    // Application messages do not go to operational endpoints.
    store
        .create_message(alice.id, message("t", None, &[]))
        .await
        .unwrap();
    let (jobs, _) = claim_for(&*store, &op.id).await;
    assert!(jobs.is_empty());
}

pub async fn endpoint_changes_and_attempts_are_reported(store: Arc<dyn Store>) {
    let alice = user(&*store, "alice").await;
    let bob = user(&*store, "bob").await;
    let op = store
        .create_op_endpoint(
            alice.id,
            endpoint_input("https://ops.example/a"),
            "s".into(),
            Map::new(),
        )
        .await
        .unwrap();
    // Another account's changes are not alice's to hear about.
    store
        .create_endpoint(
            bob.id,
            endpoint_input("https://hooks.example/b"),
            "s".into(),
        )
        .await
        .unwrap();
    let app = store
        .create_endpoint(
            alice.id,
            endpoint_input("https://hooks.example/a"),
            "s".into(),
        )
        .await
        .unwrap();
    let mut off = endpoint_input("https://hooks.example/a");
    off.disabled = true;
    store.update_endpoint(alice.id, &app.id, off).await.unwrap();
    store
        .update_endpoint(alice.id, &app.id, endpoint_input("https://hooks.example/a"))
        .await
        .unwrap();
    let (_, payloads) = claim_for(&*store, &op.id).await;
    assert_eq!(
        types(&payloads),
        vec![
            "endpoint.created",
            "endpoint.updated",
            "endpoint.disabled",
            "endpoint.updated",
            "endpoint.enabled"
        ]
    );
    assert_eq!(payloads[2]["data"]["trigger"], "manual");

    // A delivery that fails for good: message.attempt.exhausted, from the batch record.
    store
        .create_message(alice.id, message("t", Some("evt-1"), &[]))
        .await
        .unwrap();
    let t = later();
    let jobs = store.claim_due("n1", t, t + LEASE, 10).await.unwrap();
    let job = jobs.iter().find(|j| j.endpoint_id == app.id).unwrap();
    store
        .complete_delivery("n1", job, failed(None), t + 5)
        .await
        .unwrap();
    let (_, payloads) = claim_for(&*store, &op.id).await;
    assert_eq!(types(&payloads), vec!["message.attempt.exhausted"]);
    let d = &payloads[0]["data"];
    assert_eq!(d["msgId"], job.msg_id.as_str());
    assert_eq!(d["msgEventId"], "evt-1");
    assert_eq!(d["lastAttempt"]["responseStatusCode"], 500);

    // The failure clock's sweep disables the endpoint: endpoint.disabled (automatic), once.
    assert_eq!(store.disable_failing_endpoints(t + 6).await.unwrap(), 1);
    assert_eq!(store.disable_failing_endpoints(t + 7).await.unwrap(), 0);
    let (_, payloads) = claim_for(&*store, &op.id).await;
    assert_eq!(types(&payloads), vec!["endpoint.disabled"]);
    assert_eq!(payloads[0]["data"]["trigger"], "automatic");
    assert!(payloads[0]["data"]["failSince"].is_string());

    // A finished background task.
    let record = r#"{"id":"qtask_1","status":"finished","task":"endpoint.recover","data":{"messagesSent":0}}"#;
    store
        .put_task("qtask_1", alice.id, record, t)
        .await
        .unwrap();
    let (_, payloads) = claim_for(&*store, &op.id).await;
    assert_eq!(types(&payloads), vec!["background_task.finished"]);
    assert_eq!(payloads[0]["data"]["taskId"], "qtask_1");
}

pub async fn operational_endpoints_cause_no_events_and_honour_filters(store: Arc<dyn Store>) {
    let alice = user(&*store, "alice").await;
    let mut only_deleted = endpoint_input("https://ops.example/a");
    only_deleted.event_types = Some(vec!["endpoint.deleted".to_owned()]);
    let op = store
        .create_op_endpoint(alice.id, only_deleted, "s".into(), Map::new())
        .await
        .unwrap();
    let other = store
        .create_op_endpoint(
            alice.id,
            endpoint_input("https://ops.example/b"),
            "s".into(),
            Map::new(),
        )
        .await
        .unwrap();
    // Operational endpoints' own changes are not reported.
    store.delete_op_endpoint(alice.id, &other.id).await.unwrap();
    let app = store
        .create_endpoint(
            alice.id,
            endpoint_input("https://hooks.example/a"),
            "s".into(),
        )
        .await
        .unwrap();
    store.delete_endpoint(alice.id, &app.id).await.unwrap();
    let (_, payloads) = claim_for(&*store, &op.id).await;
    assert_eq!(types(&payloads), vec!["endpoint.deleted"]);
    // An operational delivery that fails for good reports nothing either.
    let app = store
        .create_endpoint(
            alice.id,
            endpoint_input("https://hooks.example/b"),
            "s".into(),
        )
        .await
        .unwrap();
    store.delete_endpoint(alice.id, &app.id).await.unwrap();
    let t = later();
    let jobs = store.claim_due("n1", t, t + LEASE, 10).await.unwrap();
    assert_eq!(jobs.len(), 1);
    store
        .complete_delivery("n1", &jobs[0], failed(None), t + 1)
        .await
        .unwrap();
    assert!(store
        .claim_due("n1", later(), later() + LEASE, 10)
        .await
        .unwrap()
        .is_empty());
}

pub async fn failing_then_recovered(store: Arc<dyn Store>) {
    let alice = user(&*store, "alice").await;
    let op = store
        .create_op_endpoint(
            alice.id,
            endpoint_input("https://ops.example/a"),
            "s".into(),
            Map::new(),
        )
        .await
        .unwrap();
    let app = store
        .create_endpoint(
            alice.id,
            endpoint_input("https://hooks.example/a"),
            "s".into(),
        )
        .await
        .unwrap();
    store
        .create_message(alice.id, message("t", None, &[]))
        .await
        .unwrap();
    claim_for(&*store, &op.id).await; // endpoint.created, out of the way
    let mut seen = Vec::new();
    // Four failures with retries left (the 4th is reported), then a success.
    for n in 0..5 {
        let t = later() + n;
        let jobs = store.claim_due("n1", t, t + LEASE, 10).await.unwrap();
        let job = jobs.iter().find(|j| j.endpoint_id == app.id).unwrap();
        assert_eq!(job.attempts, n);
        let r = if n < 4 { failed(Some(t)) } else { delivered() };
        store.complete_delivery("n1", job, r, t).await.unwrap();
        let (_, payloads) = claim_for(&*store, &op.id).await;
        seen.push(types(&payloads).join(","));
    }
    assert_eq!(
        seen,
        vec![
            "",
            "",
            "",
            "message.attempt.failing",
            "message.attempt.recovered"
        ]
    );
}
