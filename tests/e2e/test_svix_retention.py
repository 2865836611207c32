"""Retention through the real binary and the real `svix` 2.9.1 client: the background sweep of
`serve --retention` deletes finished messages (their attempts too) and never one with a
delivery still to make; `payloadRetentionPeriod` expunges a payload once its days are over
(driven by the hidden `datahooks retention sweep --now …`, not by waiting days); bad flags are
refused at start.

Runs on PostgreSQL too (`DATAHOOKS_E2E_BACKEND=postgres` under `scripts/with-postgres.sh`).
"""

from __future__ import annotations

import json
import subprocess
from datetime import datetime, timedelta, timezone

from e2e_helpers import default_binary, poll, raw, unique
from receiver import Reply, enable_webhooks
from svix.exceptions import HttpError


def _account(srv):
    name = unique("ret")
    key = srv.create_user(name, email=f"{name}@example.com")
    return name, key, enable_webhooks(srv.base_url, name, key)


def _msg(sv, app, payload, **kw):
    from svix.api import MessageIn

    return sv.message.create(app, MessageIn(event_type="ret.test", payload=payload, **kw))


def _pending_at(hooks, receivers, m_payload):
    """A message whose delivery waits (pending): its endpoint (the only one yet) failed once
    and is disabled, so later messages are not queued for it."""
    from svix.api import EndpointPatch

    rcv = receivers(name="pending")
    rcv.script(Reply(500, b"later"))
    ep, _ = hooks.add_endpoint(rcv)
    from svix.api import MessageIn

    m = hooks.svix.message.create(hooks.app_id, MessageIn(event_type="ret.test", payload=m_payload))
    rcv.wait_count(1)
    hooks.wait_attempts(ep.id, 1)
    hooks.svix.endpoint.patch(hooks.app_id, ep.id, EndpointPatch(disabled=True))
    return m, ep


def _exists(hooks, msg_id) -> bool:
    r = raw("GET", f"{hooks.base_url}/api/v1/app/{hooks.app_id}/msg/{msg_id}", headers=hooks.auth)
    assert r.status_code in (200, 404), r.text
    return r.status_code == 200


def test_background_sweep_deletes_finished_messages_only(make_server, receivers):
    srv = make_server(extra_args=["--retention", "2s", "--retention-sweep-interval", "1s"])
    _, _, hooks = _account(srv)
    sv, app = hooks.svix, hooks.app_id
    waiting, _ = _pending_at(hooks, receivers, {"n": 0})
    ok = receivers(name="ok")
    ep, _ = hooks.add_endpoint(ok)
    done = _msg(sv, app, {"n": 1})
    ok.wait_count(1)
    [att] = hooks.wait_attempts(ep.id, 1)
    assert att.msg_id == done.id

    # Within a few sweeps the delivered message and its attempt are gone...
    assert poll(lambda: _exists(hooks, done.id), until=lambda e: not e, timeout=15) is False
    assert hooks.attempts_by_endpoint(ep.id) == []
    # ...while the one still to deliver stays, with its pending delivery.
    assert _exists(hooks, waiting.id)
    states = [int(d.status) for d in sv.message_attempt.list_attempted_destinations(app, waiting.id).data]
    assert states == [1], states


def test_payload_retention_and_manual_sweep(make_server, receivers):
    srv = make_server(extra_args=["--retention-sweep-interval", "1h"])
    _, _, hooks = _account(srv)
    sv, app = hooks.svix, hooks.app_id
    waiting, _ = _pending_at(hooks, receivers, {"n": 0})
    ok = receivers(name="ok")
    ep, _ = hooks.add_endpoint(ok)
    short = _msg(sv, app, {"secret": "s1"}, payload_retention_period=1)
    long = _msg(sv, app, {"secret": "s30"}, payload_retention_period=30)
    plain = _msg(sv, app, {"secret": "plain"})
    ok.wait_count(3)
    # An attempt is recorded just after the endpoint's answer: wait for the three records,
    # or a sweep may find a delivery still in flight (and expunging a payload cancels it).
    hooks.wait_attempts(ep.id, 3)

    def sweep(retention: str, days: float) -> dict:
        now = (datetime.now(timezone.utc) + timedelta(days=days)).isoformat()
        out = srv.cli("retention", "sweep", "--retention", retention, "--now", now).stdout
        return json.loads(out.strip().splitlines()[-1])

    # Now: nothing is due.
    assert sweep("off", 0) == {"payloadsExpired": 0, "messages": 0, "attempts": 0, "events": 0, "idempotency": 0}
    # Two days on (retention off): only the 1-day payload is expunged; the message stays.
    r = sweep("off", 2)
    assert (r["payloadsExpired"], r["messages"]) == (1, 0), r
    assert sv.message.get(app, short.id).payload == {"expired": True}
    assert sv.message.get(app, long.id).payload == {"secret": "s30"}
    assert sv.message.get(app, plain.id).payload == {"secret": "plain"}
    # Forty days on with 90 days of retention: the 30-day payload goes too, nothing is deleted.
    r = sweep("90d", 40)
    assert (r["payloadsExpired"], r["messages"]) == (1, 0), r
    assert sv.message.get(app, long.id).payload == {"expired": True}
    # A hundred days on: the finished messages are deleted, the waiting one is not.
    r = sweep("90d", 100)
    assert r["messages"] >= 3 and r["attempts"] >= 3, r
    for m in (short, long, plain):
        assert not _exists(hooks, m.id), m.id
    assert _exists(hooks, waiting.id)
    try:
        sv.message.get(app, plain.id)
        raise AssertionError("a deleted message was found")
    except HttpError as e:
        assert e.status_code == 404


def test_bad_retention_flags_are_refused(tmp_path):
    for flag, value in (("--retention", "9x"), ("--retention-sweep-interval", "0")):
        cp = subprocess.run(
            [str(default_binary()), "serve", "--listen", "127.0.0.1:0", "--data-dir", str(tmp_path), flag, value],
            capture_output=True,
            text=True,
            timeout=60,
            stdin=subprocess.DEVNULL,
        )
        assert cp.returncode != 0 and flag in cp.stderr, (flag, cp.returncode, cp.stderr[-500:])
