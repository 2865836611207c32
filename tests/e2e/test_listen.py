"""`datahooks listen` against the real binary, and the event stream it reads.

- The CLI prints the `whsec_…` secret it signs with; a loopback receiver (`receiver.Receiver`,
  an `http.server`) verifies every forwarded event with `standardwebhooks` (and `svix`) using
  that secret alone, and refuses anything unverified.
- A change made with the segments-ai SDK arrives, the CLI prints one line with the local
  answer, and the message log (the real `svix` client) shows it as an attempt of the
  account's listen endpoint with that status code.
- `--events` and `--dataset` filter.
- The stream itself (`GET /api/v1/app/{app}/stream`, consumed directly) resumes after
  `Last-Event-ID` with exactly what was missed.
- A dropped connection (a loopback TCP proxy between the CLI and the server is cut and
  refuses connections for a while): the CLI reconnects with `Last-Event-ID` and forwards the
  events made meanwhile, each once.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import threading
import time
from typing import Any, Callable, Iterator, Optional

import pytest
import requests

from e2e_helpers import Account, Datahooks, default_binary, image_attrs, unique
from receiver import Receiver, Reply, enable_webhooks

SECRET_RE = re.compile(r"^Signing secret: (whsec_[A-Za-z0-9+/=]+)$")


class Listen:
    """A running `datahooks listen`, its stdout and stderr read line by line."""

    def __init__(self, server: str, api_key: str, forward_to: str, *extra: str, key_in_env: bool = True) -> None:
        cmd = [str(default_binary()), "listen", "--server", server, "--forward-to", forward_to, *extra]
        env = {k: v for k, v in os.environ.items() if not k.startswith("DATAHOOKS_")}
        if key_in_env:
            env["DATAHOOKS_API_KEY"] = api_key
        else:
            cmd += ["--api-key", api_key]
        self.out: list[str] = []
        self.err: list[str] = []
        self._cond = threading.Condition()
        self.proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
            text=True, bufsize=1, env=env,
        )
        for stream, sink in ((self.proc.stdout, self.out), (self.proc.stderr, self.err)):
            threading.Thread(target=self._pump, args=(stream, sink), daemon=True).start()

    def _pump(self, stream: Any, sink: list[str]) -> None:
        for line in stream:
            with self._cond:
                sink.append(line.rstrip("\n"))
                self._cond.notify_all()

    def wait_line(self, pattern: str, timeout: float = 20.0, stderr: bool = False) -> re.Match[str]:
        rx = re.compile(pattern)
        sink = self.err if stderr else self.out
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for line in sink:
                    m = rx.search(line)
                    if m:
                        return m
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None and not left:
                    raise AssertionError(
                        f"no line matching {pattern!r} within {timeout}s\nstdout:\n"
                        + "\n".join(self.out) + "\nstderr:\n" + "\n".join(self.err)
                    )
                self._cond.wait(min(left, 0.2))

    def secret(self) -> str:
        return self.wait_line(SECRET_RE.pattern).group(1)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return self.proc.returncode


@pytest.fixture
def listens() -> Iterator[Callable[..., Listen]]:
    made: list[Listen] = []

    def make(*args: Any, **kwargs: Any) -> Listen:
        cli = Listen(*args, **kwargs)
        made.append(cli)
        return cli

    yield make
    for cli in made:
        cli.stop()


def test_listen_forwards_signed_events_and_the_log_shows_them(
    server: Datahooks, owner: Account, webhooks: Callable[..., Any], receivers: Callable[..., Receiver],
    listens: Callable[..., Listen], make_dataset: Callable[..., Any],
) -> None:
    hooks = webhooks(owner)
    rcv = receivers(reject_unverified=True)
    cli = listens(server.base_url, owner.api_key, rcv.url, key_in_env=False)
    secret = cli.secret()
    rcv.add_secret(secret)
    assert cli.proc.poll() is None

    ds = make_dataset()
    sample = owner.client.add_sample(ds.full_name, "rose.png", image_attrs())
    got = rcv.wait_event("sample.created", dataset=ds.full_name)
    assert got, f"nothing forwarded; stdout: {cli.out} stderr: {cli.err}"
    d = got[0]
    assert d.verified_std is True and d.verified_svix is True, d.verify_errors
    assert d.json["object"]["uuid"] == sample.uuid
    assert d.reply is not None and d.reply.status == 200
    # One line per event with the local answer and its time.
    line = cli.wait_line(rf"^\d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d  sample\.created  {d.msg_id}  -> 200 OK \(\d+ ms\)$")
    assert line
    cli.wait_line(r"  dataset\.created  msg_\w+  -> 200 OK")

    # The message log: one attempt of the listen endpoint, with the local URL and answer.
    deadline = time.monotonic() + 10
    while True:
        atts = hooks.attempts_by_msg(d.msg_id)
        if atts or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert len(atts) == 1, atts
    a = atts[0]
    assert a.url == rcv.url and a.response_status_code == 200
    assert getattr(a.status, "value", a.status) == 0
    ep = hooks.svix.endpoint.get(hooks.app_id, a.endpoint_id)
    assert ep.uid == "datahooks-listen" and ep.disabled is True
    # The same secret the CLI printed (so a receiver can be configured with it).
    assert hooks.svix.endpoint.get_secret(hooks.app_id, ep.id).key == secret

    # Its page says what it is, and will not enable it (the server never sends to it).
    web = requests.Session()
    assert web.post(f"{server.base_url}/ui/login", data={"api_key": owner.api_key}, timeout=10).ok
    page_url = f"{server.base_url}/ui/accounts/{owner.username}/endpoints/{ep.id}"
    page = web.get(page_url, timeout=10)
    assert "datahooks listen: forwarded by the CLI" in page.text
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    refused = web.post(page_url, data={"csrf": csrf, "action": "toggle"}, timeout=10)
    assert refused.status_code == 400 and "stays disabled" in refused.text
    assert hooks.svix.endpoint.get(hooks.app_id, ep.id).disabled is True

    # A receiver that answers 500: the line and the log say so.
    rcv.default = Reply(status=500, body=b"boom")
    owner.client.add_sample(ds.full_name, "tulip.png", image_attrs())
    failed = cli.wait_line(r"  sample\.created  (msg_\w+)  -> 500 Internal Server Error \(\d+ ms\)$")
    deadline = time.monotonic() + 10
    while not (atts := hooks.attempts_by_msg(failed.group(1))) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert [(x.response_status_code, x.response) for x in atts] == [(500, "boom")]
    assert cli.stop() == 0


def test_listen_filters_by_event_type_and_dataset(
    server: Datahooks, owner: Account, webhooks: Callable[..., Any], receivers: Callable[..., Receiver],
    listens: Callable[..., Listen], make_dataset: Callable[..., Any],
) -> None:
    webhooks(owner)
    everything = receivers(reject_unverified=True)
    only = receivers(reject_unverified=True)
    wanted = make_dataset()
    all_cli = listens(server.base_url, owner.api_key, everything.url)
    some_cli = listens(
        server.base_url, owner.api_key, only.url,
        "--events", "sample.created,label.updated", "--dataset", wanted.full_name,
    )
    everything.add_secret(all_cli.secret())
    only.add_secret(some_cli.secret())

    other = make_dataset()
    owner.client.add_sample(other.full_name, "a.png", image_attrs())
    owner.client.add_sample(wanted.full_name, "b.png", image_attrs())
    owner.client.update_dataset(wanted.full_name, description="changed")
    owner.client.add_sample(wanted.full_name, "c.png", image_attrs())
    everything.wait_count(5)
    got = only.wait_count(2)
    only.quiet_for(1.0)
    assert [(x.event_type, x.json["object"]["name"]) for x in only.deliveries] == [
        ("sample.created", "b.png"), ("sample.created", "c.png")
    ], [x.short() for x in only.deliveries]
    assert all(x.verified_std for x in got)
    assert sorted(x.event_type for x in everything.deliveries) == sorted(
        ["dataset.created", "sample.created", "sample.created", "dataset.updated", "sample.created"]
    )


class Sse:
    """Reads Server-Sent Events off a streaming response, one line iterator for its life
    (byte by byte: a buffered read would wait for bytes a quiet stream does not send)."""

    def __init__(self, resp: requests.Response) -> None:
        self.resp = resp
        self.lines = resp.iter_lines(chunk_size=1, decode_unicode=True)

    def events(self, n: int) -> list[dict[str, Any]]:
        """The next `n` events, as dicts of their fields (id, event, data)."""
        out: list[dict[str, Any]] = []
        cur: dict[str, Any] = {}
        for raw in self.lines:
            if raw == "":
                if cur:
                    out.append(cur)
                    cur = {}
                    if len(out) == n:
                        return out
                continue
            if raw.startswith(":"):
                continue
            field, _, value = raw.partition(":")
            cur[field] = value[1:] if value.startswith(" ") else value
        raise AssertionError(f"the stream ended after {out}")

    def close(self) -> None:
        self.resp.close()


def open_stream(base: str, hooks: Any, last_id: Optional[str] = None, **params: str) -> Sse:
    headers = {**hooks.auth, "Accept": "text/event-stream"}
    if last_id is not None:
        headers["Last-Event-ID"] = last_id
    r = requests.get(f"{base}/api/v1/app/{hooks.app_id}/stream", headers=headers, params=params, stream=True, timeout=20)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/event-stream")
    return Sse(r)


def test_the_stream_resumes_after_last_event_id(
    server: Datahooks, owner: Account, webhooks: Callable[..., Any], make_dataset: Callable[..., Any],
) -> None:
    hooks = webhooks(owner)
    ds = make_dataset()
    r = open_stream(server.base_url, hooks)
    hello = r.events(1)[0]
    assert hello["event"] == "listen" and "id" not in hello
    info = json.loads(hello["data"])
    assert info["secret"].startswith("whsec_") and info["endpointId"].startswith("ep_")
    owner.client.add_sample(ds.full_name, "one.png", image_attrs())
    first = r.events(1)[0]
    r.close()
    assert first["event"] == "message" and int(first["id"]) > info["after"]
    assert json.loads(json.loads(first["data"])["payload"])["object"]["name"] == "one.png"

    # Missed while away.
    owner.client.add_sample(ds.full_name, "two.png", image_attrs())
    owner.client.add_sample(ds.full_name, "three.png", image_attrs())
    r2 = open_stream(server.base_url, hooks, last_id=first["id"])
    evs = r2.events(3)
    r2.close()
    assert evs[0]["event"] == "listen"
    names = [json.loads(json.loads(e["data"])["payload"])["object"]["name"] for e in evs[1:]]
    assert names == ["two.png", "three.png"]
    ids = [int(e["id"]) for e in evs[1:]]
    assert int(first["id"]) < ids[0] < ids[1]

    # `?after=` does the same for clients that cannot set the header; a bad id is a 400.
    r3 = open_stream(server.base_url, hooks, after=str(ids[0]), event_types="sample.created")
    evs = r3.events(2)
    r3.close()
    assert int(evs[1]["id"]) == ids[1]
    bad = requests.get(
        f"{server.base_url}/api/v1/app/{hooks.app_id}/stream",
        headers={**hooks.auth, "Last-Event-ID": "yesterday"}, timeout=10,
    )
    assert bad.status_code == 400 and bad.json()["code"] == "validation"
    # Like the rest of the API: no key 401, someone else's app 404.
    assert requests.get(f"{server.base_url}/api/v1/app/{hooks.app_id}/stream", timeout=10).status_code == 401


class CuttableProxy:
    """A loopback TCP proxy to `target` that can be cut (every connection closed, new ones
    refused) and restored on the same port: a network drop for the client behind it."""

    def __init__(self, target_port: int) -> None:
        self.target = ("127.0.0.1", target_port)
        self.port = 0
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()
        self._sock: Optional[socket.socket] = None
        self.restore()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def restore(self) -> None:
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", self.port))
        s.listen(16)
        self.port = s.getsockname()[1]
        with self._lock:
            self._sock = s
        threading.Thread(target=self._accept, args=(s,), daemon=True).start()

    def _keep(self, s: socket.socket, conn: socket.socket) -> bool:
        """Registers `conn` for the next cut, unless the listener `s` was cut meanwhile (then
        `conn` is closed): a connection accepted while cutting must not survive the cut."""
        with self._lock:
            if self._sock is s:
                self._conns.append(conn)
                return True
        conn.close()
        return False

    def _accept(self, s: socket.socket) -> None:
        while True:
            try:
                client, _ = s.accept()
            except OSError:
                return
            if not self._keep(s, client):
                return
            try:
                upstream = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            if not self._keep(s, upstream):
                client.close()
                return
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(a: socket.socket, b: socket.socket) -> None:
        try:
            while data := a.recv(65536):
                b.sendall(data)
        except OSError:
            pass
        for s in (a, b):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cut(self) -> None:
        with self._lock:
            sock, self._sock = self._sock, None
            conns, self._conns = self._conns, []
        assert sock is not None
        # shutdown first: close() alone leaves the thread blocked in accept() accepting.
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        sock.close()
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
                c.close()
            except OSError:
                pass


def test_listen_reconnects_and_gets_what_it_missed(
    server: Datahooks, owner: Account, webhooks: Callable[..., Any], receivers: Callable[..., Receiver],
    listens: Callable[..., Listen], make_dataset: Callable[..., Any],
) -> None:
    webhooks(owner)
    ds = make_dataset()
    port = int(server.base_url.rsplit(":", 1)[1])
    proxy = CuttableProxy(port)
    rcv = receivers(reject_unverified=True)
    cli = listens(proxy.url, owner.api_key, rcv.url, "--dataset", ds.full_name)
    rcv.add_secret(cli.secret())
    owner.client.add_sample(ds.full_name, "before.png", image_attrs())
    rcv.wait_count(1)

    proxy.cut()
    cli.wait_line(r"reconnecting", stderr=True)
    owner.client.add_sample(ds.full_name, "missed-1.png", image_attrs())
    owner.client.add_sample(ds.full_name, "missed-2.png", image_attrs())
    time.sleep(0.5)
    assert len(rcv.deliveries) == 1, "nothing gets through while the connection is down"
    proxy.restore()

    rcv.wait_count(3, timeout=30)
    rcv.quiet_for(1.0)
    names = [d.json["object"]["name"] for d in rcv.deliveries]
    assert names == ["before.png", "missed-1.png", "missed-2.png"], names
    assert all(d.verified_std for d in rcv.deliveries)
    assert len({d.msg_id for d in rcv.deliveries}) == 3
    proxy.cut()


def test_a_server_with_open_streams_shuts_down(make_server: Callable[..., Datahooks]) -> None:
    srv = make_server()
    hooks = enable_webhooks(srv.base_url, "streamer", srv.create_user("streamer"))
    r = open_stream(srv.base_url, hooks)
    assert r.events(1)[0]["event"] == "listen"
    started = time.monotonic()
    assert srv.stop(timeout=10) == 0, "SIGTERM ends the server although a stream is open"
    assert time.monotonic() - started < 10
    with pytest.raises(AssertionError, match="the stream ended"):
        r.events(1)

