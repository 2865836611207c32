"""Svix parity through the real `svix` 2.9.1 client against the real binary: application
settings (PUT/PATCH with `name`, `throttleRate`, `metadata`), endpoint attempt stats over a
window, recover windows of at most 14 days, and `svix.ping` for send-example.

Runs on PostgreSQL too (`DATAHOOKS_E2E_BACKEND=postgres` under `scripts/with-postgres.sh`).
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import pytest
from e2e_helpers import raw
from receiver import svix_client
from svix.exceptions import HTTPValidationError


def test_application_settings_are_kept(server, owner, other):
    from svix.api import ApplicationIn, ApplicationPatch

    sv = svix_client(server.base_url, owner.api_key)
    # PUT on an account without webhooks enables them (Svix's upsert creates).
    app = sv.application.upsert(
        owner.username,
        ApplicationIn(name="Owner's hooks", uid=owner.username, throttle_rate=7, metadata={"team": "ml"}),
    )
    assert (app.uid, app.name, app.throttle_rate, app.metadata) == (owner.username, "Owner's hooks", 7, {"team": "ml"})
    got = sv.application.get(app.id)
    assert (got.name, got.throttle_rate, got.metadata) == ("Owner's hooks", 7, {"team": "ml"})

    # PATCH changes what it names and keeps the rest.
    p = sv.application.patch(owner.username, ApplicationPatch(metadata={"team": "cv", "tier": "gold"}))
    assert (p.name, p.throttle_rate, p.metadata) == ("Owner's hooks", 7, {"team": "cv", "tier": "gold"})
    assert p.updated_at >= got.updated_at
    p = sv.application.patch(app.id, ApplicationPatch(name="Renamed"))
    assert (p.name, p.throttle_rate, p.metadata["tier"]) == ("Renamed", 7, "gold")

    # PUT replaces: what it leaves out goes back to the default.
    put = sv.application.upsert(owner.username, ApplicationIn(name="Plain"))
    assert (put.name, put.throttle_rate, put.metadata) == ("Plain", None, {})
    listed = {a.uid: a for a in sv.application.list().data}
    assert listed[owner.username].name == "Plain"

    # Bad values are refused with 4xx and change nothing.
    url = f"{server.base_url}/api/v1/app/{owner.username}/"
    for body in ({"throttleRate": 0}, {"metadata": {"a": 1}}, {"name": ""}, {"uid": "someone-else"}):
        r = raw("PATCH", url, headers=owner.auth, json=body)
        assert 400 <= r.status_code < 500 and r.status_code != 404, (body, r.status_code, r.text)
        assert "detail" in r.json()
    assert sv.application.get(owner.username).name == "Plain"

    # Another user's application stays invisible.
    r = raw("PATCH", url, headers=other.auth, json={"name": "mine"})
    assert r.status_code == 404
    r = raw("PUT", url, headers=other.auth, json={"name": "mine"})
    assert r.status_code == 404

    # Disabling and creating again starts from the new body's settings.
    sv.application.delete(owner.username)
    again = sv.application.create(ApplicationIn(name="Fresh", uid=owner.username, metadata={"k": "v"}))
    assert (again.name, again.throttle_rate, again.metadata) == ("Fresh", None, {"k": "v"})


def _now() -> datetime:
    return datetime.now(timezone.utc)


def test_attempt_stats_count_a_window(server, owner, webhooks, receivers):
    from svix.api import EndpointGetAttemptStatsOptions, EventExampleIn
    from receiver import Reply

    hooks = webhooks(owner)
    sv, app = hooks.svix, hooks.app_id
    r = receivers(name="flaky")
    r.script(Reply(status=500))  # the first attempt fails, the retry (1 s later) succeeds
    ep, _ = hooks.add_endpoint(r)
    start = _now() - timedelta(seconds=1)
    empty = sv.endpoint.get_attempt_stats(app, ep.id)
    assert (empty.success, empty.fail, empty.canceled) == (0, 0, 0)

    sv.endpoint.send_example(app, ep.id, EventExampleIn(event_type="sample.created"))
    r.wait_count(2, timeout=20)
    # The attempt rows are written after the receiver answered; wait for both to be counted.
    for _ in range(100):
        s = sv.endpoint.get_attempt_stats(app, ep.id)
        if s.success + s.fail >= 2:
            break
        time.sleep(0.1)
    assert (s.success, s.fail, s.canceled) == (1, 1, 0), s

    # A window: one that holds the attempts counts them, one before them counts none.
    s = sv.endpoint.get_attempt_stats(app, ep.id, EndpointGetAttemptStatsOptions(since=start, until=_now() + timedelta(seconds=1)))
    assert (s.success, s.fail) == (1, 1)
    s = sv.endpoint.get_attempt_stats(
        app, ep.id, EndpointGetAttemptStatsOptions(since=start - timedelta(hours=2), until=start - timedelta(hours=1))
    )
    assert (s.success, s.fail) == (0, 0)

    # get_stats takes the same options and counts every message (the README says so).
    from svix.api import EndpointGetStatsOptions

    st = sv.endpoint.get_stats(app, ep.id, EndpointGetStatsOptions(since=start, until=_now()))
    assert (st.success, st.fail, st.pending) == (1, 0, 0), st

    # A reversed window is a 4xx.
    url = f"{server.base_url}/api/v1/app/{owner.username}/endpoint/{ep.id}/attempt-stats"
    r2 = raw("GET", url, headers=owner.auth, params={"since": _now().isoformat(), "until": start.isoformat()})
    assert r2.status_code in (400, 422), r2.text


def test_recover_window_is_at_most_14_days(server, owner, webhooks, receivers):
    from svix.api import RecoverIn

    hooks = webhooks(owner)
    sv, app = hooks.svix, hooks.app_id
    ep, _ = hooks.add_endpoint(receivers(name="rec"))
    # The client reads the 422 as Svix's validation error: `detail` is a list of {loc, msg, type}.
    with pytest.raises(HTTPValidationError) as info:
        sv.endpoint.recover(app, ep.id, RecoverIn(since=_now() - timedelta(days=15)))
    err = info.value
    assert err.status_code == 422 and err.detail[0].loc == ["body", "since"], err
    assert "14 days" in err.detail[0].msg, err
    url = f"{server.base_url}/api/v1/app/{owner.username}/endpoint/{ep.id}/recover"
    for body in (
        {"since": (_now() - timedelta(days=15)).isoformat()},
        {"since": (_now() - timedelta(days=40)).isoformat(), "until": (_now() - timedelta(days=20)).isoformat()},
    ):
        r = raw("POST", url, headers=owner.auth, json=body)
        assert r.status_code == 422 and "14 days" in r.json()["detail"][0]["msg"], r.text
    # 14 days (less a minute, for the clock) is accepted.
    task = sv.endpoint.recover(app, ep.id, RecoverIn(since=_now() - timedelta(days=14) + timedelta(minutes=1)))
    assert hooks.wait_task(task.id).status.value == "finished"


def test_send_example_ping(server, owner, webhooks, receivers):
    from svix.api import EventExampleIn

    hooks = webhooks(owner)
    sv, app = hooks.svix, hooks.app_id
    r = receivers(name="ping")
    # The endpoint's filter does not name svix.ping: a test event reaches it all the same.
    ep, _ = hooks.add_endpoint(r, filter_types=["sample.created"])
    msg = sv.endpoint.send_example(app, ep.id, EventExampleIn(event_type="svix.ping"))
    assert msg.event_type == "svix.ping" and msg.payload == {"type": "svix.ping", "data": {"success": True}}
    (d,) = r.wait_count(1)
    assert d.json == {"type": "svix.ping", "data": {"success": True}} and d.msg_id == msg.id
    r.assert_all_verified()
    assert sv.message.get(app, msg.id).event_type == "svix.ping"
