//! Users, organizations, memberships, API keys and the webhook switch.

use std::sync::Arc;

use datahooks_domain::model::Role;
use datahooks_store::Store;

use crate::support::*;

pub async fn create_user_returns_a_key_that_authenticates(store: Arc<dyn Store>) {
    let (alice, key) = store
        .create_user("alice", Some("alice@example.com"))
        .await
        .unwrap();
    assert_eq!(alice.name, "alice");
    assert!(!alice.is_org);
    assert_eq!(alice.email.as_deref(), Some("alice@example.com"));
    assert!(!alice.webhooks_enabled, "webhooks start disabled");
    assert_api_time(&alice.created_at);
    assert!(!key.id.is_empty());
    assert_ne!(key.key, key.id, "the key is more than its public id");

    let who = store.authenticate(&key.key).await.unwrap();
    assert_eq!(who, Some(alice.clone()));
    assert_eq!(store.authenticate("dh_nope_0000").await.unwrap(), None);
    assert_eq!(store.authenticate("").await.unwrap(), None);

    let (bob, bob_key) = store.create_user("bob", None).await.unwrap();
    assert_eq!(bob.email, None);
    assert_ne!(bob.id, alice.id);
    assert_ne!(bob_key.key, key.key);
    assert_eq!(
        store
            .authenticate(&bob_key.key)
            .await
            .unwrap()
            .map(|a| a.name),
        Some("bob".to_owned())
    );
}

pub async fn revoked_keys_are_rejected(store: Arc<dyn Store>) {
    let (alice, first) = store.create_user("alice", None).await.unwrap();
    let second = store.create_api_key("alice").await.unwrap();
    assert_ne!(first.id, second.id);
    assert_eq!(
        store.authenticate(&second.key).await.unwrap().map(|a| a.id),
        Some(alice.id)
    );

    store.revoke_api_key(&first.id).await.unwrap();
    assert_eq!(store.authenticate(&first.key).await.unwrap(), None);
    assert_eq!(
        store.authenticate(&second.key).await.unwrap().map(|a| a.id),
        Some(alice.id),
        "revoking one key leaves the others"
    );
    expect_not_found(store.revoke_api_key(&first.id).await);
    expect_not_found(store.revoke_api_key("no-such-key").await);
    assert!(store.create_api_key("nobody").await.is_err());
}

pub async fn api_keys_are_for_users_only(store: Arc<dyn Store>) {
    user(&*store, "alice").await;
    store.create_org("acme", "alice").await.unwrap();
    // An organization authenticating as itself would be the owner of every dataset it owns,
    // bypassing its members' roles.
    expect_invalid(store.create_api_key("acme").await, None);
}

pub async fn duplicate_names_already_exist(store: Arc<dyn Store>) {
    user(&*store, "alice").await;
    expect_exists(store.create_user("alice", None).await);
    expect_exists(store.create_org("alice", "alice").await);
    store.create_org("acme", "alice").await.unwrap();
    expect_exists(store.create_org("acme", "alice").await);
    expect_exists(store.create_user("acme", None).await);
    expect_invalid(store.create_user("a b", None).await, Some("invalid_name"));
    expect_invalid(store.create_user("", None).await, Some("invalid_name"));
    // nothing half-created
    expect_not_found(store.account("a b").await);
}

pub async fn organizations_members_and_roles(store: Arc<dyn Store>) {
    let alice = user(&*store, "alice").await;
    let bob = user(&*store, "bob").await;
    let carol = user(&*store, "carol").await;
    let acme = store.create_org("acme", "alice").await.unwrap();
    assert!(acme.is_org);
    assert_eq!(acme.name, "acme");
    assert!(!acme.webhooks_enabled);
    assert_eq!(store.account("acme").await.unwrap(), acme);

    assert_eq!(
        store.org_role(acme.id, alice.id).await.unwrap(),
        Some(Role::Admin)
    );
    assert_eq!(store.org_role(acme.id, bob.id).await.unwrap(), None);

    store
        .add_org_member("acme", "bob", Role::Labeler)
        .await
        .unwrap();
    assert_eq!(
        store.org_role(acme.id, bob.id).await.unwrap(),
        Some(Role::Labeler)
    );
    // adding again changes the role
    store
        .add_org_member("acme", "bob", Role::Manager)
        .await
        .unwrap();
    assert_eq!(
        store.org_role(acme.id, bob.id).await.unwrap(),
        Some(Role::Manager)
    );
    assert_eq!(store.org_role(acme.id, carol.id).await.unwrap(), None);

    let view = store.user_view("bob", true).await.unwrap();
    assert_eq!(view.username, "bob");
    assert!(!view.is_organization);
    let orgs = view.organizations.expect("organizations requested");
    assert_eq!(orgs.len(), 1);
    assert_eq!(orgs[0].username, "acme");
    assert!(orgs[0].is_organization);
    assert_eq!(orgs[0].organization_role, Some(Role::Manager));
    assert_eq!(
        store.user_view("bob", false).await.unwrap().organizations,
        None
    );
    assert_eq!(
        store
            .user_view("carol", true)
            .await
            .unwrap()
            .organizations
            .map(|o| o.len()),
        Some(0)
    );

    // members join organizations; organizations are not members
    expect_invalid(
        store.add_org_member("bob", "carol", Role::Labeler).await,
        None,
    );
    store.create_org("beta", "carol").await.unwrap();
    expect_invalid(
        store.add_org_member("acme", "beta", Role::Labeler).await,
        None,
    );
    expect_invalid(store.create_org("gamma", "acme").await, None);
    assert!(store.create_org("delta", "nobody").await.is_err());
    assert!(store
        .add_org_member("acme", "nobody", Role::Labeler)
        .await
        .is_err());
    expect_not_found(store.account("delta").await);
}

pub async fn managed_accounts_are_self_and_administered_orgs(store: Arc<dyn Store>) {
    let alice = user(&*store, "alice").await;
    let bob = user(&*store, "bob").await;
    store.create_org("zeta", "alice").await.unwrap();
    store.create_org("acme", "alice").await.unwrap();
    store.create_org("beta", "bob").await.unwrap();
    store
        .add_org_member("beta", "alice", Role::Manager)
        .await
        .unwrap();
    store
        .add_org_member("acme", "bob", Role::Admin)
        .await
        .unwrap();

    // itself first, then the organizations it administers (in no promised order)
    let names = |v: Vec<datahooks_store::Account>| {
        let mut n: Vec<String> = v.into_iter().map(|a| a.name).collect();
        n[1..].sort();
        n
    };
    assert_eq!(
        names(store.managed_accounts(alice.id).await.unwrap()),
        ["alice", "acme", "zeta"]
    );
    assert_eq!(
        names(store.managed_accounts(bob.id).await.unwrap()),
        ["bob", "acme", "beta"]
    );
}

pub async fn account_lookups(store: Arc<dyn Store>) {
    let alice = user(&*store, "alice").await;
    assert_eq!(store.account("alice").await.unwrap(), alice);
    expect_not_found(store.account("nobody").await);
    expect_not_found(store.user_view("nobody", false).await);
    let view = store.user_view("alice", false).await.unwrap();
    assert_eq!(view.email.as_deref(), Some("alice@example.com"));
    assert_eq!(view.created_at, alice.created_at);
    assert!(!view.webhooks_enabled);
}

pub async fn webhooks_can_be_switched_on_and_off(store: Arc<dyn Store>) {
    let (alice, key) = store.create_user("alice", None).await.unwrap();
    let on = store.set_webhooks_enabled(alice.id, true).await.unwrap();
    assert!(on.webhooks_enabled);
    assert_eq!(on.id, alice.id);
    assert!(store.account("alice").await.unwrap().webhooks_enabled);
    assert!(
        store
            .authenticate(&key.key)
            .await
            .unwrap()
            .unwrap()
            .webhooks_enabled
    );
    assert!(
        store
            .user_view("alice", false)
            .await
            .unwrap()
            .webhooks_enabled
    );
    let off = store.set_webhooks_enabled(alice.id, false).await.unwrap();
    assert!(!off.webhooks_enabled);
    assert!(!store.account("alice").await.unwrap().webhooks_enabled);
    assert!(store
        .set_webhooks_enabled(alice.id + 1000, true)
        .await
        .is_err());
}
