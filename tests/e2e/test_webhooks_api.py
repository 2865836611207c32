"""The management API under /api/v1/, driven like a script with the real `svix` 2.9.1 client.

Every call the webhook-engine issue lists: applications (list, get, create = enable, delete =
disable), endpoints (create, list, get, update, patch, delete, secret, rotate, headers, stats,
send-example, recover, replay-missing), background tasks, event types, messages (create, list,
get), attempts (by message, by endpoint, one), resend, plus idempotency keys and error shapes.
"""

from __future__ import annotations

import base64
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from e2e_helpers import VECTOR_TASK_ATTRIBUTES, Account, Datahooks, image_attrs, poll, raw, unique
from receiver import ALL_EVENT_TYPES, Hooks
from svix.api import (
    ApplicationIn,
    ApplicationListOptions,
    EndpointGetStatsOptions,
    EndpointHeadersIn,
    EndpointHeadersPatchIn,
    EndpointIn,
    EndpointListOptions,
    EndpointPatch,
    EndpointSecretRotateIn,
    EndpointUpsertIn,
    EventExampleIn,
    EventTypeIn,
    MessageAttemptListByEndpointOptions,
    MessageAttemptListByMsgOptions,
    MessageCreateOptions,
    MessageIn,
    MessageListOptions,
    RecoverIn,
    ReplayIn,
)
from svix.exceptions import HttpError


def svix_error(fn, *args: Any) -> HttpError:
    with pytest.raises(HttpError) as info:
        fn(*args)
    return info.value


def now() -> datetime:
    return datetime.now(timezone.utc)


def test_applications_enable_disable(server: Datahooks, owner: Account) -> None:
    from receiver import svix_client

    sv = svix_client(server.base_url, owner.api_key)
    assert owner.client.get_user().webhooks_enabled is False
    assert sv.application.list().data == []
    err = svix_error(sv.application.get, owner.username)
    assert err.status_code == 404 and err.code and err.detail

    app = sv.application.create(ApplicationIn(name=owner.username, uid=owner.username))
    assert app.uid == owner.username and app.name == owner.username
    assert app.id.startswith("app_")
    assert owner.client.get_user().webhooks_enabled is True
    # by id and by uid
    assert sv.application.get(app.id).id == app.id
    assert sv.application.get(owner.username).id == app.id
    listed = sv.application.list(ApplicationListOptions(limit=10))
    assert [a.id for a in listed.data] == [app.id] and listed.done is True
    # enabling twice: 409, unless get_or_create
    err = svix_error(sv.application.create, ApplicationIn(name=owner.username, uid=owner.username))
    assert err.status_code == 409, (err.status_code, err.code, err.detail)
    again = sv.application.get_or_create(ApplicationIn(name=owner.username, uid=owner.username))
    assert again.id == app.id

    # disable = delete the application; endpoints are not reachable while disabled
    sv.application.delete(app.id)
    assert owner.client.get_user().webhooks_enabled is False
    assert svix_error(sv.application.get, app.id).status_code == 404
    assert sv.application.list().data == []
    # re-enable keeps the same id
    app2 = sv.application.create(ApplicationIn(name=owner.username, uid=owner.username))
    assert app2.id == app.id
    assert owner.client.get_user().webhooks_enabled is True


def test_disabled_webhooks_deliver_nothing(server: Datahooks, owner: Account, webhooks, receivers, dataset) -> None:
    hooks: Hooks = webhooks(owner)
    rcv = receivers()
    hooks.add_endpoint(rcv)
    owner.client.add_sample(dataset.full_name, "on.png", image_attrs())
    assert rcv.wait_event("sample.created")
    hooks.svix.application.delete(hooks.app_id)
    owner.client.add_sample(dataset.full_name, "off.png", image_attrs())
    owner.client.update_dataset(dataset.full_name, description="off")
    rcv.quiet_for(0.7, timeout=3)
    names = [d.json["object"].get("name") for d in rcv.deliveries if d.event_type == "sample.created"]
    assert names == ["on.png"], f"deliveries while webhooks were disabled: {[d.short() for d in rcv.deliveries]}"


def test_endpoint_crud_secret_headers(server: Datahooks, owner: Account, webhooks, receivers) -> None:
    hooks: Hooks = webhooks(owner)
    sv, app = hooks.svix, hooks.app_id
    rcv = receivers()
    ds = owner.client.add_dataset(unique("crud"), task_type="vector", task_attributes=VECTOR_TASK_ATTRIBUTES).full_name
    my_secret = "whsec_" + base64.b64encode(b"0123456789abcdef01234567").decode()

    ep = sv.endpoint.create(
        app,
        EndpointIn(
            url=rcv.url,
            description="Primary",
            uid="primary-hook",
            event_types=["sample.created", "label.updated"],
            channels=[ds],
            metadata={"team": "ml"},
            throttle_rate=50,
            secret=my_secret,
            headers={"X-Source": "e2e"},
        ),
    )
    assert ep.id.startswith("ep_")
    assert ep.url == rcv.url and ep.description == "Primary" and ep.uid == "primary-hook"
    assert sorted(ep.event_types) == ["label.updated", "sample.created"] and ep.channels == [ds]
    assert ep.metadata == {"team": "ml"} and ep.throttle_rate == 50 and ep.disabled is False
    assert sv.endpoint.get_secret(app, ep.id).key == my_secret
    # Secrets at rest are sealed: the key is nowhere in the data dir in clear.
    raw_key = my_secret[len("whsec_"):].encode()
    for f in server.data_dir.rglob("*"):
        if f.is_file() and f.stat().st_size < 50_000_000:
            data = f.read_bytes()
            assert raw_key not in data and b"0123456789abcdef01234567" not in data, f"endpoint secret in clear in {f}"
    # Idempotency-Key on endpoint create: one endpoint, the same answer.
    from svix.api import EndpointCreateOptions

    opts = EndpointCreateOptions(idempotency_key=f"ep-{uuid.uuid4()}")
    i1 = sv.endpoint.create(app, EndpointIn(url=rcv.url, description="idem"), opts)
    i2 = sv.endpoint.create(app, EndpointIn(url=rcv.url, description="idem"), opts)
    assert i1.id == i2.id
    sv.endpoint.delete(app, i1.id)
    # by uid too
    assert sv.endpoint.get(app, "primary-hook").id == ep.id
    # `version` is not in the 2.9.1 model: set it through the raw API
    r = raw("PATCH", f"{server.base_url}/api/v1/app/{app}/endpoint/{ep.id}", json={"version": 2}, headers=hooks.auth)
    assert r.status_code == 200 and r.json()["version"] == 2, r.text
    assert r.json()["eventTypes"] and "createdAt" in r.json() and "updatedAt" in r.json()

    # validation: unknown event type, channel of another account, empty eventTypes, forbidden header
    for bad in (
        dict(event_types=["sample.exploded"]),
        dict(event_types=[]),
        dict(channels=["somebody-else/flowers"]),
        dict(headers={"svix-id": "x"}),
        dict(headers={"Content-Type": "text/plain"}),
    ):
        err = svix_error(sv.endpoint.create, app, EndpointIn(url=rcv.url, **bad))
        assert err.status_code in (400, 422), (bad, err.status_code)
        assert err.detail, bad
    err = svix_error(sv.endpoint.create, app, EndpointIn(url="ftp://127.0.0.1/x"))
    assert err.status_code in (400, 422)

    # list with pagination
    more = [sv.endpoint.create(app, EndpointIn(url=rcv.url, description=f"extra {i}")) for i in range(3)]
    page1 = sv.endpoint.list(app, EndpointListOptions(limit=2))
    assert len(page1.data) == 2 and page1.done is False and page1.iterator
    page2 = sv.endpoint.list(app, EndpointListOptions(limit=2, iterator=page1.iterator))
    assert len(page2.data) == 2 and page2.done is True
    assert {e.id for e in page1.data + page2.data} == {ep.id} | {e.id for e in more}
    for e in more:
        sv.endpoint.delete(app, e.id)
        assert svix_error(sv.endpoint.get, app, e.id).status_code == 404
    assert [e.id for e in sv.endpoint.list(app).data] == [ep.id]

    # update (PUT): replaces; absent fields take defaults
    up = sv.endpoint.upsert(app, ep.id, EndpointUpsertIn(url=rcv.url, description="Replaced", event_types=["sample.created"]))
    assert up.id == ep.id and up.description == "Replaced" and up.event_types == ["sample.created"]
    assert up.channels is None, "PUT without channels resets them to all"
    # patch: only what is given
    p = sv.endpoint.patch(app, ep.id, EndpointPatch(channels=[ds], metadata={"team": "qa"}))
    assert p.description == "Replaced" and p.channels == [ds] and p.metadata == {"team": "qa"}
    p = sv.endpoint.patch(app, ep.id, EndpointPatch(event_types=None))
    assert p.event_types is None, "eventTypes: null means all"
    p = sv.endpoint.patch(app, ep.id, EndpointPatch(disabled=True))
    assert p.disabled is True
    p = sv.endpoint.patch(app, ep.id, EndpointPatch(disabled=False))
    assert p.disabled is False
    assert p.updated_at >= p.created_at

    # secret rotation with a chosen key, then a generated one
    chosen = "whsec_" + base64.b64encode(b"abcdefghijklmnopqrstuvwxyz012345").decode()
    assert sv.endpoint.rotate_secret(app, ep.id, EndpointSecretRotateIn(key=chosen)).key == chosen
    assert sv.endpoint.get_secret(app, ep.id).key == chosen
    gen = sv.endpoint.rotate_secret(app, ep.id, EndpointSecretRotateIn()).key
    assert gen.startswith("whsec_") and gen not in (chosen, my_secret)
    assert len(base64.b64decode(gen[6:])) >= 24

    # headers: get (redacted), put (replace), patch (add + delete)
    h = sv.endpoint.get_headers(app, ep.id)
    assert h.headers == {"x-source": "e2e"} or h.headers == {"X-Source": "e2e"}, h.headers
    sv.endpoint.set_headers(app, ep.id, EndpointHeadersIn(headers={"X-Api-Key": "k-123", "X-One": "1"}))
    h = sv.endpoint.get_headers(app, ep.id)
    lower = {k.lower(): v for k, v in h.headers.items()}
    assert "x-source" not in lower and lower.get("x-one") == "1"
    assert [s.lower() for s in h.sensitive] == ["x-api-key"] and lower.get("x-api-key") != "k-123"
    sv.endpoint.patch_headers(app, ep.id, EndpointHeadersPatchIn(headers={"X-Two": "2"}, delete_headers=["X-One"]))
    lower = {k.lower(): v for k, v in sv.endpoint.get_headers(app, ep.id).headers.items()}
    assert "x-one" not in lower and lower.get("x-two") == "2" and "x-api-key" in lower
    err = svix_error(sv.endpoint.set_headers, app, ep.id, EndpointHeadersIn(headers={"User-Agent": "me"}))
    assert err.status_code in (400, 422)

    # the headers and the rotated secret are used on delivery
    rcv.add_secret(gen)
    owner.client.add_sample(ds, "h.png", image_attrs())
    [d] = rcv.wait_event("sample.created")
    assert d.headers.get("x-api-key") == "k-123" and d.headers.get("x-two") == "2" and "x-one" not in d.headers
    rcv.assert_all_verified()

    # stats
    stats = poll(lambda: sv.endpoint.get_stats(app, ep.id), lambda s: s.success >= 1, timeout=5)
    assert stats.success == 1 and stats.fail == 0 and stats.pending == 0 and stats.canceled == 0
    stats2 = sv.endpoint.get_stats(app, ep.id, EndpointGetStatsOptions(since=now() - timedelta(hours=1)))
    assert stats2.success == 1

    # delete
    sv.endpoint.delete(app, ep.id)
    assert svix_error(sv.endpoint.get, app, ep.id).status_code == 404
    assert svix_error(sv.endpoint.get_secret, app, ep.id).status_code == 404
    assert sv.endpoint.list(app).data == []


def test_event_types(server: Datahooks, owner: Account) -> None:
    from receiver import svix_client

    sv = svix_client(server.base_url, owner.api_key)
    listed = sv.event_type.list()
    assert sorted(t.name for t in listed.data) == sorted(ALL_EVENT_TYPES) and listed.done is True
    for t in listed.data:
        assert t.description and t.archived in (False, None) and t.deprecated is False
    for name in ALL_EVENT_TYPES:
        t = sv.event_type.get(name)
        assert t.name == name and t.description
        assert t.schemas and "1" in t.schemas, f"{name}: schemas {t.schemas!r}"
        schema = t.schemas["1"]
        assert schema.get("type") == "object"
        assert set(schema.get("required", [])) >= {"event_type", "dataset", "object", "text"}
        examples = schema.get("examples")
        assert isinstance(examples, list) and examples and examples[0]["event_type"] == name, examples
    assert svix_error(sv.event_type.get, "sample.exploded").status_code == 404
    # The platform types are fixed (custom types: test_svix_event_types.py).
    err = svix_error(sv.event_type.create, EventTypeIn(name="sample.created", description="mine"))
    assert err.status_code == 403, err.status_code


def test_messages_attempts_resend(server: Datahooks, owner: Account, webhooks, receivers) -> None:
    hooks: Hooks = webhooks(owner)
    sv, app = hooks.svix, hooks.app_id
    rcv = receivers()
    ep, _ = hooks.add_endpoint(rcv)
    ds = owner.client.add_dataset(unique("msgs"), task_type="vector", task_attributes=VECTOR_TASK_ATTRIBUTES).full_name
    s = owner.client.add_sample(ds, "m.png", image_attrs())
    rcv.wait_event("sample.created")

    # A message of the account's own
    before = now() - timedelta(seconds=2)
    own = sv.message.create(
        app,
        MessageIn(event_type="deploy.finished", payload={"text": "Deployed v2", "n": 2}, event_id="evt-1", channels=[ds]),
    )
    assert own.id.startswith("msg_") and own.event_type == "deploy.finished" and own.event_id == "evt-1"
    assert own.payload == {"text": "Deployed v2", "n": 2} and own.channels == [ds]
    [d] = rcv.wait_count(1, where=lambda x: x.msg_id == own.id)
    assert d.json == {"text": "Deployed v2", "n": 2} and d.msg_id == own.id
    # duplicate eventId: 409
    err = svix_error(sv.message.create, app, MessageIn(event_type="deploy.finished", payload={"text": "again"}, event_id="evt-1"))
    assert err.status_code == 409
    # payload must be an object
    r = raw("POST", f"{server.base_url}/api/v1/app/{app}/msg", json={"eventType": "x.y", "payload": [1]}, headers=hooks.auth)
    assert r.status_code in (400, 422) and "detail" in r.json()

    # idempotency key: the same response, one message
    opts = MessageCreateOptions(idempotency_key=f"key-{uuid.uuid4()}")
    a = sv.message.create(app, MessageIn(event_type="deploy.started", payload={"text": "go"}), opts)
    b = sv.message.create(app, MessageIn(event_type="deploy.started", payload={"text": "go"}), opts)
    assert a.id == b.id
    rcv.wait_count(1, where=lambda x: x.msg_id == a.id)

    # get: by id and by eventId, with payload
    got = sv.message.get(app, own.id)
    assert got.id == own.id and got.payload == own.payload
    assert sv.message.get(app, "evt-1").id == own.id
    sc = sv.message.get(app, rcv.wait_event("sample.created")[0].msg_id)
    assert sc.event_type == "sample.created" and sc.payload["object"]["uuid"] == s.uuid
    assert sc.channels == [ds], f"a dataset event's channels should be [dataset]: {sc.channels}"
    assert svix_error(sv.message.get, app, "msg_doesnotexist").status_code == 404

    # list: filters and pagination
    all_msgs = sv.message.list(app, MessageListOptions(limit=250)).data
    types = [m.event_type for m in all_msgs]
    assert {"dataset.created", "sample.created", "deploy.finished", "deploy.started"} <= set(types), types
    assert types.count("deploy.started") == 1, "idempotent create made two messages"
    only = sv.message.list(app, MessageListOptions(event_types=["deploy.finished", "deploy.started"])).data
    assert sorted(m.event_type for m in only) == ["deploy.finished", "deploy.started"]
    chan = sv.message.list(app, MessageListOptions(channel=ds)).data
    assert {m.event_type for m in chan} >= {"dataset.created", "sample.created", "deploy.finished"}
    assert "deploy.started" not in {m.event_type for m in chan}
    recent = sv.message.list(app, MessageListOptions(after=before)).data
    assert own.id in [m.id for m in recent] and all(m.timestamp >= before for m in recent)
    old = sv.message.list(app, MessageListOptions(before=before)).data
    assert own.id not in [m.id for m in old]
    p1 = sv.message.list(app, MessageListOptions(limit=2))
    assert len(p1.data) == 2 and p1.done is False and p1.iterator
    p2 = sv.message.list(app, MessageListOptions(limit=250, iterator=p1.iterator))
    assert {m.id for m in p1.data}.isdisjoint({m.id for m in p2.data})
    assert len(p1.data) + len(p2.data) == len(all_msgs)
    r = raw("GET", f"{server.base_url}/api/v1/app/{app}/msg?limit=251", headers=hooks.auth)
    assert r.status_code == 422, r.status_code

    # attempts by message, by endpoint, one
    atts = hooks.attempts_by_msg(own.id)
    assert len(atts) == 1
    at = atts[0]
    assert at.msg_id == own.id and at.endpoint_id == ep.id and at.url == rcv.url
    assert at.response_status_code == 200 and at.response == "ok" and int(at.status) == 0
    assert at.status_text.value == "success" and int(at.trigger_type) == 0 and at.response_duration_ms >= 0
    one = sv.message_attempt.get(app, own.id, at.id)
    assert one.id == at.id and one.response == "ok"
    by_ep = hooks.attempts_by_endpoint(ep.id)
    assert at.id in [x.id for x in by_ep] and all(x.endpoint_id == ep.id for x in by_ep)
    ok_only = sv.message_attempt.list_by_endpoint(app, ep.id, MessageAttemptListByEndpointOptions(status=0)).data
    assert ok_only and all(int(x.status) == 0 for x in ok_only)
    assert sv.message_attempt.list_by_endpoint(app, ep.id, MessageAttemptListByEndpointOptions(status=2)).data == []
    assert sv.message_attempt.list_by_msg(app, own.id, MessageAttemptListByMsgOptions(endpoint_id=ep.id)).data
    dests = sv.message_attempt.list_attempted_destinations(app, own.id).data
    assert [x.id for x in dests] == [ep.id] and int(dests[0].status) == 0
    msgs_at_ep = sv.message_attempt.list_attempted_messages(app, ep.id).data
    assert own.id in [m.id for m in msgs_at_ep]

    # resend: 202 {} and one more delivery with the same id, a manual attempt
    n_before = len([x for x in rcv.deliveries if x.msg_id == own.id])
    res = sv.message_attempt.resend(app, own.id, ep.id)
    assert res is None or res == {} or getattr(res, "model_dump", lambda: {})() == {}
    r = raw("POST", f"{server.base_url}/api/v1/app/{app}/msg/{own.id}/endpoint/{ep.id}/resend", headers=hooks.auth)
    assert r.status_code == 202 and r.json() == {}, (r.status_code, r.text)
    rcv.wait_count(n_before + 2, where=lambda x: x.msg_id == own.id, timeout=10)
    atts = poll(lambda: hooks.attempts_by_msg(own.id), lambda a: len(a) >= 3, timeout=5)
    assert len(atts) == 3 and sorted(int(x.trigger_type) for x in atts) == [0, 1, 1]
    rcv.assert_all_verified()


def test_send_example(server: Datahooks, owner: Account, webhooks, receivers) -> None:
    hooks: Hooks = webhooks(owner)
    sv, app = hooks.svix, hooks.app_id
    r1, r2 = receivers(name="one"), receivers(name="two")
    ep1, _ = hooks.add_endpoint(r1)
    hooks.add_endpoint(r2)
    for et in ALL_EVENT_TYPES:
        ex = sv.endpoint.send_example(app, ep1.id, EventExampleIn(event_type=et))
        assert ex.event_type == et and ex.payload["event_type"] == et and ex.id.startswith("msg_")
        assert ex.payload["dataset"].startswith(owner.username + "/")
    got = r1.wait_count(len(ALL_EVENT_TYPES))
    assert sorted(d.event_type for d in got) == sorted(ALL_EVENT_TYPES)
    for d in got:
        assert d.json["text"].strip() and isinstance(d.json["object"], dict)
        assert d.json == sv.message.get(app, d.msg_id).payload
    r1.assert_all_verified()
    err = svix_error(sv.endpoint.send_example, app, ep1.id, EventExampleIn(event_type="nope.nope"))
    assert err.status_code in (400, 404, 422)
    r2.quiet_for(0.3, timeout=2)
    assert r2.deliveries == [], "send-example reached another endpoint"


def test_replay_missing_respects_the_endpoint(server: Datahooks, owner: Account, webhooks, receivers) -> None:
    """replay-missing sends the window's messages that were never sent to the endpoint, among
    those the endpoint would have received: its eventTypes and channels apply, and a
    send-example forced to another endpoint is not one of them."""
    hooks: Hooks = webhooks(owner)
    sv, app = hooks.svix, hooks.app_id
    r1 = receivers(name="one")
    ep1, _ = hooks.add_endpoint(r1)
    since = now() - timedelta(minutes=1)
    sv.endpoint.send_example(app, ep1.id, EventExampleIn(event_type="label.updated"))
    ds = owner.client.add_dataset(unique("replay"), task_type="vector", task_attributes=VECTOR_TASK_ATTRIBUTES).full_name
    other_ds = owner.client.add_dataset(unique("notme"), task_type="vector", task_attributes=VECTOR_TASK_ATTRIBUTES).full_name
    owner.client.add_sample(ds, "r.png", image_attrs())
    owner.client.add_sample(other_ds, "o.png", image_attrs())
    owner.client.update_dataset(ds, description="changed")
    r1.wait_count(6)

    r3 = receivers(name="late")
    ep3, _ = hooks.add_endpoint(r3, event_types=["sample.created", "dataset.created"], channels=[ds])
    task = sv.endpoint.replay_missing(app, ep3.id, ReplayIn(since=since))
    assert task.id.startswith("qtask_") and task.task.value == "endpoint.replay"
    assert task.status.value in ("running", "finished")
    done = hooks.wait_task(task.id)
    assert done.status.value == "finished", done
    r3.wait_count(2, timeout=10)
    r3.quiet_for(0.5, timeout=3)
    got = sorted((d.event_type, d.json.get("dataset")) for d in r3.deliveries)
    assert got == [("dataset.created", ds), ("sample.created", ds)], f"replay-missing delivered {got}"
    assert done.data.get("messagesSent") == 2, done.data
    r3.assert_all_verified()
    # replaying again sends nothing more
    t2 = hooks.wait_task(sv.endpoint.replay_missing(app, ep3.id, ReplayIn(since=since)).id)
    assert t2.data.get("messagesSent") == 0, t2.data


def test_recover_and_background_tasks(server: Datahooks, owner: Account, webhooks, receivers) -> None:
    hooks: Hooks = webhooks(owner)
    sv, app = hooks.svix, hooks.app_id
    r1 = receivers(name="one")
    ep1, _ = hooks.add_endpoint(r1)
    since = now() - timedelta(minutes=1)
    # nothing failed: recover finishes with 0
    t1 = sv.endpoint.recover(app, ep1.id, RecoverIn(since=since))
    assert t1.id.startswith("qtask_") and t1.task.value == "endpoint.recover"
    t1 = hooks.wait_task(t1.id)
    assert t1.status.value == "finished" and t1.data.get("messagesSent") == 0, t1
    t2 = hooks.wait_task(sv.endpoint.replay_missing(app, ep1.id, ReplayIn(since=since)).id)
    assert t2.status.value == "finished"
    tasks = sv.background_task.list().data
    assert {t1.id, t2.id} <= {t.id for t in tasks}
    assert svix_error(sv.background_task.get, "qtask_nope").status_code == 404
    # validation
    for body in ({}, {"since": "yesterday"}, {"since": now().isoformat(), "until": (now() - timedelta(hours=1)).isoformat()}):
        r = raw("POST", f"{server.base_url}/api/v1/app/{app}/endpoint/{ep1.id}/recover", json=body, headers=hooks.auth)
        assert r.status_code in (400, 422) and "detail" in r.json(), (body, r.status_code, r.text)
    r = raw("POST", f"{server.base_url}/api/v1/app/{app}/endpoint/ep_nope/recover", json={"since": since.isoformat()}, headers=hooks.auth)
    assert r.status_code == 404, r.text


def test_errors_are_json_and_health(server: Datahooks, owner: Account, webhooks) -> None:
    hooks: Hooks = webhooks(owner)
    hooks.svix.health.get()
    r = raw("GET", f"{server.base_url}/api/v1/health")
    assert r.status_code == 204
    for method, path in (
        ("GET", f"/api/v1/app/{hooks.app_id}/endpoint/ep_nope"),
        ("GET", "/api/v1/app/app_999999/endpoint"),
        ("GET", f"/api/v1/app/{hooks.app_id}/msg/msg_nope"),
    ):
        r = raw(method, server.base_url + path, headers=hooks.auth)
        assert r.status_code == 404 and set(r.json()) >= {"code", "detail"}, (path, r.status_code, r.text)
    r = raw("GET", f"{server.base_url}/api/v1/app", headers={"Authorization": "Bearer wrong"})
    assert r.status_code == 401 and set(r.json()) >= {"code", "detail"}, r.text
    r = raw("POST", f"{server.base_url}/api/v1/app/{hooks.app_id}/endpoint", data=b"{not json", headers={**hooks.auth, "content-type": "application/json"})
    assert r.status_code in (400, 422) and "detail" in r.json(), r.text


def test_metrics(server: Datahooks, owner: Account, webhooks, receivers) -> None:
    hooks: Hooks = webhooks(owner)
    rcv = receivers()
    hooks.add_endpoint(rcv)
    owner.client.add_dataset(unique("metrics"))
    rcv.wait_count(1)
    r = raw("GET", f"{server.base_url}/metrics")
    assert r.status_code == 200 and r.headers.get("content-type", "").startswith("text/plain"), r.headers
    text = r.text
    for name in (
        "datahooks_deliveries_total",
        "datahooks_delivery_duration_seconds_bucket",
        "datahooks_queue_depth",
        "datahooks_oldest_due_delivery_age_seconds",
    ):
        assert name in text, f"{name} missing from /metrics"
    success = [ln for ln in text.splitlines() if ln.startswith('datahooks_deliveries_total{outcome="success"}')]
    assert success and float(success[0].split()[-1]) >= 1, success

