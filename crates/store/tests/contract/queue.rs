//! The delivery queue: leases, completion, retries, manual attempts, recovery, the attempt log,
//! failing endpoints, `next_due` and `queue_depth`, and the state the API nodes share
//! (idempotency keys, task records). All queue calls take explicit `now` values.

use std::sync::Arc;

use datahooks_store::webhooks::{
    AttemptResult, Completion, DeliveryJob, DeliveryStatus, EndpointInput, Handoff, Idempotent,
    ListFilter, Message, NewMessage,
};
use datahooks_store::{Account, Store};

use crate::fanout::message;
use crate::support::*;

const LEASE: i64 = 30_000;

/// Alice, with one endpoint (`sealed-1`, throttled at 5/s), and `n` messages queued for it.
async fn setup(store: &dyn Store, n: usize) -> (Account, String, Vec<Message>) {
    let alice = user(store, "alice").await;
    let ep = store
        .create_endpoint(
            alice.id,
            EndpointInput {
                throttle_rate: Some(5),
                ..endpoint_input("https://hooks.example/a")
            },
            "sealed-1".into(),
        )
        .await
        .unwrap();
    let mut msgs = Vec::new();
    for i in 0..n {
        msgs.push(
            store
                .create_message(alice.id, message(&format!("t{i}"), None, &["c"]))
                .await
                .unwrap(),
        );
    }
    (alice, ep.id, msgs)
}

fn api_time_of(ms: i64) -> String {
    datahooks_domain::time::format(chrono::DateTime::from_timestamp_millis(ms).unwrap())
}

async fn status_of(store: &dyn Store, account: i64, msg: &str) -> DeliveryStatus {
    let views = store.message_deliveries(account, msg).await.unwrap();
    assert_eq!(views.len(), 1, "{views:?}");
    views[0].status
}

async fn claim_one(store: &dyn Store, node: &str, now: i64) -> DeliveryJob {
    let mut jobs = store.claim_due(node, now, now + LEASE, 10).await.unwrap();
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    jobs.remove(0)
}

pub async fn claim_leases_a_delivery(store: Arc<dyn Store>) {
    let before = wall_ms();
    let (alice, ep, msgs) = setup(&*store, 1).await;
    let due = store.next_due().await.unwrap().expect("a delivery is due");
    assert!(
        due >= before - 1000 && due <= wall_ms() + 1000,
        "due at commit time"
    );
    assert_eq!(store.queue_depth().await.unwrap(), (1, Some(due)));

    let t0 = later();
    let job = claim_one(&*store, "n1", t0).await;
    assert_eq!(job.msg_id, msgs[0].id);
    assert_eq!(job.endpoint_id, ep);
    assert_eq!(job.url, "https://hooks.example/a");
    assert_eq!(job.secrets, ["sealed-1"]);
    assert!(job.headers.is_empty());
    assert_eq!(job.payload, msgs[0].payload);
    assert_eq!(job.attempts, 0);
    assert_eq!(job.trigger_type, 0);
    assert_eq!(job.throttle_rate, Some(5));
    let stats = store.endpoint_stats(alice.id, &ep).await.unwrap();
    assert_eq!((stats.pending, stats.sending), (0, 1));
    let view = &store
        .message_deliveries(alice.id, &msgs[0].id)
        .await
        .unwrap()[0];
    assert_eq!(view.status, DeliveryStatus::Sending);
    assert_eq!(view.next_attempt, None);
    assert_eq!(
        store.queue_depth().await.unwrap().0,
        1,
        "a leased delivery is not finished"
    );
    assert_eq!(
        store.next_due().await.unwrap(),
        Some(t0 + LEASE),
        "the lease runs out"
    );

    // while the lease holds, nobody else gets it
    assert!(store
        .claim_due("n2", t0 + 1, t0 + 1 + LEASE, 10)
        .await
        .unwrap()
        .is_empty());
    assert!(store
        .claim_due("n2", t0 + LEASE - 1, t0 + 2 * LEASE, 10)
        .await
        .unwrap()
        .is_empty());
    // after it, another node takes it over, as it was
    let again = claim_one(&*store, "n2", t0 + LEASE).await;
    assert_eq!(again.delivery_id, job.delivery_id);
    assert_eq!(again.attempts, 0);
    assert_eq!(store.next_due().await.unwrap(), Some(t0 + 2 * LEASE));
}

pub async fn claim_respects_limit_and_due_order(store: Arc<dyn Store>) {
    let (_, _, msgs) = setup(&*store, 3).await;
    let t0 = later();
    let jobs = store.claim_due("n1", t0, t0 + LEASE, 2).await.unwrap();
    assert_eq!(jobs.len(), 2);
    let rest = store.claim_due("n1", t0, t0 + LEASE, 2).await.unwrap();
    assert_eq!(rest.len(), 1);
    let mut claimed: Vec<_> = jobs.iter().chain(&rest).map(|j| j.msg_id.clone()).collect();
    claimed.sort();
    let mut want: Vec<_> = msgs.iter().map(|m| m.id.clone()).collect();
    want.sort();
    assert_eq!(claimed, want);

    // retries fall due in the order of their times
    let retry_at = |j: &DeliveryJob| {
        let i = msgs.iter().position(|m| m.id == j.msg_id).unwrap();
        t0 + [300, 100, 200][i]
    };
    for j in jobs.iter().chain(&rest) {
        store
            .complete_delivery("n1", j, failed(Some(retry_at(j))), t0 + 10)
            .await
            .unwrap();
    }
    assert_eq!(store.next_due().await.unwrap(), Some(t0 + 100));
    assert_eq!(store.queue_depth().await.unwrap(), (3, Some(t0 + 100)));
    let t1 = t0 + 1000;
    let mut seen = Vec::new();
    for _ in 0..3 {
        let j = store.claim_due("n1", t1, t1 + LEASE, 1).await.unwrap();
        assert_eq!(j.len(), 1);
        seen.push(j[0].msg_id.clone());
    }
    assert_eq!(
        seen,
        [msgs[1].id.clone(), msgs[2].id.clone(), msgs[0].id.clone()]
    );
    assert!(store
        .claim_due("n1", t1, t1 + LEASE, 10)
        .await
        .unwrap()
        .is_empty());
}

pub async fn complete_success(store: Arc<dyn Store>) {
    let (alice, ep, msgs) = setup(&*store, 1).await;
    let t0 = later();
    let job = claim_one(&*store, "n1", t0).await;
    store
        .complete_delivery("n1", &job, delivered(), t0 + 5)
        .await
        .unwrap();
    assert_eq!(
        status_of(&*store, alice.id, &msgs[0].id).await,
        DeliveryStatus::Success
    );
    let stats = store.endpoint_stats(alice.id, &ep).await.unwrap();
    assert_eq!(
        (stats.success, stats.pending, stats.sending, stats.fail),
        (1, 0, 0, 0)
    );
    assert_eq!(store.queue_depth().await.unwrap(), (0, None));
    assert_eq!(store.next_due().await.unwrap(), None);
    assert!(store
        .claim_due("n1", t0 + 10 * LEASE, t0 + 11 * LEASE, 10)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        store
            .get_endpoint(alice.id, &ep)
            .await
            .unwrap()
            .first_failure_at,
        None
    );

    let attempts = store
        .list_attempts(
            alice.id,
            Some(&msgs[0].id),
            &ListFilter {
                limit: 10,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(attempts.len(), 1);
    let a = &attempts[0];
    assert!(a.id.starts_with("atmpt_"), "{}", a.id);
    assert_eq!(a.msg_id, msgs[0].id);
    assert_eq!(a.endpoint_id, ep);
    assert_eq!(a.url, "https://hooks.example/a");
    assert_eq!(a.status, 0);
    assert_eq!(a.response_status_code, 200);
    assert_eq!(a.response, "ok");
    assert_eq!(a.duration_ms, 12);
    assert_eq!(a.trigger_type, 0);
    assert_eq!(a.timestamp, api_time_of(t0 + 5));
    assert_eq!(
        store
            .get_attempt(alice.id, &msgs[0].id, &a.id)
            .await
            .unwrap(),
        *a
    );
}

pub async fn complete_retry_reschedules(store: Arc<dyn Store>) {
    let (alice, ep, msgs) = setup(&*store, 1).await;
    let t0 = later();
    let job = claim_one(&*store, "n1", t0).await;
    let retry = t0 + 60_000;
    store
        .complete_delivery("n1", &job, failed(Some(retry)), t0 + 5)
        .await
        .unwrap();
    let view = &store
        .message_deliveries(alice.id, &msgs[0].id)
        .await
        .unwrap()[0];
    assert_eq!(view.status, DeliveryStatus::Pending);
    assert_eq!(view.next_attempt, Some(retry));
    assert_eq!(
        store.endpoint_stats(alice.id, &ep).await.unwrap().pending,
        1
    );
    assert_eq!(store.next_due().await.unwrap(), Some(retry));
    assert_eq!(store.queue_depth().await.unwrap(), (1, Some(retry)));
    assert_eq!(
        store
            .get_endpoint(alice.id, &ep)
            .await
            .unwrap()
            .first_failure_at,
        Some(t0 + 5),
        "the failure clock starts"
    );
    let a = &store
        .list_attempts(
            alice.id,
            None,
            &ListFilter {
                limit: 10,
                ..Default::default()
            },
        )
        .await
        .unwrap()[0];
    assert_eq!(
        (a.status, a.response_status_code, a.response.as_str()),
        (2, 500, "boom")
    );

    assert!(store
        .claim_due("n1", retry - 1, retry + LEASE, 10)
        .await
        .unwrap()
        .is_empty());
    let again = claim_one(&*store, "n2", retry).await;
    assert_eq!(again.delivery_id, job.delivery_id);
    assert_eq!(again.attempts, 1);
    // a later success stops the failure clock
    store
        .complete_delivery("n2", &again, delivered(), retry + 5)
        .await
        .unwrap();
    assert_eq!(
        status_of(&*store, alice.id, &msgs[0].id).await,
        DeliveryStatus::Success
    );
    assert_eq!(
        store
            .get_endpoint(alice.id, &ep)
            .await
            .unwrap()
            .first_failure_at,
        None
    );
}

pub async fn complete_without_retry_fails(store: Arc<dyn Store>) {
    let (alice, ep, msgs) = setup(&*store, 2).await;
    let t0 = later();
    let jobs = store.claim_due("n1", t0, t0 + LEASE, 10).await.unwrap();
    let first = jobs.iter().find(|j| j.msg_id == msgs[0].id).unwrap();
    let second = jobs.iter().find(|j| j.msg_id == msgs[1].id).unwrap();
    store
        .complete_delivery("n1", first, failed(None), t0 + 5)
        .await
        .unwrap();
    assert_eq!(
        status_of(&*store, alice.id, &msgs[0].id).await,
        DeliveryStatus::Fail
    );
    let stats = store.endpoint_stats(alice.id, &ep).await.unwrap();
    assert_eq!((stats.fail, stats.sending), (1, 1));

    // a receiver that says "gone" disables its endpoint
    store
        .complete_delivery(
            "n1",
            second,
            AttemptResult {
                status_code: 410,
                disable: Some("gone".into()),
                ..failed(None)
            },
            t0 + 6,
        )
        .await
        .unwrap();
    let e = store.get_endpoint(alice.id, &ep).await.unwrap();
    assert!(e.disabled);
    assert_eq!(e.disabled_reason.as_deref(), Some("gone"));
    assert_eq!(store.queue_depth().await.unwrap(), (0, None));
    assert!(store
        .claim_due("n1", t0 + 10 * LEASE, t0 + 11 * LEASE, 10)
        .await
        .unwrap()
        .is_empty());
}

pub async fn only_the_lease_holder_moves_a_delivery_on(store: Arc<dyn Store>) {
    let (alice, ep, msgs) = setup(&*store, 1).await;
    let t0 = later();
    let stale = claim_one(&*store, "n1", t0).await;
    // n1's lease runs out; n2 takes over
    let holder = claim_one(&*store, "n2", t0 + LEASE).await;
    assert_eq!(holder.delivery_id, stale.delivery_id);

    // n1 finishes late: its attempt is logged, nothing else changes
    store
        .complete_delivery("n1", &stale, delivered(), t0 + LEASE + 5)
        .await
        .unwrap();
    let all = ListFilter {
        limit: 10,
        ..Default::default()
    };
    assert_eq!(
        store
            .list_attempts(alice.id, None, &all)
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        status_of(&*store, alice.id, &msgs[0].id).await,
        DeliveryStatus::Sending
    );
    let stats = store.endpoint_stats(alice.id, &ep).await.unwrap();
    assert_eq!((stats.success, stats.sending), (0, 1));
    assert!(
        store
            .claim_due("n3", t0 + LEASE + 10, t0 + 2 * LEASE, 10)
            .await
            .unwrap()
            .is_empty(),
        "n2's lease still holds"
    );

    // the holder's result counts
    let retry = t0 + 5 * LEASE;
    store
        .complete_delivery("n2", &holder, failed(Some(retry)), t0 + LEASE + 20)
        .await
        .unwrap();
    assert_eq!(
        status_of(&*store, alice.id, &msgs[0].id).await,
        DeliveryStatus::Pending
    );
    // a second late completion by n1 changes nothing either
    store
        .complete_delivery("n1", &stale, delivered(), t0 + LEASE + 30)
        .await
        .unwrap();
    let view = &store
        .message_deliveries(alice.id, &msgs[0].id)
        .await
        .unwrap()[0];
    assert_eq!(view.status, DeliveryStatus::Pending);
    assert_eq!(view.next_attempt, Some(retry));
    assert_eq!(
        store
            .list_attempts(alice.id, None, &all)
            .await
            .unwrap()
            .len(),
        3
    );
    let next = claim_one(&*store, "n3", retry).await;
    assert_eq!(next.attempts, 1, "only the holder's attempt counts");
}

/// A stale node's late result is logged but moves nothing on, the endpoint's failure clock and
/// enabled state included: the holder's success is the latest word on this delivery.
pub async fn stale_completion_leaves_the_endpoint_alone(store: Arc<dyn Store>) {
    let (alice, ep, _) = setup(&*store, 1).await;
    let t0 = later();
    let stale = claim_one(&*store, "n1", t0).await;
    let holder = claim_one(&*store, "n2", t0 + LEASE).await;
    store
        .complete_delivery("n2", &holder, delivered(), t0 + LEASE + 5)
        .await
        .unwrap();
    // n1 comes back with a timeout long after its lease ran out
    store
        .complete_delivery(
            "n1",
            &stale,
            AttemptResult {
                status_code: 0,
                response: "timed out".into(),
                ..failed(Some(t0 + 10 * LEASE))
            },
            t0 + LEASE + 10,
        )
        .await
        .unwrap();
    let e = store.get_endpoint(alice.id, &ep).await.unwrap();
    assert_eq!(
        e.first_failure_at, None,
        "a stale failure starts no failure clock"
    );
    assert_eq!(
        store
            .disable_failing_endpoints(t0 + 100 * LEASE)
            .await
            .unwrap(),
        0
    );
    assert!(!store.get_endpoint(alice.id, &ep).await.unwrap().disabled);
}

pub async fn resend_queues_one_manual_attempt(store: Arc<dyn Store>) {
    let (alice, ep, msgs) = setup(&*store, 1).await;
    let bob = user(&*store, "bob").await;
    let t0 = later();
    let job = claim_one(&*store, "n1", t0).await;
    store
        .complete_delivery("n1", &job, delivered(), t0 + 1)
        .await
        .unwrap();

    store.resend(alice.id, &msgs[0].id, &ep).await.unwrap();
    // stats count each message once, in its latest state at the endpoint
    let stats = store.endpoint_stats(alice.id, &ep).await.unwrap();
    assert_eq!((stats.success, stats.pending), (0, 1));
    assert_eq!(
        status_of(&*store, alice.id, &msgs[0].id).await,
        DeliveryStatus::Pending
    );
    let t1 = later();
    let manual = claim_one(&*store, "n1", t1).await;
    assert_ne!(manual.delivery_id, job.delivery_id);
    assert_eq!(manual.trigger_type, 1);
    assert_eq!(manual.attempts, 0);
    assert_eq!(manual.msg_id, msgs[0].id);
    // manual attempts run once: a failure with a retry time still fails
    store
        .complete_delivery("n1", &manual, failed(Some(t1 + 60_000)), t1 + 1)
        .await
        .unwrap();
    assert_eq!(
        status_of(&*store, alice.id, &msgs[0].id).await,
        DeliveryStatus::Fail
    );
    assert_eq!(store.queue_depth().await.unwrap(), (0, None));
    let attempts = store
        .list_attempts(
            alice.id,
            Some(&msgs[0].id),
            &ListFilter {
                limit: 10,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        attempts
            .iter()
            .map(|a| (a.trigger_type, a.status))
            .collect::<Vec<_>>(),
        [(1, 2), (0, 0)],
        "newest first"
    );

    // resend by event id works too
    let m = store
        .create_message(alice.id, message("x", Some("evt-9"), &[]))
        .await
        .unwrap();
    store.resend(alice.id, "evt-9", &ep).await.unwrap();
    assert_eq!(
        store
            .message_deliveries(alice.id, &m.id)
            .await
            .unwrap()
            .len(),
        1
    );
    // queued twice (at creation and by the resend), counted once
    assert_eq!(
        store.endpoint_stats(alice.id, &ep).await.unwrap().pending,
        1
    );

    expect_not_found(store.resend(alice.id, "msg_nope", &ep).await);
    expect_not_found(store.resend(alice.id, &msgs[0].id, "ep_nope").await);
    expect_not_found(store.resend(bob.id, &msgs[0].id, &ep).await);
}

pub async fn recover_requeues_failed_never_succeeded(store: Arc<dyn Store>) {
    let (alice, ep, msgs) = setup(&*store, 4).await;
    let other = store
        .create_endpoint(
            alice.id,
            endpoint_input("https://hooks.example/b"),
            "s".into(),
        )
        .await
        .unwrap()
        .id;
    let t0 = later();
    // m0 fails; m1 succeeds; m2 fails, then a resend succeeds; m3 fails and a resend waits
    for j in store.claim_due("n1", t0, t0 + LEASE, 10).await.unwrap() {
        let ok = j.msg_id == msgs[1].id;
        store
            .complete_delivery(
                "n1",
                &j,
                if ok { delivered() } else { failed(None) },
                t0 + 1,
            )
            .await
            .unwrap();
    }
    store.resend(alice.id, &msgs[2].id, &ep).await.unwrap();
    let t1 = later();
    let j = claim_one(&*store, "n1", t1).await;
    store
        .complete_delivery("n1", &j, delivered(), t1 + 1)
        .await
        .unwrap();
    store.resend(alice.id, &msgs[3].id, &ep).await.unwrap();

    // outside the window: nothing
    assert_eq!(store.recover(alice.id, &ep, 0, 1).await.unwrap(), 0);
    assert_eq!(
        store
            .recover(alice.id, &ep, wall_ms() + 60_000, i64::MAX)
            .await
            .unwrap(),
        0
    );
    assert_eq!(store.recover(alice.id, &ep, 0, i64::MAX).await.unwrap(), 1);
    let views = store
        .message_deliveries(alice.id, &msgs[0].id)
        .await
        .unwrap();
    assert_eq!(views[0].status, DeliveryStatus::Pending);
    // it is queued now, so recovering again finds nothing
    assert_eq!(store.recover(alice.id, &ep, 0, i64::MAX).await.unwrap(), 0);
    // another endpoint never failed
    assert_eq!(
        store.recover(alice.id, &other, 0, i64::MAX).await.unwrap(),
        0
    );
    let t2 = later();
    let jobs = store.claim_due("n1", t2, t2 + LEASE, 10).await.unwrap();
    let mut got: Vec<_> = jobs
        .iter()
        .map(|j| (j.msg_id.clone(), j.trigger_type))
        .collect();
    got.sort();
    let mut want = vec![(msgs[0].id.clone(), 1), (msgs[3].id.clone(), 1)];
    want.sort();
    assert_eq!(got, want);
    expect_not_found(store.recover(alice.id, "ep_nope", 0, i64::MAX).await);
}

pub async fn replay_missing_queues_never_queued(store: Arc<dyn Store>) {
    let (alice, ep, msgs) = setup(&*store, 2).await;
    let late = store
        .create_endpoint(
            alice.id,
            endpoint_input("https://hooks.example/late"),
            "s".into(),
        )
        .await
        .unwrap()
        .id;
    let m2 = store
        .create_message(alice.id, message("t2", None, &["c"]))
        .await
        .unwrap();
    assert_eq!(
        store
            .message_deliveries(alice.id, &m2.id)
            .await
            .unwrap()
            .len(),
        2
    );

    assert_eq!(
        store.replay_missing(alice.id, &late, 0, 1).await.unwrap(),
        0
    );
    assert_eq!(
        store
            .replay_missing(alice.id, &ep, 0, i64::MAX)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        store
            .replay_missing(alice.id, &late, 0, i64::MAX)
            .await
            .unwrap(),
        2
    );
    for m in &msgs {
        let views = store.message_deliveries(alice.id, &m.id).await.unwrap();
        let v = views
            .iter()
            .find(|v| v.endpoint_id == late)
            .expect("replayed");
        assert_eq!(v.status, DeliveryStatus::Pending);
    }
    assert_eq!(
        store
            .replay_missing(alice.id, &late, 0, i64::MAX)
            .await
            .unwrap(),
        0
    );
    let t0 = later();
    let jobs = store.claim_due("n1", t0, t0 + LEASE, 10).await.unwrap();
    let replayed: Vec<_> = jobs.iter().filter(|j| j.endpoint_id == late).collect();
    assert_eq!(replayed.len(), 3);
    assert_eq!(
        replayed.iter().filter(|j| j.trigger_type == 1).count(),
        2,
        "replays are manual attempts"
    );
    expect_not_found(store.replay_missing(alice.id, "ep_nope", 0, i64::MAX).await);
}

/// Replays go only where the endpoint would have wanted the message when it was sent: its
/// event types and channels apply, and a message forced to one other endpoint is not replayed.
pub async fn replay_missing_respects_subscriptions(store: Arc<dyn Store>) {
    let (alice, first, _) = setup(&*store, 0).await;
    let wanted = store
        .create_message(alice.id, message("wanted", None, &["c1"]))
        .await
        .unwrap();
    store
        .create_message(alice.id, message("unwanted", None, &["c1"]))
        .await
        .unwrap();
    store
        .create_message(alice.id, message("wanted", None, &["c2"]))
        .await
        .unwrap();
    store
        .create_message(
            alice.id,
            NewMessage {
                only_endpoint: Some(first.clone()),
                ..message("wanted", None, &["c1"])
            },
        )
        .await
        .unwrap();
    let picky = store
        .create_endpoint(
            alice.id,
            EndpointInput {
                event_types: Some(vec!["wanted".into()]),
                channels: Some(vec!["c1".into()]),
                ..endpoint_input("https://hooks.example/picky")
            },
            "s".into(),
        )
        .await
        .unwrap()
        .id;
    assert_eq!(
        store
            .replay_missing(alice.id, &picky, 0, i64::MAX)
            .await
            .unwrap(),
        1
    );
    let t0 = later();
    let jobs = store.claim_due("n1", t0, t0 + LEASE, 100).await.unwrap();
    let to_picky: Vec<_> = jobs.iter().filter(|j| j.endpoint_id == picky).collect();
    assert_eq!(to_picky.len(), 1);
    assert_eq!(to_picky[0].msg_id, wanted.id);
    assert_eq!(to_picky[0].trigger_type, 1);
}

pub async fn disable_failing_endpoints_and_waiting_deliveries(store: Arc<dyn Store>) {
    let alice = user(&*store, "alice").await;
    let ep = |url: &'static str| {
        let store = store.clone();
        async move {
            store
                .create_endpoint(alice.id, endpoint_input(url), "s".into())
                .await
                .unwrap()
                .id
        }
    };
    let a = ep("https://hooks.example/a").await;
    let b = ep("https://hooks.example/b").await;
    let c = ep("https://hooks.example/c").await;
    store
        .create_message(alice.id, message("t", None, &[]))
        .await
        .unwrap();
    let t0 = later();
    let retry = t0 + 100_000;
    // a fails (and will retry), b succeeds, c fails (and will retry), then succeeds on the next
    // message while a fails again
    for j in store.claim_due("n1", t0, t0 + LEASE, 10).await.unwrap() {
        let r = if j.endpoint_id == b {
            delivered()
        } else {
            failed(Some(retry))
        };
        store.complete_delivery("n1", &j, r, t0 + 10).await.unwrap();
    }
    store
        .create_message(alice.id, message("t", None, &[]))
        .await
        .unwrap();
    for j in store
        .claim_due("n1", later(), later() + LEASE, 10)
        .await
        .unwrap()
    {
        let r = if j.endpoint_id == a {
            failed(Some(retry))
        } else {
            delivered()
        };
        store.complete_delivery("n1", &j, r, t0 + 20).await.unwrap();
    }
    let first_failure = |id: String| {
        let store = store.clone();
        async move {
            store
                .get_endpoint(alice.id, &id)
                .await
                .unwrap()
                .first_failure_at
        }
    };
    assert_eq!(
        first_failure(a.clone()).await,
        Some(t0 + 10),
        "the clock starts at the first failure"
    );
    assert_eq!(first_failure(b.clone()).await, None);
    assert_eq!(first_failure(c.clone()).await, None);

    assert_eq!(store.disable_failing_endpoints(t0 + 10).await.unwrap(), 0);
    assert_eq!(store.disable_failing_endpoints(t0 + 11).await.unwrap(), 1);
    let ea = store.get_endpoint(alice.id, &a).await.unwrap();
    assert!(ea.disabled);
    assert_eq!(ea.disabled_reason.as_deref(), Some("failing"));
    assert!(!store.get_endpoint(alice.id, &b).await.unwrap().disabled);
    assert!(!store.get_endpoint(alice.id, &c).await.unwrap().disabled);
    assert_eq!(store.disable_failing_endpoints(t0 + 11).await.unwrap(), 0);

    // a's queued deliveries wait: counted, not due, not claimed, not dropped
    let depth = store.queue_depth().await.unwrap().0;
    assert_eq!(store.endpoint_stats(alice.id, &a).await.unwrap().pending, 2);
    let m3 = store
        .create_message(alice.id, message("t", None, &[]))
        .await
        .unwrap();
    assert_eq!(
        store
            .message_deliveries(alice.id, &m3.id)
            .await
            .unwrap()
            .iter()
            .filter(|v| v.endpoint_id == a)
            .count(),
        0,
        "a disabled endpoint gets no new deliveries"
    );
    assert_eq!(store.queue_depth().await.unwrap().0, depth + 2);
    let t1 = retry + 1;
    let claimed = store.claim_due("n1", t1, t1 + LEASE, 100).await.unwrap();
    assert!(claimed.iter().all(|j| j.endpoint_id != a));
    for j in &claimed {
        store
            .complete_delivery("n1", j, delivered(), t1 + 1)
            .await
            .unwrap();
    }
    assert_eq!(
        store.queue_depth().await.unwrap().0,
        2,
        "a's two deliveries still wait"
    );
    assert_eq!(
        store.next_due().await.unwrap(),
        None,
        "nothing is due while a is disabled"
    );

    // re-enabling clears the failure clock and releases the waiting deliveries
    let on = store
        .update_endpoint(alice.id, &a, endpoint_input("https://hooks.example/a"))
        .await
        .unwrap();
    assert!(!on.disabled);
    assert_eq!(on.first_failure_at, None);
    assert_eq!(store.next_due().await.unwrap(), Some(retry));
    let released = store
        .claim_due("n1", t1 + 2, t1 + 2 + LEASE, 100)
        .await
        .unwrap();
    assert_eq!(released.len(), 2);
    assert!(released.iter().all(|j| j.endpoint_id == a));
}

pub async fn deleting_an_endpoint_drops_its_queue_but_keeps_attempts(store: Arc<dyn Store>) {
    let (alice, ep, msgs) = setup(&*store, 2).await;
    let t0 = later();
    let job = store
        .claim_due("n1", t0, t0 + LEASE, 1)
        .await
        .unwrap()
        .remove(0);
    store
        .complete_delivery("n1", &job, failed(Some(t0 + 1000)), t0 + 1)
        .await
        .unwrap();
    assert_eq!(store.queue_depth().await.unwrap().0, 2);
    store.delete_endpoint(alice.id, &ep).await.unwrap();
    assert_eq!(store.queue_depth().await.unwrap(), (0, None));
    assert_eq!(store.next_due().await.unwrap(), None);
    assert!(store
        .claim_due("n1", t0 + 5000, t0 + 5000 + LEASE, 10)
        .await
        .unwrap()
        .is_empty());
    expect_not_found(store.endpoint_stats(alice.id, &ep).await);
    let attempts = store
        .list_attempts(
            alice.id,
            None,
            &ListFilter {
                limit: 10,
                endpoint_id: Some(ep.clone()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(attempts.len(), 1);
    assert!(msgs.iter().any(|m| m.id == attempts[0].msg_id));
    // the messages themselves stay
    assert_eq!(
        store.get_message(alice.id, &msgs[0].id).await.unwrap(),
        msgs[0]
    );
}

pub async fn list_attempts_filters_and_pages(store: Arc<dyn Store>) {
    let (alice, ep, msgs) = setup(&*store, 2).await;
    let bob = user(&*store, "bob").await;
    let ep2 = store
        .create_endpoint(
            alice.id,
            endpoint_input("https://hooks.example/2"),
            "s".into(),
        )
        .await
        .unwrap()
        .id;
    store.resend(alice.id, &msgs[0].id, &ep2).await.unwrap();
    let t0 = later();
    // attempts, oldest first: m0→ep ok, m1→ep fail (retry), m0→ep2 ok, m1→ep ok
    let jobs = store.claim_due("n1", t0, t0 + LEASE, 10).await.unwrap();
    let pick = |m: &Message, e: &str| {
        jobs.iter()
            .find(|j| j.msg_id == m.id && j.endpoint_id == e)
            .unwrap()
            .clone()
    };
    let retry = t0 + 1000;
    store
        .complete_delivery("n1", &pick(&msgs[0], &ep), delivered(), t0 + 1)
        .await
        .unwrap();
    store
        .complete_delivery("n1", &pick(&msgs[1], &ep), failed(Some(retry)), t0 + 2)
        .await
        .unwrap();
    store
        .complete_delivery("n1", &pick(&msgs[0], &ep2), delivered(), t0 + 3)
        .await
        .unwrap();
    let j = claim_one(&*store, "n1", retry).await;
    store
        .complete_delivery("n1", &j, delivered(), retry + 1)
        .await
        .unwrap();

    let list = |msg: Option<&str>, f: ListFilter| {
        let (store, msg) = (store.clone(), msg.map(str::to_owned));
        async move {
            store
                .list_attempts(alice.id, msg.as_deref(), &f)
                .await
                .unwrap()
                .into_iter()
                .map(|a| (a.msg_id, a.endpoint_id, a.status))
                .collect::<Vec<_>>()
        }
    };
    let f = |limit| ListFilter {
        limit,
        ..Default::default()
    };
    let (m0, m1) = (msgs[0].id.clone(), msgs[1].id.clone());
    let all = vec![
        (m1.clone(), ep.clone(), 0),
        (m0.clone(), ep2.clone(), 0),
        (m1.clone(), ep.clone(), 2),
        (m0.clone(), ep.clone(), 0),
    ];
    assert_eq!(list(None, f(10)).await, all, "newest first");
    assert_eq!(
        list(Some(&m0), f(10)).await,
        vec![all[1].clone(), all[3].clone()]
    );
    assert_eq!(
        list(
            None,
            ListFilter {
                endpoint_id: Some(ep.clone()),
                ..f(10)
            }
        )
        .await,
        vec![all[0].clone(), all[2].clone(), all[3].clone()]
    );
    assert_eq!(
        list(
            None,
            ListFilter {
                status: Some(2),
                ..f(10)
            }
        )
        .await,
        vec![all[2].clone()]
    );

    // paging with an attempt id as the cursor
    let mut walked = Vec::new();
    let mut it: Option<String> = None;
    loop {
        let page = store
            .list_attempts(
                alice.id,
                None,
                &ListFilter {
                    limit: 3,
                    iterator: it.clone(),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let Some(last) = page.last() else { break };
        it = Some(last.id.clone());
        walked.extend(
            page.into_iter()
                .map(|a| (a.msg_id, a.endpoint_id, a.status)),
        );
    }
    assert_eq!(walked, all);

    let any = store
        .list_attempts(alice.id, None, &f(1))
        .await
        .unwrap()
        .remove(0);
    expect_not_found(store.get_attempt(alice.id, &any.msg_id, "atmpt_nope").await);
    expect_not_found(store.get_attempt(bob.id, &any.msg_id, &any.id).await);
    expect_not_found(store.get_attempt(alice.id, &m0, &any.id).await);
    assert!(store
        .list_attempts(bob.id, None, &f(10))
        .await
        .unwrap()
        .is_empty());
}

pub async fn empty_queue(store: Arc<dyn Store>) {
    assert_eq!(store.next_due().await.unwrap(), None);
    assert_eq!(store.queue_depth().await.unwrap(), (0, None));
    let t = later();
    assert!(store
        .claim_due("n1", t, t + LEASE, 10)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(store.disable_failing_endpoints(t).await.unwrap(), 0);
}

pub async fn a_restarted_node_takes_back_its_own_leases(store: Arc<dyn Store>) {
    let (_alice, _ep, msgs) = setup(&*store, 2).await;
    let t0 = later();
    let mut jobs = store.claim_due("n1", t0, t0 + LEASE, 10).await.unwrap();
    assert_eq!(jobs.len(), 2);
    assert!(store
        .claim_due("n2", t0, t0 + LEASE, 10)
        .await
        .unwrap()
        .is_empty());
    // Another node's leases are not touched; n1's come back due now.
    assert_eq!(store.release_leases("n2", t0).await.unwrap(), 0);
    assert_eq!(store.release_leases("n1", t0).await.unwrap(), 2);
    let again = store.claim_due("n2", t0, t0 + LEASE, 10).await.unwrap();
    let mut ids: Vec<_> = again.iter().map(|j| j.msg_id.clone()).collect();
    ids.sort();
    let mut want: Vec<_> = msgs.iter().map(|m| m.id.clone()).collect();
    want.sort();
    assert_eq!(ids, want);
    assert_eq!(jobs.pop().map(|j| j.attempts), Some(0));
}

pub async fn throttle_slots_are_shared(store: Arc<dyn Store>) {
    let (_alice, ep, _msgs) = setup(&*store, 1).await;
    let t0 = later();
    // 4 messages per second: slots 250 ms apart, whoever asks.
    assert_eq!(store.reserve_send_slot(&ep, 4, t0).await.unwrap(), t0);
    assert_eq!(store.reserve_send_slot(&ep, 4, t0).await.unwrap(), t0 + 250);
    assert_eq!(
        store.reserve_send_slot(&ep, 4, t0 + 100).await.unwrap(),
        t0 + 500
    );
    // Once idle long enough, the next send may start at once.
    assert_eq!(
        store.reserve_send_slot(&ep, 4, t0 + 10_000).await.unwrap(),
        t0 + 10_000
    );
}

pub async fn claims_pass_over_skipped_endpoints(store: Arc<dyn Store>) {
    let (_alice, ep, _msgs) = setup(&*store, 2).await;
    let t0 = later();
    let skipped = store
        .claim_due_except("n1", t0, t0 + LEASE, 10, std::slice::from_ref(&ep))
        .await
        .unwrap();
    assert!(skipped.is_empty(), "{skipped:?}");
    let other = store
        .claim_due_except("n1", t0, t0 + LEASE, 10, &["ep_other".to_owned()])
        .await
        .unwrap();
    assert_eq!(other.len(), 2);
    assert!(other.iter().all(|j| j.endpoint_id == ep));
}

pub async fn next_due_leaves_out_what_cannot_be_claimed(store: Arc<dyn Store>) {
    let (alice, ep, _msgs) = setup(&*store, 1).await;
    let t0 = later();
    let due = store
        .next_due()
        .await
        .unwrap()
        .expect("one delivery is due");
    assert!(due <= t0);
    // An endpoint this node is saturated on: its pending rows are not this node's to wait for.
    assert_eq!(
        store
            .next_due_except(std::slice::from_ref(&ep))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .next_due_except(&["ep_other".to_owned()])
            .await
            .unwrap(),
        Some(due)
    );
    // Leased elsewhere: due again when the lease runs out, whichever endpoint it goes to.
    let jobs = store.claim_due("n2", t0, t0 + LEASE, 10).await.unwrap();
    assert_eq!(jobs.len(), 1);
    assert_eq!(
        store
            .next_due_except(std::slice::from_ref(&ep))
            .await
            .unwrap(),
        Some(t0 + LEASE)
    );
    // A disabled endpoint's deliveries wait, leased or not: nothing to wake up for.
    let cur = store.get_endpoint(alice.id, &ep).await.unwrap();
    store
        .update_endpoint(
            alice.id,
            &ep,
            EndpointInput {
                disabled: true,
                url: cur.url.clone(),
                ..endpoint_input(&cur.url)
            },
        )
        .await
        .unwrap();
    assert_eq!(store.next_due().await.unwrap(), None);
    assert!(store
        .claim_due("n1", t0 + 2 * LEASE, t0 + 3 * LEASE, 10)
        .await
        .unwrap()
        .is_empty());
}

pub async fn commits_hand_new_deliveries_to_the_attached_worker(store: Arc<dyn Store>) {
    let (alice, ep, _msgs) = setup(&*store, 0).await;
    let handoff = Handoff::new("n1", std::time::Duration::from_millis(LEASE as u64));
    store.attach_worker(Some(handoff.clone()));
    let wake = store.wakeup();
    let _ = tokio::time::timeout(std::time::Duration::from_millis(50), wake.notified()).await;
    let before = wall_ms();
    let msg = store
        .create_message(alice.id, message("t", Some("e1"), &["c"]))
        .await
        .unwrap();
    // Handed over after the commit, leased to n1, with all a send needs: no claim, no read.
    let jobs = handoff.take();
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    let job = &jobs[0];
    assert_eq!(
        (
            job.msg_id.as_str(),
            job.endpoint_id.as_str(),
            job.account_id
        ),
        (msg.id.as_str(), ep.as_str(), alice.id)
    );
    assert_eq!(job.payload, msg.payload);
    assert_eq!(job.secrets, vec!["sealed-1".to_owned()]);
    assert_eq!(
        (job.attempts, job.trigger_type, job.throttle_rate),
        (0, 0, Some(5))
    );
    assert_eq!(
        status_of(&*store, alice.id, &msg.id).await,
        DeliveryStatus::Sending
    );
    assert!(
        tokio::time::timeout(std::time::Duration::from_millis(50), wake.notified())
            .await
            .is_err(),
        "work leased to this node wakes nobody"
    );
    // Other nodes see nothing to claim until the lease runs out.
    assert!(store
        .claim_due("n2", before + LEASE - 1_000, before + 2 * LEASE, 10)
        .await
        .unwrap()
        .is_empty());
    assert!(store.next_due().await.unwrap().unwrap() >= before + LEASE);
    // A call that fails hands nothing over.
    let dup = store
        .create_message(alice.id, message("t", Some("e1"), &["c"]))
        .await;
    assert!(dup.is_err());
    assert!(handoff.take().is_empty());
    // Handing back: only the holder can; then due now for any node.
    let ids = [job.delivery_id];
    assert_eq!(
        store.release_deliveries("n2", &ids, before).await.unwrap(),
        0
    );
    assert_eq!(
        store.release_deliveries("n1", &ids, before).await.unwrap(),
        1
    );
    let again = store
        .claim_due("n2", later(), later() + LEASE, 10)
        .await
        .unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].payload, msg.payload);
    // Detached: new deliveries are pending again, and wake the workers.
    store.attach_worker(None);
    store
        .create_message(alice.id, message("t", None, &["c"]))
        .await
        .unwrap();
    assert!(handoff.take().is_empty());
    assert!(
        tokio::time::timeout(std::time::Duration::from_secs(5), wake.notified())
            .await
            .is_ok()
    );
    assert_eq!(
        store
            .claim_due("n2", later(), later() + LEASE, 10)
            .await
            .unwrap()
            .len(),
        1
    );
}

pub async fn a_batch_of_attempts_is_recorded_in_order(store: Arc<dyn Store>) {
    let (alice, ep, msgs) = setup(&*store, 3).await;
    let t0 = later();
    let jobs = store.claim_due("n1", t0, t0 + LEASE, 10).await.unwrap();
    assert_eq!(jobs.len(), 3);
    let pick = |m: &Message| jobs.iter().find(|j| j.msg_id == m.id).unwrap().clone();
    let retry = t0 + 5_000;
    let done = |m: &Message, result: AttemptResult, at: i64| Completion {
        job: pick(m),
        result,
        at,
    };
    // In the order made: a failure (retry), a success, a failure with no retry left.
    store
        .complete_deliveries(
            "n1",
            vec![
                done(&msgs[0], failed(Some(retry)), t0 + 1),
                done(&msgs[1], delivered(), t0 + 2),
                done(&msgs[2], failed(None), t0 + 3),
            ],
        )
        .await
        .unwrap();
    assert_eq!(
        status_of(&*store, alice.id, &msgs[0].id).await,
        DeliveryStatus::Pending
    );
    assert_eq!(
        status_of(&*store, alice.id, &msgs[1].id).await,
        DeliveryStatus::Success
    );
    assert_eq!(
        status_of(&*store, alice.id, &msgs[2].id).await,
        DeliveryStatus::Fail
    );
    let log = store
        .list_attempts(
            alice.id,
            None,
            &ListFilter {
                limit: 10,
                endpoint_id: Some(ep.clone()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        log.iter().map(|a| a.status).collect::<Vec<_>>(),
        vec![2, 0, 2],
        "newest first"
    );
    // The failure clock follows the last success: it started again at the third attempt.
    let e = store.get_endpoint(alice.id, &ep).await.unwrap();
    assert_eq!(e.first_failure_at, Some(t0 + 3));
    assert_eq!(store.next_due().await.unwrap(), Some(retry));
    // A batch whose lease was lost changes neither delivery nor endpoint, but is logged.
    let again = store
        .claim_due("n2", retry, retry + LEASE, 10)
        .await
        .unwrap();
    assert_eq!(again.len(), 1);
    store
        .complete_deliveries(
            "n1",
            vec![Completion {
                job: again[0].clone(),
                result: delivered(),
                at: retry + 1,
            }],
        )
        .await
        .unwrap();
    assert_eq!(
        status_of(&*store, alice.id, &msgs[0].id).await,
        DeliveryStatus::Sending
    );
    assert_eq!(
        store
            .get_endpoint(alice.id, &ep)
            .await
            .unwrap()
            .first_failure_at,
        Some(t0 + 3)
    );
    // A 410 in a batch disables the endpoint as gone.
    store
        .complete_deliveries(
            "n2",
            vec![Completion {
                job: again[0].clone(),
                result: AttemptResult {
                    status_code: 410,
                    disable: Some("gone".into()),
                    ..failed(None)
                },
                at: retry + 2,
            }],
        )
        .await
        .unwrap();
    let e = store.get_endpoint(alice.id, &ep).await.unwrap();
    assert!(e.disabled);
    assert_eq!(e.disabled_reason.as_deref(), Some("gone"));
    assert_eq!(
        status_of(&*store, alice.id, &msgs[0].id).await,
        DeliveryStatus::Fail
    );
}

pub async fn idempotency_keys_run_once_and_keep_the_response(store: Arc<dyn Store>) {
    let t = wall_ms();
    let begin = |key: &'static str, now: i64, expired_before: i64| {
        let store = store.clone();
        async move {
            store
                .idempotency_begin(key, now, expired_before)
                .await
                .unwrap()
        }
    };
    assert_eq!(begin("k1", t, 0).await, Idempotent::Run);
    assert_eq!(begin("k1", t + 1, 0).await, Idempotent::InFlight);
    store
        .idempotency_finish("k1", Some((201, b"made".to_vec())))
        .await
        .unwrap();
    assert_eq!(
        begin("k1", t + 2, 0).await,
        Idempotent::Done(201, b"made".to_vec())
    );

    // A failed request releases its key for a retry; a finished one keeps it.
    assert_eq!(begin("k2", t, 0).await, Idempotent::Run);
    store.idempotency_finish("k2", None).await.unwrap();
    store.idempotency_finish("k1", None).await.unwrap();
    assert_eq!(begin("k2", t + 1, 0).await, Idempotent::Run);
    assert!(matches!(
        begin("k1", t + 3, 0).await,
        Idempotent::Done(201, _)
    ));

    // A claim whose request died is taken over once its lock (30 s) ran out.
    assert_eq!(begin("k2", t + 20_000, 0).await, Idempotent::InFlight);
    assert_eq!(begin("k2", t + 31_000, 0).await, Idempotent::Run);

    // Keys created before `expired_before` are forgotten, finished or not.
    assert_eq!(begin("k1", t + 32_000, t + 1).await, Idempotent::Run);
}

pub async fn task_records_are_kept_per_account_newest_first(store: Arc<dyn Store>) {
    let alice = user(&*store, "alice").await;
    let bob = user(&*store, "bob").await;
    let rec = |id: &str, n: i64| format!(r#"{{"id":"{id}","status":"running","n":{n}}}"#);
    // The last write replaces t1's record, and makes it the newest.
    let writes = [
        ("t1", alice.id, 1),
        ("t2", alice.id, 1),
        ("t3", bob.id, 1),
        ("t1", alice.id, 2),
    ];
    for (now, (id, account, n)) in (1..).zip(writes) {
        store.put_task(id, account, &rec(id, n), now).await.unwrap();
    }

    assert_eq!(
        store.get_task("t1").await.unwrap(),
        Some((alice.id, rec("t1", 2)))
    );
    assert_eq!(store.get_task("t_nope").await.unwrap(), None);
    assert_eq!(
        store.list_tasks(&[alice.id]).await.unwrap(),
        vec![rec("t1", 2), rec("t2", 1)]
    );
    assert_eq!(
        store.list_tasks(&[bob.id, alice.id]).await.unwrap(),
        vec![rec("t3", 1), rec("t1", 2), rec("t2", 1)]
    );
    assert!(store.list_tasks(&[]).await.unwrap().is_empty());
}
