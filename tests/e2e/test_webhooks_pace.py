"""The pace of deliveries per endpoint, against the real binary with fragile receivers on
loopback, under the default retry schedule (as a new user has it: 5 s, 5 min, …, and a 60 s
floor after a 429):

- a single-threaded `http.server` with a listen backlog of 5 gets every event of a burst,
  with few failed attempts;
- a receiver allowing 20 requests/s (429 + `Retry-After: 1` beyond) gets every event without
  any of them waiting a retry interval (60 s after a 429), and the refusals are few and logged
  as "throttled by receiver"; the stats API shows the rate learned from them;
- a 429 with `Retry-After` pauses the whole endpoint (the stats API says paused until when);
  the held messages are deferred, not failed: they arrive after the pause with one attempt;
- a dead endpoint gets a handful of attempts, not one per message, and when it comes back
  the held messages drain.

No wall-clock speed assertions: every wait is generous, and assertions are about completeness
and counts. Run on PostgreSQL with DATAHOOKS_E2E_BACKEND=postgres under with-postgres.sh.
"""

from __future__ import annotations

import collections
import json
import socket
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, HTTPServer, ThreadingHTTPServer
from typing import Any, Callable, Optional

from e2e_helpers import VECTOR_TASK_ATTRIBUTES, Datahooks, image_attrs, poll, unique
from receiver import Hooks, Reply, enable_webhooks, free_port

#: Less than the 60 s a 429 costs an event under the default schedule without the pace.
ARRIVAL_WAIT = 50.0


class Recorder:
    """Distinct `webhook-id`s a receiver accepted, and how many requests it refused."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.ids: set[str] = set()
        self.accepted = 0
        self.refused = 0
        self.first_at: Optional[float] = None
        self.types: collections.Counter[str] = collections.Counter()

    def accept(self, msg_id: str, event_type: str = "") -> None:
        with self.lock:
            if msg_id not in self.ids:
                self.types[event_type] += 1
            self.ids.add(msg_id)
            self.accepted += 1
            if self.first_at is None:
                self.first_at = time.monotonic()

    def distinct(self) -> int:
        with self.lock:
            return len(self.ids)


def handler(rec: Recorder, decide: Callable[[], tuple[int, dict[str, str]]], http11: bool) -> type:
    class H(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1" if http11 else "HTTP/1.0"

        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            n = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(n)
            status, headers = decide()
            if status == 200:
                try:
                    event_type = json.loads(body).get("event_type", "")
                except ValueError:
                    event_type = "?"
                rec.accept(self.headers.get("webhook-id", ""), event_type)
            else:
                with rec.lock:
                    rec.refused += 1
            body = b"ok" if status == 200 else b"rate_limited"
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return H


class Serving:
    """Runs an HTTPServer on a thread; `close()` stops it."""

    def __init__(self, server: HTTPServer) -> None:
        self.server = server
        self.port = server.server_address[1]
        self.thread = threading.Thread(target=server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def single_threaded(rec: Recorder, port: int = 0) -> Serving:
    """Python's plain `http.server`: one request at a time, listen backlog 5, HTTP/1.0."""

    class Plain(HTTPServer):
        request_queue_size = 5
        allow_reuse_address = True

        def handle_error(self, request: Any, client_address: Any) -> None:
            pass

    return Serving(Plain(("127.0.0.1", port), handler(rec, lambda: (200, {}), http11=False)))


def rate_limited(rec: Recorder, per_second: int) -> Serving:
    """At most `per_second` accepted requests in any 1-second window; 429 + Retry-After: 1."""
    window: collections.deque[float] = collections.deque()
    lock = threading.Lock()

    def decide() -> tuple[int, dict[str, str]]:
        with lock:
            now = time.monotonic()
            while window and now - window[0] >= 1.0:
                window.popleft()
            if len(window) < per_second:
                window.append(now)
                return 200, {}
            return 429, {"Retry-After": "1"}

    class Threads(ThreadingHTTPServer):
        daemon_threads = True
        request_queue_size = 256
        allow_reuse_address = True

        def handle_error(self, request: Any, client_address: Any) -> None:
            pass

    return Serving(Threads(("127.0.0.1", 0), handler(rec, decide, http11=True)))


def default_schedule_server(make_server: Callable[..., Datahooks]) -> Datahooks:
    return make_server(retry_schedule=None)


def account_hooks(srv: Datahooks) -> tuple[Any, Hooks]:
    name = unique("pace")
    key = srv.create_user(name, email=f"{name}@example.com")
    return srv.client(key), enable_webhooks(srv.base_url, name, key)


def burst_of_samples(client: Any, n: int) -> str:
    """A dataset and `n` samples added in one bulk call: `n` `sample.created` events at once."""
    ds = client.add_dataset(unique("burst"), task_type="vector", task_attributes=VECTOR_TASK_ATTRIBUTES).full_name
    client.add_samples(ds, [{"name": f"s{i}.png", "attributes": image_attrs()} for i in range(n)])
    return ds


def stats(hooks: Hooks, ep_id: str) -> dict[str, Any]:
    req = urllib.request.Request(
        f"{hooks.base_url}/api/v1/app/{hooks.app_id}/endpoint/{ep_id}/stats", headers=hooks.auth
    )
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


def endpoint_page(hooks: Hooks, ep_id: str) -> str:
    """The endpoint's web page, signed in with the account's API key."""
    import http.client
    import urllib.parse

    host = hooks.base_url.split("://", 1)[1]
    conn = http.client.HTTPConnection(host, timeout=10)
    conn.request(
        "POST",
        "/ui/login",
        body=urllib.parse.urlencode({"api_key": hooks.api_key}),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    r = conn.getresponse()
    r.read()
    cookie = (r.getheader("Set-Cookie") or "").split(";", 1)[0]
    assert cookie, f"no session cookie after signing in ({r.status})"
    conn.request("GET", f"/ui/accounts/{hooks.account}/endpoints/{ep_id}", headers={"Cookie": cookie})
    r = conn.getresponse()
    page = r.read().decode()
    assert r.status == 200, (r.status, page[:300])
    return page


def metric(srv: Datahooks, name: str) -> float:
    with urllib.request.urlopen(f"{srv.base_url}/metrics", timeout=10) as r:
        for line in r.read().decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[-1])
    return 0.0


def sample_events(hooks: Hooks, ep_id: str) -> tuple[list[Any], list[Any]]:
    """(successful, failed) attempts of `sample.created` messages at the endpoint."""
    atts = hooks.attempts_by_endpoint(ep_id)
    ok = [a for a in atts if int(a.status) == 0]
    failed = [a for a in atts if int(a.status) != 0]
    return ok, failed


def test_a_single_threaded_receiver_with_a_small_backlog_gets_a_whole_burst(make_server) -> None:
    srv = default_schedule_server(make_server)
    client, hooks = account_hooks(srv)
    rec = Recorder()
    rx = single_threaded(rec)
    try:
        ep, _ = hooks.add_endpoint(url=rx.url, event_types=["sample.created"])
        n = 300
        burst_of_samples(client, n)
        got = poll(rec.distinct, lambda k: k >= n, timeout=ARRIVAL_WAIT)
        assert got == n, f"{got} of {n} events arrived at a single-threaded receiver: {rec.types}"
        ok, failed = sample_events(hooks, ep.id)
        assert len(ok) >= n
        # Without the pace, 64 concurrent connections overflow the backlog: hundreds fail.
        assert len(failed) <= n // 20, f"{len(failed)} failed attempts for {n} events"
        s = stats(hooks, ep.id)
        assert s["success"] == n and s["pending"] == 0, s
        assert s["pace"]["state"] == "open" and s["pace"]["limit"] >= 1, s
    finally:
        rx.close()


def test_a_rate_limited_receiver_gets_every_event_without_waiting_a_retry_interval(make_server) -> None:
    srv = default_schedule_server(make_server)
    client, hooks = account_hooks(srv)
    rec = Recorder()
    rx = rate_limited(rec, 20)
    try:
        ep, _ = hooks.add_endpoint(url=rx.url, event_types=["sample.created"])
        n = 300
        burst_of_samples(client, n)
        # 300 at 20/s is 15 s of the receiver's time. A 429 would cost an event at least 60 s
        # under the default schedule; every event arriving within 50 s shows none waited it.
        got = poll(rec.distinct, lambda k: k >= n, timeout=ARRIVAL_WAIT)
        assert got == n, f"{got} of {n} events arrived at a 20/s receiver within {ARRIVAL_WAIT} s"
        ok, failed = sample_events(hooks, ep.id)
        assert len(failed) == rec.refused, (len(failed), rec.refused)
        assert rec.refused <= n // 10, f"{rec.refused} requests refused with 429 for {n} events"
        for a in failed:
            assert a.response_status_code == 429 and "throttled by receiver" in a.response, a
        s = stats(hooks, ep.id)
        assert s["success"] == n and s["pending"] == 0 and s["fail"] == 0, s
        pace = s["pace"]
        if rec.refused >= 2:
            # Two refusals measure what the receiver took between them: a rate near 20/s.
            assert pace["rateCap"] is not None and 5 <= pace["rateCap"] <= 40, pace
        assert pace["state"] in ("open", "paused") and pace["limit"] >= 1, pace
    finally:
        rx.close()


def test_a_429_with_retry_after_pauses_the_endpoint_and_defers_its_messages(make_server) -> None:
    srv = default_schedule_server(make_server)
    client, hooks = account_hooks(srv)
    rec = Recorder()
    lock = threading.Lock()
    refusing_until: list[float] = []

    def decide() -> tuple[int, dict[str, str]]:
        # Refuses everything for 6 s from the first request, asking for a 6 s pause.
        with lock:
            now = time.monotonic()
            if not refusing_until:
                refusing_until.append(now + 6.0)
            if now < refusing_until[0]:
                return 429, {"Retry-After": "6"}
        return 200, {}

    class Threads(ThreadingHTTPServer):
        daemon_threads = True
        allow_reuse_address = True

    rx = Serving(Threads(("127.0.0.1", 0), handler(rec, decide, http11=True)))
    try:
        ep, _ = hooks.add_endpoint(url=rx.url, event_types=["sample.created"])
        deferred_before = metric(srv, 'datahooks_deliveries_deferred_total{reason="paused"}')
        n = 30
        burst_of_samples(client, n)
        poll(lambda: bool(refusing_until), bool, timeout=15)
        s = poll(lambda: stats(hooks, ep.id), lambda s: s["pace"]["state"] == "paused", timeout=5)
        assert s["pace"]["state"] == "paused" and s["pace"]["until"], s
        assert s["fail"] == 0, s
        page = endpoint_page(hooks, ep.id)
        assert 'data-state="paused"' in page and "paused by the receiver until" in page, page
        got = poll(rec.distinct, lambda k: k >= n, timeout=ARRIVAL_WAIT)
        assert got == n, f"{got} of {n} arrived after the pause"
        # Nothing was accepted during the pause (the receiver refused it all), and the pause
        # was obeyed: only the sends already in flight when it began were refused. (An
        # attempt is recorded just after its answer arrives: wait for the log to catch up.)
        ok, failed = poll(
            lambda: sample_events(hooks, ep.id), lambda r: len(r[0]) >= n, timeout=10
        )
        assert 1 <= len(failed) == rec.refused <= 4, (len(failed), rec.refused)
        for a in failed:
            assert a.response_status_code == 429 and "throttled by receiver" in a.response, a
        # Every message arrived once; the held ones on their first attempt (deferred, not failed).
        assert len(ok) == n and len({a.msg_id for a in ok}) == n
        per_msg = collections.Counter(a.msg_id for a in failed)
        assert all(k == 1 for k in per_msg.values()), per_msg
        assert metric(srv, 'datahooks_deliveries_deferred_total{reason="paused"}') > deferred_before
        s = stats(hooks, ep.id)
        assert s["pace"]["state"] == "open" and s["success"] == n and s["fail"] == 0, s
    finally:
        rx.close()


def test_a_dead_endpoint_is_probed_not_hammered_and_drains_when_back(make_server) -> None:
    srv = default_schedule_server(make_server)
    client, hooks = account_hooks(srv)
    port = free_port()
    ep, _ = hooks.add_endpoint(url=f"http://127.0.0.1:{port}/hook", event_types=["sample.created"])
    n = 40
    burst_of_samples(client, n)
    # Connections are refused: after a few, the endpoint counts as down.
    s = poll(lambda: stats(hooks, ep.id), lambda s: s["pace"]["state"] in ("down", "probing"), timeout=20)
    assert s["pace"]["state"] in ("down", "probing"), s
    early = hooks.attempts_by_endpoint(ep.id)
    assert 1 <= len(early) <= 12, f"{len(early)} attempts at a dead endpoint for {n} messages"
    rec = Recorder()
    rx = single_threaded(rec, port)
    try:
        # The probe comes on the retry schedule (5 s ± 20 % after the failure that made it
        # down); then every held message drains.
        got = poll(rec.distinct, lambda k: k >= n, timeout=ARRIVAL_WAIT)
        assert got == n, f"{got} of {n} arrived after the endpoint came back"
        atts = hooks.attempts_by_endpoint(ep.id)
        failed = [a for a in atts if int(a.status) != 0]
        assert len(failed) <= 12, f"{len(failed)} failed attempts for {n} messages to a dead endpoint"
        s = poll(lambda: stats(hooks, ep.id), lambda s: s["pace"]["state"] == "open", timeout=10)
        assert s["pace"]["state"] == "open" and s["success"] == n and s["fail"] == 0, s
    finally:
        rx.close()
