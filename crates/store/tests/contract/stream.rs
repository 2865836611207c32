//! The event stream's reads and the listen endpoint: messages in `seq` order after a given
//! one (per account), the commit signal, and forwarded events recorded as attempts of the
//! listen endpoint only.

use std::sync::Arc;
use std::time::Duration;

use datahooks_store::stream::{Forwarded, LISTEN_REASON, LISTEN_UID};
use datahooks_store::webhooks::{EndpointInput, ListFilter};
use datahooks_store::Store;

use crate::fanout::message;
use crate::support::*;

pub async fn messages_after_pages_in_seq_order_per_account(store: Arc<dyn Store>) {
    let alice = user(&*store, "alice").await;
    let bob = user(&*store, "bob").await;
    assert_eq!(store.last_message_seq(alice.id).await.unwrap(), 0);
    let mut sent = Vec::new();
    for i in 0..5 {
        sent.push(
            store
                .create_message(alice.id, message(&format!("t{i}"), None, &["alice/ds"]))
                .await
                .unwrap(),
        );
        store
            .create_message(bob.id, message("b", None, &["bob/ds"]))
            .await
            .unwrap();
    }
    let first = store.messages_after(alice.id, 0, 3).await.unwrap();
    assert_eq!(
        first.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(),
        sent[..3].iter().map(|m| m.id.as_str()).collect::<Vec<_>>()
    );
    assert_eq!(first[0].channels, vec!["alice/ds".to_owned()]);
    assert_eq!(first[0].payload, sent[0].payload);
    let rest = store
        .messages_after(alice.id, first[2].seq, 10)
        .await
        .unwrap();
    assert_eq!(
        rest.iter()
            .map(|m| m.event_type.as_str())
            .collect::<Vec<_>>(),
        vec!["t3", "t4"]
    );
    assert!(rest.windows(2).all(|w| w[0].seq < w[1].seq));
    assert_eq!(store.last_message_seq(alice.id).await.unwrap(), sent[4].seq);
    assert!(store
        .messages_after(alice.id, sent[4].seq, 10)
        .await
        .unwrap()
        .is_empty());
}

pub async fn a_commit_changes_the_commit_signal(store: Arc<dyn Store>) {
    let alice = user(&*store, "alice").await;
    let mut a = store.commits();
    let mut b = store.commits();
    a.borrow_and_update();
    b.borrow_and_update();
    store
        .create_message(alice.id, message("t", None, &[]))
        .await
        .unwrap();
    // Every receiver sees it (the worker's Notify would wake only one).
    for rx in [&mut a, &mut b] {
        tokio::time::timeout(Duration::from_secs(5), rx.changed())
            .await
            .expect("a commit is signalled")
            .unwrap();
    }
}

pub async fn forwarded_events_are_attempts_of_the_listen_endpoint(store: Arc<dyn Store>) {
    let alice = user(&*store, "alice").await;
    let bob = user(&*store, "bob").await;
    let listen = store
        .create_endpoint(
            alice.id,
            EndpointInput {
                uid: Some(LISTEN_UID.to_owned()),
                disabled: true,
                ..endpoint_input("listen:")
            },
            "sealed".into(),
        )
        .await
        .unwrap();
    store
        .mark_listen_endpoint(alice.id, &listen.id)
        .await
        .unwrap();
    let marked = store.get_endpoint(alice.id, LISTEN_UID).await.unwrap();
    assert!(marked.disabled);
    assert_eq!(marked.disabled_reason.as_deref(), Some(LISTEN_REASON));
    expect_not_found(store.mark_listen_endpoint(bob.id, &listen.id).await);

    let real = store
        .create_endpoint(alice.id, endpoint_input("https://a.example/"), "s".into())
        .await
        .unwrap();
    let m = store
        .create_message(alice.id, message("sample.created", None, &["alice/ds"]))
        .await
        .unwrap();
    // The worker never queues for the listen endpoint.
    let queued = store.message_deliveries(alice.id, &m.id).await.unwrap();
    assert_eq!(
        queued
            .iter()
            .map(|d| d.endpoint_id.as_str())
            .collect::<Vec<_>>(),
        vec![real.id.as_str()]
    );

    let fwd = |status_code: i64| Forwarded {
        msg_id: m.id.clone(),
        endpoint_id: listen.id.clone(),
        url: "http://localhost:3000/hook".into(),
        status_code,
        response: "thanks".into(),
        duration_ms: 7,
    };
    let ok = store.record_forwarded(alice.id, fwd(204)).await.unwrap();
    assert_eq!((ok.status, ok.response_status_code), (0, 204));
    let bad = store.record_forwarded(alice.id, fwd(500)).await.unwrap();
    assert_eq!(bad.status, 2);
    let all = ListFilter {
        limit: 10,
        ..Default::default()
    };
    let log = store
        .list_attempts(alice.id, Some(&m.id), &all)
        .await
        .unwrap();
    assert_eq!(log.len(), 2, "{log:?}");
    assert!(log.iter().all(|a| a.endpoint_id == listen.id
        && a.url == "http://localhost:3000/hook"
        && a.duration_ms == 7));
    assert_api_time(&log[0].timestamp);

    // Only the listen endpoint takes reports, and only for the account's own messages.
    expect_not_found(
        store
            .record_forwarded(
                alice.id,
                Forwarded {
                    endpoint_id: real.id.clone(),
                    ..fwd(200)
                },
            )
            .await,
    );
    expect_not_found(store.record_forwarded(bob.id, fwd(200)).await);
    let other = store
        .create_message(bob.id, message("t", None, &[]))
        .await
        .unwrap();
    expect_not_found(
        store
            .record_forwarded(
                alice.id,
                Forwarded {
                    msg_id: other.id,
                    ..fwd(200)
                },
            )
            .await,
    );
    assert_eq!(
        store
            .list_attempts(alice.id, Some(&m.id), &all)
            .await
            .unwrap()
            .len(),
        2
    );
}
