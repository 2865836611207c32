//! Web sessions: opened only with a valid key, found only while live, and ended at once by
//! signing out or by revoking the key that opened them.

use std::sync::Arc;

use datahooks_store::{NewWebSession, Store};

use crate::support::*;

const HOUR_MS: i64 = 3600 * 1000;

fn new<'a>(token: &'a str, csrf: &'a str, now_ms: i64) -> NewWebSession<'a> {
    NewWebSession {
        token,
        csrf,
        now_ms,
        expires_ms: now_ms + 8 * HOUR_MS,
    }
}

pub async fn sessions_open_with_a_valid_key_and_end_on_sign_out(store: Arc<dyn Store>) {
    let (alice, key) = store.create_user("alice", None).await.unwrap();
    let now = wall_ms();
    assert!(
        store
            .open_web_session("dh_nope_0000", new("t-bad", "c", now))
            .await
            .unwrap()
            .is_none(),
        "a wrong key opens nothing"
    );
    assert!(store.web_session("t-bad", now).await.unwrap().is_none());

    let who = store
        .open_web_session(&key.key, new("t-1", "csrf-1", now))
        .await
        .unwrap();
    assert_eq!(who, Some(alice.clone()));
    let s = store.web_session("t-1", now + 1).await.unwrap().unwrap();
    assert_eq!(s.user, alice);
    assert_eq!(s.csrf, "csrf-1");
    assert_eq!(s.expires_ms, now + 8 * HOUR_MS);
    assert!(
        store.web_session("t-2", now).await.unwrap().is_none(),
        "an unknown token is no session"
    );

    // A second session of the same user is separate: signing out of one keeps the other.
    store
        .open_web_session(&key.key, new("t-2", "csrf-2", now))
        .await
        .unwrap();
    store.end_web_session("t-1").await.unwrap();
    assert!(store.web_session("t-1", now + 2).await.unwrap().is_none());
    assert_eq!(
        store
            .web_session("t-2", now + 2)
            .await
            .unwrap()
            .unwrap()
            .csrf,
        "csrf-2"
    );
    // Signing out twice is fine.
    store.end_web_session("t-1").await.unwrap();
}

pub async fn sessions_expire(store: Arc<dyn Store>) {
    let (_, key) = store.create_user("alice", None).await.unwrap();
    let now = wall_ms();
    let s = NewWebSession {
        expires_ms: now + 1000,
        ..new("t-short", "c", now)
    };
    store.open_web_session(&key.key, s).await.unwrap();
    assert!(store
        .web_session("t-short", now + 999)
        .await
        .unwrap()
        .is_some());
    assert!(store
        .web_session("t-short", now + 1000)
        .await
        .unwrap()
        .is_none());
    assert!(store
        .web_session("t-short", now + HOUR_MS)
        .await
        .unwrap()
        .is_none());
}

pub async fn revoking_a_key_ends_its_sessions_only(store: Arc<dyn Store>) {
    let (alice, first) = store.create_user("alice", None).await.unwrap();
    let second = store.create_api_key("alice").await.unwrap();
    let (_, bob_key) = store.create_user("bob", None).await.unwrap();
    let now = wall_ms();
    store
        .open_web_session(&first.key, new("t-first", "c", now))
        .await
        .unwrap();
    store
        .open_web_session(&second.key, new("t-second", "c", now))
        .await
        .unwrap();
    store
        .open_web_session(&bob_key.key, new("t-bob", "c", now))
        .await
        .unwrap();

    store.revoke_api_key(&first.id).await.unwrap();
    assert!(
        store.web_session("t-first", now).await.unwrap().is_none(),
        "the revoked key's session ended"
    );
    assert_eq!(
        store
            .web_session("t-second", now)
            .await
            .unwrap()
            .unwrap()
            .user,
        alice,
        "a session of another key of the same user lives on"
    );
    assert!(store.web_session("t-bob", now).await.unwrap().is_some());
    assert!(
        store
            .open_web_session(&first.key, new("t-again", "c", now))
            .await
            .unwrap()
            .is_none(),
        "a revoked key opens no new session"
    );
}

pub async fn deleting_a_user_ends_everything_it_held(store: Arc<dyn Store>) {
    use datahooks_domain::model::Role;
    use datahooks_store::webhooks::{EndpointInput, NewMessage};

    let owner = user(&*store, "owner").await;
    let ds = dataset(&*store, &owner, "flowers", false).await;
    let (bob, key) = store.create_user("bob", None).await.unwrap();
    store.create_org("acme", "owner").await.unwrap();
    store
        .add_org_member("acme", "bob", Role::Admin)
        .await
        .unwrap();
    store
        .add_collaborator(&ds, "bob", Role::Manager)
        .await
        .unwrap();
    // Bob's own webhook set-up, with a queued delivery.
    store.set_webhooks_enabled(bob.id, true).await.unwrap();
    store
        .create_endpoint(
            bob.id,
            EndpointInput {
                url: "https://hooks.example/bob".into(),
                version: 1,
                ..Default::default()
            },
            "sealed".into(),
        )
        .await
        .unwrap();
    store
        .create_message(
            bob.id,
            NewMessage {
                event_type: "custom.event".into(),
                event_id: None,
                channels: vec![],
                payload: "{}".into(),
                only_endpoint: None,
            },
        )
        .await
        .unwrap();
    let now = wall_ms();
    store
        .open_web_session(&key.key, new("t-bob", "c", now))
        .await
        .unwrap();
    let before = store.events_after(0, 1000).await.unwrap().len();

    store.delete_user("bob").await.unwrap();

    assert!(store.web_session("t-bob", now).await.unwrap().is_none());
    assert_eq!(store.authenticate(&key.key).await.unwrap(), None);
    assert!(store.account("bob").await.is_err());
    expect_not_found(store.get_collaborator(&ds, "bob").await.map(|_| ()));
    let events = store.events_after(0, 1000).await.unwrap();
    assert_eq!(
        events.len(),
        before + 1,
        "the collaboration's end has its event"
    );
    let last: serde_json::Value = serde_json::from_str(&events[before].payload).unwrap();
    assert_eq!(last["event_type"], "dataset.updated");
    assert_eq!(last["object"]["collaborators_count"], 0);
    expect_not_found(store.delete_user("bob").await);

    // A user who owns data is refused, and keeps everything.
    let owner_key = store.create_api_key("owner").await.unwrap();
    let err = store.delete_user("owner").await.unwrap_err();
    assert!(err.to_string().contains("owns datasets"), "{err}");
    assert!(store.authenticate(&owner_key.key).await.unwrap().is_some());
    // Organizations are not users.
    assert!(store.delete_user("acme").await.is_err());
    assert!(store.account("acme").await.is_ok());
}
