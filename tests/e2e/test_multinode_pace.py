"""The learned concurrency limit belongs to the endpoint, not to each node (issue 9), on
PostgreSQL with three nodes (run with DATAHOOKS_E2E_BACKEND=postgres; skipped on SQLite).

A slow but healthy receiver (150 ms per request, any number at once) counts the requests it
is serving at once. Each node's pace grows towards `--endpoint-concurrency` (6 here); before
the node registry every node did so alone, and three nodes put up to 18 requests at once on
the receiver. Now each node sends only its share of the limit among the live worker nodes
(2 + 2 + 2), so the receiver never sees more than 6.

Slack: a node that joins is seen by the others at their next heartbeat (2 s); until then the
shares can add up to more than the limit. The test waits until every node's `/metrics` counts
three live nodes before sending, so it allows no slack at all.
"""

from __future__ import annotations

import os
import secrets
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests
from e2e_helpers import Datahooks, default_binary, fresh_pg_database, unique
from receiver import enable_webhooks

pytestmark = pytest.mark.skipif(
    os.environ.get("DATAHOOKS_E2E_BACKEND") != "postgres", reason="several nodes need the PostgreSQL backend"
)

LIMIT = 6
NODES = 3
MESSAGES = 240
SERVICE_SECS = 0.15


class CountingReceiver:
    """Answers 204 after SERVICE_SECS; records the most requests it served at once."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.now = 0
        self.peak = 0
        self.ids: set[str] = set()
        rcv = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                with rcv.lock:
                    rcv.now += 1
                    rcv.peak = max(rcv.peak, rcv.now)
                try:
                    self.rfile.read(int(self.headers.get("Content-Length", "0")))
                    time.sleep(SERVICE_SECS)
                finally:
                    with rcv.lock:
                        rcv.now -= 1
                        rcv.ids.add(self.headers.get("webhook-id", ""))
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            request_queue_size = 256

        self.server = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _live_nodes(node: Datahooks) -> int:
    text = requests.get(f"{node.base_url}/metrics", timeout=10).text
    for line in text.splitlines():
        if line.startswith("datahooks_worker_nodes_live "):
            return int(float(line.split()[1]))
    return 0


def test_three_nodes_share_the_endpoints_limit(tmp_path_factory) -> None:
    db = fresh_pg_database()
    key = secrets.token_hex(32)
    nodes: list[Datahooks] = []
    rcv = CountingReceiver()
    try:
        for i in range(NODES):
            node = Datahooks(
                binary=default_binary(),
                data_dir=tmp_path_factory.mktemp(f"pace-node{i}"),
                database_url=db,
                extra_args=["--secret-key", key, "--endpoint-concurrency", str(LIMIT)],
            )
            node.start()
            nodes.append(node)
        deadline = time.monotonic() + 30
        while any(_live_nodes(n) != NODES for n in nodes):
            assert time.monotonic() < deadline, [_live_nodes(n) for n in nodes]
            time.sleep(0.2)

        name = unique("pace3")
        api_key = nodes[0].create_user(name, email=f"{name}@example.com")
        hooks = enable_webhooks(nodes[0].base_url, name, api_key)
        hooks.add_endpoint(url=rcv.url)

        # Every node takes messages, so every node's worker delivers (its own commits are
        # handed to it) and the shared queue is claimed by all three.
        def send(i: int) -> str:
            node = nodes[i % NODES]
            r = requests.post(
                f"{node.base_url}/api/v1/app/{name}/msg",
                json={"eventType": "burst.event", "payload": {"i": i}},
                headers={"Authorization": f"Bearer {api_key}"},
                timeout=30,
            )
            assert r.status_code == 202, r.text
            return r.json()["id"]

        with ThreadPoolExecutor(12) as pool:
            want = set(pool.map(send, range(MESSAGES)))
        deadline = time.monotonic() + 120
        while True:
            with rcv.lock:
                got = set(rcv.ids)
            if want <= got:
                break
            assert time.monotonic() < deadline, f"{len(want - got)} of {MESSAGES} never arrived"
            time.sleep(0.2)
        print(f"\nthree nodes, endpoint limit {LIMIT}: most requests at once at the receiver {rcv.peak}")
        assert rcv.peak <= LIMIT, f"the receiver saw {rcv.peak} requests at once; the endpoint's limit is {LIMIT}"
        # The limit was reached, not just respected by a trickle: every node sent its share.
        assert rcv.peak >= NODES, rcv.peak
    finally:
        for n in nodes:
            try:
                n.stop()
            except RuntimeError:
                pass
        rcv.close()
