//! A message's lifecycle: tags and the tag filter, payload and attempt-response expunge (what
//! had not gone out is canceled, and a lost lease records nothing), payload retention, and the
//! retention sweep (old and finished only, never a delivery still to make, in bounded batches).
//! Sweeps take explicit `now` values, so "old" is a `now` days ahead of the store's clock.

use std::sync::Arc;

use datahooks_store::lifecycle::{MessageExtras, EXPIRED_PAYLOAD, EXPUNGED_RESPONSE};
use datahooks_store::webhooks::{DeliveryJob, DeliveryStatus, ListFilter, Message};
use datahooks_store::{Account, Store};

use crate::fanout::message;
use crate::support::*;

const LEASE: i64 = 30_000;
const DAY: i64 = 86_400_000;

async fn with_endpoint(store: &dyn Store) -> (Account, String) {
    let alice = user(store, "alice").await;
    let ep = store
        .create_endpoint(
            alice.id,
            endpoint_input("https://hooks.example/a"),
            "s".into(),
        )
        .await
        .unwrap();
    (alice, ep.id)
}

async fn msg(
    store: &dyn Store,
    a: &Account,
    t: &str,
    tags: &[&str],
    expire: Option<i64>,
) -> Message {
    store
        .create_message_with(
            a.id,
            message(t, None, &["c"]),
            MessageExtras {
                tags: tags.iter().map(|s| (*s).to_owned()).collect(),
                payload_expire_ms: expire,
            },
        )
        .await
        .unwrap()
}

async fn claim_all(store: &dyn Store, now: i64) -> Vec<DeliveryJob> {
    store.claim_due("n1", now, now + LEASE, 100).await.unwrap()
}

fn job<'a>(jobs: &'a [DeliveryJob], m: &Message) -> &'a DeliveryJob {
    jobs.iter().find(|j| j.msg_id == m.id).unwrap()
}

async fn status_of(store: &dyn Store, a: &Account, m: &Message) -> DeliveryStatus {
    let views = store.message_deliveries(a.id, &m.id).await.unwrap();
    assert_eq!(views.len(), 1, "{views:?}");
    views[0].status
}

fn tagged(tag: &str) -> ListFilter {
    ListFilter {
        limit: 100,
        tag: Some(tag.to_owned()),
        ..Default::default()
    }
}

pub async fn tags_are_kept_and_filter_messages_and_attempts(store: Arc<dyn Store>) {
    let (alice, ep) = with_endpoint(&*store).await;
    let ab = msg(&*store, &alice, "t.a", &["a", "b"], None).await;
    let b = msg(&*store, &alice, "t.b", &["b"], None).await;
    let none = msg(&*store, &alice, "t.c", &[], None).await;
    assert_eq!(ab.tags, ["a", "b"]);
    assert_eq!(
        store.get_message(alice.id, &ab.id).await.unwrap().tags,
        ["a", "b"]
    );
    assert!(store
        .get_message(alice.id, &none.id)
        .await
        .unwrap()
        .tags
        .is_empty());
    let ids = |ms: Vec<Message>| ms.into_iter().map(|m| m.id).collect::<Vec<_>>();
    assert_eq!(
        ids(store.list_messages(alice.id, &tagged("a")).await.unwrap()),
        vec![ab.id.clone()]
    );
    assert_eq!(
        ids(store.list_messages(alice.id, &tagged("b")).await.unwrap()),
        [b.id.clone(), ab.id.clone()]
    );
    assert!(store
        .list_messages(alice.id, &tagged("zz"))
        .await
        .unwrap()
        .is_empty());
    // A tag matches whole, not as a substring.
    msg(&*store, &alice, "t.d", &["ab"], None).await;
    assert_eq!(
        store
            .list_messages(alice.id, &tagged("a"))
            .await
            .unwrap()
            .len(),
        1
    );

    let now = later();
    for j in claim_all(&*store, now).await {
        store
            .complete_delivery("n1", &j, delivered(), now)
            .await
            .unwrap();
    }
    let f = ListFilter {
        endpoint_id: Some(ep),
        ..tagged("b")
    };
    let atts = store.list_attempts(alice.id, None, &f).await.unwrap();
    let mut got: Vec<_> = atts.iter().map(|a| a.msg_id.clone()).collect();
    got.sort();
    let mut want = vec![ab.id.clone(), b.id.clone()];
    want.sort();
    assert_eq!(got, want);
    assert!(store
        .list_attempts(alice.id, Some(&none.id), &tagged("b"))
        .await
        .unwrap()
        .is_empty());
    // Another account's tags are not seen.
    let bob = user(&*store, "bob").await;
    assert!(store
        .list_messages(bob.id, &tagged("a"))
        .await
        .unwrap()
        .is_empty());
}

pub async fn expunge_cancels_what_has_not_gone_out(store: Arc<dyn Store>) {
    let (alice, ep) = with_endpoint(&*store).await;
    let done = msg(&*store, &alice, "t.done", &["x"], None).await;
    let retrying = msg(&*store, &alice, "t.retry", &[], None).await;
    let leased = msg(&*store, &alice, "t.leased", &[], None).await;
    let now = later();
    let jobs = claim_all(&*store, now).await;
    assert_eq!(jobs.len(), 3);
    store
        .complete_delivery("n1", job(&jobs, &done), delivered(), now)
        .await
        .unwrap();
    store
        .complete_delivery("n1", job(&jobs, &retrying), failed(Some(now + 5_000)), now)
        .await
        .unwrap();
    assert_eq!(
        status_of(&*store, &alice, &retrying).await,
        DeliveryStatus::Pending
    );

    // What went out keeps its outcome; pending and leased deliveries are canceled.
    assert_eq!(store.expunge_message(alice.id, &done.id).await.unwrap(), 0);
    assert_eq!(
        store.expunge_message(alice.id, &retrying.id).await.unwrap(),
        1
    );
    // By event id too (none here), and by id; twice is harmless.
    assert_eq!(
        store.expunge_message(alice.id, &leased.id).await.unwrap(),
        1
    );
    assert_eq!(
        store.expunge_message(alice.id, &leased.id).await.unwrap(),
        0
    );
    for m in [&done, &retrying, &leased] {
        let got = store.get_message(alice.id, &m.id).await.unwrap();
        assert_eq!(got.payload, EXPIRED_PAYLOAD);
        assert_eq!(got.event_type, m.event_type, "the message itself stays");
    }
    assert_eq!(
        store.get_message(alice.id, &done.id).await.unwrap().tags,
        ["x"]
    );
    assert_eq!(
        status_of(&*store, &alice, &done).await,
        DeliveryStatus::Success
    );
    assert_eq!(
        status_of(&*store, &alice, &retrying).await,
        DeliveryStatus::Canceled
    );
    assert_eq!(
        status_of(&*store, &alice, &leased).await,
        DeliveryStatus::Canceled
    );
    let stats = store.endpoint_stats(alice.id, &ep).await.unwrap();
    assert_eq!(
        (stats.success, stats.pending, stats.sending, stats.canceled),
        (1, 0, 0, 2)
    );
    // The worker that held the lease finishes: its outcome no longer moves the delivery.
    store
        .complete_delivery("n1", job(&jobs, &leased), delivered(), now + 10)
        .await
        .unwrap();
    assert_eq!(
        status_of(&*store, &alice, &leased).await,
        DeliveryStatus::Canceled
    );
    // Nothing is due any more, ever.
    assert!(claim_all(&*store, now + 365 * DAY).await.is_empty());
    // Canceled is a status filter.
    let canceled = ListFilter {
        limit: 100,
        status: Some(DeliveryStatus::Canceled.code()),
        endpoint_id: Some(ep.clone()),
        ..Default::default()
    };
    assert_eq!(
        store
            .list_messages(alice.id, &canceled)
            .await
            .unwrap()
            .len(),
        2
    );
    // An expunged message cannot be sent again, nor recovered.
    expect_invalid(
        store.resend(alice.id, &done.id, &ep).await,
        Some("payload_expunged"),
    );
    let failed_msg = msg(&*store, &alice, "t.failed", &[], None).await;
    let j = claim_all(&*store, now + 1).await;
    store
        .complete_delivery("n1", job(&j, &failed_msg), failed(None), now + 1)
        .await
        .unwrap();
    store
        .expunge_message(alice.id, &failed_msg.id)
        .await
        .unwrap();
    let n = store
        .recover(alice.id, &ep, wall_ms() - DAY, wall_ms() + DAY)
        .await
        .unwrap();
    assert_eq!(n, 0, "an expunged message is not recovered");
    // Unknown or other accounts' messages are not found.
    expect_not_found(store.expunge_message(alice.id, "msg_nope").await);
    let bob = user(&*store, "bob").await;
    expect_not_found(store.expunge_message(bob.id, &done.id).await);
}

pub async fn attempt_responses_are_expunged_one_at_a_time(store: Arc<dyn Store>) {
    let (alice, _ep) = with_endpoint(&*store).await;
    let m1 = msg(&*store, &alice, "t.1", &[], None).await;
    let m2 = msg(&*store, &alice, "t.2", &[], None).await;
    let now = later();
    for j in claim_all(&*store, now).await {
        store
            .complete_delivery("n1", &j, delivered(), now)
            .await
            .unwrap();
    }
    let all = ListFilter {
        limit: 100,
        ..Default::default()
    };
    let a1 = store
        .list_attempts(alice.id, Some(&m1.id), &all)
        .await
        .unwrap()
        .remove(0);
    let a2 = store
        .list_attempts(alice.id, Some(&m2.id), &all)
        .await
        .unwrap()
        .remove(0);
    store
        .expunge_attempt(alice.id, &m1.id, &a1.id)
        .await
        .unwrap();
    let got = store.get_attempt(alice.id, &m1.id, &a1.id).await.unwrap();
    assert_eq!(got.response, EXPUNGED_RESPONSE);
    assert_eq!(
        (got.status, got.response_status_code),
        (a1.status, a1.response_status_code)
    );
    assert_eq!(
        store
            .get_attempt(alice.id, &m2.id, &a2.id)
            .await
            .unwrap()
            .response,
        "ok"
    );
    // The message's payload is untouched; a wrong pair is not found.
    assert_eq!(
        store.get_message(alice.id, &m1.id).await.unwrap().payload,
        m1.payload
    );
    expect_not_found(store.expunge_attempt(alice.id, &m1.id, &a2.id).await);
    let bob = user(&*store, "bob").await;
    expect_not_found(store.expunge_attempt(bob.id, &m1.id, &a1.id).await);
}

pub async fn payload_retention_expires_payloads_at_their_time(store: Arc<dyn Store>) {
    let (alice, _ep) = with_endpoint(&*store).await;
    let t = wall_ms();
    let short = msg(&*store, &alice, "t.short", &[], Some(t + DAY)).await;
    let long = msg(&*store, &alice, "t.long", &[], Some(t + 30 * DAY)).await;
    let plain = msg(&*store, &alice, "t.plain", &[], None).await;
    // Before its time nothing happens (retention off: no deletes either).
    let r = store.sweep(t + DAY - 1_000, None, 100).await.unwrap();
    assert_eq!((r.payloads_expired, r.messages), (0, 0));
    // After it, only that payload goes; its pending delivery is canceled.
    let r = store.sweep(t + 2 * DAY, None, 100).await.unwrap();
    assert_eq!((r.payloads_expired, r.messages), (1, 0));
    assert_eq!(
        store
            .get_message(alice.id, &short.id)
            .await
            .unwrap()
            .payload,
        EXPIRED_PAYLOAD
    );
    assert_eq!(
        status_of(&*store, &alice, &short).await,
        DeliveryStatus::Canceled
    );
    assert_eq!(
        store.get_message(alice.id, &long.id).await.unwrap().payload,
        long.payload
    );
    assert_eq!(
        status_of(&*store, &alice, &long).await,
        DeliveryStatus::Pending
    );
    assert_eq!(
        store
            .get_message(alice.id, &plain.id)
            .await
            .unwrap()
            .payload,
        plain.payload
    );
    // Once is enough.
    let r = store.sweep(t + 3 * DAY, None, 100).await.unwrap();
    assert_eq!(r.payloads_expired, 0);
}

pub async fn sweep_deletes_old_finished_data_only(store: Arc<dyn Store>) {
    // A platform event (and its message, which no endpoint wanted) before any endpoint.
    let owner = hooked_user(&*store, "owner").await;
    let seq0 = last_seq(&*store).await;
    dataset(&*store, &owner, "flowers", false).await;
    assert!(last_seq(&*store).await > seq0);

    let (alice, ep) = with_endpoint(&*store).await;
    let done = msg(&*store, &alice, "t.done", &[], None).await;
    let dead = msg(&*store, &alice, "t.dead", &[], None).await;
    let waiting = msg(&*store, &alice, "t.waiting", &[], None).await;
    let now = later();
    let jobs = claim_all(&*store, now).await;
    store
        .complete_delivery("n1", job(&jobs, &done), delivered(), now)
        .await
        .unwrap();
    store
        .complete_delivery("n1", job(&jobs, &dead), failed(None), now)
        .await
        .unwrap();
    store
        .complete_delivery("n1", job(&jobs, &waiting), failed(Some(now + DAY)), now)
        .await
        .unwrap();

    // Young data stays.
    let r = store.sweep(wall_ms(), Some(DAY), 500).await.unwrap();
    assert_eq!((r.messages, r.attempts, r.events), (0, 0, 0));

    // Ten days on, with 1 day of retention: finished messages, their attempts and the event go.
    let future = wall_ms() + 10 * DAY;
    let r = store.sweep(future, Some(DAY), 500).await.unwrap();
    assert!(r.messages >= 2 && r.attempts == 2, "{r:?}");
    assert!(r.events >= 1, "{r:?}");
    expect_not_found(store.get_message(alice.id, &done.id).await);
    expect_not_found(store.get_message(alice.id, &dead.id).await);
    assert!(store
        .message_deliveries(alice.id, &waiting.id)
        .await
        .is_ok());
    assert!(store.events_after(seq0, 100).await.unwrap().is_empty());
    // The message still to deliver is kept, with its delivery and attempt log.
    assert_eq!(
        status_of(&*store, &alice, &waiting).await,
        DeliveryStatus::Pending
    );
    let all = ListFilter {
        limit: 100,
        endpoint_id: Some(ep.clone()),
        ..Default::default()
    };
    let left = store.list_attempts(alice.id, None, &all).await.unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].msg_id, waiting.id);
    let stats = store.endpoint_stats(alice.id, &ep).await.unwrap();
    assert_eq!((stats.success, stats.fail, stats.pending), (0, 0, 1));

    // Bounded batches: 5 old finished messages, 2 per pass.
    for i in 0..5 {
        let m = msg(&*store, &alice, &format!("t.b{i}"), &[], None).await;
        let j = claim_all(&*store, later()).await;
        store
            .complete_delivery("n1", job(&j, &m), delivered(), later())
            .await
            .unwrap();
    }
    let mut passes = Vec::new();
    loop {
        let r = store.sweep(future, Some(DAY), 2).await.unwrap();
        passes.push(r.messages);
        if !r.more(2) {
            break;
        }
    }
    assert_eq!(passes, [2, 2, 1]);
    // Retention off deletes nothing at all.
    let r = store.sweep(future + 365 * DAY, None, 500).await.unwrap();
    assert_eq!((r.messages, r.events, r.idempotency), (0, 0, 0));
    assert_eq!(
        status_of(&*store, &alice, &waiting).await,
        DeliveryStatus::Pending
    );
}

pub async fn disabling_webhooks_cancels_queued_deliveries_until_recovered(store: Arc<dyn Store>) {
    let alice = hooked_user(&*store, "alice").await;
    let ep = store
        .create_endpoint(
            alice.id,
            endpoint_input("https://hooks.example/a"),
            "s".into(),
        )
        .await
        .unwrap()
        .id;
    let sent = msg(&*store, &alice, "t.sent", &[], None).await;
    let retrying = msg(&*store, &alice, "t.retry", &[], None).await;
    let leased = msg(&*store, &alice, "t.leased", &[], None).await;
    let queued = msg(&*store, &alice, "t.queued", &[], None).await;
    let now = later();
    let jobs = store.claim_due("n1", now, now + LEASE, 3).await.unwrap();
    assert_eq!(jobs.len(), 3);
    store
        .complete_delivery("n1", job(&jobs, &sent), delivered(), now)
        .await
        .unwrap();
    store
        .complete_delivery("n1", job(&jobs, &retrying), failed(Some(now + 5_000)), now)
        .await
        .unwrap();
    // Bob's queued delivery is his own business.
    let bob = hooked_user(&*store, "bob").await;
    store
        .create_endpoint(
            bob.id,
            endpoint_input("https://hooks.example/b"),
            "s".into(),
        )
        .await
        .unwrap();
    let bobs = msg(&*store, &bob, "t.bob", &[], None).await;

    store.set_webhooks_enabled(alice.id, false).await.unwrap();
    for m in [&retrying, &leased, &queued] {
        assert_eq!(
            status_of(&*store, &alice, m).await,
            DeliveryStatus::Canceled,
            "{}",
            m.event_type
        );
    }
    assert_eq!(
        status_of(&*store, &alice, &sent).await,
        DeliveryStatus::Success
    );
    assert_eq!(
        status_of(&*store, &bob, &bobs).await,
        DeliveryStatus::Pending
    );
    // The lease holder's late result moves nothing; nothing of alice's is due, ever.
    store
        .complete_delivery("n1", job(&jobs, &leased), delivered(), now + 1)
        .await
        .unwrap();
    assert_eq!(
        status_of(&*store, &alice, &leased).await,
        DeliveryStatus::Canceled
    );
    let due = store
        .claim_due("n1", now + 365 * DAY, now + 366 * DAY, 100)
        .await
        .unwrap();
    assert_eq!(
        due.iter().map(|j| &j.msg_id).collect::<Vec<_>>(),
        [&bobs.id]
    );

    // Enabling again brings nothing back by itself...
    store.set_webhooks_enabled(alice.id, true).await.unwrap();
    assert_eq!(
        status_of(&*store, &alice, &queued).await,
        DeliveryStatus::Canceled
    );
    assert!(store
        .claim_due("n2", later(), later() + LEASE, 100)
        .await
        .unwrap()
        .is_empty());
    // ...recover does: the canceled ones, not the delivered one.
    let n = store
        .recover(alice.id, &ep, wall_ms() - DAY, wall_ms() + DAY)
        .await
        .unwrap();
    assert_eq!(n, 3);
    let t = later();
    let mut again: Vec<_> = store
        .claim_due("n2", t, t + LEASE, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|j| (j.msg_id, j.trigger_type))
        .collect();
    again.sort();
    let mut want = vec![
        (retrying.id.clone(), 1),
        (leased.id.clone(), 1),
        (queued.id.clone(), 1),
    ];
    want.sort();
    assert_eq!(again, want);
}
