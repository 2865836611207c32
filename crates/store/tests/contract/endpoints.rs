//! Webhook endpoints: create, list, get, update, delete, secrets, headers; the commit wake-up.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use datahooks_store::webhooks::EndpointInput;
use datahooks_store::Store;

use crate::support::*;

fn full_input() -> EndpointInput {
    EndpointInput {
        url: "https://hooks.example/full".into(),
        description: "all about samples".into(),
        version: 2,
        event_types: Some(vec!["sample.created".into(), "sample.deleted".into()]),
        channels: Some(vec!["alice/ds".into()]),
        disabled: false,
        throttle_rate: Some(5),
        metadata: obj(json!({"team": "ml"})),
        uid: Some("my-uid".into()),
    }
}

pub async fn create_get_and_list_endpoints(store: Arc<dyn Store>) {
    let alice = user(&*store, "alice").await;
    let bob = user(&*store, "bob").await;
    let ep = store
        .create_endpoint(alice.id, full_input(), "sealed-1".into())
        .await
        .unwrap();
    assert!(ep.id.starts_with("ep_"), "{}", ep.id);
    assert_eq!(ep.account_id, alice.id);
    assert_eq!(ep.uid.as_deref(), Some("my-uid"));
    assert_eq!(ep.url, "https://hooks.example/full");
    assert_eq!(ep.description, "all about samples");
    assert_eq!(ep.version, 2);
    assert_eq!(
        ep.event_types,
        Some(vec![
            "sample.created".to_owned(),
            "sample.deleted".to_owned()
        ])
    );
    assert_eq!(ep.channels, Some(vec!["alice/ds".to_owned()]));
    assert!(!ep.disabled);
    assert_eq!(ep.disabled_reason, None);
    assert_eq!(ep.throttle_rate, Some(5));
    assert_eq!(ep.metadata, obj(json!({"team": "ml"})));
    assert!(ep.headers.is_empty());
    assert_eq!(ep.secret, "sealed-1");
    assert!(ep.old_secrets.is_empty());
    assert_eq!(ep.first_failure_at, None);
    assert_api_time(&ep.created_at);
    assert_api_time(&ep.updated_at);

    assert_eq!(store.get_endpoint(alice.id, &ep.id).await.unwrap(), ep);
    assert_eq!(store.get_endpoint(alice.id, "my-uid").await.unwrap(), ep);
    expect_not_found(store.get_endpoint(bob.id, &ep.id).await);
    expect_not_found(store.get_endpoint(bob.id, "my-uid").await);
    expect_not_found(store.get_endpoint(alice.id, "ep_nope").await);
    expect_exists(
        store
            .create_endpoint(alice.id, full_input(), "sealed-2".into())
            .await,
    );
    // uids are per account
    let bobs = store
        .create_endpoint(bob.id, full_input(), "sealed-b".into())
        .await
        .unwrap();
    assert_eq!(
        store.get_endpoint(bob.id, "my-uid").await.unwrap().id,
        bobs.id
    );

    let off = store
        .create_endpoint(
            alice.id,
            EndpointInput {
                disabled: true,
                ..endpoint_input("https://hooks.example/off")
            },
            "s".into(),
        )
        .await
        .unwrap();
    assert!(off.disabled);
    assert_eq!(off.disabled_reason.as_deref(), Some("manual"));
    assert_eq!(off.event_types, None);
    assert_eq!(off.channels, None);
    assert_eq!(off.uid, None);
    let third = store
        .create_endpoint(
            alice.id,
            endpoint_input("https://hooks.example/3"),
            "s".into(),
        )
        .await
        .unwrap();

    // oldest first, paged after an endpoint id
    let all = store.list_endpoints(alice.id, 10, None).await.unwrap();
    let mut ids: Vec<_> = all.iter().map(|e| e.id.clone()).collect();
    assert_eq!(ids.len(), 3);
    ids.sort();
    let mut want = vec![ep.id.clone(), off.id.clone(), third.id.clone()];
    want.sort();
    assert_eq!(ids, want);
    let p1 = store.list_endpoints(alice.id, 2, None).await.unwrap();
    assert_eq!(p1, all[..2].to_vec());
    let p2 = store
        .list_endpoints(alice.id, 2, Some(&p1[1].id))
        .await
        .unwrap();
    assert_eq!(p2, all[2..].to_vec());
    assert!(store
        .list_endpoints(alice.id, 2, Some(&all[2].id))
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        store.list_endpoints(bob.id, 10, None).await.unwrap(),
        vec![bobs]
    );
}

pub async fn list_endpoints_oldest_first(store: Arc<dyn Store>) {
    let alice = user(&*store, "alice").await;
    let mut created = Vec::new();
    for i in 0..8 {
        let ep = store
            .create_endpoint(
                alice.id,
                endpoint_input(&format!("https://hooks.example/{i}")),
                "s".into(),
            )
            .await
            .unwrap();
        created.push(ep.id);
    }
    let listed: Vec<_> = store
        .list_endpoints(alice.id, 100, None)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(listed, created, "endpoints are listed oldest first");
    // paging with the iterator walks the same order, each endpoint once
    let mut walked = Vec::new();
    let mut it: Option<String> = None;
    loop {
        let page = store
            .list_endpoints(alice.id, 3, it.as_deref())
            .await
            .unwrap();
        let Some(last) = page.last() else { break };
        it = Some(last.id.clone());
        walked.extend(page.into_iter().map(|e| e.id));
    }
    assert_eq!(walked, created);
}

pub async fn update_and_delete_endpoints(store: Arc<dyn Store>) {
    let alice = user(&*store, "alice").await;
    let bob = user(&*store, "bob").await;
    let ep = store
        .create_endpoint(alice.id, full_input(), "sealed-1".into())
        .await
        .unwrap();
    let other = store
        .create_endpoint(
            alice.id,
            EndpointInput {
                uid: Some("other-uid".into()),
                ..endpoint_input("https://hooks.example/o")
            },
            "s".into(),
        )
        .await
        .unwrap();

    let u = store
        .update_endpoint(
            alice.id,
            "my-uid",
            EndpointInput {
                url: "https://hooks.example/new".into(),
                description: "changed".into(),
                version: 3,
                event_types: None,
                channels: Some(vec!["alice/x".into()]),
                disabled: false,
                throttle_rate: None,
                metadata: obj(json!({"k": 1})),
                uid: Some("renamed-uid".into()),
            },
        )
        .await
        .unwrap();
    assert_eq!(u.id, ep.id);
    assert_eq!(u.url, "https://hooks.example/new");
    assert_eq!(u.description, "changed");
    assert_eq!(u.version, 3);
    assert_eq!(u.event_types, None);
    assert_eq!(u.channels, Some(vec!["alice/x".to_owned()]));
    assert_eq!(u.throttle_rate, None);
    assert_eq!(u.metadata, obj(json!({"k": 1})));
    assert_eq!(u.uid.as_deref(), Some("renamed-uid"));
    assert_eq!(u.secret, "sealed-1", "updates keep the secret");
    assert_eq!(u.created_at, ep.created_at);
    assert!(u.updated_at >= ep.updated_at);
    assert_eq!(
        store.get_endpoint(alice.id, "renamed-uid").await.unwrap(),
        u
    );
    expect_not_found(store.get_endpoint(alice.id, "my-uid").await);

    // disabling by hand says so; re-enabling clears the reason
    let off = store
        .update_endpoint(
            alice.id,
            &ep.id,
            EndpointInput {
                disabled: true,
                ..endpoint_input("https://hooks.example/new")
            },
        )
        .await
        .unwrap();
    assert!(off.disabled);
    assert_eq!(off.disabled_reason.as_deref(), Some("manual"));
    let on = store
        .update_endpoint(
            alice.id,
            &ep.id,
            endpoint_input("https://hooks.example/new"),
        )
        .await
        .unwrap();
    assert!(!on.disabled);
    assert_eq!(on.disabled_reason, None);

    expect_exists(
        store
            .update_endpoint(
                alice.id,
                &ep.id,
                EndpointInput {
                    uid: Some("other-uid".into()),
                    ..endpoint_input("https://hooks.example/new")
                },
            )
            .await,
    );
    expect_not_found(
        store
            .update_endpoint(bob.id, &ep.id, endpoint_input("https://x.example"))
            .await,
    );
    expect_not_found(store.delete_endpoint(bob.id, &ep.id).await);

    store.delete_endpoint(alice.id, &ep.id).await.unwrap();
    expect_not_found(store.get_endpoint(alice.id, &ep.id).await);
    expect_not_found(store.delete_endpoint(alice.id, &ep.id).await);
    store.delete_endpoint(alice.id, "other-uid").await.unwrap();
    expect_not_found(store.get_endpoint(alice.id, &other.id).await);
    assert!(store
        .list_endpoints(alice.id, 10, None)
        .await
        .unwrap()
        .is_empty());
}

pub async fn rotate_secret_keeps_old_secrets_until_expiry(store: Arc<dyn Store>) {
    let alice = hooked_user(&*store, "alice").await;
    let ep = store
        .create_endpoint(
            alice.id,
            endpoint_input("https://hooks.example/a"),
            "s0".into(),
        )
        .await
        .unwrap();
    let exp = wall_ms() + 3_600_000;
    let r1 = store
        .rotate_secret(alice.id, &ep.id, "s1".into(), exp)
        .await
        .unwrap();
    assert_eq!(r1.secret, "s1");
    assert_eq!(r1.old_secrets, vec![("s0".to_owned(), exp)]);
    assert_eq!(store.get_endpoint(alice.id, &ep.id).await.unwrap(), r1);

    // an old secret that expires at once is not kept
    let r2 = store
        .rotate_secret(alice.id, &ep.id, "s2".into(), wall_ms() - 1)
        .await
        .unwrap();
    assert_eq!(r2.secret, "s2");
    assert_eq!(r2.old_secrets, vec![("s0".to_owned(), exp)]);

    // a delivery is signed with the current secret first, then the still-valid old ones
    dataset(&*store, &alice, "ds", false).await;
    let jobs = store
        .claim_due("n1", later(), later() + 30_000, 10)
        .await
        .unwrap();
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].secrets, ["s2", "s0"]);

    expect_not_found(
        store
            .rotate_secret(alice.id + 1000, &ep.id, "x".into(), exp)
            .await,
    );
}

pub async fn at_most_ten_old_secrets(store: Arc<dyn Store>) {
    let alice = user(&*store, "alice").await;
    let ep = store
        .create_endpoint(
            alice.id,
            endpoint_input("https://hooks.example/a"),
            "s0".into(),
        )
        .await
        .unwrap();
    let exp = wall_ms() + 3_600_000;
    for i in 1..=10 {
        let e = store
            .rotate_secret(alice.id, &ep.id, format!("s{i}"), exp)
            .await
            .unwrap();
        assert_eq!(e.old_secrets.len(), i);
    }
    let full = store.get_endpoint(alice.id, &ep.id).await.unwrap();
    assert_eq!(full.secret, "s10");
    assert_eq!(full.old_secrets.len(), 10);
    expect_invalid(
        store
            .rotate_secret(alice.id, &ep.id, "s11".into(), exp)
            .await,
        Some("limit_reached"),
    );
    let after = store.get_endpoint(alice.id, &ep.id).await.unwrap();
    assert_eq!(after, full, "a refused rotation changes nothing");
}

pub async fn endpoint_headers(store: Arc<dyn Store>) {
    let alice = hooked_user(&*store, "alice").await;
    let bob = user(&*store, "bob").await;
    let ep = store
        .create_endpoint(
            alice.id,
            endpoint_input("https://hooks.example/a"),
            "s".into(),
        )
        .await
        .unwrap();
    let headers = obj(json!({"X-Team": "ml", "X-Env": "prod"}));
    store
        .set_endpoint_headers(alice.id, &ep.id, headers.clone())
        .await
        .unwrap();
    assert_eq!(
        store.get_endpoint(alice.id, &ep.id).await.unwrap().headers,
        headers
    );
    dataset(&*store, &alice, "ds", false).await;
    let jobs = store
        .claim_due("n1", later(), later() + 30_000, 10)
        .await
        .unwrap();
    assert_eq!(jobs[0].headers, headers);
    // replaced, not merged
    store
        .set_endpoint_headers(alice.id, &ep.id, obj(json!({"X-Only": "1"})))
        .await
        .unwrap();
    assert_eq!(
        store.get_endpoint(alice.id, &ep.id).await.unwrap().headers,
        obj(json!({"X-Only": "1"}))
    );
    expect_not_found(
        store
            .set_endpoint_headers(bob.id, &ep.id, Default::default())
            .await,
    );
}

pub async fn commits_wake_the_worker(store: Arc<dyn Store>) {
    let alice = user(&*store, "alice").await;
    store
        .create_endpoint(
            alice.id,
            endpoint_input("https://hooks.example/w"),
            "s".into(),
        )
        .await
        .unwrap();
    let wake = store.wakeup();
    // drain the permit earlier commits left
    let _ = tokio::time::timeout(Duration::from_millis(50), wake.notified()).await;
    assert!(
        tokio::time::timeout(Duration::from_millis(50), wake.notified())
            .await
            .is_err(),
        "no commit, no wake-up"
    );
    // No worker attached to this store: the delivery is pending, for any node to claim.
    store
        .create_message(alice.id, crate::fanout::message("t", None, &["c"]))
        .await
        .unwrap();
    assert!(
        tokio::time::timeout(Duration::from_secs(5), wake.notified())
            .await
            .is_ok(),
        "a commit that queues claimable work wakes the worker"
    );
}
