//! The pace of an endpoint: deliveries held back are deferred (no attempt counted, the
//! failure clock untouched), a pause holds the endpoint's whole queue, the pace record.

use std::sync::Arc;

use datahooks_store::webhooks::{AttemptResult, DeliveryStatus, ListFilter, PaceRecord};
use datahooks_store::Store;

use crate::fanout::message;
use crate::support::*;

const LEASE: i64 = 30_000;

async fn setup(store: &dyn Store, n: usize) -> (i64, String) {
    let alice = user(store, "alice").await;
    let ep = store
        .create_endpoint(
            alice.id,
            endpoint_input("https://hooks.example/a"),
            "sealed-1".into(),
        )
        .await
        .unwrap();
    for i in 0..n {
        store
            .create_message(alice.id, message(&format!("t{i}"), None, &["c"]))
            .await
            .unwrap();
    }
    (alice.id, ep.id)
}

fn refused() -> AttemptResult {
    AttemptResult {
        status_code: 429,
        response: "throttled by receiver (429), paused 1 s".into(),
        duration_ms: 3,
        success: false,
        retry_at: None,
        disable: None,
    }
}

fn record(state: &str, until: Option<i64>) -> PaceRecord {
    PaceRecord {
        state: state.into(),
        until,
        limit: 3,
        rate_cap: Some(38.5),
        recent_rate: 12.5,
        updated_at: 1_700_000_000_000,
    }
}

pub async fn a_deferred_delivery_keeps_its_attempts_and_the_failure_clock(store: Arc<dyn Store>) {
    let (account, ep) = setup(&*store, 2).await;
    let t0 = later();
    let jobs = store.claim_due("n1", t0, t0 + LEASE, 10).await.unwrap();
    assert_eq!(jobs.len(), 2);
    // One refused by the receiver (logged), one held back without being sent (not logged).
    assert!(store
        .defer_delivery("n1", &jobs[0], t0 + 1_000, Some(refused()), t0 + 5)
        .await
        .unwrap());
    assert!(store
        .defer_delivery("n1", &jobs[1], t0 + 1_000, None, t0 + 5)
        .await
        .unwrap());
    let attempts = store
        .list_attempts(
            account,
            None,
            &ListFilter {
                limit: 10,
                endpoint_id: Some(ep.clone()),
                ..ListFilter::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0].msg_id, jobs[0].msg_id);
    assert_eq!(attempts[0].status, 2);
    assert_eq!(attempts[0].response_status_code, 429);
    assert!(attempts[0].response.contains("throttled by receiver"));
    let endpoint = store.get_endpoint(account, &ep).await.unwrap();
    assert_eq!(
        endpoint.first_failure_at, None,
        "the failure clock did not start"
    );
    for job in &jobs {
        let view = &store
            .message_deliveries(account, &job.msg_id)
            .await
            .unwrap()[0];
        assert_eq!(view.status, DeliveryStatus::Pending);
        assert_eq!(view.next_attempt, Some(t0 + 1_000));
    }
    assert!(store
        .claim_due("n1", t0 + 999, t0 + LEASE, 10)
        .await
        .unwrap()
        .is_empty());
    let again = store
        .claim_due("n1", t0 + 1_000, t0 + 1_000 + LEASE, 10)
        .await
        .unwrap();
    assert_eq!(again.len(), 2);
    assert!(again.iter().all(|j| j.attempts == 0), "{again:?}");
    // A node whose lease ran out cannot defer what another node holds now.
    assert!(!store
        .defer_delivery("n2", &again[0], t0 + 9_000, None, t0 + 1_001)
        .await
        .unwrap());
}

pub async fn holding_an_endpoint_delays_its_waiting_deliveries(store: Arc<dyn Store>) {
    let (account, ep) = setup(&*store, 3).await;
    let other = store
        .create_endpoint(
            account,
            endpoint_input("https://hooks.example/b"),
            "sealed-2".into(),
        )
        .await
        .unwrap();
    store
        .create_message(account, message("for-both", None, &["c"]))
        .await
        .unwrap();
    let t0 = later();
    let until = t0 + 60_000;
    let held = store
        .hold_endpoint(&ep, until, &record("paused", Some(until)))
        .await
        .unwrap();
    assert_eq!(held, 4);
    // Only the other endpoint's delivery is due now, for any node; the held ones are due at
    // the end (so on PostgreSQL a pause holds for every node).
    let jobs = store.claim_due("n1", t0, t0 + LEASE, 10).await.unwrap();
    assert!(store
        .claim_due("n2", t0 + 1, t0 + LEASE, 10)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].endpoint_id, other.id);
    store
        .complete_delivery("n1", &jobs[0], delivered(), t0 + 5)
        .await
        .unwrap();
    assert_eq!(store.next_due().await.unwrap(), Some(until));
    // Holding again for less changes nothing: a pause is never shortened this way.
    assert_eq!(
        store
            .hold_endpoint(&ep, t0 + 1_000, &record("paused", Some(t0 + 1_000)))
            .await
            .unwrap(),
        0
    );
    let due = store
        .claim_due("n1", until, until + LEASE, 10)
        .await
        .unwrap();
    assert_eq!(due.len(), 4);
    assert!(due.iter().all(|j| j.endpoint_id == ep && j.attempts == 0));
}

pub async fn the_pace_record_is_saved_and_read(store: Arc<dyn Store>) {
    let (account, ep) = setup(&*store, 0).await;
    assert_eq!(store.endpoint_pace(account, &ep).await.unwrap(), None);
    let rec = record("down", Some(1_700_000_300_000));
    store.save_pace(&ep, &rec).await.unwrap();
    assert_eq!(store.endpoint_pace(account, &ep).await.unwrap(), Some(rec));
    let open = PaceRecord {
        rate_cap: None,
        ..record("open", None)
    };
    store.save_pace(&ep, &open).await.unwrap();
    assert_eq!(store.endpoint_pace(account, &ep).await.unwrap(), Some(open));
    // Someone else's endpoint is not found.
    let bob = user(&*store, "bob").await;
    expect_not_found(store.endpoint_pace(bob.id, &ep).await);
}
