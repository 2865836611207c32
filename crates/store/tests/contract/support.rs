//! Fixtures and assertions shared by the contract tests. Everything here goes through the
//! `Store` / `WebhookStore` traits: no SQL, no backend types.

use std::fmt::Debug;
use std::future::Future;
use std::sync::Arc;

use serde_json::{json, Map, Value};

use datahooks_domain::inputs::{LabelInput, NewSample};
use datahooks_domain::model::{LabelStatus, Sample};
use datahooks_domain::settings::DatasetSettings;
use datahooks_store::webhooks::{AttemptResult, EndpointInput};
use datahooks_store::{
    Account, DatasetRef, Error, Page, SampleQuery, SampleRef, SampleSort, Store,
};

/// Runs one contract test body on a fresh SQLite store in its own temporary directory.
pub async fn on_sqlite<F, Fut>(body: F)
where
    F: FnOnce(Arc<dyn Store>) -> Fut,
    Fut: Future<Output = ()>,
{
    let dir = tempfile::TempDir::new().expect("temporary directory");
    let url = format!("sqlite://{}/db.sqlite", dir.path().display());
    let store = datahooks_store::open(&url).await.expect("open the store");
    body(store).await;
    drop(dir);
}

// ---- clock -------------------------------------------------------------------------------

/// Wall-clock ms. The store stamps new deliveries with its own clock, so queue tests pick
/// their explicit `now` values relative to this.
pub fn wall_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// A `now` safely after every delivery queued so far (they are due at the wall clock).
pub fn later() -> i64 {
    wall_ms() + 60_000
}

// ---- accounts and datasets -----------------------------------------------------------

pub async fn user(store: &dyn Store, name: &str) -> Account {
    store
        .create_user(name, Some(&format!("{name}@example.com")))
        .await
        .unwrap()
        .0
}

/// A user with webhooks enabled.
pub async fn hooked_user(store: &dyn Store, name: &str) -> Account {
    let a = user(store, name).await;
    store.set_webhooks_enabled(a.id, true).await.unwrap()
}

pub fn settings(public: bool) -> DatasetSettings {
    DatasetSettings {
        public,
        ..Default::default()
    }
}

/// Creates `owner/name` and returns the owner's reference to it.
pub async fn dataset(store: &dyn Store, owner: &Account, name: &str, public: bool) -> DatasetRef {
    store
        .create_dataset(owner.id, name, settings(public))
        .await
        .unwrap();
    store
        .dataset_access(owner.id, &owner.name, name)
        .await
        .unwrap()
        .0
}

pub fn new_sample(name: &str) -> NewSample {
    NewSample {
        name: name.to_owned(),
        attributes: Some(json!({"image": {"url": format!("https://img.example/{name}")}})),
        metadata: Map::new(),
        priority: 0.0,
        readme: String::new(),
        assigned_labeler: None,
        assigned_reviewer: None,
    }
}

pub fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        other => panic!("not an object: {other}"),
    }
}

/// Adds samples by name (failing on duplicates) and returns them.
pub async fn samples(store: &dyn Store, ds: &DatasetRef, names: &[&str]) -> Vec<Sample> {
    let new = names.iter().map(|n| new_sample(n)).collect();
    store
        .create_samples(ds, new, "tester", false)
        .await
        .unwrap()
}

pub async fn sample_ref(store: &dyn Store, caller: i64, uuid: &str) -> SampleRef {
    store.sample_access(caller, uuid).await.unwrap().0
}

/// One sample, added to `ds` by its owner, and its reference.
pub async fn one_sample(store: &dyn Store, ds: &DatasetRef, name: &str) -> SampleRef {
    let s = samples(store, ds, &[name]).await.remove(0);
    sample_ref(store, ds.owner_id, &s.uuid).await
}

pub fn label(status: LabelStatus) -> LabelInput {
    LabelInput {
        label_status: Some(status),
        attributes: Some(Some(json!({"format_version": "0.1", "annotations": []}))),
        score: None,
    }
}

/// A sample query with no filters: ground-truth, by name ascending, first page.
pub fn query() -> SampleQuery {
    SampleQuery {
        page: Page::default(),
        labelset: "ground-truth".to_owned(),
        include_label: None,
        name_contains: None,
        metadata: Vec::new(),
        label_status: Vec::new(),
        sort: SampleSort::Name,
        descending: false,
    }
}

pub fn names(samples: &[Sample]) -> Vec<String> {
    samples.iter().map(|s| s.name.clone()).collect()
}

// ---- events ------------------------------------------------------------------------------

/// The seq of the last committed event (0 when there is none).
pub async fn last_seq(store: &dyn Store) -> i64 {
    let mut seq = 0;
    loop {
        let page = store.events_after(seq, 500).await.unwrap();
        match page.last() {
            Some(e) => seq = e.seq,
            None => return seq,
        }
    }
}

/// Payloads of the events committed after `seq`, in commit order.
pub async fn events_since(store: &dyn Store, seq: i64) -> Vec<Value> {
    store
        .events_after(seq, 10_000)
        .await
        .unwrap()
        .iter()
        .map(|e| serde_json::from_str(&e.payload).unwrap())
        .collect()
}

pub fn types(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["event_type"].as_str().unwrap_or("?").to_owned())
        .collect()
}

/// Asserts the API timestamp format: `2021-08-09T14:40:19.987691+00:00`.
#[track_caller]
pub fn assert_api_time(s: &str) {
    assert_eq!(s.len(), 32, "timestamp {s:?} has the wrong length");
    assert!(s.ends_with("+00:00"), "timestamp {s:?} is not +00:00");
    assert_eq!(&s[10..11], "T", "timestamp {s:?}");
    assert_eq!(&s[19..20], ".", "timestamp {s:?}");
    assert!(
        s[20..26].chars().all(|c| c.is_ascii_digit()),
        "timestamp {s:?} lacks microseconds"
    );
    assert!(
        chrono::DateTime::parse_from_rfc3339(s).is_ok(),
        "timestamp {s:?} is not RFC 3339"
    );
}

/// Asserts the envelope every payload shares.
#[track_caller]
pub fn assert_envelope(e: &Value, event_type: &str, dataset: &str) {
    assert_eq!(e["event_type"], event_type, "{e}");
    assert_eq!(e["api_version"], "2021-08-01", "{e}");
    assert_eq!(e["dataset"], dataset, "{e}");
    assert_api_time(e["created_at"].as_str().unwrap_or_default());
    assert!(e["object"].is_object(), "{e}");
    let text = e["text"].as_str().unwrap_or_default();
    assert!(!text.is_empty() && !text.contains('\n'), "{e}");
}

// ---- webhooks ----------------------------------------------------------------------------

pub fn endpoint_input(url: &str) -> EndpointInput {
    EndpointInput {
        url: url.to_owned(),
        description: String::new(),
        version: 1,
        ..Default::default()
    }
}

pub fn delivered() -> AttemptResult {
    AttemptResult {
        status_code: 200,
        response: "ok".to_owned(),
        duration_ms: 12,
        success: true,
        retry_at: None,
        disable: None,
    }
}

pub fn failed(retry_at: Option<i64>) -> AttemptResult {
    AttemptResult {
        status_code: 500,
        response: "boom".to_owned(),
        duration_ms: 34,
        success: false,
        retry_at,
        disable: None,
    }
}

// ---- errors ------------------------------------------------------------------------------

#[track_caller]
pub fn expect_not_found<T: Debug>(r: Result<T, Error>) {
    match r {
        Err(Error::Domain(datahooks_domain::Error::NotFound)) => {}
        other => panic!("expected NotFound, got {other:?}"),
    }
}

#[track_caller]
pub fn expect_exists<T: Debug>(r: Result<T, Error>) {
    match r {
        Err(Error::Domain(datahooks_domain::Error::AlreadyExists(_))) => {}
        other => panic!("expected AlreadyExists, got {other:?}"),
    }
}

/// An `Invalid` error (any code when `code` is `None`).
#[track_caller]
pub fn expect_invalid<T: Debug>(r: Result<T, Error>, code: Option<&str>) {
    match r {
        Err(Error::Domain(datahooks_domain::Error::Invalid { code: c, .. }))
            if code.is_none_or(|want| want == c) => {}
        other => panic!("expected Invalid({code:?}), got {other:?}"),
    }
}

#[track_caller]
pub fn expect_invalid_page<T: Debug>(r: Result<T, Error>) {
    match r {
        Err(Error::InvalidPage) => {}
        other => panic!("expected InvalidPage, got {other:?}"),
    }
}
