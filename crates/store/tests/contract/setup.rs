//! First-run setup: counting users and the one-time links that create the first one.

use std::sync::Arc;

use datahooks_domain::setup::{SetupRefusal, SETUP_LINK_TTL_MS};
use datahooks_store::Store;

use crate::support::*;

pub async fn setup_link_creates_the_first_user_once(store: Arc<dyn Store>) {
    let now = wall_ms();
    assert_eq!(store.count_users().await.unwrap(), 0);
    let token = store
        .create_setup_link(now + SETUP_LINK_TTL_MS)
        .await
        .unwrap();
    assert!(token.len() >= 64, "256 random bits: {token}");
    assert_eq!(store.check_setup_link(&token, now).await.unwrap(), Ok(()));

    // A bad name is an error like any other, and leaves the link usable.
    let bad = store
        .redeem_setup_link(&token, now, "not a name!", None)
        .await;
    assert!(bad.is_err(), "{bad:?}");
    assert_eq!(store.count_users().await.unwrap(), 0);
    assert_eq!(store.check_setup_link(&token, now).await.unwrap(), Ok(()));

    let (jane, key) = store
        .redeem_setup_link(&token, now, "jane", Some("jane@example.com"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(jane.name, "jane");
    assert_eq!(jane.email.as_deref(), Some("jane@example.com"));
    assert_eq!(
        store.authenticate(&key.key).await.unwrap().map(|a| a.id),
        Some(jane.id)
    );
    assert_eq!(store.count_users().await.unwrap(), 1);

    // Used up, and once a user exists every link is refused.
    let again = store
        .redeem_setup_link(&token, now, "mallory", None)
        .await
        .unwrap();
    assert_eq!(again.err(), Some(SetupRefusal::UsersExist));
    let other = store
        .create_setup_link(now + SETUP_LINK_TTL_MS)
        .await
        .unwrap();
    assert_eq!(
        store.check_setup_link(&other, now).await.unwrap(),
        Err(SetupRefusal::UsersExist)
    );
    assert_eq!(
        store
            .redeem_setup_link(&other, now, "mallory", None)
            .await
            .unwrap()
            .err(),
        Some(SetupRefusal::UsersExist)
    );
    assert_eq!(store.count_users().await.unwrap(), 1);

    // Organizations are not users.
    store.create_org("acme", "jane").await.unwrap();
    assert_eq!(store.count_users().await.unwrap(), 1);
}

pub async fn setup_links_expire_and_unknown_ones_are_refused(store: Arc<dyn Store>) {
    let now = wall_ms();
    let token = store.create_setup_link(now + 1000).await.unwrap();
    assert_eq!(
        store.check_setup_link(&token, now + 1000).await.unwrap(),
        Err(SetupRefusal::Expired)
    );
    assert_eq!(
        store
            .redeem_setup_link(&token, now + 1000, "jane", None)
            .await
            .unwrap()
            .err(),
        Some(SetupRefusal::Expired)
    );
    assert_eq!(
        store
            .check_setup_link("0".repeat(64).as_str(), now)
            .await
            .unwrap(),
        Err(SetupRefusal::Unknown)
    );
    let guessed = format!("{}0", &token[..token.len() - 1]);
    let guessed = if guessed == token {
        format!("{}1", &token[..token.len() - 1])
    } else {
        guessed
    };
    assert_eq!(
        store
            .redeem_setup_link(&guessed, now, "jane", None)
            .await
            .unwrap()
            .err(),
        Some(SetupRefusal::Unknown)
    );
    assert_eq!(store.count_users().await.unwrap(), 0);
}

pub async fn concurrent_redeems_create_one_user(store: Arc<dyn Store>) {
    let now = wall_ms();
    let a = store
        .create_setup_link(now + SETUP_LINK_TTL_MS)
        .await
        .unwrap();
    let b = store
        .create_setup_link(now + SETUP_LINK_TTL_MS)
        .await
        .unwrap();
    let (ra, rb) = tokio::join!(
        store.redeem_setup_link(&a, now, "first", None),
        store.redeem_setup_link(&b, now, "second", None),
    );
    let outcomes = [ra.unwrap(), rb.unwrap()];
    assert_eq!(
        outcomes.iter().filter(|o| o.is_ok()).count(),
        1,
        "exactly one first user: {outcomes:?}"
    );
    assert!(outcomes
        .iter()
        .any(|o| o.as_ref().err() == Some(&SetupRefusal::UsersExist)));
    assert_eq!(store.count_users().await.unwrap(), 1);
}
