"""Loopback webhook receivers for the end-to-end webhook tests.

A `Receiver` is a real HTTP server (`http.server.ThreadingHTTPServer` on 127.0.0.1:0, HTTP/1.1
with keep-alive, one thread per connection) that records every request it gets (method, path,
headers, raw body, arrival time) and answers as programmed:

    rcv = Receiver()                           # answers 200 "ok" to everything
    rcv.script(Reply(500, b"boom"), Reply(429, retry_after="1"))   # next two requests, then default
    rcv.default = Reply(status=410)            # every later request
    rcv.default = lambda delivery: Reply(...)  # or computed per request
    Reply(reset=True)                          # read the request, then close with a TCP RST
    Reply(delay=3.0)                           # answer late (for the timeout test)

When `secrets` are set (the endpoint's `whsec_…` keys), each delivery is verified on arrival
with BOTH `svix.webhooks.Webhook(secret).verify` (svix-* header set) and
`standardwebhooks.webhooks.Webhook(secret).verify` (webhook-* header set); the outcome is kept
on the delivery (`verified_svix`, `verified_std`, `verify_errors`). With `reject_unverified`
the receiver answers 401 to a delivery that fails verification.

`SlackLikeReceiver` accepts only what Slack's incoming webhooks accept: a JSON object with a
non-empty string `text` (200 "ok"), anything else gets 400 "invalid_payload".
"""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Iterable, Optional, Union

import standardwebhooks.webhooks as stdwh
import svix.webhooks as svixwh

SIGNATURE_HEADERS = (
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
    "svix-id",
    "svix-timestamp",
    "svix-signature",
)


@dataclass
class Reply:
    """How the receiver answers one request."""

    status: int = 200
    body: bytes = b"ok"
    delay: float = 0.0
    retry_after: Optional[str] = None
    headers: dict[str, str] = field(default_factory=dict)
    reset: bool = False  # close the connection with a TCP RST instead of answering


@dataclass
class Delivery:
    """One request as the receiver saw it."""

    method: str
    path: str
    headers: dict[str, str]  # lower-cased names; repeated headers joined with ", "
    raw_headers: list[tuple[str, str]]  # as received, in order
    body: bytes
    received_at: float  # time.monotonic()
    received_wall: float  # time.time()
    reply: Optional[Reply] = None
    verified_svix: Optional[bool] = None
    verified_std: Optional[bool] = None
    verify_errors: list[str] = field(default_factory=list)

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def msg_id(self) -> Optional[str]:
        return self.headers.get("webhook-id")

    @property
    def event_type(self) -> Optional[str]:
        try:
            return self.json.get("event_type")
        except Exception:
            return None

    def svix_headers(self) -> dict[str, str]:
        return {k: self.headers[k] for k in ("svix-id", "svix-timestamp", "svix-signature") if k in self.headers}

    def std_headers(self) -> dict[str, str]:
        return {k: self.headers[k] for k in ("webhook-id", "webhook-timestamp", "webhook-signature") if k in self.headers}

    def signatures(self) -> list[str]:
        return self.headers.get("webhook-signature", "").split()

    def short(self) -> str:
        return f"{self.method} {self.path} id={self.msg_id} type={self.event_type} body={self.body[:200]!r}"


def verify_delivery(d: Delivery, secrets: Iterable[str]) -> tuple[bool, bool, list[str]]:
    """(svix ok, standardwebhooks ok, errors) for one delivery against any of `secrets`.

    svix gets only the svix-* headers and standardwebhooks only the webhook-* headers, so each
    header set is checked on its own. A library accepting the delivery under any one of the
    secrets counts as verified (that is what a consumer mid-rotation does)."""
    errors: list[str] = []
    ok_svix = ok_std = False
    for secret in secrets:
        if not ok_svix:
            try:
                svixwh.Webhook(secret).verify(d.body, d.svix_headers())
                ok_svix = True
            except Exception as e:  # WebhookVerificationError and friends
                errors.append(f"svix({secret[:12]}…): {type(e).__name__}: {e}")
        if not ok_std:
            try:
                stdwh.Webhook(secret).verify(d.body, d.std_headers())
                ok_std = True
            except Exception as e:
                errors.append(f"standardwebhooks({secret[:12]}…): {type(e).__name__}: {e}")
    if ok_svix and ok_std:
        errors = []
    return ok_svix, ok_std, errors


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 256  # bursts of concurrent deliveries must not hit a full backlog

    def handle_error(self, request: Any, client_address: Any) -> None:  # quiet: resets are on purpose
        pass


Responder = Union[Reply, Callable[[Delivery], Reply]]


class Receiver:
    """A recording, programmable webhook receiver on 127.0.0.1 (see the module docstring)."""

    def __init__(
        self,
        default: Responder = None,
        *,
        secrets: Iterable[str] = (),
        reject_unverified: bool = False,
        path: str = "/hook",
        name: str = "receiver",
    ) -> None:
        self.default: Responder = default if default is not None else Reply()
        self.secrets: list[str] = list(secrets)
        self.reject_unverified = reject_unverified
        self.name = name
        self._path = path
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._script: list[Reply] = []
        self._deliveries: list[Delivery] = []
        self._closing = threading.Event()
        self._conns: set[socket.socket] = set()
        rcv = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            server_version = "e2e-receiver"

            def log_message(self, *args: Any) -> None:
                pass

            def setup(self) -> None:
                super().setup()
                with rcv._lock:
                    rcv._conns.add(self.connection)

            def finish(self) -> None:
                try:
                    super().finish()
                except OSError:
                    pass
                with rcv._lock:
                    rcv._conns.discard(self.connection)

            def _handle(self) -> None:
                rcv._handle(self)

            do_POST = do_GET = do_PUT = do_PATCH = do_DELETE = _handle

        self._server = _Server(("127.0.0.1", 0), Handler)
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name=f"{name}-{self.port}", daemon=True)
        self._thread.start()

    # ---- configuration -------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self._path}"

    def script(self, *replies: Reply) -> None:
        """Answers the next requests with `replies`, in order, then falls back to `default`."""
        with self._lock:
            self._script.extend(replies)

    def add_secret(self, secret: str) -> None:
        with self._lock:
            self.secrets.append(secret)

    # ---- the server side -----------------------------------------------------------

    def _read_body(self, h: BaseHTTPRequestHandler) -> bytes:
        if h.headers.get("transfer-encoding", "").lower() == "chunked":
            out = b""
            while True:
                size = int(h.rfile.readline().strip().split(b";")[0], 16)
                if size == 0:
                    h.rfile.readline()
                    return out
                out += h.rfile.read(size)
                h.rfile.readline()
        n = int(h.headers.get("content-length") or 0)
        return h.rfile.read(n) if n else b""

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        body = self._read_body(h)
        raw = [(k, v) for k, v in h.headers.items()]
        headers: dict[str, str] = {}
        for k, v in raw:
            lk = k.lower()
            headers[lk] = f"{headers[lk]}, {v}" if lk in headers else v
        d = Delivery(
            method=h.command,
            path=h.path,
            headers=headers,
            raw_headers=raw,
            body=body,
            received_at=time.monotonic(),
            received_wall=time.time(),
        )
        with self._lock:
            secrets = list(self.secrets)
        if secrets:
            d.verified_svix, d.verified_std, d.verify_errors = verify_delivery(d, secrets)
        with self._lock:
            reply = self._script.pop(0) if self._script else None
        if reply is None:
            reply = self.default(d) if callable(self.default) else self.default
        if self.reject_unverified and secrets and not (d.verified_svix and d.verified_std):
            reply = Reply(401, ("; ".join(d.verify_errors) or "unverified").encode())
        d.reply = reply
        with self._cond:
            self._deliveries.append(d)
            self._cond.notify_all()

        if reply.delay:
            self._closing.wait(reply.delay)
        if reply.reset:
            try:
                # SO_LINGER 0 makes close() send a RST; the makefile() objects hold references
                # to the socket, so they are closed first or the fd would stay open.
                h.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                h.rfile.close()
                h.wfile.close()
                h.connection.close()
            except OSError:
                pass
            h.close_connection = True
            return
        try:
            h.send_response(reply.status)
            h.send_header("Content-Type", "text/plain; charset=utf-8")
            h.send_header("Content-Length", str(len(reply.body)))
            if reply.retry_after is not None:
                h.send_header("Retry-After", reply.retry_after)
            for k, v in reply.headers.items():
                h.send_header(k, v)
            h.end_headers()
            h.wfile.write(reply.body)
            h.wfile.flush()
        except OSError:
            h.close_connection = True

    # ---- reading what arrived --------------------------------------------------------

    @property
    def deliveries(self) -> list[Delivery]:
        with self._lock:
            return list(self._deliveries)

    def clear(self) -> None:
        with self._lock:
            self._deliveries.clear()

    def wait_for(
        self, pred: Callable[[list[Delivery]], bool], timeout: float = 15.0
    ) -> list[Delivery]:
        """Waits (bounded) until `pred(deliveries)` holds; returns the deliveries either way."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not pred(list(self._deliveries)):
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(min(left, 0.2))
            return list(self._deliveries)

    def wait_count(self, n: int, timeout: float = 15.0, where: Optional[Callable[[Delivery], bool]] = None) -> list[Delivery]:
        """Waits until at least `n` deliveries (matching `where`) arrived; returns those."""
        sel = (lambda ds: [d for d in ds if where(d)]) if where else (lambda ds: ds)
        return sel(self.wait_for(lambda ds: len(sel(ds)) >= n, timeout))

    def wait_event(self, event_type: str, timeout: float = 15.0, dataset: Optional[str] = None) -> list[Delivery]:
        def match(d: Delivery) -> bool:
            try:
                p = d.json
            except Exception:
                return False
            return p.get("event_type") == event_type and (dataset is None or p.get("dataset") == dataset)

        return self.wait_count(1, timeout, where=match)

    def quiet_for(self, seconds: float, timeout: float = 15.0) -> list[Delivery]:
        """Waits until nothing new arrived for `seconds` (bounded by `timeout`)."""
        deadline = time.monotonic() + timeout
        n = len(self.deliveries)
        last_change = time.monotonic()
        while time.monotonic() < deadline:
            time.sleep(0.05)
            m = len(self.deliveries)
            if m != n:
                n, last_change = m, time.monotonic()
            elif time.monotonic() - last_change >= seconds:
                break
        return self.deliveries

    def by_msg(self) -> dict[str, list[Delivery]]:
        out: dict[str, list[Delivery]] = {}
        for d in self.deliveries:
            out.setdefault(d.msg_id or "", []).append(d)
        return out

    def unverified(self) -> list[Delivery]:
        return [d for d in self.deliveries if not (d.verified_svix and d.verified_std)]

    def assert_all_verified(self) -> None:
        assert self.secrets, f"{self.name}: no secret to verify with"
        bad = self.unverified()
        assert not bad, f"{self.name}: {len(bad)} deliveries failed verification:\n" + "\n".join(
            f"  {d.short()}\n    {d.verify_errors}" for d in bad[:10]
        )

    # ---- lifecycle -------------------------------------------------------------------

    def close(self) -> None:
        self._closing.set()
        self._server.shutdown()
        self._server.server_close()
        with self._lock:
            conns = list(self._conns)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def __enter__(self) -> "Receiver":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def slack_reply(d: Delivery) -> Reply:
    """What Slack's incoming webhooks answer: 200 "ok" for a JSON object with a non-empty
    string `text`; 400 otherwise."""
    if d.method != "POST":
        return Reply(405, b"method_not_allowed")
    ctype = d.headers.get("content-type", "")
    if not ctype.split(";")[0].strip().lower() == "application/json":
        return Reply(400, b"invalid_payload: content-type")
    try:
        payload = json.loads(d.body)
    except Exception:
        return Reply(400, b"invalid_payload")
    if not isinstance(payload, dict):
        return Reply(400, b"invalid_payload")
    text = payload.get("text")
    if not isinstance(text, str) or not text.strip():
        return Reply(400, b"no_text")
    return Reply(200, b"ok")


class SlackLikeReceiver(Receiver):
    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("name", "slack")
        super().__init__(slack_reply, **kwargs)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


# --------------------------------------------------------------------------------------------
# The management side: an account's webhook application through the real `svix` client
# --------------------------------------------------------------------------------------------

ALL_EVENT_TYPES = [
    "dataset.created",
    "dataset.updated",
    "dataset.deleted",
    "sample.created",
    "sample.updated",
    "sample.deleted",
    "label.updated",
    "label.deleted",
    "issue.created",
    "issue.updated",
    "release.created",
]


def svix_client(base_url: str, api_key: str) -> Any:
    from svix.api import Svix, SvixOptions

    return Svix(api_key, SvixOptions(server_url=base_url))


@dataclass
class Hooks:
    """An account's webhook application (enabled), driven with the real `svix` client."""

    svix: Any
    app_id: str
    account: str
    base_url: str
    api_key: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}

    def add_endpoint(self, receiver: Optional[Receiver] = None, *, url: Optional[str] = None, **fields: Any) -> tuple[Any, str]:
        """Creates an endpoint (EndpointIn fields in snake_case) for `receiver`; gives the
        receiver the endpoint's secret so it verifies every delivery. Returns (EndpointOut, secret)."""
        from svix.api import EndpointIn

        ep = self.svix.endpoint.create(self.app_id, EndpointIn(url=url or receiver.url, **fields))
        secret = self.svix.endpoint.get_secret(self.app_id, ep.id).key
        if receiver is not None:
            receiver.add_secret(secret)
        return ep, secret

    def attempts_by_endpoint(self, ep_id: str, **opts: Any) -> list[Any]:
        """Every attempt at an endpoint (all pages), oldest first by timestamp."""
        from svix.api import MessageAttemptListByEndpointOptions

        out: list[Any] = []
        it = None
        for _ in range(100):
            page = self.svix.message_attempt.list_by_endpoint(
                self.app_id, ep_id, MessageAttemptListByEndpointOptions(iterator=it, limit=250, **opts)
            )
            out += page.data
            if page.done or not page.iterator:
                break
            it = page.iterator
        return sorted(out, key=lambda a: (a.timestamp, a.id))

    def attempts_by_msg(self, msg_id: str, **opts: Any) -> list[Any]:
        from svix.api import MessageAttemptListByMsgOptions

        page = self.svix.message_attempt.list_by_msg(self.app_id, msg_id, MessageAttemptListByMsgOptions(limit=250, **opts))
        return sorted(page.data, key=lambda a: (a.timestamp, a.id))

    def wait_attempts(
        self, ep_id: str, n: int, timeout: float = 15.0, where: Optional[Callable[[Any], bool]] = None
    ) -> list[Any]:
        """Polls (bounded) until the endpoint has at least `n` attempts (matching `where`)."""
        deadline = time.monotonic() + timeout
        while True:
            atts = self.attempts_by_endpoint(ep_id)
            sel = [a for a in atts if where(a)] if where else atts
            if len(sel) >= n or time.monotonic() > deadline:
                return sel
            time.sleep(0.2)

    def wait_task(self, task_id: str, timeout: float = 15.0) -> Any:
        """Polls GET /api/v1/background-task/{id} until it is no longer running."""
        deadline = time.monotonic() + timeout
        while True:
            t = self.svix.background_task.get(task_id)
            status = getattr(t.status, "value", t.status)
            if status != "running" or time.monotonic() > deadline:
                return t
            time.sleep(0.1)


def enable_webhooks(base_url: str, username: str, api_key: str) -> Hooks:
    """Enables webhooks for `username` (creates its application) as the holder of `api_key`."""
    from svix.api import ApplicationIn

    sv = svix_client(base_url, api_key)
    app = sv.application.create(ApplicationIn(name=username, uid=username))
    assert app.uid == username, app
    return Hooks(svix=sv, app_id=app.id, account=username, base_url=base_url, api_key=api_key)
