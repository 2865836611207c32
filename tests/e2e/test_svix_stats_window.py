"""An endpoint's `get_stats` over a window (`since`, `until`) through the real `svix` 2.9.1
client: it counts the messages created in the window by their state at the endpoint; without
a window, all of them. (The client's `application` family has no `get_stats`.)

Runs on PostgreSQL too (`DATAHOOKS_E2E_BACKEND=postgres` under `scripts/with-postgres.sh`).
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import requests
from receiver import Reply


def test_get_stats_counts_a_window(owner, webhooks, receivers):
    from svix.api import EndpointGetStatsOptions, MessageIn

    hooks = webhooks(owner)
    rcv = receivers(name="stats")
    ep, _ = hooks.add_endpoint(rcv)

    def send(n: int, text: str) -> None:
        for i in range(n):
            hooks.svix.message.create(hooks.app_id, MessageIn(event_type="stats.ping", payload={"text": f"{text} {i}"}))

    send(2, "early")
    rcv.wait_count(2)
    time.sleep(0.3)
    middle = datetime.now(timezone.utc)
    time.sleep(0.3)
    # A later message the receiver refuses every time: it ends `fail` once the test server's
    # retry schedule (1s,1s,2s) runs out.
    rcv.default = Reply(status=500, body=b"no")
    send(1, "late")

    def stats(**window):
        return hooks.svix.endpoint.get_stats(hooks.app_id, ep.id, EndpointGetStatsOptions(**window))

    deadline = time.monotonic() + 20
    while stats(since=middle).fail != 1 and time.monotonic() < deadline:
        time.sleep(0.2)
    everything, late, early = stats(), stats(since=middle), stats(until=middle)
    assert (everything.success, everything.fail) == (2, 1), everything
    assert (late.success, late.fail, late.pending) == (0, 1, 0), late
    assert (early.success, early.fail) == (2, 0), early
    past = stats(since=middle - timedelta(days=30), until=middle - timedelta(days=29))
    assert (past.success, past.fail, past.pending, past.sending) == (0, 0, 0, 0)

    # A window that ends before it starts is refused.
    r = requests.get(
        f"{hooks.base_url}/api/v1/app/{hooks.app_id}/endpoint/{ep.id}/stats",
        params={"since": middle.isoformat(), "until": (middle - timedelta(seconds=1)).isoformat()},
        headers=hooks.auth,
        timeout=10,
    )
    assert r.status_code == 400, r.text
