"""Browser end-to-end tests of the web pages (`/ui/`), in headless Chromium.

The tests themselves are JavaScript (`tests/browser/*.test.mjs`, node's built-in test runner,
Playwright through the `playwright-core` npm package driving Debian's `/usr/bin/chromium`).
This module is their launcher: it uses the session `server` (the real binary on a loopback
port) and starts a small *control* HTTP server on 127.0.0.1 through which the JavaScript side

    POST /users              {"name"?: str, "prefix"?: str}   -> {"username", "api_key"}
                             creates a user with `datahooks user create`
    POST /receivers          {"name"?: str}                   -> {"id", "url"}
                             starts a loopback webhook receiver (receiver.Receiver)
    POST /receivers/ID/reply {"status": int, "body"?: str}
                             what the receiver answers from now on (e.g. 500, then 200)
    GET  /receivers/ID/deliveries[?secret=whsec_…]
                             what it received: [{method, path, headers, body, event_type,
                             msg_id, status, verified_svix, verified_std, errors}], each
                             verified with BOTH the svix and the standardwebhooks libraries
                             against `secret` alone when it is given (null otherwise)

then runs `node --test` on the JavaScript files with DATAHOOKS_URL, DATAHOOKS_CONTROL_URL,
DATAHOOKS_ARTIFACTS and DATAHOOKS_DOCS in the environment, and passes when node does.

Screenshots land in `artifacts/screenshots/` (one per test, `<test>.png`), the README's in
`docs/screenshot-manage-webhooks.png`, and node's output in `artifacts/browser-tests.log`.

`tests/browser/node_modules` is installed with `npm ci` from the committed lock file when it
is missing (the npm registry only: `playwright-core` brings no browser, Chromium is Debian's).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import parse_qs, urlparse

import pytest
from e2e_helpers import REPO_ROOT, Datahooks, unique
from receiver import Receiver, Reply, verify_delivery

BROWSER_DIR = REPO_ROOT / "tests" / "browser"
ARTIFACTS = REPO_ROOT / "artifacts"
DOCS = REPO_ROOT / "docs"
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
NODE_TIMEOUT = 600.0


class Control:
    """What the browser tests may ask of the Python side (see the module docstring)."""

    def __init__(self, server: Datahooks) -> None:
        self.server = server
        self.receivers: dict[str, Receiver] = {}
        self.lock = threading.Lock()
        ctl = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, status: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _body(self) -> dict[str, Any]:
                n = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(n) if n else b""
                return json.loads(raw) if raw.strip() else {}

            def do_GET(self) -> None:
                try:
                    status, body = ctl.get(self.path)
                except Exception as e:  # the JS side shows it
                    status, body = 500, {"error": f"{type(e).__name__}: {e}"}
                self._send(status, body)

            def do_POST(self) -> None:
                try:
                    status, body = ctl.post(self.path, self._body())
                except Exception as e:
                    status, body = 500, {"error": f"{type(e).__name__}: {e}"}
                self._send(status, body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="browser-control", daemon=True)
        self.thread.start()

    def receiver(self, rid: str) -> Receiver:
        with self.lock:
            r = self.receivers.get(rid)
        if r is None:
            raise KeyError(f"no receiver {rid!r}")
        return r

    def get(self, path: str) -> tuple[int, Any]:
        u = urlparse(path)
        parts = [p for p in u.path.split("/") if p]
        if parts == ["health"]:
            return 200, {"ok": True}
        if len(parts) == 3 and parts[0] == "receivers" and parts[2] == "deliveries":
            r = self.receiver(parts[1])
            secret = (parse_qs(u.query).get("secret") or [None])[0]
            out = []
            for d in r.deliveries:
                ok_svix = ok_std = None
                errors: list[str] = []
                if secret:
                    ok_svix, ok_std, errors = verify_delivery(d, [secret])
                out.append(
                    {
                        "method": d.method,
                        "path": d.path,
                        "headers": d.headers,
                        "body": d.body.decode("utf-8", "replace"),
                        "event_type": d.event_type,
                        "msg_id": d.msg_id,
                        "status": d.reply.status if d.reply else None,
                        "verified_svix": ok_svix,
                        "verified_std": ok_std,
                        "errors": errors,
                    }
                )
            return 200, out
        return 404, {"error": f"no GET {u.path}"}

    def post(self, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        parts = [p for p in urlparse(path).path.split("/") if p]
        if parts == ["users"]:
            name = body.get("name") or unique(body.get("prefix") or "web")
            key = self.server.create_user(name, email=f"{name}@example.com")
            return 200, {"username": name, "api_key": key}
        if parts == ["receivers"]:
            r = Receiver(name=body.get("name") or "browser")
            rid = f"r{r.port}"
            with self.lock:
                self.receivers[rid] = r
            return 200, {"id": rid, "url": r.url}
        if len(parts) == 3 and parts[0] == "receivers" and parts[2] == "reply":
            r = self.receiver(parts[1])
            r.default = Reply(int(body.get("status", 200)), str(body.get("body", "ok")).encode())
            return 200, {"ok": True}
        return 404, {"error": f"no POST {'/'.join(parts)}"}

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        with self.lock:
            rs = list(self.receivers.values())
        for r in rs:
            r.close()


@pytest.fixture
def control(server: Datahooks) -> Iterator[Control]:
    c = Control(server)
    try:
        yield c
    finally:
        c.close()


def ensure_node_modules() -> None:
    if (BROWSER_DIR / "node_modules" / "playwright-core" / "package.json").exists():
        return
    npm = shutil.which("npm")
    assert npm, "npm is needed for the browser tests (Debian: apt-get install nodejs npm)"
    cp = subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=BROWSER_DIR,
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )
    assert cp.returncode == 0, f"npm ci in {BROWSER_DIR} failed:\n{cp.stdout}\n{cp.stderr}"


def run_node_test(srv: Datahooks, script: str, **extra_env: str) -> None:
    """Runs one browser test file (`tests/browser/<script>.mjs`) against `srv` with its own
    control server, `extra_env` added to the environment; its output goes to
    `artifacts/browser-<script>.log`. Passes when node does."""
    node = shutil.which("node")
    assert node, "node is needed for the browser tests (Debian: apt-get install nodejs)"
    assert Path(CHROMIUM).exists(), f"Chromium not found at {CHROMIUM}"
    ensure_node_modules()
    control = Control(srv)
    (ARTIFACTS / "screenshots").mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.update(
        DATAHOOKS_URL=srv.base_url,
        DATAHOOKS_CONTROL_URL=control.url,
        DATAHOOKS_ARTIFACTS=str(ARTIFACTS),
        DATAHOOKS_DOCS=str(DOCS),
        CHROMIUM_PATH=CHROMIUM,
        **extra_env,
    )
    cmd = [node, "--test", "--test-reporter=spec", str(BROWSER_DIR / f"{script}.mjs")]
    try:
        cp = subprocess.run(
            cmd, cwd=REPO_ROOT, env=env, capture_output=True, text=True,
            timeout=NODE_TIMEOUT, stdin=subprocess.DEVNULL,
        )
    finally:
        control.close()
    out = cp.stdout + cp.stderr
    (ARTIFACTS / f"browser-{script}.log").write_text(out)
    assert cp.returncode == 0, (
        f"`{' '.join(cmd)}` exited {cp.returncode}\n{out[-20000:]}\n"
        f"server stderr (tail):\n{srv.stderr_tail()}"
    )


def test_browser_pages(server: Datahooks, control: Control) -> None:
    node = shutil.which("node")
    assert node, "node is needed for the browser tests (Debian: apt-get install nodejs)"
    assert Path(CHROMIUM).exists(), f"Chromium not found at {CHROMIUM} (Debian: apt-get install chromium)"
    ensure_node_modules()
    files = sorted(str(p) for p in BROWSER_DIR.glob("*.test.mjs"))
    assert files, f"no *.test.mjs in {BROWSER_DIR}"
    (ARTIFACTS / "screenshots").mkdir(parents=True, exist_ok=True)
    DOCS.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.update(
        DATAHOOKS_URL=server.base_url,
        DATAHOOKS_CONTROL_URL=control.url,
        DATAHOOKS_ARTIFACTS=str(ARTIFACTS),
        DATAHOOKS_DOCS=str(DOCS),
        CHROMIUM_PATH=CHROMIUM,
    )
    cmd = [node, "--test", "--test-reporter=spec", *files]
    try:
        cp = subprocess.run(
            cmd,
            cwd=REPO_ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=NODE_TIMEOUT,
            stdin=subprocess.DEVNULL,
        )
        out, rc = cp.stdout + cp.stderr, cp.returncode
    except subprocess.TimeoutExpired as e:
        def text(b: Any) -> str:
            return b.decode("utf-8", "replace") if isinstance(b, bytes) else (b or "")

        out, rc = text(e.stdout) + text(e.stderr) + f"\n(timed out after {NODE_TIMEOUT:.0f}s)", -1
    (ARTIFACTS / "browser-tests.log").write_text(out)
    print(out)
    assert rc == 0, (
        f"`{' '.join(cmd)}` exited {rc}\n{out[-20000:]}\n"
        f"server stderr (tail):\n{server.stderr_tail()}"
    )
