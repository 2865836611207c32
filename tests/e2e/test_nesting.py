"""Deeply nested input (issue 15, item 8), against the real binary: a body nested deeper than
the limit (64 levels) is refused with a 400 that names the limit and writes nothing, and what
is accepted, even at the limit, stays readable through every API: the sample, its event in
`datahooks events list`, and the message payload in the webhook API (never `null`)."""

from __future__ import annotations

from typing import Any

from e2e_helpers import raw, unique


def nested(levels: int) -> Any:
    value: Any = "bottom"
    for _ in range(levels):
        value = {"a": value}
    return value


def depth(v: Any) -> int:
    if isinstance(v, dict):
        return 1 + max((depth(x) for x in v.values()), default=0)
    if isinstance(v, list):
        return 1 + max((depth(x) for x in v), default=0)
    return 0


def test_too_deep_metadata_is_refused_and_accepted_metadata_is_readable(server, owner, webhooks, events) -> None:
    hooks = webhooks(owner)
    ds = owner.client.add_dataset(unique("deep"), task_type="vector")
    samples = f"{server.base_url}/datasets/{owner.username}/{ds.name}/samples/"
    mark = events.mark()

    for levels in (125, 200):
        r = raw("POST", samples, headers=owner.auth, json={"name": f"d{levels}.png", "attributes": {}, "metadata": nested(levels)})
        assert r.status_code == 400, (levels, r.status_code, r.text[:300])
        body = r.json()
        assert body["code"] == "too_deeply_nested", body
        assert "at most 64 levels" in body["detail"], body
    assert events.since(mark, owner=owner.username) == [], "a refused change wrote an event"
    assert raw("GET", samples, headers=owner.auth).json() == []

    # The deepest metadata a body may carry: the body itself is one level more.
    ok = raw("POST", samples, headers=owner.auth, json={"name": "ok.png", "attributes": {}, "metadata": nested(63)})
    assert ok.status_code in (200, 201), ok.text[:300]
    uuid = ok.json()["uuid"]
    r = raw("PATCH", f"{server.base_url}/samples/{uuid}/", headers=owner.auth, json={"metadata": nested(125)})
    assert r.status_code == 400 and r.json()["code"] == "too_deeply_nested", r.text[:300]

    got = raw("GET", f"{server.base_url}/samples/{uuid}/", headers=owner.auth).json()
    assert depth(got["metadata"]) == 63
    (created,) = events.since(mark, dataset=f"{owner.username}/{ds.name}")
    assert depth(created) > 63

    msgs = raw("GET", f"{server.base_url}/api/v1/app/{hooks.app_id}/msg/", headers=hooks.auth).json()["data"]
    assert msgs, "no message for the accepted change"
    for m in msgs:
        assert m["payload"] is not None, m
    assert any(depth(m["payload"]) > 63 for m in msgs)
