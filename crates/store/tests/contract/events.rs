//! The outbox: which events each change commits, in commit order, and their payloads
//! (ARCHITECTURE.md, "Events").

use std::sync::Arc;

use serde_json::json;

use datahooks_domain::inputs::{IssueInput, LabelInput, SamplePatch};
use datahooks_domain::model::{IssueStatus, LabelStatus, Role};
use datahooks_store::webhooks::NewMessage;
use datahooks_store::{CloneSpec, Store};

use crate::datasets::issue_input;
use crate::support::*;

pub async fn dataset_created_payload(store: Arc<dyn Store>) {
    let alice = user(&*store, "alice").await;
    let mark = last_seq(&*store).await;
    let ds = store
        .create_dataset(alice.id, "flowers", settings(false))
        .await
        .unwrap();
    let raw = store.events_after(mark, 10).await.unwrap();
    assert_eq!(raw.len(), 1);
    assert!(raw[0].seq > mark);
    assert!(raw[0].id.starts_with("msg_"), "{}", raw[0].id);
    assert!(
        raw[0].payload.starts_with("{\"event_type\":"),
        "documented key order: {}",
        raw[0].payload
    );
    let e: serde_json::Value = serde_json::from_str(&raw[0].payload).unwrap();
    assert_envelope(&e, "dataset.created", "alice/flowers");
    assert_eq!(e["text"], "Dataset alice/flowers created.");
    let o = &e["object"];
    assert_eq!(o["name"], "flowers");
    assert_eq!(o["full_name"], "alice/flowers");
    assert_eq!(o["owner"]["username"], "alice");
    assert_eq!(o["created_at"], ds.created_at);
    assert_eq!(o["samples_count"], 0);
    assert_eq!(o["task_type"], "segmentation-bitmap");
    assert_eq!(o["public"], false);
    assert!(
        o.get("role").is_none_or(|r| r.is_null()),
        "no caller-specific role in events: {o}"
    );
    // the object is the API's JSON for the dataset (minus the role)
    let mut api = serde_json::to_value(&ds).unwrap();
    api["role"] = serde_json::Value::Null;
    let mut obj = o.clone();
    obj["role"] = serde_json::Value::Null;
    assert_eq!(obj, api);
}

pub async fn dataset_settings_collaborators_and_labelsets_emit_dataset_updated(
    store: Arc<dyn Store>,
) {
    let alice = user(&*store, "alice").await;
    user(&*store, "bob").await;
    let r = dataset(&*store, &alice, "ds", false).await;
    let s = one_sample(&*store, &r, "a.png").await;
    let mark = last_seq(&*store).await;

    store
        .update_dataset(&r, obj(json!({"description": "new"})))
        .await
        .unwrap();
    store
        .add_collaborator(&r, "bob", Role::Labeler)
        .await
        .unwrap();
    store
        .update_collaborator(&r, "bob", Role::Reviewer)
        .await
        .unwrap();
    store.delete_collaborator(&r, "bob").await.unwrap();
    store.add_labelset(&r, "model", "").await.unwrap();
    store
        .put_label(&s, "model", label(LabelStatus::Labeled), true, "alice")
        .await
        .unwrap();
    let after_label = last_seq(&*store).await;
    store.delete_labelset(&r, "model").await.unwrap();

    let evs = events_since(&*store, mark).await;
    assert_eq!(
        types(&evs),
        [
            "dataset.updated",
            "dataset.updated",
            "dataset.updated",
            "dataset.updated",
            "dataset.updated",
            "label.updated",
            "dataset.updated",
        ]
    );
    for e in &evs {
        assert_envelope(e, e["event_type"].as_str().unwrap(), "alice/ds");
    }
    assert_eq!(evs[0]["object"]["description"], "new");
    assert_eq!(evs[0]["text"], "Dataset alice/ds updated.");
    let collab_counts: Vec<_> = evs[1..4]
        .iter()
        .map(|e| e["object"]["collaborators_count"].clone())
        .collect();
    assert_eq!(collab_counts, [json!(1), json!(1), json!(0)]);
    let labelsets = |e: &serde_json::Value| {
        e["object"]["labelsets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["name"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(labelsets(&evs[4]), ["ground-truth", "model"]);
    assert_eq!(labelsets(&evs[6]), ["ground-truth"]);
    // a deleted labelset's labels go without label.deleted
    assert_eq!(
        types(&events_since(&*store, after_label).await),
        ["dataset.updated"]
    );
}

pub async fn dataset_deleted_is_the_only_event(store: Arc<dyn Store>) {
    let alice = user(&*store, "alice").await;
    user(&*store, "bob").await;
    let r = dataset(&*store, &alice, "ds", false).await;
    store
        .add_collaborator(&r, "bob", Role::Labeler)
        .await
        .unwrap();
    let s = one_sample(&*store, &r, "a.png").await;
    samples(&*store, &r, &["b.png"]).await;
    store
        .put_label(
            &s,
            "ground-truth",
            label(LabelStatus::Labeled),
            true,
            "alice",
        )
        .await
        .unwrap();
    store
        .create_issue(&s, issue_input("x"), "alice")
        .await
        .unwrap();
    store.create_release(&r, "v1", "").await.unwrap();
    let mark = last_seq(&*store).await;

    store.delete_dataset(&r).await.unwrap();
    let evs = events_since(&*store, mark).await;
    assert_eq!(types(&evs), ["dataset.deleted"]);
    assert_envelope(&evs[0], "dataset.deleted", "alice/ds");
    assert_eq!(evs[0]["text"], "Dataset alice/ds deleted.");
    // its last state
    assert_eq!(evs[0]["object"]["samples_count"], 2);
    assert_eq!(evs[0]["object"]["collaborators_count"], 1);
    assert_eq!(evs[0]["object"]["label_stats"]["LABELED"], 1);
}

pub async fn clone_emits_created_then_samples_then_labels(store: Arc<dyn Store>) {
    let alice = user(&*store, "alice").await;
    let bob = user(&*store, "bob").await;
    let src = dataset(&*store, &alice, "src", true).await;
    store.add_labelset(&src, "model", "").await.unwrap();
    let made = samples(&*store, &src, &["a.png", "b.png"]).await;
    let a = sample_ref(&*store, alice.id, &made[0].uuid).await;
    store
        .put_label(
            &a,
            "ground-truth",
            label(LabelStatus::Labeled),
            true,
            "alice",
        )
        .await
        .unwrap();
    store
        .put_label(&a, "model", label(LabelStatus::Prelabeled), true, "alice")
        .await
        .unwrap();
    let mark = last_seq(&*store).await;

    let spec = |name: &str, clone_labels| CloneSpec {
        owner_id: bob.id,
        name: name.to_owned(),
        overrides: Default::default(),
        clone_labels,
        actor: "bob".into(),
    };
    store
        .clone_dataset(&src, spec("plain", false))
        .await
        .unwrap();
    let evs = events_since(&*store, mark).await;
    assert_eq!(
        types(&evs),
        ["dataset.created", "sample.created", "sample.created"]
    );
    assert_eq!(
        evs[0]["text"],
        "Dataset bob/plain created (cloned from alice/src)."
    );
    assert_eq!(evs[0]["object"]["cloned_from"], "alice/src");
    for e in &evs {
        assert_envelope(e, e["event_type"].as_str().unwrap(), "bob/plain");
    }
    let mut sample_names: Vec<_> = evs[1..]
        .iter()
        .map(|e| e["object"]["name"].as_str().unwrap().to_owned())
        .collect();
    sample_names.sort();
    assert_eq!(sample_names, ["a.png", "b.png"]);
    assert!(evs[1..].iter().all(|e| e["object"]["created_by"] == "bob"));

    let mark = last_seq(&*store).await;
    store.clone_dataset(&src, spec("full", true)).await.unwrap();
    let evs = events_since(&*store, mark).await;
    let t = types(&evs);
    assert_eq!(t[0], "dataset.created");
    assert_eq!(t.iter().filter(|t| *t == "sample.created").count(), 2);
    assert_eq!(t.iter().filter(|t| *t == "label.updated").count(), 2);
    assert_eq!(t.len(), 5);
    // each copied label follows the creation of its sample
    for (i, e) in evs.iter().enumerate() {
        assert_envelope(e, &t[i], "bob/full");
        if t[i] == "label.updated" {
            let uuid = &e["object"]["sample_uuid"];
            let created = evs[..i]
                .iter()
                .position(|p| p["event_type"] == "sample.created" && &p["object"]["uuid"] == uuid);
            assert!(created.is_some(), "label.updated before its sample.created");
            assert_eq!(e["object"]["sample_name"], "a.png");
        }
    }
}

pub async fn sample_events(store: Arc<dyn Store>) {
    let alice = user(&*store, "alice").await;
    let r = dataset(&*store, &alice, "ds", false).await;
    let mark = last_seq(&*store).await;
    let made = samples(&*store, &r, &["b.png", "a.png"]).await;
    let evs = events_since(&*store, mark).await;
    assert_eq!(types(&evs), ["sample.created", "sample.created"]);
    assert_eq!(evs[0]["object"]["uuid"], made[0].uuid);
    assert_eq!(evs[0]["object"]["name"], "b.png");
    assert_eq!(evs[1]["object"]["name"], "a.png");
    assert_eq!(evs[0]["object"], serde_json::to_value(&made[0]).unwrap());
    assert_eq!(evs[0]["text"], "Sample b.png created in dataset alice/ds.");
    for e in &evs {
        assert_envelope(e, "sample.created", "alice/ds");
    }

    let b = sample_ref(&*store, alice.id, &made[0].uuid).await;
    let mark = last_seq(&*store).await;
    let u = store
        .update_sample(
            &b,
            SamplePatch {
                priority: Some(3.0),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let evs = events_since(&*store, mark).await;
    assert_eq!(types(&evs), ["sample.updated"]);
    assert_envelope(&evs[0], "sample.updated", "alice/ds");
    assert_eq!(evs[0]["object"], serde_json::to_value(&u).unwrap());
    assert_eq!(evs[0]["object"]["priority"], 3.0);

    // deleting samples: sample.deleted each, with the last state; labels and issues go silently
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
    store
        .create_issue(&b, issue_input("x"), "alice")
        .await
        .unwrap();
    let mark = last_seq(&*store).await;
    let n = store
        .delete_samples(
            &r,
            &[made[0].uuid.clone(), made[1].uuid.clone(), "nope".into()],
        )
        .await
        .unwrap();
    assert_eq!(n, 2);
    let evs = events_since(&*store, mark).await;
    assert_eq!(types(&evs), ["sample.deleted", "sample.deleted"]);
    assert_eq!(evs[0]["object"]["uuid"], made[0].uuid);
    assert_eq!(evs[0]["object"]["priority"], 3.0);
    assert_eq!(evs[1]["object"]["uuid"], made[1].uuid);
    assert_eq!(evs[0]["text"], "Sample b.png deleted in dataset alice/ds.");
    for e in &evs {
        assert_envelope(e, "sample.deleted", "alice/ds");
    }
}

pub async fn label_events(store: Arc<dyn Store>) {
    let alice = user(&*store, "alice").await;
    let r = dataset(&*store, &alice, "ds", false).await;
    let s = one_sample(&*store, &r, "a.png").await;
    let mark = last_seq(&*store).await;
    let put = store
        .put_label(
            &s,
            "ground-truth",
            label(LabelStatus::Labeled),
            true,
            "alice",
        )
        .await
        .unwrap();
    let patched = store
        .put_label(
            &s,
            "ground-truth",
            LabelInput {
                label_status: Some(LabelStatus::Reviewed),
                ..Default::default()
            },
            false,
            "alice",
        )
        .await
        .unwrap();
    store.delete_label(&s, "ground-truth").await.unwrap();
    let evs = events_since(&*store, mark).await;
    assert_eq!(
        types(&evs),
        ["label.updated", "label.updated", "label.deleted"]
    );
    for e in &evs {
        assert_envelope(e, e["event_type"].as_str().unwrap(), "alice/ds");
    }
    assert_eq!(evs[0]["object"], serde_json::to_value(&put).unwrap());
    assert_eq!(evs[0]["object"]["sample_uuid"], s.uuid);
    assert_eq!(
        evs[0]["text"],
        "Label of sample a.png in labelset ground-truth set to LABELED in dataset alice/ds."
    );
    assert_eq!(evs[1]["object"]["label_status"], "REVIEWED");
    // label.deleted carries the last state
    assert_eq!(evs[2]["object"], serde_json::to_value(&patched).unwrap());
    assert_eq!(
        evs[2]["text"],
        "Label of sample a.png in labelset ground-truth deleted in dataset alice/ds."
    );
}

pub async fn issue_events(store: Arc<dyn Store>) {
    let alice = user(&*store, "alice").await;
    let r = dataset(&*store, &alice, "ds", false).await;
    let s = one_sample(&*store, &r, "a.png").await;
    let mark = last_seq(&*store).await;
    let created = store
        .create_issue(&s, issue_input("car missing"), "alice")
        .await
        .unwrap();
    let (ir, _) = store.issue_access(alice.id, &created.uuid).await.unwrap();
    let updated = store
        .update_issue(
            &ir,
            IssueInput {
                status: Some(IssueStatus::Closed),
                ..Default::default()
            },
            "alice",
        )
        .await
        .unwrap();
    let replied = store.add_comment(&ir, "done now", "alice").await.unwrap();
    let before_delete = last_seq(&*store).await;
    store.delete_issue(&ir).await.unwrap();

    let evs = events_since(&*store, mark).await;
    assert_eq!(
        types(&evs),
        ["issue.created", "issue.updated", "issue.updated"]
    );
    for e in &evs {
        assert_envelope(e, e["event_type"].as_str().unwrap(), "alice/ds");
    }
    assert_eq!(evs[0]["object"], serde_json::to_value(&created).unwrap());
    assert_eq!(
        evs[0]["text"],
        "Issue created on sample a.png in dataset alice/ds by alice: car missing"
    );
    assert_eq!(evs[1]["object"], serde_json::to_value(&updated).unwrap());
    assert_eq!(evs[1]["object"]["status"], "CLOSED");
    assert_eq!(evs[2]["object"], serde_json::to_value(&replied).unwrap());
    assert!(
        evs[2]["text"].as_str().unwrap().contains("done now"),
        "{}",
        evs[2]["text"]
    );
    // there is no issue.deleted
    assert!(events_since(&*store, before_delete).await.is_empty());
}

pub async fn release_events(store: Arc<dyn Store>) {
    let alice = user(&*store, "alice").await;
    let r = dataset(&*store, &alice, "ds", false).await;
    samples(&*store, &r, &["a.png"]).await;
    let mark = last_seq(&*store).await;
    let v1 = store.create_release(&r, "v1", "").await.unwrap();
    let v2 = store.create_release(&r, "v2", "").await.unwrap();
    assert!(
        events_since(&*store, mark).await.is_empty(),
        "requesting a release is silent"
    );
    store.fail_release(&v2.uuid).await.unwrap();
    assert!(
        events_since(&*store, mark).await.is_empty(),
        "a failed build is silent"
    );
    let built = store
        .build_release(&v1.uuid, "tok", "https://files.example/tok")
        .await
        .unwrap()
        .unwrap();
    let evs = events_since(&*store, mark).await;
    assert_eq!(types(&evs), ["release.created"]);
    assert_envelope(&evs[0], "release.created", "alice/ds");
    assert_eq!(evs[0]["object"], serde_json::to_value(&built).unwrap());
    assert_eq!(evs[0]["object"]["status"], "SUCCEEDED");
    assert_eq!(
        evs[0]["object"]["attributes"]["url"],
        "https://files.example/tok"
    );
    assert_eq!(evs[0]["text"], "Release v1 created in dataset alice/ds.");
    let mark = last_seq(&*store).await;
    store.delete_release(&r, "v1").await.unwrap();
    assert!(events_since(&*store, mark).await.is_empty());
}

pub async fn non_platform_changes_emit_nothing(store: Arc<dyn Store>) {
    let mark = last_seq(&*store).await;
    let (alice, key) = store.create_user("alice", None).await.unwrap();
    user(&*store, "bob").await;
    store.create_org("acme", "alice").await.unwrap();
    store
        .add_org_member("acme", "bob", Role::Labeler)
        .await
        .unwrap();
    let k2 = store.create_api_key("alice").await.unwrap();
    store.revoke_api_key(&k2.id).await.unwrap();
    store.authenticate(&key.key).await.unwrap();
    store.set_webhooks_enabled(alice.id, true).await.unwrap();
    store.create_asset(alice.id, "x.png").await.unwrap();
    let ep = store
        .create_endpoint(
            alice.id,
            endpoint_input("https://hooks.example/a"),
            "s".into(),
        )
        .await
        .unwrap();
    store
        .create_message(
            alice.id,
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
    store.delete_endpoint(alice.id, &ep.id).await.unwrap();
    assert!(events_since(&*store, mark).await.is_empty());

    // failed changes leave no event either
    let r = dataset(&*store, &alice, "ds", false).await;
    let s = one_sample(&*store, &r, "a.png").await;
    let mark = last_seq(&*store).await;
    assert!(store
        .update_dataset(&r, obj(json!({"public": "nope"})))
        .await
        .is_err());
    assert!(store
        .add_collaborator(&r, "nobody", Role::Labeler)
        .await
        .is_err());
    assert!(store.add_labelset(&r, "ground-truth", "").await.is_err());
    assert!(store
        .put_label(
            &s,
            "ground-truth",
            label(LabelStatus::Unlabeled),
            true,
            "alice"
        )
        .await
        .is_err());
    assert!(store.delete_label(&s, "ground-truth").await.is_err());
    assert!(store
        .update_sample(
            &s,
            SamplePatch {
                assigned_labeler: Some(Some("nobody".into())),
                ..Default::default()
            }
        )
        .await
        .is_err());
    assert!(store
        .create_dataset(alice.id, "ds", settings(false))
        .await
        .is_err());
    assert!(events_since(&*store, mark).await.is_empty());
}

pub async fn events_after_pages_in_commit_order(store: Arc<dyn Store>) {
    assert!(store.events_after(0, 10).await.unwrap().is_empty());
    let alice = user(&*store, "alice").await;
    let r = dataset(&*store, &alice, "ds", false).await;
    samples(&*store, &r, &["a", "b", "c", "d"]).await;
    let all = store.events_after(0, 100).await.unwrap();
    assert_eq!(all.len(), 5);
    assert!(all.windows(2).all(|w| w[0].seq < w[1].seq), "seq increases");
    let mut ids: Vec<_> = all.iter().map(|e| e.id.clone()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 5, "event ids are unique");
    let page = store.events_after(all[1].seq, 2).await.unwrap();
    assert_eq!(page, all[2..4].to_vec());
    let tail = store.events_after(all[3].seq, 100).await.unwrap();
    assert_eq!(tail, all[4..].to_vec());
    assert!(store
        .events_after(all[4].seq, 100)
        .await
        .unwrap()
        .is_empty());
    let names: Vec<_> = all[1..]
        .iter()
        .map(|e| {
            serde_json::from_str::<serde_json::Value>(&e.payload).unwrap()["object"]["name"].clone()
        })
        .collect();
    assert_eq!(names, [json!("a"), json!("b"), json!("c"), json!("d")]);
}
