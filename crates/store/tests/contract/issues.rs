//! Issues and their replies; releases and their files; assets.

use std::sync::Arc;

use serde_json::{json, Value};

use datahooks_domain::access::Access;
use datahooks_domain::inputs::IssueInput;
use datahooks_domain::model::{IssueStatus, LabelStatus, ReleaseStatus};
use datahooks_store::Store;

use crate::datasets::issue_input;
use crate::support::*;

pub async fn issues_lifecycle(store: Arc<dyn Store>) {
    let alice = user(&*store, "alice").await;
    let bob = user(&*store, "bob").await;
    let stranger = user(&*store, "stranger").await;
    let r = dataset(&*store, &alice, "ds", false).await;
    store
        .add_collaborator(&r, "bob", datahooks_domain::model::Role::Labeler)
        .await
        .unwrap();
    let s = one_sample(&*store, &r, "a.png").await;

    let issue = store
        .create_issue(
            &s,
            IssueInput {
                description: Some("the car is missing".into()),
                status: None,
                anchor: Some(Some(json!({"x": 1}))),
            },
            "bob",
        )
        .await
        .unwrap();
    assert_eq!(issue.description, "the car is missing");
    assert_eq!(issue.status, IssueStatus::Open);
    assert_eq!(issue.created_by, "bob");
    assert_eq!(issue.updated_by, "bob");
    assert_eq!(issue.sample_uuid, s.uuid);
    assert_eq!(issue.sample_name, "a.png");
    assert_eq!(issue.dataset, "alice/ds");
    assert_eq!(issue.anchor, Some(json!({"x": 1})));
    assert!(issue.comments.is_empty());
    assert_api_time(&issue.created_at);

    let (ir, access) = store.issue_access(bob.id, &issue.uuid).await.unwrap();
    assert_eq!(access, Access::Labeler);
    assert_eq!(ir.uuid, issue.uuid);
    assert_eq!(ir.created_by, "bob");
    assert_eq!(ir.dataset, r);
    assert_eq!(store.get_issue(&ir).await.unwrap(), issue);
    expect_not_found(store.issue_access(stranger.id, &issue.uuid).await);
    expect_not_found(store.issue_access(alice.id, "no-such-issue").await);

    let closed = store
        .update_issue(
            &ir,
            IssueInput {
                description: None,
                status: Some(IssueStatus::Closed),
                anchor: Some(None),
            },
            "alice",
        )
        .await
        .unwrap();
    assert_eq!(closed.status, IssueStatus::Closed);
    assert_eq!(closed.description, "the car is missing");
    assert_eq!(closed.anchor, None);
    assert_eq!(closed.updated_by, "alice");
    assert_eq!(closed.created_by, "bob");

    let replied = store.add_comment(&ir, "fixed it", "alice").await.unwrap();
    assert_eq!(replied.comments.len(), 1);
    assert_eq!(replied.comments[0].text, "fixed it");
    assert_eq!(replied.comments[0].created_by, "alice");
    assert_api_time(&replied.comments[0].created_at);
    let replied = store.add_comment(&ir, "thanks", "bob").await.unwrap();
    assert_eq!(
        replied
            .comments
            .iter()
            .map(|c| c.text.as_str())
            .collect::<Vec<_>>(),
        ["fixed it", "thanks"]
    );
    assert_eq!(replied.status, IssueStatus::Closed);
    assert_eq!(store.get_issue(&ir).await.unwrap(), replied);

    // newest first
    let second = store
        .create_issue(&s, issue_input("second"), "alice")
        .await
        .unwrap();
    let list = store.list_issues(&r).await.unwrap();
    assert_eq!(
        list.iter().map(|i| i.uuid.as_str()).collect::<Vec<_>>(),
        [second.uuid.as_str(), issue.uuid.as_str()]
    );

    store.delete_issue(&ir).await.unwrap();
    expect_not_found(store.get_issue(&ir).await);
    expect_not_found(store.issue_access(alice.id, &issue.uuid).await);
    assert_eq!(store.list_issues(&r).await.unwrap(), vec![second.clone()]);

    // an issue goes with its sample
    store
        .delete_samples(&r, std::slice::from_ref(&s.uuid))
        .await
        .unwrap();
    expect_not_found(store.issue_access(alice.id, &second.uuid).await);
    assert!(store.list_issues(&r).await.unwrap().is_empty());
}

pub async fn releases_lifecycle(store: Arc<dyn Store>) {
    let alice = user(&*store, "alice").await;
    let r = dataset(&*store, &alice, "ds", false).await;
    store.add_labelset(&r, "model", "").await.unwrap();
    let made = samples(&*store, &r, &["b.png", "a.png"]).await;
    let b = sample_ref(&*store, alice.id, &made[0].uuid).await;
    store
        .put_label(
            &b,
            "ground-truth",
            label(LabelStatus::Labeled),
            true,
            "alice",
        )
        .await
        .unwrap();

    let v1 = store.create_release(&r, "v1", "first").await.unwrap();
    assert_eq!(v1.name, "v1");
    assert_eq!(v1.description, "first");
    assert_eq!(v1.status, ReleaseStatus::Pending);
    assert_eq!(v1.release_type, "JSON");
    assert_eq!(v1.samples_count, 2);
    assert!(v1.attributes.get("url").is_none());
    assert_api_time(&v1.created_at);
    assert_eq!(store.get_release(&r, "v1").await.unwrap(), v1);
    expect_exists(store.create_release(&r, "v1", "again").await);
    expect_invalid(
        store.create_release(&r, "a/b", "").await,
        Some("invalid_name"),
    );
    assert_eq!(
        store.pending_releases().await.unwrap(),
        vec![v1.uuid.clone()]
    );

    // samples added after the request are in the file: it is built from the dataset as it is
    samples(&*store, &r, &["c.png"]).await;
    let built = store
        .build_release(&v1.uuid, "tok-1", "https://files.example/tok-1")
        .await
        .unwrap()
        .expect("a pending release builds");
    assert_eq!(built.uuid, v1.uuid);
    assert_eq!(built.status, ReleaseStatus::Succeeded);
    assert_eq!(built.attributes["url"], "https://files.example/tok-1");
    assert_eq!(built.samples_count, 3);
    assert_eq!(store.get_release(&r, "v1").await.unwrap(), built);
    assert!(store.pending_releases().await.unwrap().is_empty());
    assert_eq!(
        store.build_release(&v1.uuid, "tok-x", "u").await.unwrap(),
        None
    );
    assert_eq!(
        store.build_release("no-such", "tok-y", "u").await.unwrap(),
        None
    );

    let (name, content) = store.release_file("tok-1").await.unwrap();
    assert_eq!(name, "v1");
    let file: Value = serde_json::from_str(&content).unwrap();
    assert_eq!(file["name"], "v1");
    assert_eq!(file["dataset"]["name"], "ds");
    assert_eq!(file["dataset"]["owner"], "alice");
    let labelsets: Vec<&str> = file["dataset"]["labelsets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["name"].as_str().unwrap())
        .collect();
    assert_eq!(labelsets, ["ground-truth", "model"]);
    let fs = file["dataset"]["samples"].as_array().unwrap();
    let mut fnames: Vec<&str> = fs.iter().map(|s| s["name"].as_str().unwrap()).collect();
    fnames.sort();
    assert_eq!(fnames, ["a.png", "b.png", "c.png"]);
    let fb = fs.iter().find(|s| s["name"] == "b.png").unwrap();
    assert_eq!(fb["uuid"], b.uuid);
    assert_eq!(fb["labels"]["ground-truth"]["label_status"], "LABELED");
    assert_eq!(fb["labels"]["model"], Value::Null);
    let fa = fs.iter().find(|s| s["name"] == "a.png").unwrap();
    assert_eq!(fa["labels"]["ground-truth"], Value::Null);
    expect_not_found(store.release_file("tok-nope").await);

    // a second release fails
    let v2 = store.create_release(&r, "v2", "").await.unwrap();
    assert_eq!(
        store.pending_releases().await.unwrap(),
        vec![v2.uuid.clone()]
    );
    store.fail_release(&v2.uuid).await.unwrap();
    assert_eq!(
        store.get_release(&r, "v2").await.unwrap().status,
        ReleaseStatus::Failed
    );
    assert!(store.pending_releases().await.unwrap().is_empty());
    assert_eq!(
        store.build_release(&v2.uuid, "tok-2", "u").await.unwrap(),
        None
    );
    expect_not_found(store.release_file("tok-2").await);
    // failing a built release changes nothing
    store.fail_release(&v1.uuid).await.unwrap();
    assert_eq!(
        store.get_release(&r, "v1").await.unwrap().status,
        ReleaseStatus::Succeeded
    );

    let list = store.list_releases(&r).await.unwrap();
    assert_eq!(
        list.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(),
        ["v2", "v1"],
        "newest first"
    );
    store.delete_release(&r, "v1").await.unwrap();
    expect_not_found(store.get_release(&r, "v1").await);
    expect_not_found(store.delete_release(&r, "v1").await);
    expect_not_found(store.release_file("tok-1").await);
    assert_eq!(store.list_releases(&r).await.unwrap().len(), 1);
    // releases go with their dataset
    let v3 = store.create_release(&r, "v3", "").await.unwrap();
    store.delete_dataset(&r).await.unwrap();
    assert!(!store.pending_releases().await.unwrap().contains(&v3.uuid));
    assert_eq!(
        store.build_release(&v3.uuid, "tok-3", "u").await.unwrap(),
        None
    );
}

pub async fn assets(store: Arc<dyn Store>) {
    let alice = user(&*store, "alice").await;
    let a = store.create_asset(alice.id, "photo.png").await.unwrap();
    assert_eq!(a.filename, "photo.png");
    assert_eq!(a.owner, "alice");
    assert!(!a.uuid.is_empty());
    assert_api_time(&a.created_at);
    assert_eq!(store.asset(&a.uuid).await.unwrap(), a);
    let b = store.create_asset(alice.id, "photo.png").await.unwrap();
    assert_ne!(a.uuid, b.uuid, "the same file name twice gives two assets");
    expect_not_found(store.asset("no-such-asset").await);
    expect_invalid(
        store.create_asset(alice.id, "a/b.png").await,
        Some("invalid_name"),
    );
    assert!(store.create_asset(alice.id + 1000, "x.png").await.is_err());
}

/// Uploaded sizes count against the owner's quota; a refused size changes nothing.
pub async fn asset_quota(store: Arc<dyn Store>) {
    let alice = user(&*store, "alice").await;
    let bob = user(&*store, "bob").await;
    let a = store.create_asset(alice.id, "a.png").await.unwrap();
    let b = store.create_asset(alice.id, "b.png").await.unwrap();
    let c = store.create_asset(bob.id, "c.png").await.unwrap();
    assert_eq!(store.asset_others_size(&a.uuid).await.unwrap(), 0);
    assert!(store.record_asset_size(&a.uuid, 60, 100).await.unwrap());
    assert_eq!(store.asset_others_size(&b.uuid).await.unwrap(), 60);
    assert!(!store.record_asset_size(&b.uuid, 41, 100).await.unwrap());
    assert_eq!(
        store.asset_others_size(&a.uuid).await.unwrap(),
        0,
        "refused: unchanged"
    );
    assert!(store.record_asset_size(&b.uuid, 40, 100).await.unwrap());
    // Uploading a file again replaces its size rather than adding to it.
    assert!(store.record_asset_size(&a.uuid, 60, 100).await.unwrap());
    // Another account has its own quota.
    assert!(store.record_asset_size(&c.uuid, 100, 100).await.unwrap());
    assert_eq!(store.asset_others_size(&c.uuid).await.unwrap(), 0);
    expect_not_found(store.asset_others_size("no-such-asset").await);
    expect_not_found(store.record_asset_size("no-such-asset", 1, 100).await);
}

/// Sample and issue refs carry the same dataset ref that `dataset_access` hands out.
pub async fn refs_agree_with_datasets(store: Arc<dyn Store>) {
    let alice = user(&*store, "alice").await;
    let r = dataset(&*store, &alice, "ds", true).await;
    let s = one_sample(&*store, &r, "a.png").await;
    let i = store
        .create_issue(&s, issue_input("x"), "alice")
        .await
        .unwrap();
    let (ir, _) = store.issue_access(alice.id, &i.uuid).await.unwrap();
    assert_eq!(ir.dataset, s.dataset);
    assert_eq!(ir.dataset, r);
    let ds = store.get_dataset(&ir.dataset, Access::Owner).await.unwrap();
    assert_eq!(ds.full_name, "alice/ds");
}
