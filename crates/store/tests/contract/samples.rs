//! Samples (create, list filters, update, delete) and labels (PUT, PATCH, get, delete).

use std::sync::Arc;

use serde_json::json;

use datahooks_domain::access::Access;
use datahooks_domain::inputs::{LabelInput, SamplePatch};
use datahooks_domain::model::{LabelStatus, TaskType};
use datahooks_store::webhooks::ListFilter;
use datahooks_store::{Page, SampleSort, Store};

use crate::support::*;

pub async fn create_samples_returns_full_samples(store: Arc<dyn Store>) {
    let alice = user(&*store, "alice").await;
    let bob = user(&*store, "bob").await;
    let r = dataset(&*store, &alice, "ds", false).await;
    let mut a = new_sample("dir/a.png");
    a.metadata = obj(json!({"split": "train", "n": 3}));
    a.priority = 1.5;
    a.readme = "read me".into();
    a.assigned_labeler = Some("bob".into());
    let made = store
        .create_samples(&r, vec![a, new_sample("b.png")], "alice", false)
        .await
        .unwrap();
    assert_eq!(made.len(), 2);
    let s = &made[0];
    assert_eq!(s.name, "dir/a.png");
    assert_eq!(s.metadata["split"], "train");
    assert_eq!(s.metadata["n"], 3);
    assert_eq!(s.priority, 1.5);
    assert_eq!(s.readme, "read me");
    assert_eq!(s.assigned_labeler.as_deref(), Some("bob"));
    assert_eq!(s.assigned_reviewer, None);
    assert_eq!(s.created_by, "alice");
    assert_eq!(s.dataset, "alice/ds");
    assert_eq!(s.dataset_full_name, "alice/ds");
    assert_eq!(
        s.attributes,
        Some(json!({"image": {"url": "https://img.example/dir/a.png"}}))
    );
    assert_eq!(s.label, None);
    assert_api_time(&s.created_at);
    assert_api_time(&s.updated_at);
    assert_ne!(made[0].uuid, made[1].uuid);

    let (sr, access) = store.sample_access(alice.id, &s.uuid).await.unwrap();
    assert_eq!(access, Access::Owner);
    assert_eq!(sr.uuid, s.uuid);
    assert_eq!(sr.name, "dir/a.png");
    assert_eq!(sr.dataset, r);
    assert_eq!(&store.get_sample(&sr, None).await.unwrap(), s);
    expect_not_found(store.sample_access(bob.id, &s.uuid).await);
    expect_not_found(store.sample_access(alice.id, "no-such-uuid").await);
    assert_eq!(
        store
            .get_dataset(&r, Access::Owner)
            .await
            .unwrap()
            .samples_count,
        2
    );
}

pub async fn create_samples_skip_existing_returns_existing_unchanged(store: Arc<dyn Store>) {
    let alice = user(&*store, "alice").await;
    let r = dataset(&*store, &alice, "ds", false).await;
    let mut first = new_sample("a.png");
    first.metadata = obj(json!({"v": 1}));
    let old = store
        .create_samples(&r, vec![first], "alice", false)
        .await
        .unwrap()
        .remove(0);
    let mark = last_seq(&*store).await;

    let mut again = new_sample("a.png");
    again.metadata = obj(json!({"v": 2}));
    let got = store
        .create_samples(&r, vec![again, new_sample("b.png")], "alice", true)
        .await
        .unwrap();
    assert_eq!(names(&got), ["a.png", "b.png"]);
    assert_eq!(got[0], old, "the existing sample comes back unchanged");
    let evs = events_since(&*store, mark).await;
    assert_eq!(types(&evs), ["sample.created"]);
    assert_eq!(evs[0]["object"]["name"], "b.png");
    assert_eq!(store.list_samples(&r, &query()).await.unwrap().len(), 2);
}

/// The atomicity rule: a duplicate name without `skip_existing` fails the whole call, leaving
/// no samples, no events and no deliveries behind.
pub async fn create_samples_duplicate_fails_whole_call(store: Arc<dyn Store>) {
    let alice = hooked_user(&*store, "alice").await;
    store
        .create_endpoint(
            alice.id,
            endpoint_input("https://hooks.example/a"),
            "s".into(),
        )
        .await
        .unwrap();
    let r = dataset(&*store, &alice, "ds", false).await;
    samples(&*store, &r, &["a.png"]).await;
    let mark = last_seq(&*store).await;
    let messages = |store: Arc<dyn Store>| async move {
        store
            .list_messages(
                alice.id,
                &ListFilter {
                    limit: 100,
                    ..Default::default()
                },
            )
            .await
            .unwrap()
            .len()
    };
    let msgs_before = messages(store.clone()).await;
    let depth_before = store.queue_depth().await.unwrap().0;

    let batch = vec![
        new_sample("x.png"),
        new_sample("a.png"),
        new_sample("y.png"),
    ];
    expect_exists(store.create_samples(&r, batch, "alice", false).await);
    // duplicates inside one batch also fail it whole
    let batch = vec![new_sample("p.png"), new_sample("p.png")];
    expect_exists(store.create_samples(&r, batch, "alice", false).await);

    assert_eq!(
        names(&store.list_samples(&r, &query()).await.unwrap()),
        ["a.png"]
    );
    assert!(events_since(&*store, mark).await.is_empty());
    assert_eq!(messages(store.clone()).await, msgs_before);
    assert_eq!(store.queue_depth().await.unwrap().0, depth_before);
    assert_eq!(
        store
            .get_dataset(&r, Access::Owner)
            .await
            .unwrap()
            .samples_count,
        1
    );
}

pub async fn list_samples_name_contains_is_literal(store: Arc<dyn Store>) {
    let alice = user(&*store, "alice").await;
    let r = dataset(&*store, &alice, "ds", false).await;
    samples(
        &*store,
        &r,
        &[
            "cat_1.png",
            "cat%2.png",
            "catX1.png",
            "dog.png",
            "back\\slash.png",
        ],
    )
    .await;
    let find = |sub: &str| {
        let mut q = query();
        q.name_contains = Some(sub.to_owned());
        let (store, r) = (store.clone(), r.clone());
        async move {
            // sorted here: name order under a backend's collation is not the point
            let mut n = names(&store.list_samples(&r, &q).await.unwrap());
            n.sort();
            n
        }
    };
    assert_eq!(find("cat").await, ["cat%2.png", "catX1.png", "cat_1.png"]);
    assert_eq!(find("_").await, ["cat_1.png"]);
    assert_eq!(find("t_1").await, ["cat_1.png"]);
    assert_eq!(find("%").await, ["cat%2.png"]);
    assert_eq!(find("t%2").await, ["cat%2.png"]);
    assert_eq!(find("\\").await, ["back\\slash.png"]);
    assert_eq!(find("dog.png").await, ["dog.png"]);
    assert!(find("bird").await.is_empty());
}

pub async fn list_samples_metadata_filter(store: Arc<dyn Store>) {
    let alice = user(&*store, "alice").await;
    let r = dataset(&*store, &alice, "ds", false).await;
    let mk = |name: &str, meta: serde_json::Value| {
        let mut s = new_sample(name);
        s.metadata = obj(meta);
        s
    };
    store
        .create_samples(
            &r,
            vec![
                mk("a", json!({"split": "train", "cam": "front"})),
                mk("b", json!({"split": "train", "cam": "back"})),
                mk("c", json!({"split": "val", "cam": "front"})),
                mk("d", json!({})),
            ],
            "alice",
            false,
        )
        .await
        .unwrap();
    let find = |pairs: &[(&str, &str)]| {
        let mut q = query();
        q.metadata = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let (store, r) = (store.clone(), r.clone());
        async move { names(&store.list_samples(&r, &q).await.unwrap()) }
    };
    assert_eq!(find(&[("split", "train")]).await, ["a", "b"]);
    assert_eq!(find(&[("split", "train"), ("cam", "front")]).await, ["a"]);
    assert_eq!(find(&[("cam", "front")]).await, ["a", "c"]);
    assert!(find(&[("split", "test")]).await.is_empty());
    assert!(find(&[("nope", "train")]).await.is_empty());
}

pub async fn list_samples_label_status_filter(store: Arc<dyn Store>) {
    let alice = user(&*store, "alice").await;
    let r = dataset(&*store, &alice, "ds", false).await;
    store.add_labelset(&r, "model", "").await.unwrap();
    let made = samples(&*store, &r, &["a", "b", "c", "d"]).await;
    let refs = {
        let mut v = Vec::new();
        for s in &made {
            v.push(sample_ref(&*store, alice.id, &s.uuid).await);
        }
        v
    };
    let gt = "ground-truth";
    store
        .put_label(&refs[0], gt, label(LabelStatus::Labeled), true, "alice")
        .await
        .unwrap();
    store
        .put_label(&refs[1], gt, label(LabelStatus::Reviewed), true, "alice")
        .await
        .unwrap();
    store
        .put_label(
            &refs[2],
            "model",
            label(LabelStatus::Labeled),
            true,
            "alice",
        )
        .await
        .unwrap();
    let find = |labelset: &str, statuses: &[LabelStatus]| {
        let mut q = query();
        q.labelset = labelset.to_owned();
        q.label_status = statuses.to_vec();
        let (store, r) = (store.clone(), r.clone());
        async move { names(&store.list_samples(&r, &q).await.unwrap()) }
    };
    assert_eq!(find(gt, &[LabelStatus::Labeled]).await, ["a"]);
    assert_eq!(find(gt, &[LabelStatus::Reviewed]).await, ["b"]);
    assert_eq!(find(gt, &[LabelStatus::Unlabeled]).await, ["c", "d"]);
    assert_eq!(
        find(gt, &[LabelStatus::Labeled, LabelStatus::Unlabeled]).await,
        ["a", "c", "d"]
    );
    assert!(find(gt, &[LabelStatus::Rejected]).await.is_empty());
    assert_eq!(find("model", &[LabelStatus::Labeled]).await, ["c"]);
    assert_eq!(
        find("model", &[LabelStatus::Unlabeled]).await,
        ["a", "b", "d"]
    );
}

pub async fn list_samples_sort_pages_and_labels(store: Arc<dyn Store>) {
    let alice = user(&*store, "alice").await;
    let r = dataset(&*store, &alice, "ds", false).await;
    let mut new = Vec::new();
    for (name, priority) in [("c", 1.0), ("a", 3.0), ("e", 5.0), ("b", 2.0), ("d", 4.0)] {
        let mut s = new_sample(name);
        s.priority = priority;
        new.push(s);
    }
    let made = store.create_samples(&r, new, "alice", false).await.unwrap();
    let list = |f: &dyn Fn(&mut datahooks_store::SampleQuery)| {
        let mut q = query();
        f(&mut q);
        let (store, r) = (store.clone(), r.clone());
        async move { store.list_samples(&r, &q).await }
    };
    assert_eq!(
        names(&list(&|_| {}).await.unwrap()),
        ["a", "b", "c", "d", "e"]
    );
    assert_eq!(
        names(&list(&|q| q.descending = true).await.unwrap()),
        ["e", "d", "c", "b", "a"]
    );
    assert_eq!(
        names(
            &list(&|q| {
                q.sort = SampleSort::Priority;
                q.descending = true;
            })
            .await
            .unwrap()
        ),
        ["e", "d", "a", "b", "c"]
    );
    assert_eq!(
        names(&list(&|q| q.sort = SampleSort::Priority).await.unwrap()),
        ["c", "b", "a", "d", "e"]
    );
    // created in the order c, a, e, b, d
    assert_eq!(
        names(&list(&|q| q.sort = SampleSort::CreatedAt).await.unwrap()),
        ["c", "a", "e", "b", "d"]
    );

    let page = |page, per_page| {
        move |q: &mut datahooks_store::SampleQuery| q.page = Page { page, per_page }
    };
    assert_eq!(names(&list(&page(1, 2)).await.unwrap()), ["a", "b"]);
    assert_eq!(names(&list(&page(2, 2)).await.unwrap()), ["c", "d"]);
    assert_eq!(names(&list(&page(3, 2)).await.unwrap()), ["e"]);
    expect_invalid_page(list(&page(4, 2)).await);
    expect_invalid_page(list(&page(2, 5)).await);

    // labels: none, a summary, or the whole label
    let a = made.iter().find(|s| s.name == "a").unwrap();
    let ar = sample_ref(&*store, alice.id, &a.uuid).await;
    let mut l = label(LabelStatus::Labeled);
    l.score = Some(Some(0.5));
    store
        .put_label(&ar, "ground-truth", l, true, "alice")
        .await
        .unwrap();
    let none = list(&|_| {}).await.unwrap();
    assert!(none.iter().all(|s| s.label.is_none()));
    let full = list(&|q| q.include_label = Some(true)).await.unwrap();
    assert_eq!(full[0].label.as_ref().unwrap()["label_status"], "LABELED");
    assert_eq!(
        full[0].label.as_ref().unwrap()["attributes"],
        json!({"format_version": "0.1", "annotations": []})
    );
    assert!(full[1].label.is_none());
    let summary = list(&|q| q.include_label = Some(false)).await.unwrap();
    let sl = summary[0].label.as_ref().unwrap();
    assert_eq!(sl["label_status"], "LABELED");
    assert_eq!(sl["score"], 0.5);
    assert!(
        sl.get("attributes").is_none(),
        "a summary has no attributes"
    );
}

pub async fn empty_dataset_lists_no_samples(store: Arc<dyn Store>) {
    let alice = user(&*store, "alice").await;
    let r = dataset(&*store, &alice, "ds", false).await;
    assert!(store.list_samples(&r, &query()).await.unwrap().is_empty());
    let mut q = query();
    q.page = Page {
        page: 2,
        per_page: 10,
    };
    expect_invalid_page(store.list_samples(&r, &q).await);
}

pub async fn update_sample(store: Arc<dyn Store>) {
    let alice = user(&*store, "alice").await;
    user(&*store, "bob").await;
    let r = dataset(&*store, &alice, "ds", false).await;
    samples(&*store, &r, &["other.png"]).await;
    let s = one_sample(&*store, &r, "a.png").await;
    let before = store.get_sample(&s, None).await.unwrap();

    let u = store
        .update_sample(
            &s,
            SamplePatch {
                metadata: Some(obj(json!({"k": "v"}))),
                priority: Some(7.0),
                assigned_labeler: Some(Some("bob".into())),
                readme: Some("notes".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(u.uuid, s.uuid);
    assert_eq!(u.name, "a.png");
    assert_eq!(u.metadata, obj(json!({"k": "v"})));
    assert_eq!(u.priority, 7.0);
    assert_eq!(u.readme, "notes");
    assert_eq!(u.assigned_labeler.as_deref(), Some("bob"));
    assert_eq!(u.attributes, before.attributes, "untouched fields stay");
    assert_eq!(u.created_at, before.created_at);
    assert!(u.updated_at >= before.updated_at);
    assert_eq!(store.get_sample(&s, None).await.unwrap(), u);

    // rename; unassign; attributes cleared
    let u = store
        .update_sample(
            &s,
            SamplePatch {
                name: Some("renamed.png".into()),
                assigned_labeler: Some(None),
                attributes: Some(None),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(u.name, "renamed.png");
    assert_eq!(u.assigned_labeler, None);
    assert_eq!(u.attributes, None);
    assert_eq!(u.priority, 7.0);

    expect_invalid(
        store
            .update_sample(
                &s,
                SamplePatch {
                    assigned_reviewer: Some(Some("nobody".into())),
                    priority: Some(1.0),
                    ..Default::default()
                },
            )
            .await,
        None,
    );
    expect_exists(
        store
            .update_sample(
                &s,
                SamplePatch {
                    name: Some("other.png".into()),
                    ..Default::default()
                },
            )
            .await,
    );
    let now = store.get_sample(&s, None).await.unwrap();
    assert_eq!(now.name, "renamed.png", "failed updates change nothing");
    assert_eq!(now.priority, 7.0);
}

pub async fn delete_samples_skips_unknown_ids(store: Arc<dyn Store>) {
    let alice = user(&*store, "alice").await;
    let r = dataset(&*store, &alice, "ds", false).await;
    let other = dataset(&*store, &alice, "other", false).await;
    let made = samples(&*store, &r, &["a", "b", "c"]).await;
    let foreign = samples(&*store, &other, &["x"]).await.remove(0);
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
    let n = store
        .delete_samples(
            &r,
            &[
                made[0].uuid.clone(),
                "no-such-uuid".into(),
                made[1].uuid.clone(),
                foreign.uuid.clone(),
                made[0].uuid.clone(),
            ],
        )
        .await
        .unwrap();
    assert_eq!(n, 2);
    assert_eq!(
        names(&store.list_samples(&r, &query()).await.unwrap()),
        ["c"]
    );
    assert_eq!(
        names(&store.list_samples(&other, &query()).await.unwrap()),
        ["x"],
        "a sample of another dataset is not deleted"
    );
    expect_not_found(store.sample_access(alice.id, &made[0].uuid).await);
    let ds = store.get_dataset(&r, Access::Owner).await.unwrap();
    assert_eq!(ds.samples_count, 1);
    assert_eq!(ds.label_stats["LABELED"], 0);
    assert_eq!(store.delete_samples(&r, &[]).await.unwrap(), 0);
}

pub async fn put_label_replace_semantics(store: Arc<dyn Store>) {
    let alice = user(&*store, "alice").await;
    let r = dataset(&*store, &alice, "ds", false).await;
    let s = one_sample(&*store, &r, "a.png").await;
    let first = store
        .put_label(
            &s,
            "ground-truth",
            LabelInput {
                label_status: Some(LabelStatus::Labeled),
                attributes: Some(Some(json!({"annotations": [1]}))),
                score: Some(Some(0.9)),
            },
            true,
            "alice",
        )
        .await
        .unwrap();
    assert_eq!(first.sample_uuid, s.uuid);
    assert_eq!(first.sample_name, "a.png");
    assert_eq!(first.labelset, "ground-truth");
    assert_eq!(first.label_type, TaskType::SegmentationBitmap);
    assert_eq!(first.label_status, LabelStatus::Labeled);
    assert_eq!(first.attributes, Some(json!({"annotations": [1]})));
    assert_eq!(first.score, Some(0.9));
    assert_eq!(first.created_by, "alice");
    assert_eq!(first.updated_by.as_deref(), Some("alice"));
    assert_eq!(first.reviewed_by, None);
    assert_api_time(&first.created_at);
    assert_eq!(store.get_label(&s, "ground-truth").await.unwrap(), first);

    // PUT replaces: what is not given goes back to its default
    let second = store
        .put_label(
            &s,
            "ground-truth",
            LabelInput {
                label_status: None,
                attributes: Some(Some(json!({"annotations": [2]}))),
                score: None,
            },
            true,
            "bob",
        )
        .await
        .unwrap();
    assert_eq!(second.label_status, LabelStatus::Prelabeled);
    assert_eq!(second.attributes, Some(json!({"annotations": [2]})));
    assert_eq!(second.score, None);
    assert_eq!(second.created_by, "alice", "created_by stays");
    assert_eq!(second.created_at, first.created_at);
    assert_eq!(second.updated_by.as_deref(), Some("bob"));
    assert_eq!(store.get_label(&s, "ground-truth").await.unwrap(), second);
}

pub async fn patch_label_keeps_what_is_not_given(store: Arc<dyn Store>) {
    let alice = user(&*store, "alice").await;
    let r = dataset(&*store, &alice, "ds", false).await;
    let s = one_sample(&*store, &r, "a.png").await;
    // PATCH creating a label: PRELABELED by default
    let created = store
        .put_label(
            &s,
            "ground-truth",
            LabelInput {
                label_status: None,
                attributes: Some(Some(json!({"annotations": [1]}))),
                score: Some(Some(0.4)),
            },
            false,
            "alice",
        )
        .await
        .unwrap();
    assert_eq!(created.label_status, LabelStatus::Prelabeled);

    let patched = store
        .put_label(
            &s,
            "ground-truth",
            LabelInput {
                label_status: Some(LabelStatus::Reviewed),
                attributes: None,
                score: None,
            },
            false,
            "rev",
        )
        .await
        .unwrap();
    assert_eq!(patched.label_status, LabelStatus::Reviewed);
    assert_eq!(patched.attributes, Some(json!({"annotations": [1]})));
    assert_eq!(patched.score, Some(0.4));
    assert_eq!(patched.reviewed_by.as_deref(), Some("rev"));
    assert!(patched.reviewed_at.is_some());

    // an explicit null clears the score
    let cleared = store
        .put_label(
            &s,
            "ground-truth",
            LabelInput {
                label_status: None,
                attributes: None,
                score: Some(None),
            },
            false,
            "alice",
        )
        .await
        .unwrap();
    assert_eq!(cleared.score, None);
    assert_eq!(cleared.label_status, LabelStatus::Reviewed);
    assert_eq!(cleared.attributes, Some(json!({"annotations": [1]})));
}

pub async fn labels_get_and_delete(store: Arc<dyn Store>) {
    let alice = user(&*store, "alice").await;
    let r = dataset(&*store, &alice, "ds", false).await;
    let s = one_sample(&*store, &r, "a.png").await;
    expect_not_found(store.get_label(&s, "ground-truth").await);
    expect_not_found(store.get_label(&s, "nothing").await);
    expect_not_found(
        store
            .put_label(&s, "nothing", label(LabelStatus::Labeled), true, "alice")
            .await,
    );
    expect_invalid(
        store
            .put_label(
                &s,
                "ground-truth",
                label(LabelStatus::Unlabeled),
                true,
                "alice",
            )
            .await,
        None,
    );
    expect_not_found(store.get_label(&s, "ground-truth").await);

    let l = store
        .put_label(
            &s,
            "ground-truth",
            label(LabelStatus::Labeled),
            true,
            "alice",
        )
        .await
        .unwrap();
    let with = store.get_sample(&s, Some("ground-truth")).await.unwrap();
    assert_eq!(with.label, Some(serde_json::to_value(&l).unwrap()));
    expect_not_found(store.get_sample(&s, Some("nothing")).await);
    assert_eq!(
        store
            .get_dataset(&r, Access::Owner)
            .await
            .unwrap()
            .label_stats["LABELED"],
        1
    );

    store.delete_label(&s, "ground-truth").await.unwrap();
    expect_not_found(store.get_label(&s, "ground-truth").await);
    expect_not_found(store.delete_label(&s, "ground-truth").await);
    assert_eq!(
        store
            .get_sample(&s, Some("ground-truth"))
            .await
            .unwrap()
            .label,
        None
    );
    let stats = store
        .get_dataset(&r, Access::Owner)
        .await
        .unwrap()
        .label_stats;
    assert_eq!(stats["LABELED"], 0);
    assert_eq!(stats["UNLABELED"], 1);
}
