"""Receivers that fail on purpose: 500, timeout, connection reset, 429 with Retry-After, 410,
redirects. The session server runs with `--retry-schedule 1s,1s,2s`: 4 attempts at about
0, 1, 2 and 4 s (each delay ±20 %), no 60 s floor after 429/timeouts for a custom schedule;
a 429 pauses the endpoint for its Retry-After (at least 1 s). Manual resends and recovers run once.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

from e2e_helpers import VECTOR_TASK_ATTRIBUTES, Account, Datahooks, image_attrs, poll, raw, unique
from receiver import Hooks, Reply, enable_webhooks
from svix.api import EndpointPatch, RecoverIn, ReplayIn

RESPONSE_CAP = 20_000


def now() -> datetime:
    return datetime.now(timezone.utc)


def gaps(deliveries: list) -> list[float]:
    t = [d.received_at for d in deliveries]
    return [round(b - a, 3) for a, b in zip(t, t[1:])]


def new_dataset(acc: Account) -> str:
    return acc.client.add_dataset(unique("fail"), task_type="vector", task_attributes=VECTOR_TASK_ATTRIBUTES).full_name


def msg_status(hooks: Hooks, msg_id: str, ep_id: str) -> int:
    for e in hooks.svix.message_attempt.list_attempted_destinations(hooks.app_id, msg_id).data:
        if e.id == ep_id:
            return int(e.status)
    return -1


def wait_msg_status(hooks: Hooks, msg_id: str, ep_id: str, status: int, timeout: float = 10) -> int:
    return poll(lambda: msg_status(hooks, msg_id, ep_id), lambda s: s == status, timeout=timeout)


def test_500_retries_on_schedule_then_resend_and_recover(
    server: Datahooks, owner: Account, webhooks, receivers
) -> None:
    hooks: Hooks = webhooks(owner)
    big = b"boom" + b"x" * 30_000
    rcv = receivers(Reply(500, big), name="500")
    ep, _ = hooks.add_endpoint(rcv)
    ds = new_dataset(owner)  # dataset.created: message A
    owner.client.add_sample(ds, "b.png", image_attrs())  # sample.created: message B

    rcv.wait_count(8, timeout=12)
    by = rcv.by_msg()
    assert len(by) == 2, f"expected 2 messages, got {list(by)}"
    msg_a = next(m for m, ds_ in by.items() if ds_[0].event_type == "dataset.created")
    msg_b = next(m for m, ds_ in by.items() if ds_[0].event_type == "sample.created")
    for m, ds_ in by.items():
        assert len(ds_) == 4, f"{m}: {len(ds_)} attempts, expected 4 (1 + 3 retries): {gaps(ds_)}"
        g = gaps(ds_)
        # 1s, 1s, 2s with ±20 % jitter (upper bounds leave room for a loaded machine)
        assert 0.75 <= g[0] <= 2.0 and 0.75 <= g[1] <= 2.0 and 1.55 <= g[2] <= 3.4, f"{m}: gaps {g}"
        assert len({d.body for d in ds_}) == 1, "the body changed between retries"
        assert len({d.headers["webhook-id"] for d in ds_}) == 1
        ts = [int(d.headers["webhook-timestamp"]) for d in ds_]
        assert ts == sorted(ts) and ts[-1] - ts[0] >= 2, f"each attempt is signed at its own time: {ts}"
    rcv.assert_all_verified()
    # No fifth attempt.
    rcv.quiet_for(1.5, timeout=4)
    assert len(rcv.deliveries) == 8, f"more than 4 attempts per message: {len(rcv.deliveries)}"

    # The attempts are logged with status code and (capped) response body.
    atts = hooks.wait_attempts(ep.id, 8, timeout=5)
    assert len(atts) == 8
    for a in atts:
        assert a.response_status_code == 500 and int(a.status) == 2 and a.status_text.value == "fail"
        assert int(a.trigger_type) == 0 and a.endpoint_id == ep.id and a.url == rcv.url
        assert a.response.startswith("boom") and len(a.response.encode()) == RESPONSE_CAP, len(a.response)
    assert wait_msg_status(hooks, msg_a, ep.id, 2) == 2 and wait_msg_status(hooks, msg_b, ep.id, 2) == 2
    stats = hooks.svix.endpoint.get_stats(hooks.app_id, ep.id)
    assert stats.fail == 2 and stats.success == 0 and stats.pending == 0, stats
    failed_only = hooks.attempts_by_endpoint(ep.id, status=2)
    assert len(failed_only) == 8

    # The receiver is fixed: resend A (once, manual), then recover the rest (B only).
    rcv.default = Reply(200, b"thanks")
    hooks.svix.message_attempt.resend(hooks.app_id, msg_a, ep.id)
    rcv.wait_count(5, where=lambda d: d.msg_id == msg_a, timeout=5)
    assert wait_msg_status(hooks, msg_a, ep.id, 0) == 0
    task = hooks.svix.endpoint.recover(hooks.app_id, ep.id, RecoverIn(since=now() - timedelta(minutes=5)))
    assert task.task.value == "endpoint.recover"
    done = hooks.wait_task(task.id)
    assert done.status.value == "finished" and done.data.get("messagesSent") == 1, done
    rcv.wait_count(5, where=lambda d: d.msg_id == msg_b, timeout=5)
    rcv.quiet_for(1.2, timeout=4)
    counts = {m: len(v) for m, v in rcv.by_msg().items()}
    assert counts == {msg_a: 5, msg_b: 5}, counts
    rcv.assert_all_verified()
    manual = [a for a in hooks.wait_attempts(ep.id, 10, timeout=5) if int(a.trigger_type) == 1]
    assert len(manual) == 2 and all(a.response_status_code == 200 and a.response == "thanks" for a in manual)
    assert wait_msg_status(hooks, msg_b, ep.id, 0) == 0
    # Recovering again finds nothing.
    again = hooks.wait_task(hooks.svix.endpoint.recover(hooks.app_id, ep.id, RecoverIn(since=now() - timedelta(minutes=5))).id)
    assert again.data.get("messagesSent") == 0
    # Stats count messages by their state at the endpoint: both are delivered now.
    stats = hooks.svix.endpoint.get_stats(hooks.app_id, ep.id)
    assert (stats.success, stats.fail, stats.pending, stats.sending) == (2, 0, 0, 0), (
        f"after resend/recover succeeded, stats still count the failed deliveries: {stats}"
    )


def test_manual_resend_runs_once(server: Datahooks, owner: Account, webhooks, receivers) -> None:
    hooks: Hooks = webhooks(owner)
    rcv = receivers(Reply(503, b"down"), name="503")
    ep, _ = hooks.add_endpoint(rcv)
    new_dataset(owner)
    rcv.wait_count(4, timeout=10)
    msg = rcv.deliveries[0].msg_id
    rcv.quiet_for(1.0, timeout=4)
    n = len(rcv.deliveries)
    hooks.svix.message_attempt.resend(hooks.app_id, msg, ep.id)
    rcv.wait_count(n + 1, timeout=5)
    rcv.quiet_for(2.0, timeout=5)  # a retry would come after ~1 s
    assert len(rcv.deliveries) == n + 1, f"a failed manual resend was retried: {len(rcv.deliveries) - n} attempts"
    manual = [a for a in hooks.attempts_by_msg(msg) if int(a.trigger_type) == 1]
    assert len(manual) == 1 and manual[0].response_status_code == 503


def test_connection_reset_then_resend(server: Datahooks, owner: Account, webhooks, receivers) -> None:
    hooks: Hooks = webhooks(owner)
    rcv = receivers(Reply(reset=True), name="reset")
    healthy = receivers(name="healthy")
    ep, _ = hooks.add_endpoint(rcv)
    hooks.add_endpoint(healthy)
    new_dataset(owner)
    healthy.wait_count(1, timeout=5)
    got = rcv.wait_count(4, timeout=12)
    assert len(got) == 4, f"{len(got)} attempts after connection resets, expected 4"
    g = gaps(got)
    assert 0.75 <= g[0] <= 2.0 and 0.75 <= g[1] <= 2.0 and 1.55 <= g[2] <= 3.4, g
    rcv.assert_all_verified()
    msg = got[0].msg_id
    atts = hooks.wait_attempts(ep.id, 4, timeout=5)
    assert len(atts) == 4
    for a in atts:
        assert a.response_status_code == 0 and int(a.status) == 2, (a.response_status_code, a.status)
        assert a.response.strip(), "a failed attempt without a response should say why"
    assert wait_msg_status(hooks, msg, ep.id, 2) == 2
    rcv.default = Reply(204, b"")
    hooks.svix.message_attempt.resend(hooks.app_id, msg, ep.id)
    rcv.wait_count(5, timeout=5)
    assert wait_msg_status(hooks, msg, ep.id, 0) == 0
    last = hooks.attempts_by_msg(msg, endpoint_id=ep.id)[-1]
    assert last.response_status_code == 204 and int(last.trigger_type) == 1


def test_429_retry_after_pauses_the_endpoint_for_that_long(server: Datahooks, owner: Account, webhooks, receivers) -> None:
    hooks: Hooks = webhooks(owner)
    rcv = receivers(name="429")
    # The receiver's word counts (see test_webhooks_pace.py): Retry-After 3 s pauses the
    # endpoint 3 s, beyond the schedule's 1 s; 0 s is raised to the least pause, 1 s.
    rcv.script(Reply(429, b"slow down", retry_after="3"), Reply(429, b"slow down", retry_after="0"))
    ep, _ = hooks.add_endpoint(rcv)
    new_dataset(owner)
    got = rcv.wait_count(3, timeout=12)
    assert len(got) == 3
    g = gaps(got)
    assert 2.95 <= g[0] <= 4.5, f"Retry-After 3 should pause the endpoint 3 s, waited {g[0]}"
    assert 0.95 <= g[1] <= 2.0, f"Retry-After 0 should pause the endpoint 1 s, waited {g[1]}"
    rcv.assert_all_verified()
    msg = got[0].msg_id
    atts = hooks.wait_attempts(ep.id, 3, timeout=5)
    assert [a.response_status_code for a in atts] == [429, 429, 200]
    assert atts[0].response.startswith("throttled by receiver") and atts[0].response.endswith("slow down")
    assert wait_msg_status(hooks, msg, ep.id, 0) == 0
    rcv.quiet_for(1.2, timeout=3)
    assert len(rcv.deliveries) == 3


def test_429_without_retry_after_has_no_60s_floor(server: Datahooks, owner: Account, webhooks, receivers) -> None:
    hooks: Hooks = webhooks(owner)
    rcv = receivers(name="429-plain")
    rcv.script(Reply(429, b"busy"))
    ep, _ = hooks.add_endpoint(rcv)
    new_dataset(owner)
    got = rcv.wait_count(2, timeout=6)
    assert len(got) == 2, "no retry within 6 s of a 429 under a 1 s schedule"
    assert 0.75 <= gaps(got)[0] <= 2.0, gaps(got)


def test_timeout_is_a_failed_attempt_and_does_not_block_others(
    make_server, receivers
) -> None:
    # Generous margins: the test proves isolation (the healthy endpoint is not held up by the
    # slow one's 4 s timeouts), not speed, and must hold on a loaded 2-core machine.
    srv: Datahooks = make_server(extra_args=["--request-timeout", "4"])
    name = unique("slow")
    key = srv.create_user(name, email=f"{name}@example.com")
    hooks = enable_webhooks(srv.base_url, name, key)
    slow = receivers(Reply(200, b"too late", delay=6), name="slow")
    fast = receivers(name="fast")
    ep, _ = hooks.add_endpoint(slow)
    hooks.add_endpoint(fast)
    client = srv.client(key)
    try:
        t0 = time.monotonic()
        ds = client.add_dataset(unique("t"), task_type="vector", task_attributes=VECTOR_TASK_ATTRIBUTES).full_name
        [f] = fast.wait_count(1, timeout=5)
        assert f.received_at - t0 < 3.0, "the healthy endpoint waited for the slow one"
        for i in range(3):
            t1 = time.monotonic()
            client.add_sample(ds, f"s{i}.png", image_attrs())
            fast.wait_count(2 + i, timeout=5)
            assert time.monotonic() - t1 < 3.0, "the healthy endpoint waited for the slow one"
        # The pace cuts a timing-out endpoint to one delivery in flight, so its four messages'
        # 4 s attempts take turns: wait long enough for that on a loaded machine.
        got = slow.wait_count(4, where=lambda d: d.event_type == "dataset.created", timeout=120)
        assert len(got) == 4, f"{len(got)} attempts at a receiver that times out"
        g = gaps(got)
        # each attempt waits the 4 s timeout, then the schedule's delay (no 60 s floor); the
        # endpoint's pace cuts its concurrency on timeouts, so a retry may also wait for the
        # other messages' attempts to time out (a slot), hence only a loose upper bound
        assert 4.6 <= g[0] and 4.6 <= g[1] and 5.4 <= g[2] and max(g) <= 60, g
        slow.assert_all_verified()
        msg = got[0].msg_id
        atts = poll(lambda: hooks.attempts_by_msg(msg, endpoint_id=ep.id), lambda a: len(a) >= 4, timeout=5)
        assert len(atts) == 4
        for a in atts:
            assert a.response_status_code == 0 and int(a.status) == 2
            assert 3800 <= a.response_duration_ms <= 5500, a.response_duration_ms
            assert "time" in a.response.lower(), f"timeout attempt response {a.response!r}"
        slow.default = Reply(200, b"ok")
        hooks.svix.message_attempt.resend(hooks.app_id, msg, ep.id)
        slow.wait_count(5, where=lambda d: d.msg_id == msg, timeout=5)
        assert wait_msg_status(hooks, msg, ep.id, 0) == 0
    finally:
        client.close()


def test_410_disables_the_endpoint_and_recover_after_reenable(
    server: Datahooks, owner: Account, webhooks, receivers
) -> None:
    hooks: Hooks = webhooks(owner)
    rcv = receivers(Reply(410, b"gone for good"), name="410")
    ep, _ = hooks.add_endpoint(rcv)
    since = now() - timedelta(minutes=1)
    ds = new_dataset(owner)
    [first] = rcv.wait_count(1, timeout=5)
    ep_now = poll(lambda: hooks.svix.endpoint.get(hooks.app_id, ep.id), lambda e: e.disabled, timeout=5)
    assert ep_now.disabled is True, "410 Gone did not disable the endpoint"
    r = raw("GET", f"{server.base_url}/api/v1/app/{hooks.app_id}/endpoint/{ep.id}", headers=hooks.auth)
    assert r.json().get("disabledReason") == "gone", r.json()
    rcv.quiet_for(2.0, timeout=4)
    assert len(rcv.deliveries) == 1, "a 410 was retried"
    [att] = hooks.wait_attempts(ep.id, 1)
    assert att.response_status_code == 410 and att.response == "gone for good" and int(att.status) == 2

    # While disabled: messages are kept, nothing is sent.
    owner.client.add_sample(ds, "while-off.png", image_attrs())
    rcv.quiet_for(1.0, timeout=3)
    assert len(rcv.deliveries) == 1, "a disabled endpoint received a delivery"

    # Re-enable, fixed: recover the failed one, replay the one never sent.
    rcv.default = Reply(200, b"back")
    ep_on = hooks.svix.endpoint.patch(hooks.app_id, ep.id, EndpointPatch(disabled=False))
    assert ep_on.disabled is False
    r = raw("GET", f"{server.base_url}/api/v1/app/{hooks.app_id}/endpoint/{ep.id}", headers=hooks.auth)
    assert r.json().get("disabledReason") in (None, ""), r.json()
    rec = hooks.wait_task(hooks.svix.endpoint.recover(hooks.app_id, ep.id, RecoverIn(since=since)).id)
    assert rec.data.get("messagesSent") == 1, rec
    rcv.wait_count(2, timeout=5)
    assert rcv.deliveries[1].msg_id == first.msg_id
    rep = hooks.wait_task(hooks.svix.endpoint.replay_missing(hooks.app_id, ep.id, ReplayIn(since=since)).id)
    assert rep.data.get("messagesSent") == 1, rep
    got = rcv.wait_count(3, timeout=5)
    assert got[2].event_type == "sample.created" and got[2].json["object"]["name"] == "while-off.png"
    # And new events flow again.
    owner.client.add_sample(ds, "after.png", image_attrs())
    rcv.wait_count(4, timeout=5)
    rcv.assert_all_verified()


def test_redirect_is_a_failure_and_not_followed(server: Datahooks, owner: Account, webhooks, receivers) -> None:
    hooks: Hooks = webhooks(owner)
    target = receivers(name="target")
    rcv = receivers(Reply(307, b"moved", headers={"Location": target.url}), name="redirect")
    ep, _ = hooks.add_endpoint(rcv)
    new_dataset(owner)
    rcv.wait_count(2, timeout=5)
    [att, *_] = hooks.wait_attempts(ep.id, 1)
    assert att.response_status_code == 307 and int(att.status) == 2
    assert target.deliveries == [], "the redirect was followed"
