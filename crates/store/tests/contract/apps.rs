//! Application settings: absent until set, replaced whole, and kept per account.

use std::sync::Arc;

use datahooks_store::{AppSettings, Store};
use serde_json::json;

use crate::support::*;

pub async fn app_settings_are_set_and_replaced_per_account(store: Arc<dyn Store>) {
    let alice = user(&*store, "alice").await;
    let bob = user(&*store, "bob").await;
    assert_eq!(store.app_settings(alice.id).await.unwrap(), None);

    let mut s = AppSettings::default_for("alice");
    s.name = "Alice's hooks".into();
    s.throttle_rate = Some(7);
    s.metadata = json!({"team": "ml"}).as_object().cloned().unwrap();
    let saved = store.set_app_settings(alice.id, s.clone()).await.unwrap();
    assert!(saved.updated_at.is_some());
    let got = store.app_settings(alice.id).await.unwrap().unwrap();
    assert_eq!(
        (got.name.as_str(), got.throttle_rate, &got.metadata),
        ("Alice's hooks", Some(7), &s.metadata)
    );
    assert_eq!(got.updated_at, saved.updated_at);

    // Setting again replaces every field.
    store
        .set_app_settings(alice.id, AppSettings::default_for("alice"))
        .await
        .unwrap();
    let got = store.app_settings(alice.id).await.unwrap().unwrap();
    assert_eq!((got.name.as_str(), got.throttle_rate), ("alice", None));
    assert!(got.metadata.is_empty());

    // Another account's settings are its own.
    assert_eq!(store.app_settings(bob.id).await.unwrap(), None);
}
