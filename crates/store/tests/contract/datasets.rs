//! Datasets, access levels, cloning, collaborators and labelsets.

use std::sync::Arc;

use serde_json::json;

use datahooks_domain::access::Access;
use datahooks_domain::model::{LabelStatus, Role, TaskType};
use datahooks_domain::settings::DatasetSettings;
use datahooks_store::{CloneSpec, Page, Store};

use crate::support::*;

pub async fn create_and_get_dataset(store: Arc<dyn Store>) {
    let alice = user(&*store, "alice").await;
    let s = DatasetSettings {
        description: "Flowers in a garden".into(),
        task_type: TaskType::Bboxes,
        ..Default::default()
    };
    let ds = store.create_dataset(alice.id, "flowers", s).await.unwrap();
    assert_eq!(ds.name, "flowers");
    assert_eq!(ds.full_name, "alice/flowers");
    assert_eq!(ds.owner.username, "alice");
    assert_eq!(ds.owner.email.as_deref(), Some("alice@example.com"));
    assert_eq!(ds.owner.created_at, alice.created_at);
    assert_api_time(&ds.created_at);
    assert_eq!(ds.cloned_from, None);
    assert_eq!(ds.samples_count, 0);
    assert_eq!(ds.collaborators_count, 0);
    assert_eq!(ds.role.as_deref(), Some("admin"));
    assert_eq!(ds.settings.description, "Flowers in a garden");
    assert_eq!(ds.settings.task_type, TaskType::Bboxes);
    assert!(!ds.settings.public);
    assert_eq!(ds.label_stats["TOTAL"], 0);
    assert_eq!(ds.labelsets.len(), 1);
    assert_eq!(ds.labelsets[0].name, "ground-truth");
    assert!(ds.labelsets[0].is_groundtruth);

    let (r, access) = store
        .dataset_access(alice.id, "alice", "flowers")
        .await
        .unwrap();
    assert_eq!(access, Access::Owner);
    assert_eq!(r.owner_id, alice.id);
    assert_eq!(r.owner, "alice");
    assert_eq!(r.name, "flowers");
    assert_eq!(r.full_name, "alice/flowers");
    assert!(!r.public);
    assert_eq!(r.task_type, TaskType::Bboxes);
    assert_eq!(store.get_dataset(&r, access).await.unwrap(), ds);

    expect_exists(
        store
            .create_dataset(alice.id, "flowers", settings(true))
            .await,
    );
    expect_invalid(
        store
            .create_dataset(alice.id, "no/slash", settings(false))
            .await,
        Some("invalid_name"),
    );
    expect_not_found(store.dataset_access(alice.id, "alice", "nothing").await);
    expect_not_found(store.dataset_access(alice.id, "nobody", "flowers").await);
    // another owner may reuse the name
    let bob = user(&*store, "bob").await;
    let b = store
        .create_dataset(bob.id, "flowers", settings(false))
        .await
        .unwrap();
    assert_eq!(b.full_name, "bob/flowers");
}

pub async fn list_datasets_by_name_with_pages(store: Arc<dyn Store>) {
    let alice = user(&*store, "alice").await;
    let bob = user(&*store, "bob").await;
    for (name, public) in [("cherry", true), ("apple", false), ("banana", true)] {
        dataset(&*store, &alice, name, public).await;
    }
    let all = store
        .list_datasets(alice.id, "alice", Page::default())
        .await
        .unwrap();
    let n: Vec<_> = all.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(n, ["apple", "banana", "cherry"]);
    assert!(all.iter().all(|d| d.role.as_deref() == Some("admin")));

    let page = |page, per_page| Page { page, per_page };
    let p1 = store
        .list_datasets(alice.id, "alice", page(1, 2))
        .await
        .unwrap();
    assert_eq!(
        p1.iter().map(|d| d.name.as_str()).collect::<Vec<_>>(),
        ["apple", "banana"]
    );
    let p2 = store
        .list_datasets(alice.id, "alice", page(2, 2))
        .await
        .unwrap();
    assert_eq!(
        p2.iter().map(|d| d.name.as_str()).collect::<Vec<_>>(),
        ["cherry"]
    );
    expect_invalid_page(store.list_datasets(alice.id, "alice", page(3, 2)).await);

    // strangers see the public ones only, without a role
    let seen = store
        .list_datasets(bob.id, "alice", Page::default())
        .await
        .unwrap();
    assert_eq!(
        seen.iter().map(|d| d.name.as_str()).collect::<Vec<_>>(),
        ["banana", "cherry"]
    );
    assert!(seen.iter().all(|d| d.role.is_none()));
    expect_invalid_page(store.list_datasets(bob.id, "alice", page(2, 2)).await);

    // an owner with no datasets has an empty first page
    assert!(store
        .list_datasets(alice.id, "bob", Page::default())
        .await
        .unwrap()
        .is_empty());
    expect_not_found(
        store
            .list_datasets(alice.id, "nobody", Page::default())
            .await,
    );
}

pub async fn update_dataset_settings(store: Arc<dyn Store>) {
    let alice = user(&*store, "alice").await;
    let bob = user(&*store, "bob").await;
    let r = dataset(&*store, &alice, "ds", false).await;
    expect_not_found(store.dataset_access(bob.id, "alice", "ds").await);

    let d = store
        .update_dataset(
            &r,
            obj(json!({"description": "new", "public": true, "category": "garden"})),
        )
        .await
        .unwrap();
    assert_eq!(d.settings.description, "new");
    assert!(d.settings.public);
    assert_eq!(d.settings.category.as_str(), "garden");
    let (r2, access) = store.dataset_access(bob.id, "alice", "ds").await.unwrap();
    assert_eq!(access, Access::Public);
    assert!(r2.public);
    let seen = store.get_dataset(&r2, access).await.unwrap();
    assert_eq!(seen.settings.description, "new");
    assert_eq!(seen.role, None);

    // a bad patch changes nothing
    expect_invalid(
        store
            .update_dataset(&r, obj(json!({"public": "yes", "description": "x"})))
            .await,
        None,
    );
    let again = store.get_dataset(&r, Access::Owner).await.unwrap();
    assert_eq!(again.settings.description, "new");
    assert!(again.settings.public);
}

pub async fn delete_dataset_removes_everything(store: Arc<dyn Store>) {
    let alice = user(&*store, "alice").await;
    let r = dataset(&*store, &alice, "ds", false).await;
    let s = one_sample(&*store, &r, "a.png").await;
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
    store.delete_dataset(&r).await.unwrap();
    expect_not_found(store.dataset_access(alice.id, "alice", "ds").await);
    expect_not_found(store.sample_access(alice.id, &s.uuid).await);
    assert!(store
        .list_datasets(alice.id, "alice", Page::default())
        .await
        .unwrap()
        .is_empty());
    // the name is free again, and the new dataset starts empty
    let again = store
        .create_dataset(alice.id, "ds", settings(false))
        .await
        .unwrap();
    assert_eq!(again.samples_count, 0);
}

pub async fn access_levels(store: Arc<dyn Store>) {
    let alice = user(&*store, "alice").await;
    let admin = user(&*store, "admin").await;
    let member = user(&*store, "member").await;
    let collab = user(&*store, "collab").await;
    let stranger = user(&*store, "stranger").await;
    let org = store.create_org("acme", "admin").await.unwrap();
    store
        .add_org_member("acme", "member", Role::Labeler)
        .await
        .unwrap();

    // user-owned, private
    let private = dataset(&*store, &alice, "private", false).await;
    store
        .add_collaborator(&private, "collab", Role::Reviewer)
        .await
        .unwrap();
    let access = |caller: i64, owner: &'static str, name: &'static str| {
        let store = store.clone();
        async move { store.dataset_access(caller, owner, name).await }
    };
    assert_eq!(
        access(alice.id, "alice", "private").await.unwrap().1,
        Access::Owner
    );
    let (cr, ca) = access(collab.id, "alice", "private").await.unwrap();
    assert_eq!(ca, Access::Reviewer);
    assert_eq!(
        store.get_dataset(&cr, ca).await.unwrap().role.as_deref(),
        Some("reviewer")
    );
    expect_not_found(access(stranger.id, "alice", "private").await);
    expect_not_found(access(admin.id, "alice", "private").await);

    // samples and issues of a private dataset are hidden too
    let s = one_sample(&*store, &private, "a.png").await;
    let issue = store
        .create_issue(&s, issue_input("broken"), "alice")
        .await
        .unwrap();
    expect_not_found(store.sample_access(stranger.id, &s.uuid).await);
    expect_not_found(store.issue_access(stranger.id, &issue.uuid).await);
    assert_eq!(
        store.sample_access(collab.id, &s.uuid).await.unwrap().1,
        Access::Reviewer
    );
    assert_eq!(
        store.issue_access(collab.id, &issue.uuid).await.unwrap().1,
        Access::Reviewer
    );

    // user-owned, public
    let public = dataset(&*store, &alice, "public", true).await;
    store
        .add_collaborator(&public, "collab", Role::Labeler)
        .await
        .unwrap();
    assert_eq!(
        access(stranger.id, "alice", "public").await.unwrap().1,
        Access::Public
    );
    assert_eq!(
        access(collab.id, "alice", "public").await.unwrap().1,
        Access::Labeler
    );
    let ps = one_sample(&*store, &public, "p.png").await;
    assert_eq!(
        store.sample_access(stranger.id, &ps.uuid).await.unwrap().1,
        Access::Public
    );

    // organization-owned, private
    let od = dataset(&*store, &org, "org-ds", false).await;
    assert_eq!(od.owner_id, org.id);
    assert_eq!(
        access(admin.id, "acme", "org-ds").await.unwrap().1,
        Access::Admin
    );
    assert_eq!(
        access(member.id, "acme", "org-ds").await.unwrap().1,
        Access::Labeler
    );
    expect_not_found(access(stranger.id, "acme", "org-ds").await);
    // a collaborator role stronger than the membership wins
    store
        .add_collaborator(&od, "member", Role::Manager)
        .await
        .unwrap();
    assert_eq!(
        access(member.id, "acme", "org-ds").await.unwrap().1,
        Access::Manager
    );
    let (or, oa) = access(admin.id, "acme", "org-ds").await.unwrap();
    assert_eq!(
        store.get_dataset(&or, oa).await.unwrap().role.as_deref(),
        Some("admin")
    );
}

pub fn issue_input(description: &str) -> datahooks_domain::inputs::IssueInput {
    datahooks_domain::inputs::IssueInput {
        description: Some(description.to_owned()),
        status: None,
        anchor: None,
    }
}

/// A source dataset with two samples, an extra labelset and labels in both labelsets.
async fn clone_source(
    store: &dyn Store,
) -> (
    datahooks_store::Account,
    datahooks_store::Account,
    datahooks_store::DatasetRef,
) {
    let alice = user(store, "alice").await;
    let bob = user(store, "bob").await;
    let src = dataset(store, &alice, "src", false).await;
    store
        .add_labelset(&src, "model", "predictions")
        .await
        .unwrap();
    let mut a = new_sample("a.png");
    a.metadata = obj(json!({"split": "train"}));
    a.priority = 2.0;
    let made = store
        .create_samples(&src, vec![a, new_sample("b.png")], "alice", false)
        .await
        .unwrap();
    let a = sample_ref(store, alice.id, &made[0].uuid).await;
    let mut l = label(LabelStatus::Labeled);
    l.score = Some(Some(0.75));
    store
        .put_label(&a, "ground-truth", l, true, "alice")
        .await
        .unwrap();
    store
        .put_label(&a, "model", label(LabelStatus::Prelabeled), true, "alice")
        .await
        .unwrap();
    (alice, bob, src)
}

pub async fn clone_dataset_without_labels(store: Arc<dyn Store>) {
    let (_, bob, src) = clone_source(&*store).await;
    let copy = store
        .clone_dataset(
            &src,
            CloneSpec {
                owner_id: bob.id,
                name: "copy".into(),
                overrides: obj(json!({"public": true})),
                clone_labels: false,
                actor: "bob".into(),
            },
        )
        .await
        .unwrap();
    assert_eq!(copy.full_name, "bob/copy");
    assert_eq!(copy.owner.username, "bob");
    assert_eq!(copy.cloned_from.as_deref(), Some("alice/src"));
    assert_eq!(copy.samples_count, 2);
    assert!(copy.settings.public);
    assert_eq!(copy.role.as_deref(), Some("admin"));
    assert_eq!(
        copy.labelsets
            .iter()
            .map(|l| l.name.as_str())
            .collect::<Vec<_>>(),
        ["ground-truth", "model"]
    );
    assert_eq!(copy.label_stats["UNLABELED"], 2);

    let (r, _) = store.dataset_access(bob.id, "bob", "copy").await.unwrap();
    assert!(r.public);
    let copied = store.list_samples(&r, &query()).await.unwrap();
    assert_eq!(names(&copied), ["a.png", "b.png"]);
    assert_eq!(copied[0].metadata["split"], "train");
    assert_eq!(copied[0].priority, 2.0);
    assert_eq!(copied[0].dataset, "bob/copy");
    assert!(copied.iter().all(|s| s.created_by == "bob"));
    let a = sample_ref(&*store, bob.id, &copied[0].uuid).await;
    expect_not_found(store.get_label(&a, "ground-truth").await);
    expect_not_found(store.get_label(&a, "model").await);
    // the source is untouched
    let src_view = store.get_dataset(&src, Access::Owner).await.unwrap();
    assert_eq!(src_view.samples_count, 2);
    assert_eq!(src_view.label_stats["LABELED"], 1);
    // and cloning onto an existing name fails
    expect_exists(
        store
            .clone_dataset(
                &src,
                CloneSpec {
                    owner_id: bob.id,
                    name: "copy".into(),
                    overrides: Default::default(),
                    clone_labels: false,
                    actor: "bob".into(),
                },
            )
            .await,
    );
}

pub async fn clone_dataset_with_labels(store: Arc<dyn Store>) {
    let (alice, _, src) = clone_source(&*store).await;
    let copy = store
        .clone_dataset(
            &src,
            CloneSpec {
                owner_id: alice.id,
                name: "copy".into(),
                overrides: Default::default(),
                clone_labels: true,
                actor: "alice".into(),
            },
        )
        .await
        .unwrap();
    assert_eq!(copy.samples_count, 2);
    assert!(!copy.settings.public);
    assert_eq!(copy.label_stats["LABELED"], 1);
    assert_eq!(copy.label_stats["UNLABELED"], 1);
    let (r, _) = store
        .dataset_access(alice.id, "alice", "copy")
        .await
        .unwrap();
    let copied = store.list_samples(&r, &query()).await.unwrap();
    let a = sample_ref(&*store, alice.id, &copied[0].uuid).await;
    let gt = store.get_label(&a, "ground-truth").await.unwrap();
    assert_eq!(gt.label_status, LabelStatus::Labeled);
    assert_eq!(gt.score, Some(0.75));
    assert_eq!(gt.sample_uuid, copied[0].uuid);
    assert_eq!(
        gt.attributes,
        Some(json!({"format_version": "0.1", "annotations": []}))
    );
    let model = store.get_label(&a, "model").await.unwrap();
    assert_eq!(model.label_status, LabelStatus::Prelabeled);
    let b = sample_ref(&*store, alice.id, &copied[1].uuid).await;
    expect_not_found(store.get_label(&b, "ground-truth").await);
}

pub async fn collaborators(store: Arc<dyn Store>) {
    let alice = user(&*store, "alice").await;
    let bob = user(&*store, "bob").await;
    store.create_org("acme", "alice").await.unwrap();
    let r = dataset(&*store, &alice, "ds", false).await;

    let c = store
        .add_collaborator(&r, "bob", Role::Reviewer)
        .await
        .unwrap();
    assert_eq!(c.user.username, "bob");
    assert_eq!(c.role, Role::Reviewer);
    assert_eq!(store.get_collaborator(&r, "bob").await.unwrap(), c);
    assert_eq!(
        store
            .get_dataset(&r, Access::Owner)
            .await
            .unwrap()
            .collaborators_count,
        1
    );
    expect_exists(store.add_collaborator(&r, "bob", Role::Labeler).await);
    expect_invalid(
        store.add_collaborator(&r, "nobody", Role::Labeler).await,
        None,
    );
    expect_invalid(
        store.add_collaborator(&r, "alice", Role::Labeler).await,
        None,
    );
    expect_invalid(
        store.add_collaborator(&r, "acme", Role::Labeler).await,
        None,
    );

    let u = store
        .update_collaborator(&r, "bob", Role::Manager)
        .await
        .unwrap();
    assert_eq!(u.role, Role::Manager);
    assert_eq!(
        store.get_collaborator(&r, "bob").await.unwrap().role,
        Role::Manager
    );
    assert_eq!(
        store.dataset_access(bob.id, "alice", "ds").await.unwrap().1,
        Access::Manager
    );
    expect_not_found(store.update_collaborator(&r, "alice", Role::Admin).await);
    expect_not_found(store.get_collaborator(&r, "nobody").await);

    store.delete_collaborator(&r, "bob").await.unwrap();
    expect_not_found(store.get_collaborator(&r, "bob").await);
    expect_not_found(store.delete_collaborator(&r, "bob").await);
    expect_not_found(store.dataset_access(bob.id, "alice", "ds").await);
    assert_eq!(
        store
            .get_dataset(&r, Access::Owner)
            .await
            .unwrap()
            .collaborators_count,
        0
    );
}

pub async fn labelsets(store: Arc<dyn Store>) {
    let alice = user(&*store, "alice").await;
    let r = dataset(&*store, &alice, "ds", false).await;
    let gt = store.list_labelsets(&r).await.unwrap();
    assert_eq!(gt.len(), 1);
    assert_eq!(gt[0].name, "ground-truth");
    assert!(gt[0].is_groundtruth);
    assert_eq!(store.get_labelset(&r, "ground-truth").await.unwrap(), gt[0]);

    let m = store
        .add_labelset(&r, "model", "model predictions")
        .await
        .unwrap();
    assert_eq!(m.name, "model");
    assert_eq!(m.description, "model predictions");
    assert!(!m.is_groundtruth);
    assert_api_time(&m.created_at);
    assert_eq!(store.get_labelset(&r, "model").await.unwrap(), m);
    let all = store.list_labelsets(&r).await.unwrap();
    assert_eq!(
        all.iter().map(|l| l.name.as_str()).collect::<Vec<_>>(),
        ["ground-truth", "model"]
    );
    assert_eq!(
        store
            .get_dataset(&r, Access::Owner)
            .await
            .unwrap()
            .labelsets,
        all
    );
    expect_exists(store.add_labelset(&r, "model", "").await);
    expect_invalid(
        store.add_labelset(&r, "a/b", "").await,
        Some("invalid_name"),
    );
    expect_not_found(store.get_labelset(&r, "nothing").await);

    // deleting a labelset takes its labels with it
    let s = one_sample(&*store, &r, "a.png").await;
    store
        .put_label(&s, "model", label(LabelStatus::Labeled), true, "alice")
        .await
        .unwrap();
    store.delete_labelset(&r, "model").await.unwrap();
    expect_not_found(store.get_labelset(&r, "model").await);
    expect_not_found(store.delete_labelset(&r, "model").await);
    expect_invalid(store.delete_labelset(&r, "ground-truth").await, None);
    store.add_labelset(&r, "model", "again").await.unwrap();
    expect_not_found(store.get_label(&s, "model").await);
    assert_eq!(store.list_labelsets(&r).await.unwrap().len(), 2);
}
