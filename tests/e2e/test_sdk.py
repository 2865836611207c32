"""End-to-end: the official `segments-ai` 1.33.0 SDK against the real `datahooks` binary.

Every SDK call listed in shared/spec/segments-api.md is exercised, and every write is checked
against the event outbox (`datahooks events list`): event types, dataset, and that `object`
carries what the SDK got back.
"""

from __future__ import annotations

import gzip
import io
import json
import uuid as uuidlib
from typing import Any

import pytest
import requests
from e2e_helpers import (
    VECTOR_TASK_ATTRIBUTES,
    Account,
    Datahooks,
    EventLog,
    assert_event,
    assert_event_types,
    assert_no_events,
    assert_subset,
    image_attrs,
    poll,
    raises_exactly,
    raw,
    to_json,
    types_of,
    unique,
    vector_label,
)
from segments import SegmentsClient, SegmentsDataset
from segments.exceptions import (
    AlreadyExistsError,
    AuthenticationError,
    AuthorizationError,
    CollaboratorError,
    NetworkError,
    NotFoundError,
)
from segments.typing import LabelStatus
from segments.utils import load_release

ALL_LABEL_STATUSES = [s.value for s in LabelStatus]
# UNLABELED means "no label": the server refuses to store a label with it (delete the label instead).
STORABLE_LABEL_STATUSES = [s for s in ALL_LABEL_STATUSES if s != "UNLABELED"]
# Per-caller field: the event object has no caller, the API shows the caller's role.
DATASET_IGNORE = ("role",)


def names(samples) -> list[str]:
    return [s.name for s in samples]


# =============================================================================================
# Transport and authentication
# =============================================================================================


def test_wrong_api_key_raises_authentication_error(base_url: str) -> None:
    with raises_exactly(AuthenticationError):
        SegmentsClient(api_key="not-a-real-key", api_url=base_url + "/")


def test_api_status_and_missing_credentials(base_url: str, owner: Account) -> None:
    r = raw("GET", f"{base_url}/api_status/?lib_version=1.33.0", headers=owner.auth)
    assert r.status_code == 200, r.text
    assert isinstance(r.json(), dict)

    r = raw("GET", f"{base_url}/api_status/?lib_version=1.33.0", headers={"Authorization": "APIKey nope"})
    assert r.status_code == 401, r.text

    r = raw("GET", f"{base_url}/user")
    assert r.status_code == 401, r.text
    assert r.json()["detail"] == "Authentication credentials were not provided."


def test_second_api_key_from_cli_works(server: Datahooks, owner: Account) -> None:
    key2 = server.create_apikey(owner.username)
    assert key2 and key2 != owner.api_key
    with server.client(key2) as c:
        assert c.get_user().username == owner.username
    # the first key keeps working
    assert owner.client.get_user().username == owner.username


def test_paths_with_and_without_trailing_slash(base_url: str, owner: Account, other: Account, dataset) -> None:
    owner.client.add_dataset_collaborator(dataset.full_name, other.username, "labeler")
    for path in [
        "/user",
        "/user/",
        f"/users/{other.username}",
        f"/users/{other.username}/",
        f"/datasets/{dataset.full_name}/",
        f"/datasets/{dataset.full_name}",
        f"/datasets/{dataset.full_name}/collaborators/{other.username}",
        f"/datasets/{dataset.full_name}/collaborators/{other.username}/",
        f"/datasets/{dataset.full_name}/samples/",
        f"/datasets/{dataset.full_name}/samples",
    ]:
        r = raw("GET", base_url + path, headers=owner.auth)
        assert r.status_code == 200, f"GET {path}: {r.status_code} {r.text[:200]}"
        r.json()


# =============================================================================================
# Users
# =============================================================================================


def test_get_user_own_and_other(owner: Account, other: Account) -> None:
    me = owner.client.get_user()
    assert me.username == owner.username
    assert me.email == owner.email
    assert me.is_organization is False
    assert me.created_at

    them = owner.client.get_user(other.username)
    assert them.username == other.username
    assert them.is_organization is False

    with raises_exactly(NotFoundError):
        owner.client.get_user(unique("nobody"))


# =============================================================================================
# Datasets
# =============================================================================================


def test_add_dataset_defaults(owner: Account, events: EventLog) -> None:
    mark = events.mark()
    name = unique("defaults")
    ds = owner.client.add_dataset(name)
    assert ds.name == name
    assert ds.full_name == f"{owner.username}/{name}"
    assert ds.owner.username == owner.username
    assert ds.task_type == "segmentation-bitmap"
    assert ds.category == "other"
    assert ds.public is False and ds.archived is False
    assert ds.description == ""
    assert ds.enable_skip_labeling is True and ds.enable_ratings is False
    assert ds.labeling_inactivity_timeout_seconds in (None, 300)
    assert ds.enable_extrapolation is False
    assert isinstance(ds.enable_object_link_category_restrictions, bool)
    assert ds.metadata == {}
    assert ds.cloned_from is None
    assert ds.task_attributes is not None
    assert [(c.id, c.name) for c in ds.task_attributes.categories] == [(1, "object")]
    if ds.labelsets is not None:
        assert "ground-truth" in [ls.name for ls in ds.labelsets]

    evs = events.since(mark, owner=owner.username)
    assert_event_types(evs, ["dataset.created"])
    assert_event(evs[0], "dataset.created", ds.full_name, ds, ignore=DATASET_IGNORE)


def test_add_dataset_all_fields_and_get(owner: Account, events: EventLog) -> None:
    mark = events.mark()
    name = unique("flowers")
    ds = owner.client.add_dataset(
        name,
        description="All kinds of flowers.",
        task_type="vector",
        task_attributes=VECTOR_TASK_ATTRIBUTES,
        category="garden",
        public=False,
        readme="# Flowers",
        metadata={"team": "green", "version": 2},
        labeling_inactivity_timeout_seconds=600,
        enable_skip_labeling=False,
        enable_skip_reviewing=True,
        enable_ratings=True,
        enable_interpolation=False,
        enable_same_dimensions_track_constraint=True,
        enable_save_button=True,
        enable_label_status_verified=True,
        enable_3d_cuboid_rotation=True,
        enable_confirm_on_commit=True,
        enable_object_linking=True,
        enable_object_link_category_restrictions=True,
        enable_extrapolation=True,
    )
    assert ds.full_name == f"{owner.username}/{name}"
    assert ds.description == "All kinds of flowers."
    assert ds.task_type == "vector"
    assert ds.category == "garden"
    assert ds.readme == "# Flowers"
    assert ds.metadata == {"team": "green", "version": 2}
    assert ds.labeling_inactivity_timeout_seconds == 600
    assert ds.enable_skip_labeling is False
    assert ds.enable_skip_reviewing is True
    assert ds.enable_ratings is True
    assert ds.enable_interpolation is False
    assert ds.enable_same_dimensions_track_constraint is True
    assert ds.enable_save_button is True
    assert ds.enable_label_status_verified is True
    assert ds.enable_3d_cuboid_rotation is True
    assert ds.enable_confirm_on_submit is True
    assert ds.enable_object_linking is True
    assert ds.enable_object_link_category_restrictions is True
    assert ds.enable_extrapolation is True
    assert [(c.id, c.name) for c in ds.task_attributes.categories] == [(1, "flower"), (2, "leaf")]
    assert tuple(ds.task_attributes.categories[0].color) == (255, 0, 0)

    got = owner.client.get_dataset(ds.full_name)
    assert_subset(ds, to_json(got), what="get_dataset vs add_dataset")

    evs = events.since(mark, owner=owner.username)
    assert_event_types(evs, ["dataset.created"])
    assert_event(evs[0], "dataset.created", ds.full_name, ds, ignore=DATASET_IGNORE)
    assert name in evs[0]["text"]


def test_duplicate_dataset_raises_already_exists(owner: Account, events: EventLog) -> None:
    name = unique("dup")
    owner.client.add_dataset(name)
    mark = events.mark()
    with raises_exactly(AlreadyExistsError):
        owner.client.add_dataset(name)
    assert_no_events(events.since(mark, owner=owner.username))


def test_get_datasets_pagination_and_visibility(base_url: str, owner: Account, other: Account, make_dataset) -> None:
    created = sorted(make_dataset().name for _ in range(3))
    assert sorted(d.name for d in owner.client.get_datasets()) == created

    page1 = owner.client.get_datasets(per_page=2, page=1)
    page2 = owner.client.get_datasets(per_page=2, page=2)
    assert len(page1) == 2 and len(page2) == 1
    assert sorted(d.name for d in page1 + page2) == created
    with raises_exactly(NotFoundError):
        owner.client.get_datasets(per_page=2, page=3)
    r = raw("GET", f"{base_url}/user/datasets/?per_page=2&page=3", headers=owner.auth)
    assert r.status_code == 404 and r.json()["detail"] == "Invalid page.", r.text  # DRF's stock text
    assert len(owner.client.get_datasets(per_page=3, page=1)) == 3
    with raises_exactly(NotFoundError):
        owner.client.get_datasets(per_page=3, page=2)

    # A fresh user: page 1 of an empty list is [], not an error.
    assert other.client.get_datasets() == []
    # Others see only public datasets of a user.
    assert other.client.get_datasets(user=owner.username) == []
    public_name = created[1]
    owner.client.update_dataset(f"{owner.username}/{public_name}", public=True)
    visible = other.client.get_datasets(user=owner.username)
    assert [d.name for d in visible] == [public_name]
    assert sorted(d.name for d in owner.client.get_datasets(user=owner.username)) == created


def test_update_dataset(owner: Account, dataset, events: EventLog) -> None:
    mark = events.mark()
    new_attrs = {"format_version": "0.1", "categories": [{"id": 1, "name": "tulip"}, {"id": 7, "name": "rose"}]}
    upd = owner.client.update_dataset(
        dataset.full_name,
        description="Updated.",
        task_attributes=new_attrs,
        category="fruit",
        public=True,
        readme="new readme",
        metadata={"k": "v"},
        labeling_inactivity_timeout_seconds=120,
        enable_ratings=True,
        enable_skip_labeling=False,
        enable_confirm_on_commit=True,
        use_timestamps_for_interpolation=True,
        archived=True,
        enable_extrapolation=True,
    )
    assert upd.full_name == dataset.full_name
    assert upd.description == "Updated."
    assert upd.category == "fruit"
    assert upd.public is True
    assert upd.readme == "new readme"
    assert upd.metadata == {"k": "v"}
    assert upd.labeling_inactivity_timeout_seconds == 120
    assert upd.enable_ratings is True and upd.enable_skip_labeling is False
    assert upd.enable_confirm_on_submit is True
    assert upd.use_timestamps_for_interpolation is True
    assert upd.archived is True
    assert upd.enable_extrapolation is True
    assert [(c.id, c.name) for c in upd.task_attributes.categories] == [(1, "tulip"), (7, "rose")]
    # untouched fields keep their values
    assert upd.task_type == dataset.task_type
    assert upd.enable_save_button == dataset.enable_save_button

    evs = events.since(mark, owner=owner.username)
    assert_event_types(evs, ["dataset.updated"])
    assert_event(evs[0], "dataset.updated", dataset.full_name, upd, ignore=DATASET_IGNORE)
    assert_subset(upd, to_json(owner.client.get_dataset(dataset.full_name)), what="get after update")

    with raises_exactly(NotFoundError):
        owner.client.update_dataset(f"{owner.username}/{unique('missing')}", description="x")


def test_delete_dataset_emits_only_dataset_deleted(owner: Account, dataset, events: EventLog) -> None:
    s = owner.client.add_sample(dataset.full_name, "a.png", image_attrs())
    owner.client.add_label(s.uuid, "ground-truth", vector_label((1, 1, 5, 5)), label_status="LABELED")
    owner.client.add_issue(s.uuid, "check this")
    last = owner.client.get_dataset(dataset.full_name)
    mark = events.mark()
    owner.client.delete_dataset(dataset.full_name)
    evs = events.since(mark, owner=owner.username)
    assert_event_types(evs, ["dataset.deleted"])
    assert_event(evs[0], "dataset.deleted", dataset.full_name, last, ignore=DATASET_IGNORE + ("label_stats",))

    with raises_exactly(NotFoundError):
        owner.client.get_dataset(dataset.full_name)
    with raises_exactly(NotFoundError):
        owner.client.get_sample(s.uuid)
    mark = events.mark()
    with raises_exactly(NotFoundError):
        owner.client.delete_dataset(dataset.full_name)
    assert_no_events(events.since(mark, owner=owner.username))
    # the name is free again
    again = owner.client.add_dataset(dataset.name)
    assert again.full_name == dataset.full_name


def _source_with_samples(client: SegmentsClient, ds) -> tuple[list, Any]:
    samples = client.add_samples(
        ds.full_name,
        [
            {"name": "one.png", "attributes": image_attrs("https://example.com/1.png"), "metadata": {"n": 1}},
            {"name": "two.png", "attributes": image_attrs("https://example.com/2.png"), "priority": 3},
        ],
    )
    label = client.add_label(samples[0].uuid, "ground-truth", vector_label((1, 2, 3, 4)), label_status="REVIEWED")
    return samples, label


def test_clone_dataset_without_labels(owner: Account, dataset, events: EventLog) -> None:
    src_samples, _ = _source_with_samples(owner.client, dataset)
    mark = events.mark()
    clone = owner.client.clone_dataset(dataset.full_name)
    assert clone.name == f"{dataset.name}-clone"
    assert clone.full_name == f"{owner.username}/{dataset.name}-clone"
    assert clone.cloned_from == dataset.full_name
    assert clone.task_type == dataset.task_type
    assert clone.public == dataset.public

    cloned = owner.client.get_samples(clone.full_name)
    assert names(cloned) == ["one.png", "two.png"]
    assert {s.uuid for s in cloned}.isdisjoint({s.uuid for s in src_samples})
    assert cloned[0].metadata == {"n": 1} and cloned[1].priority == 3
    with raises_exactly(NotFoundError):
        owner.client.get_label(cloned[0].uuid)

    evs = events.since(mark, owner=owner.username)
    assert types_of(evs)[:1] == ["dataset.created"], types_of(evs)
    assert sorted(types_of(evs)[1:]) == ["sample.created", "sample.created"], types_of(evs)
    assert all(p["dataset"] == clone.full_name for p in evs), "clone events must name the clone"
    assert_event(evs[0], "dataset.created", clone.full_name, clone, ignore=DATASET_IGNORE + ("samples_count", "label_stats"))
    by_uuid = {p["object"]["uuid"]: p for p in evs[1:]}
    for s in cloned:
        assert_event(by_uuid[s.uuid], "sample.created", clone.full_name, s)

    # the source is untouched
    assert names(owner.client.get_samples(dataset.full_name)) == ["one.png", "two.png"]


def test_clone_dataset_with_labels(owner: Account, dataset, events: EventLog) -> None:
    _, src_label = _source_with_samples(owner.client, dataset)
    mark = events.mark()
    new_name = unique("cloned")
    clone = owner.client.clone_dataset(dataset.full_name, new_name=new_name, new_public=True, clone_labels=True)
    assert clone.full_name == f"{owner.username}/{new_name}"
    assert clone.public is True
    assert clone.cloned_from == dataset.full_name

    cloned = owner.client.get_samples(clone.full_name)
    assert names(cloned) == ["one.png", "two.png"]
    lab = owner.client.get_label(cloned[0].uuid)
    assert lab.label_status == "REVIEWED"
    assert lab.sample_uuid == cloned[0].uuid
    assert to_json(lab.attributes) == to_json(src_label.attributes)
    with raises_exactly(NotFoundError):
        owner.client.get_label(cloned[1].uuid)

    evs = events.since(mark, owner=owner.username)
    t = types_of(evs)
    assert t[0] == "dataset.created", t
    assert t.count("dataset.created") == 1 and t.count("sample.created") == 2, t
    assert t.count("label.updated") in (0, 1), t
    assert set(t) <= {"dataset.created", "sample.created", "label.updated"}, t
    assert all(p["dataset"] == clone.full_name for p in evs)


def test_clone_visibility(owner: Account, other: Account, dataset, events: EventLog) -> None:
    _source_with_samples(owner.client, dataset)
    mark = events.mark()
    with raises_exactly(NotFoundError):
        other.client.clone_dataset(dataset.full_name, new_name=unique("steal"))
    assert_no_events(events.since(mark, owner=[owner.username, other.username]))

    owner.client.update_dataset(dataset.full_name, public=True)
    mark = events.mark()
    mine = other.client.clone_dataset(dataset.full_name, new_name=unique("mine"))
    assert mine.owner.username == other.username
    assert mine.full_name.startswith(other.username + "/")
    evs = events.since(mark, owner=[owner.username, other.username])
    assert {p["dataset"] for p in evs} == {mine.full_name}
    assert types_of(evs).count("dataset.created") == 1


# =============================================================================================
# Organizations
# =============================================================================================


def test_org_owned_datasets(server: Datahooks, owner: Account, other: Account, make_account, events: EventLog) -> None:
    org = unique("org")
    server.create_org(org, owner.username)
    org_user = owner.client.get_user(org)
    assert org_user.username == org and org_user.is_organization is True

    mark = events.mark()
    name = unique("orgds")
    ds = owner.client.add_dataset(name, organization=org, task_type="vector", task_attributes=VECTOR_TASK_ATTRIBUTES)
    assert ds.full_name == f"{org}/{name}"
    assert ds.owner.username == org
    evs = events.since(mark, owner=org)
    assert_event_types(evs, ["dataset.created"])
    assert_event(evs[0], "dataset.created", ds.full_name, ds, ignore=DATASET_IGNORE)
    assert ds.full_name in [d.full_name for d in owner.client.get_datasets(user=org)]

    admin = make_account("orgadmin")
    server.add_member(org, admin.username, "admin")
    assert admin.client.get_dataset(ds.full_name).full_name == ds.full_name
    ds2 = admin.client.add_dataset(unique("byadmin"), organization=org)
    assert ds2.owner.username == org

    labeler = make_account("orglabeler")
    server.add_member(org, labeler.username, "labeler")
    assert labeler.client.get_dataset(ds.full_name).full_name == ds.full_name
    mark = events.mark()
    with raises_exactly(AuthorizationError):
        labeler.client.delete_dataset(ds.full_name)
    with raises_exactly(NotFoundError):
        other.client.get_dataset(ds.full_name)
    with pytest.raises((NotFoundError, AuthorizationError)):
        other.client.add_dataset(unique("intruder"), organization=org)
    assert_no_events(events.since(mark, owner=[org, other.username]))

    # clone a user dataset into the organization
    src = owner.client.add_dataset(unique("mine"))
    mark = events.mark()
    clone_name = unique("toorg")
    cl = owner.client.clone_dataset(src.full_name, new_name=clone_name, organization=org)
    assert cl.full_name == f"{org}/{clone_name}"
    evs = events.since(mark, owner=[org, owner.username])
    assert_event_types(evs, ["dataset.created"])
    assert evs[0]["dataset"] == cl.full_name

    me = owner.client.get_user()
    if me.organizations is not None:
        assert org in [o.username for o in me.organizations]


# =============================================================================================
# Collaborators and permissions
# =============================================================================================


def _one_dataset_updated(events: EventLog, mark: int, acc: Account, ds: str) -> dict[str, Any]:
    """Collaborator and labelset changes change the dataset (`collaborators_count`, `labelsets`):
    the server reports each as one `dataset.updated` carrying the dataset's new state."""
    evs = events.since(mark, owner=acc.username)
    assert_event_types(evs, ["dataset.updated"])
    assert_event(evs[0], "dataset.updated", ds, acc.client.get_dataset(ds), ignore=DATASET_IGNORE)
    return evs[0]["object"]


def test_collaborator_lifecycle(owner: Account, other: Account, dataset, events: EventLog) -> None:
    ds = dataset.full_name
    with raises_exactly(NotFoundError):
        other.client.get_dataset(ds)

    mark = events.mark()
    c = owner.client.add_dataset_collaborator(ds, other.username, "reviewer")
    assert c.user.username == other.username and c.role == "reviewer"
    assert _one_dataset_updated(events, mark, owner, ds)["collaborators_count"] == 1
    got = owner.client.get_dataset_collaborator(ds, other.username)
    assert got.user.username == other.username and got.role == "reviewer"
    seen = other.client.get_dataset(ds)
    assert seen.full_name == ds
    assert seen.role in (None, "reviewer")
    assert ds in [d.full_name for d in other.client.get_datasets(user=owner.username)]

    mark = events.mark()
    c = owner.client.update_dataset_collaborator(ds, other.username, "manager")
    assert c.role == "manager"
    assert owner.client.get_dataset_collaborator(ds, other.username).role == "manager"
    _one_dataset_updated(events, mark, owner, ds)

    mark = events.mark()
    owner.client.delete_dataset_collaborator(ds, other.username)
    assert _one_dataset_updated(events, mark, owner, ds)["collaborators_count"] == 0
    mark = events.mark()
    with raises_exactly(NotFoundError):
        owner.client.get_dataset_collaborator(ds, other.username)
    with raises_exactly(NotFoundError):
        other.client.get_dataset(ds)
    assert_no_events(events.since(mark, owner=owner.username))

    mark = events.mark()
    c = owner.client.add_dataset_collaborator(ds, other.username)  # default role
    assert c.role == "labeler"
    _one_dataset_updated(events, mark, owner, ds)


def test_collaborator_errors(server: Datahooks, owner: Account, other: Account, dataset, events: EventLog) -> None:
    ds = dataset.full_name
    org = unique("org")
    server.create_org(org, other.username)
    mark = events.mark()
    with raises_exactly(NotFoundError):
        owner.client.add_dataset_collaborator(ds, unique("ghost"), "labeler")
    with raises_exactly(NotFoundError):
        owner.client.get_dataset_collaborator(ds, other.username)
    with raises_exactly(NotFoundError):
        owner.client.update_dataset_collaborator(ds, other.username, "admin")
    with raises_exactly(NotFoundError):
        owner.client.delete_dataset_collaborator(ds, other.username)
    with raises_exactly(NotFoundError):
        owner.client.add_dataset_collaborator(f"{owner.username}/{unique('nods')}", other.username)

    assert_no_events(events.since(mark, owner=owner.username))

    owner.client.add_dataset_collaborator(ds, other.username, "labeler")
    mark = events.mark()
    with raises_exactly(CollaboratorError):
        owner.client.add_dataset_collaborator(ds, other.username, "reviewer")
    assert owner.client.get_dataset_collaborator(ds, other.username).role == "labeler"
    with raises_exactly(CollaboratorError):
        owner.client.add_dataset_collaborator(ds, owner.username, "admin")
    with raises_exactly(CollaboratorError):
        owner.client.add_dataset_collaborator(ds, org, "labeler")
    assert_no_events(events.since(mark, owner=owner.username))


def test_labeler_permissions(
    base_url: str, owner: Account, other: Account, make_account, dataset, events: EventLog
) -> None:
    ds = dataset.full_name
    third = make_account("third")
    s = owner.client.add_sample(ds, "a.png", image_attrs())
    owner.client.add_dataset_collaborator(ds, other.username, "labeler")
    lab = other.client

    mark = events.mark()
    assert lab.get_dataset(ds).full_name == ds
    assert names(lab.get_samples(ds)) == ["a.png"]
    with raises_exactly(AuthorizationError):
        lab.delete_dataset(ds)
    with raises_exactly(AuthorizationError):
        lab.update_dataset(ds, description="mine now")
    with raises_exactly(AuthorizationError):
        lab.add_dataset_collaborator(ds, third.username, "labeler")
    with raises_exactly(AuthorizationError):
        lab.add_sample(ds, "b.png", image_attrs())
    with raises_exactly(AuthorizationError):
        lab.delete_sample(s.uuid)
    with raises_exactly(AuthorizationError):
        lab.update_sample(s.uuid, priority=99)
    with raises_exactly(AuthorizationError):
        lab.add_release(ds, "v1")
    with raises_exactly(AuthorizationError):
        lab.add_labelset(ds, "mine")
    r = raw("DELETE", f"{base_url}/datasets/{ds}/", headers=other.auth)
    assert r.status_code == 403, r.text
    assert "do not have permission" in r.json()["detail"].lower()
    assert_no_events(events.since(mark, owner=owner.username))

    # labelers may label
    label = lab.add_label(s.uuid, "ground-truth", vector_label((0, 0, 2, 2)), label_status="LABELED")
    assert label.created_by == other.username
    evs = events.since(mark, owner=owner.username)
    assert_event_types(evs, ["label.updated"])
    assert_event(evs[0], "label.updated", ds, label)
    assert owner.client.get_dataset(ds).description == dataset.description


def test_manager_cannot_grant_admin(owner: Account, other: Account, make_account, dataset, events: EventLog) -> None:
    ds = dataset.full_name
    third = make_account("third")
    owner.client.add_dataset_collaborator(ds, other.username, "manager")
    s = owner.client.add_sample(ds, "m.png", image_attrs())
    mark = events.mark()
    with raises_exactly(AuthorizationError):
        other.client.add_dataset_collaborator(ds, third.username, "admin")
    c = other.client.add_dataset_collaborator(ds, third.username, "labeler")
    assert c.role == "labeler"
    with raises_exactly(AuthorizationError):
        other.client.delete_dataset(ds)
    upd = other.client.update_sample(s.uuid, priority=7)
    assert upd.priority == 7
    evs = events.since(mark, owner=owner.username)
    assert_event_types(evs, ["dataset.updated", "sample.updated"])  # the new collaborator, the sample
    assert evs[0]["object"]["collaborators_count"] == 2
    assert_event(evs[1], "sample.updated", ds, upd)


def test_private_dataset_of_other_user_is_not_found(
    base_url: str, owner: Account, other: Account, dataset, events: EventLog
) -> None:
    ds = dataset.full_name
    s = owner.client.add_sample(ds, "secret.png", image_attrs())
    owner.client.add_label(s.uuid, "ground-truth", vector_label((1, 1, 2, 2)))
    mark = events.mark()
    o = other.client
    with raises_exactly(NotFoundError):
        o.get_dataset(ds)
    r = raw("GET", f"{base_url}/datasets/{ds}/", headers=other.auth)
    assert r.status_code == 404, r.text
    assert "not found" in r.json()["detail"].lower()
    with raises_exactly(NotFoundError):
        o.get_samples(ds)
    with raises_exactly(NotFoundError):
        o.get_sample(s.uuid)
    with raises_exactly(NotFoundError):
        o.get_label(s.uuid)
    with raises_exactly(NotFoundError):
        o.delete_dataset(ds)
    with raises_exactly(NotFoundError):
        o.update_dataset(ds, description="x")
    with raises_exactly(NotFoundError):
        o.add_sample(ds, "x.png", image_attrs())
    with raises_exactly(NotFoundError):
        o.update_sample(s.uuid, priority=1)
    with raises_exactly(NotFoundError):
        o.add_label(s.uuid, "ground-truth", vector_label((1, 1, 2, 2)))
    with raises_exactly(NotFoundError):
        o.add_issue(s.uuid, "let me in")
    with raises_exactly(NotFoundError):
        o.get_issues(ds)
    with raises_exactly(NotFoundError):
        o.get_labelsets(ds)
    with raises_exactly(NotFoundError):
        o.get_releases(ds)
    assert ds not in [d.full_name for d in o.get_datasets(user=owner.username)]
    assert_no_events(events.since(mark, owner=[owner.username, other.username]))

    # public: readable, still not writable
    owner.client.update_dataset(ds, public=True)
    mark = events.mark()
    assert o.get_dataset(ds).full_name == ds
    with raises_exactly(AuthorizationError):
        o.delete_dataset(ds)
    assert_no_events(events.since(mark, owner=[owner.username, other.username]))


# =============================================================================================
# Labelsets
# =============================================================================================


def test_labelsets(owner: Account, dataset, events: EventLog) -> None:
    c = owner.client
    ds = dataset.full_name
    mark = events.mark()
    initial = c.get_labelsets(ds)
    assert [ls.name for ls in initial] == ["ground-truth"]
    gt = c.get_labelset(ds, "ground-truth")
    assert gt.name == "ground-truth"
    assert gt.is_groundtruth in (None, True)
    with raises_exactly(NotFoundError):
        c.get_labelset(ds, "predictions")
    assert_no_events(events.since(mark, owner=owner.username))

    mark = events.mark()
    ls = c.add_labelset(ds, "predictions", "Model v1 output")
    assert ls.name == "predictions" and ls.description == "Model v1 output"
    assert ls.is_groundtruth in (None, False)
    obj = _one_dataset_updated(events, mark, owner, ds)
    assert [x["name"] for x in obj["labelsets"]] == ["ground-truth", "predictions"]
    got = c.get_labelset(ds, "predictions")
    assert got.name == "predictions" and got.description == "Model v1 output"
    assert [x.name for x in c.get_labelsets(ds)] == ["ground-truth", "predictions"]

    s = c.add_sample(ds, "p.png", image_attrs())
    c.add_label(s.uuid, "predictions", vector_label((1, 1, 2, 2)))
    mark = events.mark()
    with raises_exactly(AlreadyExistsError):
        c.add_labelset(ds, "predictions")
    assert_no_events(events.since(mark, owner=owner.username))

    # deleting a labelset drops its labels; like a dataset deletion, only the container event fires
    c.delete_labelset(ds, "predictions")
    obj = _one_dataset_updated(events, mark, owner, ds)
    assert [x["name"] for x in obj["labelsets"]] == ["ground-truth"]
    mark = events.mark()
    with raises_exactly(NotFoundError):
        c.get_labelset(ds, "predictions")
    with raises_exactly(NotFoundError):
        c.get_label(s.uuid, "predictions")
    with raises_exactly(NotFoundError):
        c.delete_labelset(ds, "predictions")
    with raises_exactly(NetworkError):
        c.delete_labelset(ds, "ground-truth")
    assert [x.name for x in c.get_labelsets(ds)] == ["ground-truth"]
    assert_no_events(events.since(mark, owner=owner.username))


# =============================================================================================
# Samples
# =============================================================================================


def test_add_sample_and_get(owner: Account, dataset, events: EventLog) -> None:
    ds = dataset.full_name
    mark = events.mark()
    s = owner.client.add_sample(
        ds,
        "rose.png",
        image_attrs("https://example.com/rose.png"),
        metadata={"weather": "sunny", "robot_id": 3},
        priority=5,
        assigned_labeler=owner.username,
        readme="a rose",
    )
    assert s.name == "rose.png"
    assert s.attributes.image.url == "https://example.com/rose.png"
    assert s.metadata == {"weather": "sunny", "robot_id": 3}
    assert s.priority == 5
    assert s.assigned_labeler == owner.username
    assert s.assigned_reviewer is None
    assert s.readme == "a rose"
    assert s.created_by == owner.username
    assert s.dataset_full_name == ds
    uuidlib.UUID(s.uuid)

    evs = events.since(mark, owner=owner.username)
    assert_event_types(evs, ["sample.created"])
    assert_event(evs[0], "sample.created", ds, s)
    assert "rose.png" in evs[0]["text"] and ds in evs[0]["text"]

    g = owner.client.get_sample(s.uuid)
    assert to_json(g) == to_json(s)
    assert g.label is None

    # defaults
    d = owner.client.add_sample(ds, "plain.png", image_attrs())
    assert d.priority == 0 and d.metadata == {} and d.readme == "" and d.assigned_labeler is None

    mark = events.mark()
    with raises_exactly(AlreadyExistsError):
        owner.client.add_sample(ds, "rose.png", image_attrs())
    with raises_exactly(NotFoundError):
        owner.client.add_sample(f"{owner.username}/{unique('nods')}", "x.png", image_attrs())
    with raises_exactly(NotFoundError):
        owner.client.get_sample(str(uuidlib.uuid4()))
    with raises_exactly(NotFoundError):
        owner.client.get_sample("12345")
    assert_no_events(events.since(mark, owner=owner.username))


def test_add_samples_bulk(owner: Account, dataset, events: EventLog) -> None:
    ds = dataset.full_name
    mark = events.mark()
    batch = [
        {"name": "a.png", "attributes": image_attrs("https://example.com/a.png"), "metadata": {"k": "a"}},
        {"name": "dir/b.png", "attributes": image_attrs("https://example.com/b.png"), "priority": 2},
        {"name": "c.png", "attributes": image_attrs("https://example.com/c.png")},
    ]
    res = owner.client.add_samples(ds, batch)
    assert names(res) == ["a.png", "dir/b.png", "c.png"]
    assert res[0].metadata == {"k": "a"} and res[1].priority == 2
    assert all(s.dataset_full_name in (None, ds) for s in res)

    evs = events.since(mark, owner=owner.username)
    assert_event_types(evs, ["sample.created"] * 3)
    by_uuid = {p["object"]["uuid"]: p for p in evs}
    assert set(by_uuid) == {s.uuid for s in res}
    for s in res:
        assert_event(by_uuid[s.uuid], "sample.created", ds, s)

    # existing names come back unchanged, without events; new ones are created
    mark = events.mark()
    res2 = owner.client.add_samples(
        ds,
        [
            {"name": "a.png", "attributes": image_attrs("https://example.com/other.png"), "metadata": {"k": "z"}},
            {"name": "d.png", "attributes": image_attrs("https://example.com/d.png")},
        ],
    )
    assert names(res2) == ["a.png", "d.png"]
    assert res2[0].uuid == res[0].uuid
    assert res2[0].metadata == {"k": "a"}
    assert res2[0].attributes.image.url == "https://example.com/a.png"
    evs = events.since(mark, owner=owner.username)
    assert_event_types(evs, ["sample.created"])
    assert_event(evs[0], "sample.created", ds, res2[1])
    assert sorted(names(owner.client.get_samples(ds))) == ["a.png", "c.png", "d.png", "dir/b.png"]


def test_get_samples_filters_sort_pagination(owner: Account, dataset, make_dataset) -> None:
    c = owner.client
    ds = dataset.full_name
    spec = [  # insertion order differs from name order and from priority order
        ("cat-03.jpg", 3, {"weather": "rainy", "city": "paris"}),
        ("dog-05.jpg", 2, {"weather": "rainy", "city": "london"}),
        ("cat-01.jpg", 1, {"weather": "sunny", "city": "paris"}),
        ("bird-04.jpg", -1, {"weather": "sunny", "city": "paris"}),
        ("dog-02.jpg", 5, {"weather": "sunny", "city": "london"}),
    ]
    made = {}
    for n, prio, md in spec:
        made[n] = c.add_sample(ds, n, image_attrs(f"https://example.com/{n}"), metadata=md, priority=prio)
    by_name = sorted(made)
    by_prio = [n for n, _, _ in sorted(spec, key=lambda t: t[1])]
    inserted = [n for n, _, _ in spec]

    assert names(c.get_samples(ds)) == by_name
    assert names(c.get_samples(ds, direction="desc")) == by_name[::-1]
    assert names(c.get_samples(ds, sort="priority")) == by_prio
    assert names(c.get_samples(ds, sort="priority", direction="desc")) == by_prio[::-1]
    assert names(c.get_samples(ds, sort="created_at")) == inserted
    assert names(c.get_samples(ds, sort="created_at", direction="desc")) == inserted[::-1]

    assert names(c.get_samples(ds, name="cat")) == ["cat-01.jpg", "cat-03.jpg"]
    assert names(c.get_samples(ds, name="-0")) == by_name
    assert c.get_samples(ds, name="zebra") == []
    assert names(c.get_samples(ds, metadata="weather:sunny")) == ["bird-04.jpg", "cat-01.jpg", "dog-02.jpg"]
    assert names(c.get_samples(ds, metadata=["weather:sunny", "city:paris"])) == ["bird-04.jpg", "cat-01.jpg"]
    assert names(c.get_samples(ds, name="dog", sort="priority", direction="desc")) == ["dog-02.jpg", "dog-05.jpg"]

    # pagination: page/per_page over the sorted list; past the end -> "Invalid page." -> NotFoundError
    pages = [c.get_samples(ds, per_page=2, page=p) for p in (1, 2, 3)]
    assert [len(p) for p in pages] == [2, 2, 1]
    assert [s.name for p in pages for s in p] == by_name
    with raises_exactly(NotFoundError):
        c.get_samples(ds, per_page=2, page=4)
    assert names(c.get_samples(ds, per_page=5, page=1)) == by_name
    with raises_exactly(NotFoundError):
        c.get_samples(ds, per_page=5, page=2)
    assert c.get_samples(make_dataset().full_name) == []

    # label status (ground-truth by default), label summaries and full labels
    gt_order = ["cat-01.jpg", "dog-02.jpg", "cat-03.jpg"]
    statuses = {"cat-01.jpg": "LABELED", "dog-02.jpg": "REVIEWED", "cat-03.jpg": "PRELABELED"}
    for n in gt_order:
        c.add_label(made[n].uuid, "ground-truth", vector_label((1, 1, 4, 4)), label_status=statuses[n], score=0.75)
    c.add_labelset(ds, "predictions")
    c.add_label(made["dog-05.jpg"].uuid, "predictions", vector_label((2, 2, 3, 3)))

    assert names(c.get_samples(ds, label_status=["LABELED", "REVIEWED"])) == ["cat-01.jpg", "dog-02.jpg"]
    assert names(c.get_samples(ds, label_status="PRELABELED")) == ["cat-03.jpg"]
    assert names(c.get_samples(ds, label_status="UNLABELED")) == ["bird-04.jpg", "dog-05.jpg"]
    assert names(c.get_samples(ds, label_status=["UNLABELED", "LABELED"], metadata="city:paris")) == [
        "bird-04.jpg",
        "cat-01.jpg",
    ]
    assert names(c.get_samples(ds, labelset="predictions", label_status="PRELABELED")) == ["dog-05.jpg"]
    assert names(c.get_samples(ds, labelset="predictions", label_status="UNLABELED")) == [
        "bird-04.jpg",
        "cat-01.jpg",
        "cat-03.jpg",
        "dog-02.jpg",
    ]

    summaries = {s.name: s.label for s in c.get_samples(ds, labelset="ground-truth")}
    for n in by_name:
        if n in statuses:
            assert summaries[n] is not None and summaries[n].label_status == statuses[n], (n, summaries[n])
            assert summaries[n].score == 0.75
        else:
            assert summaries[n] is None, (n, summaries[n])
    full = {s.name: s.label for s in c.get_samples(ds, labelset="ground-truth", include_full_label=True)}
    assert full["cat-01.jpg"].attributes is not None
    assert len(full["cat-01.jpg"].attributes.annotations) == 1
    assert full["cat-01.jpg"].labelset == "ground-truth"

    labeled = list(statuses.values())
    assert names(c.get_samples(ds, label_status=labeled, sort="gt_label__updated_at")) == gt_order
    assert names(c.get_samples(ds, label_status=labeled, sort="gt_label__updated_at", direction="desc")) == gt_order[::-1]

    with raises_exactly(NotFoundError):
        c.get_samples(f"{owner.username}/{unique('nods')}")


def test_update_sample(owner: Account, other: Account, dataset, events: EventLog) -> None:
    ds = dataset.full_name
    owner.client.add_dataset_collaborator(ds, other.username, "reviewer")
    s = owner.client.add_sample(ds, "old.png", image_attrs(), metadata={"a": 1}, assigned_labeler=owner.username)
    mark = events.mark()
    u1 = owner.client.update_sample(
        s.uuid,
        name="new.png",
        attributes=image_attrs("https://example.com/new.png"),
        metadata={"b": "two"},
        priority=-2.5,
        assigned_reviewer=other.username,
        readme="changed",
    )
    assert u1.uuid == s.uuid and u1.name == "new.png"
    assert u1.attributes.image.url == "https://example.com/new.png"
    assert u1.metadata == {"b": "two"}
    assert u1.priority == -2.5
    assert u1.readme == "changed"
    assert u1.assigned_labeler == owner.username  # not sent: unchanged
    assert u1.assigned_reviewer == other.username

    u2 = owner.client.update_sample(s.uuid, assigned_labeler=None, assigned_reviewer=None)
    assert u2.assigned_labeler is None and u2.assigned_reviewer is None
    assert u2.name == "new.png" and u2.metadata == {"b": "two"}

    evs = events.since(mark, owner=owner.username)
    assert_event_types(evs, ["sample.updated", "sample.updated"])
    assert_event(evs[0], "sample.updated", ds, u1)
    assert_event(evs[1], "sample.updated", ds, u2)
    assert evs[1]["object"].get("assigned_labeler") is None
    assert to_json(owner.client.get_sample(s.uuid)) == to_json(u2)

    mark = events.mark()
    with raises_exactly(NotFoundError):
        owner.client.update_sample(str(uuidlib.uuid4()), priority=1)
    assert_no_events(events.since(mark, owner=owner.username))


def test_delete_sample(owner: Account, dataset, events: EventLog) -> None:
    ds = dataset.full_name
    s = owner.client.add_sample(ds, "gone.png", image_attrs(), metadata={"x": 1})
    keep = owner.client.add_sample(ds, "keep.png", image_attrs())
    last = owner.client.get_sample(s.uuid)
    mark = events.mark()
    owner.client.delete_sample(s.uuid)
    evs = events.since(mark, owner=owner.username)
    assert_event_types(evs, ["sample.deleted"])
    assert_event(evs[0], "sample.deleted", ds, last)
    assert evs[0]["object"]["uuid"] == s.uuid

    with raises_exactly(NotFoundError):
        owner.client.get_sample(s.uuid)
    mark = events.mark()
    with raises_exactly(NotFoundError):
        owner.client.delete_sample(s.uuid)
    assert_no_events(events.since(mark, owner=owner.username))
    assert names(owner.client.get_samples(ds)) == [keep.name]


def test_delete_samples_bulk(owner: Account, dataset, make_dataset, events: EventLog) -> None:
    ds = dataset.full_name
    res = owner.client.add_samples(ds, [{"name": f"s{i}.png", "attributes": image_attrs()} for i in range(4)])
    elsewhere = owner.client.add_sample(make_dataset().full_name, "foreign.png", image_attrs())
    mark = events.mark()
    out = owner.client.delete_samples(ds, [res[0].uuid, res[2].uuid, str(uuidlib.uuid4()), elsewhere.uuid])
    assert out.deleted_count == 2
    evs = events.since(mark, owner=owner.username)
    assert_event_types(evs, ["sample.deleted", "sample.deleted"])
    assert {p["object"]["uuid"] for p in evs} == {res[0].uuid, res[2].uuid}
    for p in evs:
        assert_event(p, "sample.deleted", ds, next(s for s in res if s.uuid == p["object"]["uuid"]))
    assert names(owner.client.get_samples(ds)) == ["s1.png", "s3.png"]
    assert owner.client.get_sample(elsewhere.uuid).name == "foreign.png"

    mark = events.mark()
    assert owner.client.delete_samples(ds, [res[0].uuid]).deleted_count == 0
    assert_no_events(events.since(mark, owner=owner.username))


def test_resource_api_sample_add_label(owner: Account, dataset, events: EventLog) -> None:
    s = owner.client.add_sample(dataset.full_name, "r.png", image_attrs())
    sample = owner.client.get_sample(s.uuid)
    mark = events.mark()
    label = sample.add_label("ground-truth", vector_label((5, 5, 9, 9)), label_status="LABELED")
    assert label.label_status == "LABELED" and label.sample_uuid == s.uuid
    evs = events.since(mark, owner=owner.username)
    assert_event_types(evs, ["label.updated"])
    assert_event(evs[0], "label.updated", dataset.full_name, label)


# =============================================================================================
# Labels
# =============================================================================================


def test_labels_every_status(owner: Account, dataset, events: EventLog) -> None:
    c = owner.client
    ds = dataset.full_name
    samples = c.add_samples(
        ds, [{"name": f"{st.lower()}.png", "attributes": image_attrs()} for st in STORABLE_LABEL_STATUSES]
    )
    uuid_of = {st: s.uuid for st, s in zip(STORABLE_LABEL_STATUSES, samples)}

    # add_label (PUT) with each status
    mark = events.mark()
    added = {}
    for i, st in enumerate(STORABLE_LABEL_STATUSES):
        attrs = vector_label((i, i, i + 10, i + 20))
        lab = c.add_label(uuid_of[st], "ground-truth", attrs, label_status=st, score=0.5)
        assert lab.sample_uuid == uuid_of[st]
        assert lab.label_status == st
        assert lab.labelset == "ground-truth"
        assert lab.label_type == "vector"
        assert lab.score == 0.5
        assert lab.created_by == owner.username
        assert to_json(lab.attributes) == attrs
        got = c.get_label(uuid_of[st])
        assert to_json(got) == to_json(lab)
        added[st] = lab
    evs = events.since(mark, owner=owner.username)
    assert_event_types(evs, ["label.updated"] * len(STORABLE_LABEL_STATUSES))
    for st, p in zip(STORABLE_LABEL_STATUSES, evs):
        assert_event(p, "label.updated", ds, added[st])

    # update_label (PATCH): rotate every label to the next status
    mark = events.mark()
    updated = {}
    for i, st in enumerate(STORABLE_LABEL_STATUSES):
        nxt = STORABLE_LABEL_STATUSES[(i + 1) % len(STORABLE_LABEL_STATUSES)]
        lab = c.update_label(uuid_of[st], "ground-truth", label_status=nxt)
        assert lab.label_status == nxt
        assert to_json(lab.attributes) == to_json(added[st].attributes)  # untouched
        assert lab.score == 0.5
        assert c.get_label(uuid_of[st]).label_status == nxt
        updated[st] = lab
    evs = events.since(mark, owner=owner.username)
    assert_event_types(evs, ["label.updated"] * len(STORABLE_LABEL_STATUSES))
    for st, p in zip(STORABLE_LABEL_STATUSES, evs):
        assert_event(p, "label.updated", ds, updated[st])

    # attributes and score only
    first = STORABLE_LABEL_STATUSES[0]
    new_attrs = vector_label((0, 0, 1, 1), (2, 2, 3, 3), category_id=2)
    lab = c.update_label(uuid_of[first], "ground-truth", attributes=new_attrs, score=0.9)
    assert to_json(lab.attributes) == new_attrs and lab.score == 0.9
    assert lab.label_status == updated[first].label_status

    # PUT replaces; default status PRELABELED
    lab = c.add_label(uuid_of[first], "ground-truth", vector_label((7, 7, 8, 8)))
    assert lab.label_status == "PRELABELED"
    assert len(lab.attributes.annotations) == 1

    # delete_label for each
    mark = events.mark()
    for st in STORABLE_LABEL_STATUSES:
        c.delete_label(uuid_of[st], "ground-truth")
        with raises_exactly(NotFoundError):
            c.get_label(uuid_of[st])
    evs = events.since(mark, owner=owner.username)
    assert_event_types(evs, ["label.deleted"] * len(STORABLE_LABEL_STATUSES))
    for st, p in zip(STORABLE_LABEL_STATUSES, evs):
        assert_event(p, "label.deleted", ds)
        assert p["object"]["sample_uuid"] == uuid_of[st]
        assert p["object"]["labelset"] == "ground-truth"

    mark = events.mark()
    with raises_exactly(NotFoundError):
        c.delete_label(uuid_of[first], "ground-truth")
    assert_no_events(events.since(mark, owner=owner.username))


def test_unlabeled_is_not_a_label_status(owner: Account, dataset, events: EventLog) -> None:
    c = owner.client
    s = c.add_sample(dataset.full_name, "u.png", image_attrs())
    mark = events.mark()
    with raises_exactly(NetworkError, "delete the label"):
        c.add_label(s.uuid, "ground-truth", vector_label((1, 1, 2, 2)), label_status="UNLABELED")
    with raises_exactly(NotFoundError):
        c.get_label(s.uuid)
    lab = c.add_label(s.uuid, "ground-truth", vector_label((1, 1, 2, 2)), label_status="LABELED")
    mark = events.mark()
    with raises_exactly(NetworkError, "delete the label"):
        c.update_label(s.uuid, "ground-truth", label_status="UNLABELED")
    assert to_json(c.get_label(s.uuid)) == to_json(lab)
    assert_no_events(events.since(mark, owner=owner.username))
    # filtering on UNLABELED is how "no label" is asked for
    c.delete_label(s.uuid, "ground-truth")
    assert names(c.get_samples(dataset.full_name, label_status="UNLABELED")) == ["u.png"]


def test_label_stats_follow_labels(owner: Account, dataset) -> None:
    c = owner.client
    ds = dataset.full_name
    res = c.add_samples(ds, [{"name": f"{i}.png", "attributes": image_attrs()} for i in range(3)])
    c.add_label(res[0].uuid, "ground-truth", vector_label((1, 1, 2, 2)), label_status="LABELED")
    c.add_label(res[1].uuid, "ground-truth", vector_label((1, 1, 2, 2)), label_status="REVIEWED")
    d = c.get_dataset(ds)
    assert d.samples_count in (None, 3, "3")
    stats = d.label_stats
    for key, want in [("LABELED", 1), ("REVIEWED", 1), ("UNLABELED", 1), ("TOTAL", 3)]:
        got = getattr(stats, key)
        assert got in (None, want), f"label_stats.{key} = {got}, expected {want}"


def test_label_errors_and_other_labelsets(owner: Account, dataset, events: EventLog) -> None:
    c = owner.client
    ds = dataset.full_name
    s = c.add_sample(ds, "l.png", image_attrs())
    mark = events.mark()
    with raises_exactly(NotFoundError):
        c.get_label(s.uuid)
    with raises_exactly(NotFoundError):
        c.add_label(s.uuid, "no-such-labelset", vector_label((1, 1, 2, 2)))
    with raises_exactly(NotFoundError):
        c.add_label(str(uuidlib.uuid4()), "ground-truth", vector_label((1, 1, 2, 2)))
    with raises_exactly(NotFoundError):
        c.get_label("12345")
    assert_no_events(events.since(mark, owner=owner.username))

    c.add_labelset(ds, "predictions")
    mark = events.mark()
    gt = c.add_label(s.uuid, "ground-truth", vector_label((1, 1, 2, 2)), label_status="LABELED")
    pred = c.add_label(s.uuid, "predictions", vector_label((3, 3, 4, 4)), score=0.25)
    assert pred.labelset == "predictions" and pred.label_status == "PRELABELED" and pred.score == 0.25
    assert c.get_label(s.uuid, "predictions").labelset == "predictions"
    assert c.get_label(s.uuid).label_status == "LABELED"
    evs = events.since(mark, owner=owner.username)
    assert_event_types(evs, ["label.updated", "label.updated"])
    assert_event(evs[0], "label.updated", ds, gt)
    assert_event(evs[1], "label.updated", ds, pred)

    full = c.get_sample(s.uuid, labelset="predictions")
    assert full.label is not None and full.label.labelset == "predictions"
    assert len(full.label.attributes.annotations) == 1
    # SDK bug: `?labelset=ground-truth?include_signed_urls=1` must still mean ground-truth
    both = c.get_sample(s.uuid, labelset="ground-truth", include_signed_url=True)
    assert both.label is not None and both.label.label_status == "LABELED"


# =============================================================================================
# Issues
# =============================================================================================


def test_issues(owner: Account, dataset, events: EventLog) -> None:
    c = owner.client
    ds = dataset.full_name
    s = c.add_sample(ds, "issue.png", image_attrs())
    mark = events.mark()
    i1 = c.add_issue(s.uuid, "The petals are not labeled.")
    assert i1.description == "The petals are not labeled."
    assert i1.status == "OPEN"
    assert i1.sample_uuid == s.uuid and i1.sample_name == "issue.png"
    assert i1.created_by == owner.username and i1.updated_by == owner.username
    assert i1.comments == []
    anchor = {"type": "location", "location": {"type": "2d", "x": 1.5, "y": 2.5}}
    i2 = c.add_issue(s.uuid, "Box too large.", status="CLOSED", anchor=anchor)
    assert i2.status == "CLOSED"
    assert i2.anchor is not None and to_json(i2.anchor) == anchor

    listed = {i.uuid: i for i in c.get_issues(ds)}
    assert set(listed) == {i1.uuid, i2.uuid}
    assert to_json(listed[i1.uuid]) == to_json(i1)

    u1 = c.update_issue(i1.uuid, status="CLOSED")
    assert u1.status == "CLOSED" and u1.description == i1.description
    u2 = c.update_issue(i1.uuid, description="Petals and stem.", status="OPEN")
    assert u2.description == "Petals and stem." and u2.status == "OPEN"

    evs = events.since(mark, owner=owner.username)
    assert_event_types(evs, ["issue.created", "issue.created", "issue.updated", "issue.updated"])
    assert_event(evs[0], "issue.created", ds, i1)
    assert_event(evs[1], "issue.created", ds, i2)
    assert_event(evs[2], "issue.updated", ds, u1)
    assert_event(evs[3], "issue.updated", ds, u2)

    mark = events.mark()
    c.delete_issue(i2.uuid)
    assert [i.uuid for i in c.get_issues(ds)] == [i1.uuid]
    with raises_exactly(NotFoundError):
        c.delete_issue(i2.uuid)
    with raises_exactly(NotFoundError):
        c.add_issue("12345", "no such sample")
    with raises_exactly(NotFoundError):
        c.add_issue(str(uuidlib.uuid4()), "no such sample")
    with raises_exactly(NotFoundError):
        c.update_issue("12345", status="CLOSED")
    with raises_exactly(NotFoundError):
        c.update_issue(str(uuidlib.uuid4()), status="CLOSED")
    with raises_exactly(NotFoundError):
        c.delete_issue("12345")
    assert_no_events(events.since(mark, owner=owner.username))


def test_issue_roles_and_replies(
    base_url: str, owner: Account, other: Account, make_account, dataset, events: EventLog
) -> None:
    ds = dataset.full_name
    third = make_account("third")
    s = owner.client.add_sample(ds, "q.png", image_attrs())
    owner.client.add_dataset_collaborator(ds, other.username, "labeler")
    owner.client.add_dataset_collaborator(ds, third.username, "labeler")

    mark = events.mark()
    mine = other.client.add_issue(s.uuid, "Is this a leaf?")
    assert mine.created_by == other.username
    own_edit = other.client.update_issue(mine.uuid, description="Is this a leaf or a petal?")
    assert own_edit.updated_by == other.username
    with raises_exactly(AuthorizationError):
        third.client.update_issue(mine.uuid, status="CLOSED")
    with raises_exactly(AuthorizationError):
        other.client.delete_issue(mine.uuid)

    # Replies are not in the SDK; our REST API has POST /issues/{uuid}/comments/ {text}.
    r = raw("POST", f"{base_url}/issues/{mine.uuid}/comments/", json={"text": "A petal."}, headers=third.auth)
    assert r.status_code == 201, r.text
    assert [(c["created_by"], c["text"]) for c in r.json()["comments"]] == [(third.username, "A petal.")]
    bad = raw("POST", f"{base_url}/issues/{mine.uuid}/comments/", json={"text": "  "}, headers=third.auth)
    assert bad.status_code == 400 and "detail" in bad.json()
    listed = owner.client.get_issues(ds)
    assert len(listed) == 1 and [(c.created_by, c.text) for c in listed[0].comments] == [(third.username, "A petal.")]
    closed = owner.client.update_issue(mine.uuid, status="CLOSED")  # managers and up may resolve anyone's issue
    assert closed.status == "CLOSED" and closed.updated_by == owner.username

    evs = events.since(mark, owner=owner.username)
    assert_event_types(evs, ["issue.created", "issue.updated", "issue.updated", "issue.updated"])
    assert_event(evs[0], "issue.created", ds, mine)
    assert_event(evs[1], "issue.updated", ds, own_edit)
    assert_event(evs[2], "issue.updated", ds, listed[0])
    assert "A petal." in evs[2]["text"]
    assert_event(evs[3], "issue.updated", ds, closed)


# =============================================================================================
# Assets and releases
# =============================================================================================


def _png_bytes(width: int = 8, height: int = 6) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 60)).save(buf, format="PNG")
    return buf.getvalue()


def test_upload_asset_round_trip(owner: Account, events: EventLog) -> None:
    data = bytes(range(256)) * 2048 + b"\x00end"  # ~512 KiB, every byte value
    mark = events.mark()
    f = owner.client.upload_asset(io.BytesIO(data), "blob.bin")
    assert f.filename == "blob.bin"
    assert f.url.startswith("http")
    uuidlib.UUID(f.uuid)
    r = requests.get(f.url, timeout=30)  # public capability URL: no auth
    assert r.status_code == 200, r.text[:200]
    assert r.content == data

    png = _png_bytes()
    f2 = owner.client.upload_asset(io.BytesIO(png), "pic.png")
    assert f2.url != f.url
    assert requests.get(f2.url, timeout=30).content == png
    assert_no_events(events.since(mark, owner=owner.username))


def test_get_workunits(owner: Account, dataset) -> None:
    c = owner.client
    assert c.get_workunits(dataset.full_name) == []
    assert c.get_workunits(
        dataset.full_name,
        direction="asc",
        start="2020-01-01T00:00:00",
        end="2030-01-01T00:00:00",
        per_page=10,
        include_session_time_metrics=True,
    ) == []
    with raises_exactly(NotFoundError):
        c.get_workunits(f"{owner.username}/{unique('nods')}")


def test_asset_upload_capability_cannot_be_reused_or_forged(base_url: str, owner: Account) -> None:
    a = raw("POST", f"{base_url}/assets/", json={"filename": "a.bin"}, headers=owner.auth).json()
    b = raw("POST", f"{base_url}/assets/", json={"filename": "b.bin"}, headers=owner.auth).json()
    files = {"file": ("b.bin", b"evil")}
    # A's fields on B's upload URL
    r = raw("POST", b["presignedPostFields"]["url"], data=a["presignedPostFields"]["fields"], files=files)
    assert 400 <= r.status_code < 500, r.status_code
    # B's fields with a forged signature
    forged = dict(b["presignedPostFields"]["fields"], **{"x-amz-signature": "0" * 64})
    r = raw("POST", b["presignedPostFields"]["url"], data=forged, files=files)
    assert 400 <= r.status_code < 500, r.status_code
    assert raw("GET", b["url"]).status_code == 404
    # the genuine fields work, without auth
    r = raw("POST", b["presignedPostFields"]["url"], data=b["presignedPostFields"]["fields"], files={"file": ("b.bin", b"good")})
    assert r.status_code in (200, 201, 204), r.text
    assert raw("GET", b["url"]).content == b"good"


def _wait_release(client: SegmentsClient, ds: str, name: str):
    return poll(lambda: client.get_release(ds, name), lambda r: r.status != "PENDING", timeout=20)


def test_release_build_file_and_event(owner: Account, dataset, events: EventLog, tmp_path) -> None:
    c = owner.client
    ds = dataset.full_name
    img = c.upload_asset(io.BytesIO(_png_bytes(8, 6)), "rose.png")
    labeled = c.add_sample(ds, "rose.png", image_attrs(img.url), metadata={"garden": "north"})
    unlabeled = c.add_sample(ds, "tulip.png", image_attrs(img.url))
    attrs = vector_label((1, 1, 4, 5), (2, 2, 3, 3))
    gt = c.add_label(labeled.uuid, "ground-truth", attrs, label_status="LABELED")
    c.add_labelset(ds, "predictions", "model")
    c.add_label(unlabeled.uuid, "predictions", vector_label((0, 0, 1, 1)), score=0.3)

    mark = events.mark()
    rel = c.add_release(ds, "v1.0", "First release.")
    assert rel.name == "v1.0" and rel.description == "First release."
    assert rel.release_type == "JSON"
    assert rel.status == "PENDING"
    assert rel.attributes.url is None
    uuidlib.UUID(rel.uuid)

    done = _wait_release(c, ds, "v1.0")
    assert done.status == "SUCCEEDED", f"release still {done.status} after 20 s"
    assert done.attributes.url
    assert done.uuid == rel.uuid
    assert done.samples_count == 2
    assert [r.name for r in c.get_releases(ds)] == ["v1.0"]

    evs = events.wait_for(mark, "release.created", dataset=ds, timeout=5)
    assert_event_types(evs, ["release.created"])
    assert_event(evs[0], "release.created", ds, done)
    assert "v1.0" in evs[0]["text"]

    # The release file: unauthenticated GET of the capability URL (spec §6).
    resp = requests.get(done.attributes.url, timeout=30)
    assert resp.status_code == 200, resp.text[:200]
    doc = resp.json()
    assert doc == load_release(done)
    assert doc["name"] == "v1.0" and doc["description"] == "First release."
    assert isinstance(doc["created_at"], str) and doc["created_at"]
    d = doc["dataset"]
    assert d["name"] == dataset.name
    assert d["owner"] == owner.username
    assert d["task_type"] == "vector"
    assert [(cat["id"], cat["name"]) for cat in d["task_attributes"]["categories"]] == [(1, "flower"), (2, "leaf")]
    assert sorted(ls["name"] for ls in d["labelsets"]) == ["ground-truth", "predictions"]
    assert all("description" in ls for ls in d["labelsets"])
    assert isinstance(d["samples"], list) and len(d["samples"]) == 2
    samples = {s["name"]: s for s in d["samples"]}
    rose, tulip = samples["rose.png"], samples["tulip.png"]
    assert rose["uuid"] == labeled.uuid and tulip["uuid"] == unlabeled.uuid
    assert rose["attributes"] == {"image": {"url": img.url}}
    assert rose["metadata"] == {"garden": "north"} and tulip["metadata"] == {}
    assert set(rose["labels"]) == {"ground-truth", "predictions"}
    rl = rose["labels"]["ground-truth"]
    assert rl["label_status"] == "LABELED"
    assert rl["attributes"] == to_json(gt.attributes)
    assert rl["created_by"] == owner.username and rl["created_at"]
    assert rose["labels"]["predictions"] is None
    assert tulip["labels"]["ground-truth"] is None
    assert tulip["labels"]["predictions"]["label_status"] == "PRELABELED"

    # SegmentsDataset reads the same file and downloads the image from our asset store.
    sd = SegmentsDataset(done, labelset="ground-truth", filter_by=["LABELED"], segments_dir=str(tmp_path / "segments"))
    assert len(sd) == 1
    item = sd[0]
    assert item["name"] == "rose.png"
    assert item["image"] is not None and item["image"].size == (8, 6)
    assert item["annotations"] == attrs["annotations"]
    assert len(SegmentsDataset(done, labelset="predictions", segments_dir=None, load_images=False)) == 2

    # the file is a frozen snapshot
    c.add_sample(ds, "late.png", image_attrs())
    assert len(requests.get(done.attributes.url, timeout=30).json()["dataset"]["samples"]) == 2

    mark = events.mark()
    with raises_exactly(AlreadyExistsError):
        c.add_release(ds, "v1.0")
    c.delete_release(ds, "v1.0")
    with raises_exactly(NotFoundError):
        c.get_release(ds, "v1.0")
    assert c.get_releases(ds) == []
    assert_no_events(events.since(mark, owner=owner.username))


def test_release_of_empty_dataset(owner: Account, dataset, events: EventLog) -> None:
    mark = events.mark()
    owner.client.add_release(dataset.full_name, "empty")
    done = _wait_release(owner.client, dataset.full_name, "empty")
    assert done.status == "SUCCEEDED"
    assert done.samples_count == 0
    doc = requests.get(done.attributes.url, timeout=30).json()
    assert doc["dataset"]["samples"] == []
    evs = events.wait_for(mark, "release.created", dataset=dataset.full_name, timeout=5)
    assert_event_types(evs, ["release.created"])


# =============================================================================================
# The event object is the API's JSON for the object
# =============================================================================================


def test_event_object_is_the_api_json(base_url: str, owner: Account, events: EventLog) -> None:
    c = owner.client
    mark = events.mark()
    ds = c.add_dataset(unique("json"), task_type="vector", task_attributes=VECTOR_TASK_ATTRIBUTES)
    api_ds = raw("GET", f"{base_url}/datasets/{ds.full_name}/", headers=owner.auth).json()
    s = c.add_sample(ds.full_name, "x.png", image_attrs(), metadata={"m": [1, 2]})
    api_s = raw("GET", f"{base_url}/samples/{s.uuid}/", headers=owner.auth).json()
    lab = c.add_label(s.uuid, "ground-truth", vector_label((1, 2, 3, 4)), label_status="LABELED")
    api_l = raw("GET", f"{base_url}/labels/{s.uuid}/ground-truth/", headers=owner.auth).json()
    issue = c.add_issue(s.uuid, "hmm")
    api_issues = raw("GET", f"{base_url}/datasets/{ds.full_name}/issues/", headers=owner.auth).json()
    assert lab and issue

    evs = events.since(mark, owner=owner.username)
    assert_event_types(evs, ["dataset.created", "sample.created", "label.updated", "issue.created"])

    def without(d: dict, *keys: str) -> dict:
        return {k: v for k, v in d.items() if k not in keys}

    assert without(evs[0]["object"], "role") == without(api_ds, "role")
    assert evs[1]["object"] == api_s
    assert evs[2]["object"] == api_l
    assert evs[3]["object"] == api_issues[0]


# =============================================================================================
# Bad input: 4xx + JSON `detail`, and no events
# =============================================================================================


def test_sdk_invalid_names_are_network_errors(owner: Account, dataset, events: EventLog) -> None:
    mark = events.mark()
    for bad in ["", "a/b", "x" * 101, "has space", "-dash"]:
        with raises_exactly(NetworkError):
            owner.client.add_dataset(bad)
    with raises_exactly(NetworkError):
        owner.client.add_sample(dataset.full_name, "", image_attrs())
    with raises_exactly(NetworkError):
        owner.client.add_labelset(dataset.full_name, "a/b")
    assert_no_events(events.since(mark, owner=owner.username))
    assert [d.full_name for d in owner.client.get_datasets()] == [dataset.full_name]


def _bad_cases() -> dict[str, Any]:
    """Each case: ctx -> (method, path, requests kwargs)."""
    J = "application/json"

    def post(path_fn, body):
        return lambda ctx: ("POST", path_fn(ctx), {"json": body(ctx) if callable(body) else body})

    user_ds = lambda ctx: "/user/datasets/"  # noqa: E731
    samples = lambda ctx: f"/datasets/{ctx['ds']}/samples/"  # noqa: E731
    bulk = lambda ctx: f"/datasets/{ctx['ds']}/samples_bulk/"  # noqa: E731
    label = lambda ctx: f"/labels/{ctx['sample']}/ground-truth/"  # noqa: E731
    img = image_attrs()
    good_label = vector_label((1, 1, 2, 2))

    return {
        "malformed-json": lambda ctx: ("POST", "/user/datasets/", {"data": b'{"name": "x",', "headers": {"Content-Type": J}}),
        "json-null-body": lambda ctx: ("POST", "/user/datasets/", {"data": b"null", "headers": {"Content-Type": J}}),
        "body-is-array": post(user_ds, ["x"]),
        "name-wrong-type": post(user_ds, {"name": 123}),
        "name-missing": post(user_ds, {"description": "no name"}),
        "name-empty": post(user_ds, {"name": ""}),
        "name-slash": post(user_ds, {"name": "a/b"}),
        "name-too-long": post(user_ds, {"name": "x" * 101}),
        "name-space": post(user_ds, {"name": "a b"}),
        "unknown-task-type": post(user_ds, lambda ctx: {"name": unique("t"), "task_type": "bbox"}),
        "unknown-category": post(user_ds, lambda ctx: {"name": unique("t"), "category": "custom-x"}),
        "public-wrong-type": post(user_ds, lambda ctx: {"name": unique("t"), "public": "yes"}),
        "metadata-wrong-type": post(user_ds, lambda ctx: {"name": unique("t"), "metadata": "x"}),
        "wrong-content-type": lambda ctx: (
            "POST",
            "/user/datasets/",
            {"data": json.dumps({"name": unique("t")}).encode(), "headers": {"Content-Type": "text/plain"}},
        ),
        "missing-content-type": lambda ctx: ("POST", "/user/datasets/", {"data": json.dumps({"name": unique("t")}).encode()}),
        "patch-dataset-wrong-type": lambda ctx: ("PATCH", f"/datasets/{ctx['ds']}/", {"json": {"enable_ratings": "sure"}}),
        "patch-dataset-unknown-category": lambda ctx: ("PATCH", f"/datasets/{ctx['ds']}/", {"json": {"category": "weird"}}),
        "patch-dataset-unknown-task-type": lambda ctx: ("PATCH", f"/datasets/{ctx['ds']}/", {"json": {"task_type": "bbox"}}),
        "sample-name-empty": post(samples, {"name": "", "attributes": img}),
        "sample-name-too-long": post(samples, {"name": "x" * 256, "attributes": img}),
        "sample-name-control-char": post(samples, {"name": "a\nb.png", "attributes": img}),
        "sample-metadata-list": post(samples, {"name": "ok.png", "attributes": img, "metadata": [1]}),
        "sample-priority-string": post(samples, {"name": "ok.png", "attributes": img, "priority": "high"}),
        "sample-attributes-string": post(samples, {"name": "ok.png", "attributes": "img"}),
        "sample-gzip-garbage": lambda ctx: (
            "POST",
            samples(ctx),
            {"data": b"definitely not gzip", "headers": {"Content-Type": J, "Content-Encoding": "gzip"}},
        ),
        "sample-gzip-bad-json": lambda ctx: (
            "POST",
            samples(ctx),
            {"data": gzip.compress(b'{"name": '), "headers": {"Content-Type": J, "Content-Encoding": "gzip"}},
        ),
        "sample-gzip-over-body-limit": lambda ctx: (
            "POST",
            samples(ctx),
            {
                "data": gzip.compress(json.dumps({"name": "big.png", "readme": "x" * (11 * 1024 * 1024)}).encode()),
                "headers": {"Content-Type": J, "Content-Encoding": "gzip"},
            },
        ),
        "bulk-not-array": post(bulk, {"name": "ok.png", "attributes": img}),
        "bulk-one-bad-item": post(bulk, [{"name": "ok.png", "attributes": img}, {"name": 5, "attributes": img}]),
        "bulk-delete-uuids-not-list": lambda ctx: ("DELETE", bulk(ctx), {"json": {"uuids": "abc"}}),
        "update-sample-name-wrong-type": lambda ctx: ("PATCH", f"/samples/{ctx['sample']}/", {"json": {"name": 5}}),
        "update-sample-labeler-wrong-type": lambda ctx: (
            "PATCH",
            f"/samples/{ctx['sample']}/",
            {"json": {"assigned_labeler": 7}},
        ),
        "update-sample-priority-string": lambda ctx: ("PATCH", f"/samples/{ctx['sample']}/", {"json": {"priority": "x"}}),
        "label-unknown-status": lambda ctx: ("PUT", label(ctx), {"json": {"label_status": "DONE", "attributes": good_label}}),
        "label-status-wrong-type": lambda ctx: ("PUT", label(ctx), {"json": {"label_status": 3, "attributes": good_label}}),
        "label-attributes-string": lambda ctx: ("PUT", label(ctx), {"json": {"label_status": "LABELED", "attributes": "x"}}),
        "label-score-string": lambda ctx: (
            "PUT",
            label(ctx),
            {"json": {"label_status": "LABELED", "attributes": good_label, "score": "high"}},
        ),
        "collaborator-unknown-role": post(
            lambda ctx: f"/datasets/{ctx['ds']}/collaborators/", lambda ctx: {"user": ctx["other"], "role": "viewer"}
        ),
        "collaborator-user-wrong-type": post(lambda ctx: f"/datasets/{ctx['ds']}/collaborators/", {"user": 5}),
        "issue-unknown-status": post(lambda ctx: f"/samples/{ctx['sample']}/issues/", {"description": "x", "status": "DONE"}),
        "issue-missing-description": post(lambda ctx: f"/samples/{ctx['sample']}/issues/", {"status": "OPEN"}),
        "issue-anchor-wrong-type": post(lambda ctx: f"/samples/{ctx['sample']}/issues/", {"description": "x", "anchor": 5}),
        "labelset-name-slash": post(
            lambda ctx: f"/datasets/{ctx['ds']}/labelsets/", {"name": "a/b", "description": "", "attributes": "{}"}
        ),
        "labelset-name-empty": post(
            lambda ctx: f"/datasets/{ctx['ds']}/labelsets/", {"name": "", "description": "", "attributes": "{}"}
        ),
        "release-name-empty": post(lambda ctx: f"/datasets/{ctx['ds']}/releases/", {"name": "", "description": ""}),
        "release-name-slash": post(lambda ctx: f"/datasets/{ctx['ds']}/releases/", {"name": "v/1", "description": ""}),
        "clone-name-invalid": post(lambda ctx: f"/datasets/{ctx['ds']}/clone/", {"name": "a/b", "clone_labels": False}),
        "clone-labels-wrong-type": post(
            lambda ctx: f"/datasets/{ctx['ds']}/clone/", lambda ctx: {"name": unique("c"), "clone_labels": "yes"}
        ),
        "asset-filename-missing": post(lambda ctx: "/assets/", {}),
    }


BAD_CASES = _bad_cases()


@pytest.mark.parametrize("case", sorted(BAD_CASES))
def test_bad_input_is_4xx_with_detail_and_no_events(
    case: str, base_url: str, owner: Account, other: Account, dataset, events: EventLog
) -> None:
    ds = dataset.full_name
    s = owner.client.add_sample(ds, "base.png", image_attrs())
    ctx = {"ds": ds, "sample": s.uuid, "other": other.username}
    before_ds = to_json(owner.client.get_dataset(ds))
    mark = events.mark()

    method, path, kwargs = BAD_CASES[case](ctx)
    headers = {**owner.auth, **kwargs.pop("headers", {})}
    r = raw(method, base_url + path, headers=headers, **kwargs)
    assert 400 <= r.status_code < 500, f"{method} {path}: {r.status_code} {r.text[:300]}"
    assert r.status_code != 404, f"validation error answered 404: {r.text[:300]}"
    try:
        body = r.json()
    except ValueError:
        pytest.fail(f"non-JSON error body ({r.headers.get('content-type')}): {r.text[:300]}")
    assert isinstance(body, dict) and isinstance(body.get("detail"), str) and body["detail"].strip(), body
    low = body["detail"].lower()
    # The SDK picks exceptions from the text: a 4xx validation error must not read as "not found".
    assert "not found" not in low and "does not exist" not in low, body["detail"]

    assert_no_events(events.since(mark, owner=[owner.username, other.username]))
    assert names(owner.client.get_samples(ds)) == ["base.png"]
    assert [d.full_name for d in owner.client.get_datasets()] == [ds]
    assert owner.client.get_labelsets(ds)[0].name == "ground-truth" and len(owner.client.get_labelsets(ds)) == 1
    assert owner.client.get_releases(ds) == []
    after_ds = to_json(owner.client.get_dataset(ds))
    for k in ("description", "category", "task_type", "public", "enable_ratings", "metadata"):
        assert after_ds.get(k) == before_ds.get(k), k
    with raises_exactly(NotFoundError):
        owner.client.get_label(s.uuid)
    assert owner.client.get_issues(ds) == []
