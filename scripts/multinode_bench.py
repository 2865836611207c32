"""Delivered events per second with 1, 2 and 3 nodes on one PostgreSQL database.

Run inside a PostgreSQL cluster, e.g.:
    bash scripts/with-postgres.sh .venv/bin/python scripts/multinode_bench.py --events 5000

For each node count it starts that many `datahooks serve` nodes (release binary by default) on
a fresh database with one shared secret key, enables webhooks, points one endpoint at a
loopback receiver answering 204, sends the events through node 1's Svix-style message API at
concurrency 32, and reports delivered events/s from the first send until the receiver holds
every message id. Everything runs on this machine; traffic stays on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
import tempfile

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "e2e"))

import requests  # noqa: E402
from e2e_helpers import Datahooks, fresh_pg_database  # noqa: E402


class Sink:
    """A loopback receiver answering 204 that records message ids."""

    def __init__(self) -> None:
        self.ids: set[str] = set()
        self.count = 0
        self.lock = threading.Lock()
        sink = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):  # noqa: D401
                pass

            def do_POST(self):  # noqa: N802
                n = int(self.headers.get("content-length", "0"))
                self.rfile.read(n)
                with sink.lock:
                    sink.ids.add(self.headers.get("webhook-id", ""))
                    sink.count += 1
                self.send_response(204)
                self.send_header("content-length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def run(nodes: int, events: int, binary: Path) -> dict:
    db = fresh_pg_database()
    key = secrets.token_hex(32)
    servers = []
    for i in range(nodes):
        s = Datahooks(binary=binary, data_dir=Path(tempfile.mkdtemp(prefix=f"mn{i}-")), database_url=db,
                      extra_args=["--secret-key", key])
        s.start()
        servers.append(s)
    try:
        api = servers[0]
        token = api.create_user("bench")
        auth = {"Authorization": f"Bearer {token}"}
        requests.post(f"{api.base_url}/api/v1/app", json={"uid": "bench", "name": "bench"}, headers=auth, timeout=30).raise_for_status()
        sink = Sink()
        requests.post(f"{api.base_url}/api/v1/app/bench/endpoint", json={"url": sink.url}, headers=auth, timeout=30).raise_for_status()
        session = threading.local()

        def send(i: int) -> str:
            sess = getattr(session, "s", None) or requests.Session()
            session.s = sess
            r = sess.post(f"{api.base_url}/api/v1/app/bench/msg", json={"eventType": "bench.event", "payload": {"i": i}}, headers=auth, timeout=60)
            r.raise_for_status()
            return r.json()["id"]

        t0 = time.monotonic()
        with ThreadPoolExecutor(32) as pool:
            want = set(pool.map(send, range(events)))
        sent_s = time.monotonic() - t0
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            with sink.lock:
                if want <= sink.ids:
                    break
            time.sleep(0.01)
        took = time.monotonic() - t0
        with sink.lock:
            delivered = len(want & sink.ids)
            dups = sink.count - len(sink.ids)
        sink.server.shutdown()
        return {"nodes": nodes, "events": events, "delivered": delivered, "duplicates": dups,
                "accepted_per_s": round(events / sent_s), "delivered_per_s": round(delivered / took)}
    finally:
        for s in servers:
            try:
                s.stop()
            except RuntimeError:
                pass


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--events", type=int, default=5000)
    p.add_argument("--binary", type=Path, default=Path(__file__).resolve().parents[1] / "target" / "release" / "datahooks")
    a = p.parse_args()
    for n in (1, 2, 3):
        print(json.dumps(run(n, a.events, a.binary)), flush=True)


if __name__ == "__main__":
    main()
