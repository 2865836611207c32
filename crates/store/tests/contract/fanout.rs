//! Fan-out of platform events to the owner's endpoints, and the message API.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use datahooks_domain::model::Role;
use datahooks_store::webhooks::{DeliveryStatus, EndpointInput, ListFilter, Message, NewMessage};
use datahooks_store::Store;

use crate::support::*;

/// The endpoints a message was queued for.
async fn queued_for(store: &dyn Store, account_id: i64, msg_id: &str) -> BTreeSet<String> {
    store
        .message_deliveries(account_id, msg_id)
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.endpoint_id)
        .collect()
}

fn set(ids: &[&str]) -> BTreeSet<String> {
    ids.iter().map(|s| (*s).to_owned()).collect()
}

pub fn message(event_type: &str, event_id: Option<&str>, channels: &[&str]) -> NewMessage {
    NewMessage {
        event_type: event_type.to_owned(),
        event_id: event_id.map(str::to_owned),
        channels: channels.iter().map(|c| (*c).to_owned()).collect(),
        payload: format!("{{\"type\":\"{event_type}\"}}"),
        only_endpoint: None,
    }
}

fn all_messages() -> ListFilter {
    ListFilter {
        limit: 100,
        ..Default::default()
    }
}

pub async fn platform_changes_fan_out_to_endpoints_that_want_them(store: Arc<dyn Store>) {
    let alice = hooked_user(&*store, "alice").await;
    let mk = |input: EndpointInput| {
        let store = store.clone();
        async move {
            store
                .create_endpoint(alice.id, input, "sealed".into())
                .await
                .unwrap()
                .id
        }
    };
    let url = "https://hooks.example/x";
    let all = mk(endpoint_input(url)).await;
    let typed = mk(EndpointInput {
        event_types: Some(vec!["sample.created".into()]),
        ..endpoint_input(url)
    })
    .await;
    let on_ds = mk(EndpointInput {
        channels: Some(vec!["alice/ds".into()]),
        ..endpoint_input(url)
    })
    .await;
    let on_other = mk(EndpointInput {
        channels: Some(vec!["alice/other".into()]),
        ..endpoint_input(url)
    })
    .await;
    let disabled = mk(EndpointInput {
        disabled: true,
        ..endpoint_input(url)
    })
    .await;

    let mark = last_seq(&*store).await;
    let r = dataset(&*store, &alice, "ds", false).await;
    samples(&*store, &r, &["a.png"]).await;
    let events = store.events_after(mark, 10).await.unwrap();
    assert_eq!(events.len(), 2);

    // the event's id is its message's id, with the same payload, on the dataset's channel
    let m: Message = store.get_message(alice.id, &events[0].id).await.unwrap();
    assert_eq!(m.id, events[0].id);
    assert_eq!(m.account_id, alice.id);
    assert_eq!(m.event_type, "dataset.created");
    assert_eq!(m.event_id, None);
    assert_eq!(m.channels, ["alice/ds"]);
    assert_eq!(m.payload, events[0].payload);
    assert_api_time(&m.created_at);

    assert_eq!(
        queued_for(&*store, alice.id, &events[0].id).await,
        set(&[&all, &on_ds])
    );
    assert_eq!(
        queued_for(&*store, alice.id, &events[1].id).await,
        set(&[&all, &typed, &on_ds])
    );
    let views = store
        .message_deliveries(alice.id, &events[1].id)
        .await
        .unwrap();
    assert!(views.iter().all(|v| v.status == DeliveryStatus::Pending
        && v.msg_id == events[1].id
        && v.next_attempt.is_some()));
    for (ep, n) in [
        (&all, 2),
        (&typed, 1),
        (&on_ds, 2),
        (&on_other, 0),
        (&disabled, 0),
    ] {
        let s = store.endpoint_stats(alice.id, ep).await.unwrap();
        assert_eq!(s.pending, n, "endpoint {ep}");
        assert_eq!((s.success, s.sending, s.fail), (0, 0, 0));
    }
    assert_eq!(store.queue_depth().await.unwrap().0, 5);
    let listed = store
        .list_messages(alice.id, &all_messages())
        .await
        .unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0].id, events[1].id, "newest first");
}

pub async fn no_fan_out_while_webhooks_are_disabled(store: Arc<dyn Store>) {
    let alice = user(&*store, "alice").await;
    let ep = store
        .create_endpoint(
            alice.id,
            endpoint_input("https://hooks.example/a"),
            "s".into(),
        )
        .await
        .unwrap();
    let r = dataset(&*store, &alice, "ds", false).await;
    samples(&*store, &r, &["a.png"]).await;
    assert_eq!(
        store.events_after(0, 100).await.unwrap().len(),
        2,
        "events are kept"
    );
    assert!(store
        .list_messages(alice.id, &all_messages())
        .await
        .unwrap()
        .is_empty());
    assert_eq!(store.queue_depth().await.unwrap(), (0, None));
    assert_eq!(store.next_due().await.unwrap(), None);

    store.set_webhooks_enabled(alice.id, true).await.unwrap();
    samples(&*store, &r, &["b.png"]).await;
    assert_eq!(
        store
            .endpoint_stats(alice.id, &ep.id)
            .await
            .unwrap()
            .pending,
        1
    );

    // Disabling cancels the queued delivery (nothing more is sent) and queues nothing new.
    store.set_webhooks_enabled(alice.id, false).await.unwrap();
    samples(&*store, &r, &["c.png"]).await;
    let stats = store.endpoint_stats(alice.id, &ep.id).await.unwrap();
    assert_eq!((stats.pending, stats.canceled), (0, 1));
    assert_eq!(
        store
            .list_messages(alice.id, &all_messages())
            .await
            .unwrap()
            .len(),
        1
    );
}

pub async fn fan_out_goes_to_the_dataset_owner_only(store: Arc<dyn Store>) {
    let alice = hooked_user(&*store, "alice").await;
    let bob = hooked_user(&*store, "bob").await;
    let mut org = store.create_org("acme", "alice").await.unwrap();
    org = store.set_webhooks_enabled(org.id, true).await.unwrap();
    let ep = |account: i64| {
        let store = store.clone();
        async move {
            store
                .create_endpoint(
                    account,
                    endpoint_input("https://hooks.example/x"),
                    "s".into(),
                )
                .await
                .unwrap()
                .id
        }
    };
    let alice_ep = ep(alice.id).await;
    let bob_ep = ep(bob.id).await;
    let org_ep = ep(org.id).await;
    let stats = |account: i64, id: String| {
        let store = store.clone();
        async move { store.endpoint_stats(account, &id).await.unwrap().pending }
    };

    // bob, a collaborator, changes alice's dataset: alice's webhooks hear of it
    let r = dataset(&*store, &alice, "ds", false).await;
    store
        .add_collaborator(&r, "bob", Role::Manager)
        .await
        .unwrap();
    let (br, _) = store.dataset_access(bob.id, "alice", "ds").await.unwrap();
    store
        .create_samples(&br, vec![new_sample("a.png")], "bob", false)
        .await
        .unwrap();
    assert_eq!(stats(alice.id, alice_ep.clone()).await, 3);
    assert_eq!(stats(bob.id, bob_ep.clone()).await, 0);
    assert!(store
        .list_messages(bob.id, &all_messages())
        .await
        .unwrap()
        .is_empty());

    // bob's own dataset goes to bob
    dataset(&*store, &bob, "mine", false).await;
    assert_eq!(stats(bob.id, bob_ep.clone()).await, 1);
    assert_eq!(stats(alice.id, alice_ep.clone()).await, 3);

    // an organization's dataset goes to the organization, not to its admin
    let od = dataset(&*store, &org, "org-ds", false).await;
    samples(&*store, &od, &["x.png"]).await;
    assert_eq!(stats(org.id, org_ep.clone()).await, 2);
    assert_eq!(stats(alice.id, alice_ep).await, 3);
    let org_msgs = store.list_messages(org.id, &all_messages()).await.unwrap();
    assert!(org_msgs.iter().all(|m| m.channels == ["acme/org-ds"]));
    // one account cannot read another's messages
    expect_not_found(store.get_message(alice.id, &org_msgs[0].id).await);
    expect_not_found(store.message_deliveries(alice.id, &org_msgs[0].id).await);
}

pub async fn create_message_queues_for_subscribers(store: Arc<dyn Store>) {
    let alice = user(&*store, "alice").await;
    let bob = user(&*store, "bob").await;
    let mk = |input: EndpointInput| {
        let store = store.clone();
        async move {
            store
                .create_endpoint(alice.id, input, "s".into())
                .await
                .unwrap()
                .id
        }
    };
    let url = "https://hooks.example/x";
    let all = mk(endpoint_input(url)).await;
    let typed = mk(EndpointInput {
        event_types: Some(vec!["invoice.paid".into()]),
        ..endpoint_input(url)
    })
    .await;
    let chan = mk(EndpointInput {
        channels: Some(vec!["c2".into()]),
        ..endpoint_input(url)
    })
    .await;

    let m = store
        .create_message(alice.id, message("invoice.paid", Some("evt-1"), &["c1"]))
        .await
        .unwrap();
    assert!(m.id.starts_with("msg_"), "{}", m.id);
    assert_eq!(m.account_id, alice.id);
    assert_eq!(m.event_type, "invoice.paid");
    assert_eq!(m.event_id.as_deref(), Some("evt-1"));
    assert_eq!(m.channels, ["c1"]);
    assert_eq!(m.payload, "{\"type\":\"invoice.paid\"}");
    assert_api_time(&m.created_at);
    assert_eq!(store.get_message(alice.id, &m.id).await.unwrap(), m);
    assert_eq!(store.get_message(alice.id, "evt-1").await.unwrap(), m);
    expect_not_found(store.get_message(bob.id, &m.id).await);
    assert_eq!(
        queued_for(&*store, alice.id, &m.id).await,
        set(&[&all, &typed])
    );

    let m2 = store
        .create_message(alice.id, message("invoice.sent", None, &["c1", "c2"]))
        .await
        .unwrap();
    assert!(m2.seq > m.seq);
    assert_eq!(
        queued_for(&*store, alice.id, &m2.id).await,
        set(&[&all, &chan])
    );
    // several messages may go without an event id
    store
        .create_message(alice.id, message("invoice.sent", None, &[]))
        .await
        .unwrap();

    // event ids are unique per account
    expect_exists(
        store
            .create_message(alice.id, message("other", Some("evt-1"), &[]))
            .await,
    );
    assert_eq!(
        store
            .list_messages(alice.id, &all_messages())
            .await
            .unwrap()
            .len(),
        3
    );
    let bobs = store
        .create_message(bob.id, message("other", Some("evt-1"), &[]))
        .await
        .unwrap();
    assert_eq!(store.get_message(bob.id, "evt-1").await.unwrap(), bobs);

    // only_endpoint: that endpoint alone, regardless of its subscriptions
    let forced = store
        .create_message(
            alice.id,
            NewMessage {
                only_endpoint: Some(chan.clone()),
                ..message("invoice.paid", None, &["c1"])
            },
        )
        .await
        .unwrap();
    assert_eq!(
        queued_for(&*store, alice.id, &forced.id).await,
        set(&[&chan])
    );
}

pub async fn list_messages_filters_and_pages(store: Arc<dyn Store>) {
    let alice = user(&*store, "alice").await;
    let bob = user(&*store, "bob").await;
    let ep = store
        .create_endpoint(
            alice.id,
            EndpointInput {
                event_types: Some(vec!["a".into()]),
                ..endpoint_input("https://hooks.example/x")
            },
            "s".into(),
        )
        .await
        .unwrap();
    let mut made = Vec::new();
    let mut mid = 0;
    for (i, (t, ch)) in [
        ("a", "c1"),
        ("b", "c1"),
        ("a", "c2"),
        ("b", "c2"),
        ("a", "c1"),
    ]
    .into_iter()
    .enumerate()
    {
        if i == 3 {
            tokio::time::sleep(Duration::from_millis(5)).await;
            mid = wall_ms();
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        made.push(
            store
                .create_message(alice.id, message(t, None, &[ch]))
                .await
                .unwrap(),
        );
    }
    store
        .create_message(bob.id, message("a", None, &["c1"]))
        .await
        .unwrap();
    let ids = |v: Vec<Message>| v.into_iter().map(|m| m.id).collect::<Vec<_>>();
    let want = |idx: &[usize]| idx.iter().map(|i| made[*i].id.clone()).collect::<Vec<_>>();
    let list = |f: ListFilter| {
        let store = store.clone();
        async move { store.list_messages(alice.id, &f).await.unwrap() }
    };

    assert_eq!(ids(list(all_messages()).await), want(&[4, 3, 2, 1, 0]));
    assert_eq!(
        ids(list(ListFilter {
            event_types: vec!["a".into()],
            ..all_messages()
        })
        .await),
        want(&[4, 2, 0])
    );
    assert_eq!(
        ids(list(ListFilter {
            event_types: vec!["a".into(), "b".into()],
            channel: Some("c2".into()),
            ..all_messages()
        })
        .await),
        want(&[3, 2])
    );
    assert_eq!(
        ids(list(ListFilter {
            after: Some(mid),
            ..all_messages()
        })
        .await),
        want(&[4, 3])
    );
    assert_eq!(
        ids(list(ListFilter {
            before: Some(mid),
            ..all_messages()
        })
        .await),
        want(&[2, 1, 0])
    );
    // messages queued for an endpoint, and by delivery status
    assert_eq!(
        ids(list(ListFilter {
            endpoint_id: Some(ep.id.clone()),
            ..all_messages()
        })
        .await),
        want(&[4, 2, 0])
    );
    let now = later();
    let jobs = store.claim_due("n1", now, now + 30_000, 100).await.unwrap();
    let job = jobs.iter().find(|j| j.msg_id == made[2].id).unwrap();
    store
        .complete_delivery("n1", job, delivered(), now + 1)
        .await
        .unwrap();
    assert_eq!(
        ids(list(ListFilter {
            status: Some(DeliveryStatus::Success as i64),
            ..all_messages()
        })
        .await),
        want(&[2])
    );
    assert_eq!(
        ids(list(ListFilter {
            endpoint_id: Some(ep.id.clone()),
            status: Some(DeliveryStatus::Sending as i64),
            ..all_messages()
        })
        .await),
        want(&[4, 0])
    );

    // paging: newest first, continuing after the last seq seen
    let mut walked = Vec::new();
    let mut iterator: Option<String> = None;
    loop {
        let page = list(ListFilter {
            limit: 2,
            iterator: iterator.clone(),
            ..Default::default()
        })
        .await;
        assert!(page.len() <= 2);
        let Some(last) = page.last() else { break };
        iterator = Some(last.seq.to_string());
        walked.extend(ids(page));
    }
    assert_eq!(walked, want(&[4, 3, 2, 1, 0]));
}

pub async fn list_messages_channel_filter_is_exact(store: Arc<dyn Store>) {
    let alice = user(&*store, "alice").await;
    let under = store
        .create_message(alice.id, message("t", None, &["alice/a_b"]))
        .await
        .unwrap();
    let lookalike = store
        .create_message(alice.id, message("t", None, &["alice/axb"]))
        .await
        .unwrap();
    let upper = store
        .create_message(alice.id, message("t", None, &["Alice/a_b"]))
        .await
        .unwrap();
    let find = |ch: &str| {
        let (store, ch) = (store.clone(), ch.to_owned());
        async move {
            store
                .list_messages(
                    alice.id,
                    &ListFilter {
                        channel: Some(ch),
                        ..all_messages()
                    },
                )
                .await
                .unwrap()
                .into_iter()
                .map(|m| m.id)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(find("alice/axb").await, [lookalike.id]);
    assert_eq!(
        find("alice/a_b").await,
        [under.id],
        "'_' in a channel is a literal underscore"
    );
    assert_eq!(
        find("Alice/a_b").await,
        [upper.id],
        "channels are case-sensitive"
    );
    assert!(find("alice/a%").await.is_empty(), "'%' is literal too");
}

/// Many messages at once (on PostgreSQL they share group commits): each is stored once with
/// its own deliveries, an `eventId` used twice is refused for the second sender only, and
/// every account's messages go to its own endpoints.
pub async fn concurrent_messages_each_commit_with_their_deliveries(store: Arc<dyn Store>) {
    let alice = user(&*store, "alice").await;
    let bob = user(&*store, "bob").await;
    let url = "https://hooks.example/x";
    let a_all = store
        .create_endpoint(alice.id, endpoint_input(url), "s".into())
        .await
        .unwrap()
        .id;
    let a_typed = store
        .create_endpoint(
            alice.id,
            EndpointInput {
                event_types: Some(vec!["paid".into()]),
                ..endpoint_input(url)
            },
            "s".into(),
        )
        .await
        .unwrap()
        .id;
    let b_all = store
        .create_endpoint(bob.id, endpoint_input(url), "s".into())
        .await
        .unwrap()
        .id;

    // 60 senders: alice and bob in turn, two event types, and each event id sent twice.
    let mut tasks = Vec::new();
    for i in 0..60usize {
        let store = store.clone();
        let account = if i % 2 == 0 { alice.id } else { bob.id };
        let event_type = if i % 4 < 2 { "paid" } else { "sent" };
        let event_id = format!("evt-{}", i / 4);
        tasks.push(tokio::spawn(async move {
            let r = store
                .create_message(account, message(event_type, Some(&event_id), &[]))
                .await;
            (account, event_type, event_id, r)
        }));
    }
    let mut stored = Vec::new();
    let mut refused = 0;
    for t in tasks {
        let (account, event_type, event_id, r) = t.await.unwrap();
        match r {
            Ok(m) => {
                assert_eq!(
                    (m.account_id, m.event_type.as_str(), m.event_id.as_deref()),
                    (account, event_type, Some(event_id.as_str()))
                );
                stored.push(m);
            }
            Err(e) => {
                assert!(
                    matches!(
                        e,
                        datahooks_store::Error::Domain(datahooks_domain::Error::AlreadyExists(_))
                    ),
                    "{e:?}"
                );
                refused += 1;
            }
        }
    }
    // Per account, ids evt-0..evt-14 each came twice: one stored, one refused.
    assert_eq!((stored.len(), refused), (30, 30));
    let seqs: BTreeSet<i64> = stored.iter().map(|m| m.seq).collect();
    assert_eq!(seqs.len(), 30, "every message has its own seq");
    for m in &stored {
        assert_eq!(store.get_message(m.account_id, &m.id).await.unwrap(), *m);
        let want = match (m.account_id == alice.id, m.event_type.as_str()) {
            (true, "paid") => set(&[&a_all, &a_typed]),
            (true, _) => set(&[&a_all]),
            (false, _) => set(&[&b_all]),
        };
        assert_eq!(
            queued_for(&*store, m.account_id, &m.id).await,
            want,
            "{m:?}"
        );
    }
    for account in [alice.id, bob.id] {
        let listed = store.list_messages(account, &all_messages()).await.unwrap();
        assert_eq!(listed.len(), 15);
    }
}

/// A message that cannot be stored (its account does not exist) fails alone: the messages
/// sent at the same moment (on PostgreSQL, in the same group commit) are all stored.
pub async fn a_bad_message_among_concurrent_ones_fails_alone(store: Arc<dyn Store>) {
    let alice = user(&*store, "alice").await;
    let ep = store
        .create_endpoint(
            alice.id,
            endpoint_input("https://hooks.example/x"),
            "s".into(),
        )
        .await
        .unwrap()
        .id;
    let mut tasks = Vec::new();
    for i in 0..40i64 {
        let store = store.clone();
        // Every tenth sender names an account that does not exist.
        let account = if i % 10 == 5 {
            alice.id + 1_000_000
        } else {
            alice.id
        };
        tasks.push(tokio::spawn(async move {
            let r = store
                .create_message(account, message("paid", Some(&format!("e{i}")), &[]))
                .await;
            (account, r)
        }));
    }
    let (mut stored, mut failed) = (0, 0);
    for t in tasks {
        match t.await.unwrap() {
            (a, Ok(m)) => {
                assert_eq!(a, alice.id);
                assert_eq!(queued_for(&*store, alice.id, &m.id).await, set(&[&ep]));
                stored += 1;
            }
            (a, Err(_)) => {
                assert_ne!(a, alice.id, "a good message failed");
                failed += 1;
            }
        }
    }
    assert_eq!((stored, failed), (36, 4));
    let listed = store
        .list_messages(alice.id, &all_messages())
        .await
        .unwrap();
    assert_eq!(listed.len(), 36);
}
