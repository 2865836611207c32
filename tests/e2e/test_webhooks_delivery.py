"""End-to-end webhook delivery: the segments-ai SDK changes data, loopback receivers get the
signed webhooks.

- Every delivery is verified with BOTH `svix.webhooks.Webhook(secret).verify` (svix-* headers)
  and `standardwebhooks.webhooks.Webhook(secret).verify` (webhook-* headers).
- All 11 event types are produced through the SDK (plus the REST reply route) and each reaches
  the subscribed endpoints with exactly the payload committed in the outbox
  (`datahooks events list`), and nothing reaches an endpoint that is not subscribed.
- A Slack-like receiver (JSON object with a non-empty `text`, else 400) accepts every event.
- Isolation: other accounts and collaborators receive nothing and cannot see the owner's setup.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from typing import Any

from e2e_helpers import (
    VECTOR_TASK_ATTRIBUTES,
    Account,
    Datahooks,
    EventLog,
    image_attrs,
    poll,
    raw,
    unique,
    vector_label,
)
from receiver import ALL_EVENT_TYPES, Hooks, Receiver, SlackLikeReceiver, verify_delivery
from svix.api import EndpointHeadersPatchIn, EndpointSecretRotateIn, MessageIn

SIGNATURE_RE = re.compile(r"^v1,[A-Za-z0-9+/]+={0,2}$")
USER_AGENT_RE = re.compile(r"^datahooks/\d+\.\d+\.\d+")


# ---------------------------------------------------------------------------------------------
# Producing every event type through the SDK
# ---------------------------------------------------------------------------------------------


def produce_all_events(acc: Account, base_url: str) -> dict[str, Any]:
    """Makes changes that commit all 11 event types, in two datasets of `acc`:
    `main` (everything but dataset.deleted) and `scratch` (created, one sample, deleted)."""
    c = acc.client
    main = c.add_dataset(unique("flowers"), task_type="vector", task_attributes=VECTOR_TASK_ATTRIBUTES)
    scratch = c.add_dataset(unique("scratch"), task_type="vector", task_attributes=VECTOR_TASK_ATTRIBUTES)
    ds = main.full_name
    c.update_dataset(ds, description="Roses and tulips.")
    rose = c.add_sample(ds, "rose.png", image_attrs())
    tulip = c.add_sample(ds, "tulip.png", image_attrs("https://example.com/images/tulip.png"))
    c.update_sample(rose.uuid, metadata={"garden": "north"})
    c.add_label(rose.uuid, "ground-truth", vector_label((1, 2, 30, 40)), label_status="LABELED")
    issue = c.add_issue(rose.uuid, "Missing petal")
    c.update_issue(issue.uuid, status="CLOSED")
    r = raw("POST", f"{base_url}/issues/{issue.uuid}/comments/", json={"text": "Fixed it."}, headers=acc.auth)
    assert r.status_code == 201, r.text
    c.add_release(ds, "v1.0", "First release.")
    rel = poll(lambda: c.get_release(ds, "v1.0"), lambda x: x.status != "PENDING", timeout=20)
    assert rel.status == "SUCCEEDED", f"release build did not succeed: {rel.status}"
    c.delete_label(rose.uuid, "ground-truth")
    c.delete_sample(tulip.uuid)
    c.add_sample(scratch.full_name, "weed.png", image_attrs())
    c.delete_dataset(scratch.full_name)
    return {"main": ds, "scratch": scratch.full_name, "rose": rose.uuid, "issue": issue.uuid}


def outbox_since(server: Datahooks, mark: int, owner: str) -> list[dict[str, Any]]:
    """Outbox events `{seq, id, payload}` after `mark` for datasets owned by `owner`."""
    return [e for e in server.events(after=mark) if e["payload"]["dataset"].split("/")[0] == owner]


def wait_outbox(server: Datahooks, mark: int, owner: str, types: set[str], timeout: float = 10) -> list[dict[str, Any]]:
    """Polls the outbox (bounded) until every type in `types` was committed."""
    return poll(
        lambda: outbox_since(server, mark, owner),
        lambda evs: types <= {e["payload"]["event_type"] for e in evs},
        timeout=timeout,
    )


def check_delivery_envelope(d, secret_list: list[str]) -> None:
    """Headers and signatures of one delivery, as the issue specifies."""
    h = d.headers
    assert d.method == "POST", d.short()
    assert h.get("content-type", "").split(";")[0].strip() == "application/json", h
    assert USER_AGENT_RE.match(h.get("user-agent", "")), f"user-agent {h.get('user-agent')!r}"
    for k in ("id", "timestamp", "signature"):
        assert h.get(f"webhook-{k}") and h.get(f"webhook-{k}") == h.get(f"svix-{k}"), (
            f"webhook-{k} {h.get(f'webhook-{k}')!r} != svix-{k} {h.get(f'svix-{k}')!r}"
        )
    assert h["webhook-id"].startswith("msg_"), h["webhook-id"]
    ts = int(h["webhook-timestamp"])
    assert abs(ts - d.received_wall) < 10, f"timestamp {ts} vs now {d.received_wall}"
    sigs = h["webhook-signature"].split()
    assert sigs and all(SIGNATURE_RE.match(s) for s in sigs), sigs
    ok_svix, ok_std, errors = verify_delivery(d, secret_list)
    assert ok_svix and ok_std, errors


def expected_ids(evs: list[dict[str, Any]], pred=lambda p: True) -> dict[str, dict[str, Any]]:
    return {e["id"]: e["payload"] for e in evs if pred(e["payload"])}


def assert_received_exactly(rcv: Receiver, want: dict[str, dict[str, Any]], what: str) -> None:
    """Each expected message arrived exactly once with exactly the outbox payload, nothing else."""
    got = rcv.by_msg()
    missing = sorted(set(want) - set(got))
    extra = sorted(set(got) - set(want))
    assert not missing, f"{what}: {len(missing)} messages never arrived: " + ", ".join(
        f"{m} ({want[m]['event_type']} {want[m]['dataset']})" for m in missing
    )
    assert not extra, f"{what}: unexpected messages arrived: " + "; ".join(got[m][0].short() for m in extra)
    dups = {m: len(ds) for m, ds in got.items() if len(ds) > 1}
    assert not dups, f"{what}: messages delivered more than once to a 200-OK receiver: {dups}"
    for m, ds in got.items():
        body = ds[0].json
        assert body == want[m], f"{what}: payload of {m} differs from the outbox:\n got {body}\nwant {want[m]}"
        # The body is the compact JSON of the payload, field order as documented.
        assert list(body) == ["event_type", "created_at", "api_version", "dataset", "object", "text"], list(body)


# ---------------------------------------------------------------------------------------------
# Tests
# ---------------------------------------------------------------------------------------------


def test_all_event_types_reach_subscribed_endpoints_verified(
    server: Datahooks, owner: Account, webhooks, receivers
) -> None:
    hooks: Hooks = webhooks(owner)
    assert owner.client.get_user().webhooks_enabled is True

    every = receivers(name="every")
    only_two = receivers(name="only-two")
    one_ds = receivers(name="one-dataset")
    disabled = receivers(name="disabled")
    ep_all, _ = hooks.add_endpoint(every, description="everything")
    ep_two, _ = hooks.add_endpoint(only_two, event_types=["sample.created", "issue.updated"])
    ep_off, _ = hooks.add_endpoint(disabled, disabled=True)
    assert ep_all.event_types is None and ep_all.channels is None and ep_all.disabled is False
    assert sorted(ep_two.event_types) == ["issue.updated", "sample.created"]
    assert ep_off.disabled is True

    mark = server.last_seq()
    # The channel endpoint needs the dataset's name, so the main dataset is created first.
    c = owner.client
    pre = c.add_dataset(unique("chan"), task_type="vector", task_attributes=VECTOR_TASK_ATTRIBUTES)
    ep_one, _ = hooks.add_endpoint(one_ds, channels=[pre.full_name])
    assert ep_one.channels == [pre.full_name]
    s = c.add_sample(pre.full_name, "chan.png", image_attrs())
    c.update_sample(s.uuid, priority=5)
    produce_all_events(owner, server.base_url)

    evs = wait_outbox(server, mark, owner.username, set(ALL_EVENT_TYPES))
    types = {e["payload"]["event_type"] for e in evs}
    assert types == set(ALL_EVENT_TYPES), f"outbox lacks {set(ALL_EVENT_TYPES) - types}"

    want_all = expected_ids(evs)
    # Receivers subscribed after `pre` was created did not exist for its dataset.created.
    pre_created = [e["id"] for e in evs if e["payload"]["event_type"] == "dataset.created" and e["payload"]["dataset"] == pre.full_name]
    want_two = expected_ids(evs, lambda p: p["event_type"] in ("sample.created", "issue.updated"))
    want_one = {
        k: v for k, v in expected_ids(evs, lambda p: p["dataset"] == pre.full_name).items() if k not in pre_created
    }
    assert len(want_one) == 2 and len(want_two) >= 4

    every.wait_for(lambda ds: set(want_all) <= {d.msg_id for d in ds}, timeout=20)
    only_two.wait_for(lambda ds: set(want_two) <= {d.msg_id for d in ds}, timeout=10)
    one_ds.wait_for(lambda ds: set(want_one) <= {d.msg_id for d in ds}, timeout=10)
    every.quiet_for(0.5, timeout=5)

    assert_received_exactly(every, want_all, "endpoint with no filter")
    assert_received_exactly(only_two, want_two, "endpoint with eventTypes=[sample.created, issue.updated]")
    assert_received_exactly(one_ds, want_one, f"endpoint with channels=[{pre.full_name}]")
    assert disabled.deliveries == [], "a disabled endpoint received deliveries"

    for rcv in (every, only_two, one_ds):
        rcv.assert_all_verified()
        for d in rcv.deliveries:
            check_delivery_envelope(d, rcv.secrets)

    # Every event type arrived at the unfiltered endpoint.
    assert {d.event_type for d in every.deliveries} == set(ALL_EVENT_TYPES)
    # The message log agrees with the outbox, and the attempts are successes.
    for msg_id, payload in list(want_all.items())[:5]:
        m = hooks.svix.message.get(hooks.app_id, msg_id)
        assert m.id == msg_id and m.event_type == payload["event_type"] and m.payload == payload
    atts = hooks.wait_attempts(ep_all.id, len(want_all), timeout=5)
    assert len(atts) == len(want_all)
    assert all(a.response_status_code == 200 and int(a.status) == 0 for a in atts), [
        (a.response_status_code, a.status) for a in atts
    ]


def test_custom_headers_and_secret_rotation(server: Datahooks, owner: Account, webhooks, receivers, dataset) -> None:
    hooks: Hooks = webhooks(owner)
    rcv = receivers(name="rotating")
    ep, old_secret = hooks.add_endpoint(rcv, headers={"X-Team": "roses"})
    hooks.svix.endpoint.patch_headers(
        hooks.app_id, ep.id, EndpointHeadersPatchIn(headers={"Authorization": "Bearer s3cr3t"})
    )
    got = hooks.svix.endpoint.get_headers(hooks.app_id, ep.id)
    assert got.headers.get("x-team") == "roses"
    assert "authorization" in [s.lower() for s in got.sensitive]
    assert "s3cr3t" not in json.dumps(got.headers), got.headers

    owner.client.add_sample(dataset.full_name, "before.png", image_attrs())
    [d1] = rcv.wait_event("sample.created")
    assert d1.headers.get("x-team") == "roses" and d1.headers.get("authorization") == "Bearer s3cr3t", d1.headers
    assert len(d1.signatures()) == 1

    new_secret = hooks.svix.endpoint.rotate_secret(hooks.app_id, ep.id, EndpointSecretRotateIn()).key
    assert new_secret.startswith("whsec_") and new_secret != old_secret
    assert len(base64.b64decode(new_secret[len("whsec_"):])) >= 24
    assert hooks.svix.endpoint.get_secret(hooks.app_id, ep.id).key == new_secret
    rcv.add_secret(new_secret)

    owner.client.add_sample(dataset.full_name, "after.png", image_attrs())
    d2 = rcv.wait_count(2, where=lambda d: d.event_type == "sample.created")[-1]
    assert d2.json["object"]["name"] == "after.png"
    sigs = d2.signatures()
    assert len(sigs) == 2, f"during the grace period a delivery carries both signatures, got {sigs}"
    # Each key alone verifies it, with both libraries.
    for sec in (old_secret, new_secret):
        ok_svix, ok_std, errors = verify_delivery(d2, [sec])
        assert ok_svix and ok_std, (sec[:10], errors)
    # And the signature is HMAC-SHA256 over id.timestamp.body with the decoded key.
    signed = f"{d2.headers['webhook-id']}.{d2.headers['webhook-timestamp']}.".encode() + d2.body
    expect = {
        "v1," + base64.b64encode(hmac.new(base64.b64decode(s[6:]), signed, hashlib.sha256).digest()).decode()
        for s in (old_secret, new_secret)
    }
    assert set(sigs) == expect
    rcv.assert_all_verified()


def test_throttle_rate_is_enforced(server: Datahooks, owner: Account, webhooks, receivers) -> None:
    hooks: Hooks = webhooks(owner)
    rcv = receivers(name="throttled")
    ep, _ = hooks.add_endpoint(rcv, throttle_rate=4)
    assert ep.throttle_rate == 4
    for i in range(8):
        hooks.svix.message.create(hooks.app_id, MessageIn(event_type="custom.ping", payload={"i": i, "text": f"ping {i}"}))
    got = rcv.wait_count(8, timeout=15)
    assert len(got) == 8
    span = got[-1].received_at - got[0].received_at
    # 8 messages at 4/s: at least 7 gaps of 250 ms (some slack for timer granularity).
    assert span >= 1.4, f"8 messages at throttleRate=4 arrived within {span:.2f}s"
    rcv.assert_all_verified()


def test_slack_like_receiver_accepts_every_event_type(
    server: Datahooks, owner: Account, webhooks, receivers
) -> None:
    hooks: Hooks = webhooks(owner)
    slack = SlackLikeReceiver()
    try:
        ep, _ = hooks.add_endpoint(slack, description="Slack #labeling")
        mark = server.last_seq()
        produce_all_events(owner, server.base_url)
        evs = wait_outbox(server, mark, owner.username, set(ALL_EVENT_TYPES))
        want = expected_ids(evs)
        slack.wait_for(lambda ds: set(want) <= {d.msg_id for d in ds}, timeout=20)
        slack.quiet_for(0.3, timeout=3)
        rejected = [d for d in slack.deliveries if d.reply and d.reply.status != 200]
        assert not rejected, "Slack-like receiver rejected: " + "; ".join(
            f"{d.reply.body!r} for {d.short()}" for d in rejected
        )
        assert {d.event_type for d in slack.deliveries} == set(ALL_EVENT_TYPES)
        assert_received_exactly(slack, want, "slack-like endpoint")
        for d in slack.deliveries:
            text = d.json["text"]
            assert isinstance(text, str) and text.strip() and "\n" not in text
        slack.assert_all_verified()
        atts = hooks.wait_attempts(ep.id, len(want), timeout=5)
        failed = [a for a in atts if a.response_status_code != 200]
        assert not failed, [(a.msg_id, a.response_status_code, a.response) for a in failed]
        stats = hooks.svix.endpoint.get_stats(hooks.app_id, ep.id)
        assert stats.fail == 0 and stats.success == len(want), stats
    finally:
        slack.close()


def test_isolation_other_accounts_and_collaborators_receive_nothing(
    server: Datahooks, owner: Account, other: Account, make_account, webhooks, receivers
) -> None:
    collab = make_account("collab")
    h_owner = webhooks(owner)
    h_other = webhooks(other)
    h_collab = webhooks(collab)
    r_owner, r_other, r_collab = receivers(name="owner"), receivers(name="other"), receivers(name="collab")
    ep_owner, _ = h_owner.add_endpoint(r_owner)
    ep_other, _ = h_other.add_endpoint(r_other)
    ep_collab, _ = h_collab.add_endpoint(r_collab)

    c = owner.client
    ds = c.add_dataset(unique("shared"), task_type="vector", task_attributes=VECTOR_TASK_ATTRIBUTES).full_name
    c.add_dataset_collaborator(ds, collab.username, "admin")
    # The collaborator changes the owner's dataset: the events are the owner's.
    s = collab.client.add_sample(ds, "by-collab.png", image_attrs())
    collab.client.add_label(s.uuid, "ground-truth", vector_label((0, 0, 5, 5)))
    issue = collab.client.add_issue(s.uuid, "Collaborator's question")
    collab.client.update_issue(issue.uuid, status="CLOSED")
    collab.client.delete_sample(s.uuid)

    r_owner.wait_event("sample.deleted", timeout=15)
    r_owner.quiet_for(0.5, timeout=5)
    owner_types = [d.event_type for d in r_owner.deliveries]
    assert owner_types.count("sample.created") == 1 and "issue.created" in owner_types, owner_types
    assert all(d.json["dataset"] == ds for d in r_owner.deliveries)
    r_owner.assert_all_verified()
    assert r_other.deliveries == [], [d.short() for d in r_other.deliveries]
    assert r_collab.deliveries == [], [d.short() for d in r_collab.deliveries]
    assert h_collab.svix.message.list(h_collab.app_id).data == []
    assert h_other.svix.message.list(h_other.app_id).data == []

    # Another account cannot see the owner's application, endpoints, messages or attempts.
    msg_id = r_owner.deliveries[0].msg_id
    base = server.base_url + "/api/v1"
    for path in (
        f"/app/{h_owner.app_id}",
        f"/app/{owner.username}",
        f"/app/{h_owner.app_id}/endpoint",
        f"/app/{h_owner.app_id}/endpoint/{ep_owner.id}",
        f"/app/{h_owner.app_id}/endpoint/{ep_owner.id}/secret",
        f"/app/{h_owner.app_id}/endpoint/{ep_owner.id}/headers",
        f"/app/{h_owner.app_id}/endpoint/{ep_owner.id}/stats",
        f"/app/{h_owner.app_id}/msg",
        f"/app/{h_owner.app_id}/msg/{msg_id}",
        f"/app/{h_owner.app_id}/attempt/msg/{msg_id}",
        f"/app/{h_owner.app_id}/attempt/endpoint/{ep_owner.id}",
        # the owner's ids through the other's own application
        f"/app/{h_other.app_id}/endpoint/{ep_owner.id}",
        f"/app/{h_other.app_id}/endpoint/{ep_owner.id}/secret",
        f"/app/{h_other.app_id}/msg/{msg_id}",
        f"/app/{h_other.app_id}/attempt/msg/{msg_id}",
        f"/app/{h_other.app_id}/attempt/endpoint/{ep_owner.id}",
    ):
        for who in (other, collab):
            r = raw("GET", base + path, headers={"Authorization": f"Bearer {who.api_key}"})
            assert r.status_code == 404, f"GET {path} as {who.username}: {r.status_code} {r.text[:200]}"
            assert set(r.json()) >= {"code", "detail"}, r.text
    for method, path, body in (
        ("PATCH", f"/app/{h_owner.app_id}/endpoint/{ep_owner.id}", {"disabled": True}),
        ("DELETE", f"/app/{h_owner.app_id}/endpoint/{ep_owner.id}", None),
        ("DELETE", f"/app/{h_other.app_id}/endpoint/{ep_owner.id}", None),
        ("POST", f"/app/{h_owner.app_id}/endpoint", {"url": r_other.url}),
        ("POST", f"/app/{h_owner.app_id}/msg/{msg_id}/endpoint/{ep_owner.id}/resend", None),
        ("POST", f"/app/{h_other.app_id}/msg/{msg_id}/endpoint/{ep_other.id}/resend", None),
        ("DELETE", f"/app/{h_owner.app_id}", None),
    ):
        r = raw(method, base + path, json=body, headers={"Authorization": f"Bearer {other.api_key}"})
        assert r.status_code == 404, f"{method} {path} as other: {r.status_code} {r.text[:200]}"
    # Enabling webhooks for someone else's account is refused the same way.
    r = raw("POST", base + "/app", json={"name": owner.username, "uid": owner.username},
            headers={"Authorization": f"Bearer {other.api_key}"})
    assert r.status_code == 404, r.text
    assert [a.uid for a in h_other.svix.application.list().data] == [other.username]
    # The owner's setup is intact.
    assert h_owner.svix.endpoint.get(h_owner.app_id, ep_owner.id).disabled is False
    assert r_other.deliveries == [] and r_collab.deliveries == []


def test_background_tasks_are_private(server: Datahooks, owner: Account, other: Account, webhooks, receivers) -> None:
    from svix.api import RecoverIn
    from datetime import datetime, timedelta, timezone

    h_owner, h_other = webhooks(owner), webhooks(other)
    ep, _ = h_owner.add_endpoint(receivers())
    task = h_owner.svix.endpoint.recover(h_owner.app_id, ep.id, RecoverIn(since=datetime.now(timezone.utc) - timedelta(hours=1)))
    assert h_owner.svix.background_task.get(task.id).id == task.id
    problems = []
    r = raw("GET", f"{server.base_url}/api/v1/background-task/{task.id}", headers={"Authorization": f"Bearer {other.api_key}"})
    if r.status_code != 404:
        problems.append(f"GET /api/v1/background-task/{{id}} as another account: {r.status_code} {r.text[:200]}")
    listed = h_other.svix.background_task.list()
    if task.id in [t.id for t in listed.data]:
        problems.append("GET /api/v1/background-task as another account lists the owner's task")
    assert not problems, "background tasks leak across accounts:\n  " + "\n  ".join(problems)


def test_organization_webhooks_admins_only(
    server: Datahooks, owner: Account, make_account, receivers
) -> None:
    from receiver import enable_webhooks

    org = unique("org")
    server.create_org(org, owner.username)
    admin = make_account("orgadmin")
    member = make_account("orglabeler")
    server.add_member(org, admin.username, "admin")
    server.add_member(org, member.username, "labeler")

    # A labeler of the organization cannot enable or see its webhooks.
    r = raw("POST", f"{server.base_url}/api/v1/app", json={"name": org, "uid": org},
            headers={"Authorization": f"Bearer {member.api_key}"})
    assert r.status_code == 404, f"labeler enabling org webhooks: {r.status_code} {r.text[:200]}"
    hooks = enable_webhooks(server.base_url, org, admin.api_key)
    # Whoever may see the organization sees that its webhooks are on.
    assert owner.client.get_user(org).webhooks_enabled is True
    rcv = receivers(name="org")
    ep, _ = hooks.add_endpoint(rcv)
    r = raw("GET", f"{server.base_url}/api/v1/app/{org}/endpoint/{ep.id}", headers={"Authorization": f"Bearer {member.api_key}"})
    assert r.status_code == 404, r.text
    # The org's creator (its owner) manages it too.
    r = raw("GET", f"{server.base_url}/api/v1/app/{org}/endpoint/{ep.id}", headers={"Authorization": f"Bearer {owner.api_key}"})
    assert r.status_code == 200, f"the organization's owner cannot see its endpoint: {r.status_code} {r.text[:200]}"

    # Events of org datasets go to the org's endpoints (not to the acting user's).
    mine = receivers(name="admin-own")
    own_hooks = enable_webhooks(server.base_url, admin.username, admin.api_key)
    own_hooks.add_endpoint(mine)
    ds = admin.client.add_dataset(unique("orgds"), organization=org).full_name
    member_sample = admin.client.add_sample(ds, "o.png", image_attrs())
    got = rcv.wait_event("sample.created")
    assert got and got[0].json["dataset"] == ds and got[0].json["object"]["uuid"] == member_sample.uuid
    mine.quiet_for(0.3, timeout=2)
    assert mine.deliveries == [], "the acting admin's own endpoint got the organization's events"
    rcv.assert_all_verified()
