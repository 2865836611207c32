//! What the Svix-compatible API keeps beyond endpoints and messages: custom event types (one
//! account's own, archived rather than deleted), app portal links and the web sessions they
//! open (ended with the link, by logout or expire-all, or by revoking the key that made it),
//! and an endpoint's counts over a window of message times.

use std::sync::Arc;

use datahooks_domain::event_types::EventTypeInput;
use datahooks_store::webhooks::NewMessage;
use datahooks_store::{NewPortalToken, NewWebSession, Store};
use serde_json::json;

use crate::support::*;

const HOUR_MS: i64 = 3600 * 1000;

fn paid(description: &str) -> EventTypeInput {
    EventTypeInput {
        description: description.into(),
        schemas: Some(obj(json!({"1": {"type": "object"}}))),
        group_name: Some("billing".into()),
        feature_flags: Some(vec!["beta".into()]),
        ..Default::default()
    }
}

pub async fn event_types_are_kept_archived_and_expunged(store: Arc<dyn Store>) {
    let alice = user(store.as_ref(), "alice").await;
    let bob = user(store.as_ref(), "bob").await;
    let made = store
        .create_event_type(alice.id, "invoice.paid", paid("Paid"))
        .await
        .unwrap();
    assert_eq!(made.name, "invoice.paid");
    assert_eq!(made.input, paid("Paid"));
    assert_api_time(&made.created_at);
    let again = store
        .create_event_type(alice.id, "invoice.paid", paid("Again"))
        .await
        .unwrap_err();
    assert!(matches!(
        again,
        datahooks_store::Error::Domain(datahooks_domain::Error::AlreadyExists(_))
    ));
    assert_eq!(
        store.event_type(alice.id, "invoice.paid").await.unwrap(),
        Some(made.clone())
    );
    assert_eq!(
        store.event_type(bob.id, "invoice.paid").await.unwrap(),
        None
    );
    assert!(store
        .list_event_types(bob.id, true)
        .await
        .unwrap()
        .is_empty());

    // Upsert replaces all but the creation time.
    let mut changed = paid("Paid, changed");
    changed.deprecated = true;
    changed.schemas = None;
    let put = store
        .put_event_type(alice.id, "invoice.paid", changed.clone())
        .await
        .unwrap();
    assert_eq!(
        (put.input, put.created_at.as_str()),
        (changed, made.created_at.as_str())
    );
    store
        .put_event_type(alice.id, "invoice.refunded", paid("Refunded"))
        .await
        .unwrap();
    let names = |ts: Vec<datahooks_store::CustomEventType>| {
        ts.into_iter().map(|t| t.name).collect::<Vec<_>>()
    };
    assert_eq!(
        names(store.list_event_types(alice.id, false).await.unwrap()),
        ["invoice.paid", "invoice.refunded"]
    );

    // Delete archives: hidden unless asked for; expunge removes.
    store
        .delete_event_type(alice.id, "invoice.refunded", false)
        .await
        .unwrap();
    assert!(
        store
            .event_type(alice.id, "invoice.refunded")
            .await
            .unwrap()
            .unwrap()
            .input
            .archived
    );
    assert_eq!(
        names(store.list_event_types(alice.id, false).await.unwrap()),
        ["invoice.paid"]
    );
    assert_eq!(
        store.list_event_types(alice.id, true).await.unwrap().len(),
        2
    );
    store
        .delete_event_type(alice.id, "invoice.refunded", true)
        .await
        .unwrap();
    assert_eq!(
        store
            .event_type(alice.id, "invoice.refunded")
            .await
            .unwrap(),
        None
    );
    for expunge in [false, true] {
        assert!(matches!(
            store
                .delete_event_type(alice.id, "invoice.refunded", expunge)
                .await
                .unwrap_err(),
            datahooks_store::Error::Domain(datahooks_domain::Error::NotFound)
        ));
    }
    assert!(store
        .delete_event_type(bob.id, "invoice.paid", false)
        .await
        .is_err());
}

fn link<'a>(
    token: &'a str,
    account_id: i64,
    session_id: Option<&str>,
    now: i64,
) -> NewPortalToken<'a> {
    NewPortalToken {
        token,
        account_id,
        session_id: session_id.map(str::to_owned),
        read_only: session_id == Some("ro"),
        now_ms: now,
        expires_ms: now + HOUR_MS,
    }
}

fn session<'a>(token: &'a str, now: i64) -> NewWebSession<'a> {
    NewWebSession {
        token,
        csrf: "csrf",
        now_ms: now,
        expires_ms: now + 8 * HOUR_MS,
    }
}

pub async fn portal_links_open_sessions_that_end_with_them(store: Arc<dyn Store>) {
    let (alice, key) = store.create_user("alice", None).await.unwrap();
    let now = wall_ms();
    assert_eq!(
        store
            .create_portal_token("dh_nope_0000", link("L0", alice.id, None, now))
            .await
            .unwrap(),
        None,
        "a wrong key makes no link"
    );
    store
        .create_portal_token(&key.key, link("L1", alice.id, None, now))
        .await
        .unwrap()
        .unwrap();
    store
        .create_portal_token(&key.key, link("L2", alice.id, Some("ro"), now))
        .await
        .unwrap()
        .unwrap();
    assert!(store
        .open_portal_session("L0", session("s0", now))
        .await
        .unwrap()
        .is_none());

    let opened = store
        .open_portal_session("L1", session("s1", now))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((opened.user.id, opened.account_id), (alice.id, alice.id));
    let s = store.web_session("s1", now + 1).await.unwrap().unwrap();
    assert_eq!((s.portal_account, s.read_only), (Some(alice.id), false));
    assert_eq!(
        s.expires_ms,
        now + HOUR_MS,
        "a session ends with its link at the latest"
    );
    store
        .open_portal_session("L2", session("s2", now))
        .await
        .unwrap()
        .unwrap();
    assert!(
        store
            .web_session("s2", now + 1)
            .await
            .unwrap()
            .unwrap()
            .read_only
    );
    // An ordinary session is no portal session.
    store
        .open_web_session(&key.key, session("plain", now))
        .await
        .unwrap();
    let plain = store.web_session("plain", now + 1).await.unwrap().unwrap();
    assert_eq!((plain.portal_account, plain.read_only), (None, false));

    // Logout with the link's token ends it and its sessions, not the others.
    assert!(store.end_portal_token("L1").await.unwrap());
    assert!(!store.end_portal_token("L1").await.unwrap());
    assert!(store.web_session("s1", now + 2).await.unwrap().is_none());
    assert!(store
        .open_portal_session("L1", session("s1b", now + 2))
        .await
        .unwrap()
        .is_none());
    assert!(store.web_session("s2", now + 2).await.unwrap().is_some());
    assert!(store.web_session("plain", now + 2).await.unwrap().is_some());

    // Revoking the key that made a link ends the link and its sessions.
    store.revoke_api_key(&key.id).await.unwrap();
    assert!(store.web_session("s2", now + 3).await.unwrap().is_none());
    assert!(store
        .open_portal_session("L2", session("s2b", now + 3))
        .await
        .unwrap()
        .is_none());
}

pub async fn expire_all_ends_an_accounts_links(store: Arc<dyn Store>) {
    let (alice, key) = store.create_user("alice", None).await.unwrap();
    let bob = hooked_user(store.as_ref(), "bob").await;
    let now = wall_ms();
    for (token, account, id) in [
        ("A", alice.id, Some("a")),
        ("B", alice.id, Some("b")),
        ("C", alice.id, None),
    ] {
        store
            .create_portal_token(&key.key, link(token, account, id, now))
            .await
            .unwrap()
            .unwrap();
        store
            .open_portal_session(token, session(&format!("s{token}"), now))
            .await
            .unwrap()
            .unwrap();
    }
    // Only the named client session first.
    store
        .expire_portal_tokens(alice.id, Some(vec!["a".into()]), now + 1)
        .await
        .unwrap();
    assert!(store.web_session("sA", now + 2).await.unwrap().is_none());
    assert!(store.web_session("sB", now + 2).await.unwrap().is_some());
    assert!(store.web_session("sC", now + 2).await.unwrap().is_some());
    // Another account's expire-all touches none of alice's links.
    store
        .expire_portal_tokens(bob.id, None, now + 1)
        .await
        .unwrap();
    assert!(store.web_session("sB", now + 2).await.unwrap().is_some());
    // Then all of them, after a grace period: still live within it, ended after.
    store
        .expire_portal_tokens(alice.id, None, now + 10_000)
        .await
        .unwrap();
    assert!(store
        .web_session("sB", now + 9_000)
        .await
        .unwrap()
        .is_some());
    assert!(store
        .web_session("sC", now + 10_001)
        .await
        .unwrap()
        .is_none());
    assert!(store
        .open_portal_session("B", session("sB2", now + 10_001))
        .await
        .unwrap()
        .is_none());
}

pub async fn endpoint_stats_count_a_window_of_messages(store: Arc<dyn Store>) {
    let alice = hooked_user(store.as_ref(), "alice").await;
    let ep = store
        .create_endpoint(
            alice.id,
            endpoint_input("https://hooks.example/a"),
            "sealed".into(),
        )
        .await
        .unwrap();
    let before = wall_ms() - 1;
    for i in 0..2 {
        store
            .create_message(
                alice.id,
                NewMessage {
                    event_type: "deploy.done".into(),
                    event_id: None,
                    channels: vec![],
                    payload: format!("{{\"i\":{i}}}"),
                    only_endpoint: None,
                },
            )
            .await
            .unwrap();
    }
    let after = wall_ms() + 1;
    let all = store
        .endpoint_stats_between(alice.id, &ep.id, before, after)
        .await
        .unwrap();
    assert_eq!(all.pending + all.sending, 2, "{all:?}");
    assert_eq!(all, store.endpoint_stats(alice.id, &ep.id).await.unwrap());
    let none = store
        .endpoint_stats_between(alice.id, &ep.id, before - HOUR_MS, before)
        .await
        .unwrap();
    assert_eq!(none, Default::default());
    assert!(store
        .endpoint_stats_between(alice.id, "ep_unknown", before, after)
        .await
        .is_err());
}
