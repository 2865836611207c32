"""Operational webhooks through the real `svix` 2.9.1 client (`operational_webhook.endpoint.*`).

An account's operational endpoints hear about its own webhook set-up: `endpoint.created`
when an endpoint is added, `endpoint.disabled` when a 410 disables one in the worker's batch
record, `message.attempt.exhausted` when a delivery runs out of retries (the session server's
schedule is 1s,1s,2s: 4 attempts). Each is a signed delivery like any other, checked here with
`standardwebhooks` against the operational endpoint's own secret. Runs on SQLite, and on
PostgreSQL with DATAHOOKS_E2E_BACKEND=postgres under scripts/with-postgres.sh.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import standardwebhooks
from e2e_helpers import Account, Datahooks, raw
from receiver import Hooks, Reply
from svix.api import (
    EndpointPatch,
    MessageIn,
    OperationalWebhookEndpointHeadersIn,
    OperationalWebhookEndpointIn,
    OperationalWebhookEndpointSecretIn,
    OperationalWebhookEndpointUpsertIn,
    RecoverIn,
)
from svix.exceptions import HttpError


def verified(d, secret: str) -> dict:
    """The delivery's payload, after standardwebhooks verified its signature with `secret`."""
    return standardwebhooks.Webhook(secret).verify(d.body, d.std_headers())


def op_endpoint(hooks: Hooks, rcv, **fields) -> tuple[object, str]:
    ep = hooks.svix.operational_webhook.endpoint.create(OperationalWebhookEndpointIn(url=rcv.url, **fields))
    secret = hooks.svix.operational_webhook.endpoint.get_secret(ep.id).key
    return ep, secret


def of_type(rcv, event_type: str, timeout: float = 15.0) -> list:
    """The deliveries of `event_type` (waits, bounded, for at least one)."""
    return rcv.wait_count(1, timeout=timeout, where=lambda d: d.json.get("type") == event_type)


def test_operational_endpoint_hears_created_disabled_and_exhausted(
    server: Datahooks, owner: Account, webhooks, receivers
) -> None:
    hooks: Hooks = webhooks(owner)
    ops = receivers(name="ops")
    op, op_secret = op_endpoint(hooks, ops, description="on call")
    assert op.url == ops.url and op.description == "on call" and op.disabled is False

    # endpoint.created, signed with the operational endpoint's own secret.
    failing = receivers(Reply(500, b"down"), name="500")
    ep, _ = hooks.add_endpoint(failing)
    [created] = of_type(ops, "endpoint.created")
    body = verified(created, op_secret)
    assert body["data"]["endpointId"] == ep.id
    assert body["data"]["appId"] == hooks.app_id and body["data"]["appUid"] == owner.username

    # message.attempt.exhausted after the schedule's last attempt.
    msg = hooks.svix.message.create(hooks.app_id, MessageIn(event_type="sample.created", payload={"n": 1}))
    [exhausted] = of_type(ops, "message.attempt.exhausted", timeout=30)
    body = verified(exhausted, op_secret)
    assert body["data"]["msgId"] == msg.id and body["data"]["endpointId"] == ep.id
    assert body["data"]["lastAttempt"]["responseStatusCode"] == 500
    assert len(failing.deliveries) == 4

    # endpoint.disabled when a 410 disables an endpoint in the worker's batch record.
    gone = receivers(Reply(410, b"gone"), name="410")
    ep2, _ = hooks.add_endpoint(gone)
    hooks.svix.message.create(hooks.app_id, MessageIn(event_type="sample.created", payload={"n": 2}))
    [disabled] = of_type(ops, "endpoint.disabled")
    body = verified(disabled, op_secret)
    assert body["data"]["endpointId"] == ep2.id and body["data"]["trigger"] == "automatic"

    # Operational events stay out of the application's own message list and endpoints.
    msgs = hooks.svix.message.list(hooks.app_id).data
    assert all(not m.event_type.startswith(("endpoint.", "message.attempt.")) for m in msgs)
    eps = hooks.svix.endpoint.list(hooks.app_id).data
    assert op.id not in {e.id for e in eps}
    r = raw("GET", f"{server.base_url}/api/v1/app/{hooks.app_id}/endpoint/{op.id}", headers=hooks.auth)
    assert r.status_code == 404


def test_operational_endpoint_management(server: Datahooks, owner: Account, other: Account, webhooks, receivers) -> None:
    hooks: Hooks = webhooks(owner)
    ops = receivers(name="ops")
    op, secret = op_endpoint(hooks, ops, event_types=["endpoint.deleted"], uid="pager", metadata={"team": "infra"})
    api = hooks.svix.operational_webhook.endpoint
    assert secret.startswith("whsec_")
    assert api.get("pager").id == op.id
    assert [e.id for e in api.list().data] == [op.id]
    assert op.event_types == ["endpoint.deleted"] and op.metadata == {"team": "infra"}

    # Filters: only endpoint.deleted is sent to this one.
    ep, _ = hooks.add_endpoint(receivers(name="app"))
    hooks.svix.endpoint.delete(hooks.app_id, ep.id)
    [deleted] = of_type(ops, "endpoint.deleted")
    assert verified(deleted, secret)["data"]["endpointId"] == ep.id
    assert [d.json["type"] for d in ops.deliveries] == ["endpoint.deleted"]

    # Upsert replaces; an unknown id creates one with it as uid.
    up = api.upsert(op.id, OperationalWebhookEndpointUpsertIn(url=ops.url, description="changed"))
    assert up.description == "changed" and up.event_types is None
    made = api.upsert("second", OperationalWebhookEndpointUpsertIn(url=ops.url))
    assert made.uid == "second" and len(api.list().data) == 2

    # Headers and secret rotation.
    api.set_headers(op.id, OperationalWebhookEndpointHeadersIn(headers={"x-team": "infra", "authorization": "s3cret"}))
    h = api.get_headers(op.id)
    assert h.headers["x-team"] == "infra" and "authorization" in h.sensitive
    api.rotate_secret(op.id, OperationalWebhookEndpointSecretIn())
    assert api.get_secret(op.id).key != secret

    # Bad input is a 4xx with a body, and another account cannot see these endpoints.
    for bad in (
        {"url": ops.url, "eventTypes": ["sample.created"]},
        {"url": ops.url, "channels": [f"{owner.username}/x"]},
        {"url": "not a url"},
    ):
        r = raw("POST", f"{server.base_url}/api/v1/operational-webhook/endpoint", headers=hooks.auth, json=bad)
        assert r.status_code in (400, 422) and r.json().get("code"), (bad, r.status_code, r.text)
    r = raw("GET", f"{server.base_url}/api/v1/operational-webhook/endpoint/{op.id}", headers=other.auth)
    assert r.status_code == 404
    # Nor is it reachable as an application endpoint.
    try:
        hooks.svix.endpoint.get(hooks.app_id, op.id)
        raise AssertionError("an operational endpoint was found among the application's")
    except HttpError as e:
        assert e.status_code == 404

    api.delete(op.id)
    api.delete(made.id)
    assert api.list().data == []


def test_manual_disable_enable_and_finished_task(server: Datahooks, owner: Account, webhooks, receivers) -> None:
    hooks: Hooks = webhooks(owner)
    ops = receivers(name="ops")
    _, op_secret = op_endpoint(hooks, ops)
    ep, _ = hooks.add_endpoint(receivers(name="app"))
    hooks.svix.endpoint.patch(hooks.app_id, ep.id, EndpointPatch(disabled=True))
    hooks.svix.endpoint.patch(hooks.app_id, ep.id, EndpointPatch(disabled=False))
    ops.wait_count(5)
    # Deliveries run concurrently, so they may arrive in any order.
    types = sorted(verified(d, op_secret)["type"] for d in ops.deliveries)
    assert types == sorted(
        ["endpoint.created", "endpoint.updated", "endpoint.disabled", "endpoint.updated", "endpoint.enabled"]
    ), types
    disabled = next(d for d in ops.deliveries if d.json["type"] == "endpoint.disabled")
    assert disabled.json["data"]["trigger"] == "manual"

    since = datetime.now(UTC) - timedelta(hours=1)
    task = hooks.svix.endpoint.recover(hooks.app_id, ep.id, RecoverIn(since=since))
    [finished] = of_type(ops, "background_task.finished")
    body = verified(finished, op_secret)["data"]
    assert body["taskId"] == task.id and body["status"] == "finished" and body["task"] == "endpoint.recover"
