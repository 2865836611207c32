"""Helpers for the end-to-end suite: the running server, accounts, the event outbox, assertions.

The suite drives the real `datahooks` binary with the real `segments-ai` SDK. Everything here is
plain Python so that the fixtures in `conftest.py` stay thin.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import math
import os
import re
import secrets
import signal
import subprocess
import uuid
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Optional, Sequence

import pytest
import requests
from segments import SegmentsClient

REPO_ROOT = Path(__file__).resolve().parents[2]
API_VERSION = "2021-08-01"
# `2021-08-09T14:40:19.987691+00:00` (RFC 3339, microseconds, UTC written as +00:00).
CREATED_AT_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}\+00:00$")
LISTENING_RE = re.compile(r"listening on (http://\S+)")

# Image vector task attributes used by most datasets in the suite.
VECTOR_TASK_ATTRIBUTES = {
    "format_version": "0.1",
    "categories": [
        {"id": 1, "name": "flower", "color": [255, 0, 0]},
        {"id": 2, "name": "leaf"},
    ],
}


def vector_label(*boxes: Sequence[float], category_id: int = 1) -> dict[str, Any]:
    """Image vector label attributes with one bbox annotation per `(x0, y0, x1, y1)`."""
    return {
        "format_version": "0.1",
        "annotations": [
            {
                "id": i + 1,
                "category_id": category_id,
                "type": "bbox",
                "points": [[b[0], b[1]], [b[2], b[3]]],
            }
            for i, b in enumerate(boxes)
        ],
    }


def image_attrs(url: str = "https://example.com/images/rose.png") -> dict[str, Any]:
    return {"image": {"url": url}}


_counter = itertools.count(1)


def unique(prefix: str) -> str:
    """A name valid as account, dataset, sample, labelset or release name, unique per run."""
    return f"{prefix}-{next(_counter)}-{secrets.token_hex(3)}"


def default_binary() -> Path:
    env = os.environ.get("DATAHOOKS_BIN")
    return Path(env) if env else REPO_ROOT / "target" / "debug" / "datahooks"


# --------------------------------------------------------------------------------------------
# The server process and its CLI
# --------------------------------------------------------------------------------------------


class CliError(AssertionError):
    pass


@dataclass
class Account:
    """A user created through `datahooks user create`, with an SDK client logged in as it."""

    username: str
    api_key: str
    email: Optional[str]
    client: SegmentsClient

    @property
    def auth(self) -> dict[str, str]:
        """Headers for raw `requests` calls."""
        return {"Authorization": f"APIKey {self.api_key}"}


def fresh_pg_database() -> str:
    """Creates an empty database on the test cluster and returns its URL."""
    base = os.environ["DATAHOOKS_TEST_PG_URL"]
    name = "e2e_" + uuid.uuid4().hex[:16]
    subprocess.run(["psql", base, "-q", "-c", f"CREATE DATABASE {name}"], check=True, capture_output=True, timeout=60)
    return base.rsplit("/", 1)[0] + "/" + name


@dataclass
class Datahooks:
    """A running `datahooks serve` plus the CLI on the same data dir."""

    binary: Path
    data_dir: Path
    base_url: str = ""
    proc: Optional[subprocess.Popen] = None
    stdout_lines: list[str] = field(default_factory=list)
    stderr_path: Optional[Path] = None
    # `serve` options (the defaults are what the session `server` fixture has always used).
    allow_destinations: Sequence[str] = ("127.0.0.0/8",)
    retry_schedule: Optional[str] = "1s,1s,2s"
    extra_args: Sequence[str] = ()
    # The store: SQLite in data_dir unless DATAHOOKS_E2E_BACKEND=postgres, in which case each
    # server gets a fresh database on the cluster DATAHOOKS_TEST_PG_URL names.
    database_url: Optional[str] = None

    def __post_init__(self) -> None:
        if self.database_url is None and os.environ.get("DATAHOOKS_E2E_BACKEND") == "postgres":
            self.database_url = fresh_pg_database()

    def _store_args(self) -> list[str]:
        return ["--database-url", self.database_url] if self.database_url else []

    # ---- lifecycle ---------------------------------------------------------------------

    def start(self, timeout: float = 60.0) -> None:
        self.stderr_path = self.data_dir.parent / (self.data_dir.name + ".stderr.log")
        stderr = open(self.stderr_path, "ab")
        cmd = [
            str(self.binary),
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            str(self.data_dir),
            *self._store_args(),
        ]
        for cidr in self.allow_destinations:
            cmd += ["--allow-destination", cidr]
        if self.retry_schedule:
            cmd += ["--retry-schedule", self.retry_schedule]
        cmd += list(self.extra_args)
        self.base_url = ""
        self.proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=stderr, stdin=subprocess.DEVNULL, text=True, bufsize=1
        )
        stderr.close()
        found = threading.Event()

        def pump() -> None:
            # Keep reading so the pipe never fills up and blocks the server.
            assert self.proc is not None and self.proc.stdout is not None
            for line in self.proc.stdout:
                self.stdout_lines.append(line.rstrip("\n"))
                m = LISTENING_RE.search(line)
                if m and not found.is_set():
                    self.base_url = m.group(1).rstrip("/")
                    found.set()
            found.set()  # EOF: the process is gone

        threading.Thread(target=pump, name="datahooks-stdout", daemon=True).start()
        deadline = time.monotonic() + timeout
        while not found.wait(0.1):
            if time.monotonic() > deadline:
                break
        if not self.base_url:
            rc = self.proc.poll()
            self.stop()
            raise RuntimeError(
                f"`{' '.join(cmd)}` did not print 'listening on http://…' within {timeout:.0f}s "
                f"(exit code {rc}).\nstdout:\n{self.stdout_text()}\nstderr:\n{self.stderr_tail()}"
            )

    def stop(self, timeout: float = 15.0) -> Optional[int]:
        """SIGTERM (graceful), then SIGKILL after `timeout`. Returns the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
                raise RuntimeError(f"datahooks did not exit within {timeout}s of SIGTERM; killed it")
        return self.proc.returncode

    def kill(self) -> Optional[int]:
        """SIGKILL, no grace (crash tests). Returns the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
        return self.proc.returncode

    def stdout_text(self) -> str:
        return "\n".join(self.stdout_lines[-50:])

    def stderr_tail(self, n: int = 4000) -> str:
        if self.stderr_path is None or not self.stderr_path.exists():
            return ""
        return self.stderr_path.read_bytes()[-n:].decode("utf-8", "replace")

    # ---- CLI ---------------------------------------------------------------------------

    def cli(self, *args: str, check: bool = True, timeout: float = 60.0) -> subprocess.CompletedProcess:
        cmd = [str(self.binary), *args, "--data-dir", str(self.data_dir), *self._store_args()]
        cp = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
        if check and cp.returncode != 0:
            raise CliError(
                f"`{' '.join(cmd)}` exited {cp.returncode}\nstdout:\n{cp.stdout}\nstderr:\n{cp.stderr}"
            )
        return cp

    @staticmethod
    def _last_line(cp: subprocess.CompletedProcess) -> str:
        lines = [ln.strip() for ln in cp.stdout.splitlines() if ln.strip()]
        if not lines:
            raise CliError(f"`{' '.join(cp.args)}` printed nothing on stdout; stderr:\n{cp.stderr}")
        return lines[-1]

    def create_user(self, username: str, email: Optional[str] = None) -> str:
        """Creates a user; returns its API key (the last stdout line)."""
        args = ["user", "create", username]
        if email is not None:
            args += ["--email", email]
        return self._last_line(self.cli(*args))

    def create_apikey(self, username: str) -> str:
        return self._last_line(self.cli("apikey", "create", username))

    def create_org(self, org: str, owner: str) -> None:
        self.cli("org", "create", org, "--owner", owner)

    def add_member(self, org: str, username: str, role: str) -> None:
        self.cli("org", "add-member", org, username, "--role", role)

    def client(self, api_key: str) -> SegmentsClient:
        # urljoin drops any path in api_url, so the API lives at the root of base_url.
        return SegmentsClient(api_key=api_key, api_url=self.base_url + "/")

    # ---- event outbox ------------------------------------------------------------------

    def events(self, after: Optional[int] = None) -> list[dict[str, Any]]:
        """`datahooks events list`: committed events in commit order, as `{seq, payload}`."""
        args = ["events", "list"]
        if after is not None:
            args += ["--after", str(after)]
        cp = self.cli(*args)
        out = []
        for line in cp.stdout.splitlines():
            line = line.strip()
            if not line.startswith("{"):
                continue
            ev = json.loads(line)
            assert isinstance(ev.get("seq"), int), f"event without integer seq: {line}"
            assert isinstance(ev.get("payload"), dict), f"event without payload object: {line}"
            out.append(ev)
        seqs = [e["seq"] for e in out]
        assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs), f"events not in seq order: {seqs}"
        if after is not None:
            assert all(s > after for s in seqs), f"--after {after} returned older events: {seqs}"
        return out

    def last_seq(self) -> int:
        evs = self.events()
        return evs[-1]["seq"] if evs else 0


class EventLog:
    """Reads the outbox relative to a mark, optionally limited to some datasets or owners."""

    def __init__(self, server: Datahooks):
        self.server = server

    def mark(self) -> int:
        return self.server.last_seq()

    def since(
        self,
        mark: int,
        *,
        dataset: Optional[str | Iterable[str]] = None,
        owner: Optional[str | Iterable[str]] = None,
    ) -> list[dict[str, Any]]:
        """Payloads of the events committed after `mark`."""
        evs = [e["payload"] for e in self.server.events(after=mark)]
        if dataset is not None:
            wanted = {dataset} if isinstance(dataset, str) else set(dataset)
            evs = [p for p in evs if p.get("dataset") in wanted]
        if owner is not None:
            owners = {owner} if isinstance(owner, str) else set(owner)
            evs = [p for p in evs if str(p.get("dataset", "")).split("/")[0] in owners]
        return evs

    def wait_for(
        self, mark: int, event_type: str, *, dataset: Optional[str] = None, timeout: float = 10.0
    ) -> list[dict[str, Any]]:
        """Polls (bounded) until an event of `event_type` appears after `mark`; returns all since."""
        deadline = time.monotonic() + timeout
        while True:
            evs = self.since(mark, dataset=dataset)
            if any(p.get("event_type") == event_type for p in evs) or time.monotonic() > deadline:
                return evs
            time.sleep(0.1)


# --------------------------------------------------------------------------------------------
# Assertions
# --------------------------------------------------------------------------------------------


def to_json(obj: Any) -> Any:
    """What the SDK parsed from the server, back as JSON (only the keys the server sent)."""
    if hasattr(obj, "model_dump"):
        return obj.model_dump(mode="json", exclude_unset=True)
    return obj


def subset_mismatches(expected: Any, actual: Any, path: str = "$", ignore: Iterable[str] = ()) -> list[str]:
    """Differences where `actual` does not contain `expected` (dict keys recursively, lists
    element-wise, numbers by value)."""
    ignore = set(ignore)
    out: list[str] = []
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{path}: expected an object, got {actual!r}"]
        for k, v in expected.items():
            if k in ignore:
                continue
            if k not in actual:
                if v is None:
                    continue  # absent and null are the same to the SDK's Optional fields
                out.append(f"{path}.{k}: missing (expected {v!r})")
                continue
            out += subset_mismatches(v, actual[k], f"{path}.{k}")
        return out
    if isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) != len(expected):
            return [f"{path}: expected {expected!r}, got {actual!r}"]
        for i, (e, a) in enumerate(zip(expected, actual)):
            out += subset_mismatches(e, a, f"{path}[{i}]")
        return out
    if isinstance(expected, bool) or isinstance(actual, bool):
        return [] if expected is actual else [f"{path}: expected {expected!r}, got {actual!r}"]
    if isinstance(expected, (int, float)) and isinstance(actual, (int, float)):
        return [] if math.isclose(expected, actual, rel_tol=1e-9, abs_tol=1e-9) else [
            f"{path}: expected {expected!r}, got {actual!r}"
        ]
    return [] if expected == actual else [f"{path}: expected {expected!r}, got {actual!r}"]


def assert_subset(expected: Any, actual: Any, ignore: Iterable[str] = (), what: str = "object") -> None:
    diffs = subset_mismatches(to_json(expected), actual, ignore=ignore)
    assert not diffs, f"{what} differs:\n  " + "\n  ".join(diffs[:20])


def assert_event(
    payload: dict[str, Any],
    event_type: str,
    dataset: str,
    obj: Any = None,
    *,
    ignore: Iterable[str] = (),
) -> None:
    """One outbox payload: documented envelope, type, dataset, and `object` matching `obj`."""
    assert set(payload) >= {"event_type", "created_at", "api_version", "dataset", "object", "text"}, payload
    assert payload["event_type"] == event_type, f"expected {event_type}, got {payload['event_type']}"
    assert payload["dataset"] == dataset
    assert payload["api_version"] == API_VERSION
    assert CREATED_AT_RE.match(payload["created_at"]), f"bad created_at {payload['created_at']!r}"
    text = payload["text"]
    assert isinstance(text, str) and text.strip(), f"empty text in {payload}"
    assert "\n" not in text and "\r" not in text, f"text not one line: {text!r}"
    assert isinstance(payload["object"], dict), f"object is not a JSON object: {payload['object']!r}"
    if obj is not None:
        assert_subset(obj, payload["object"], ignore=ignore, what=f"{event_type} object")


def types_of(payloads: Iterable[dict[str, Any]]) -> list[str]:
    return [p.get("event_type") for p in payloads]


def assert_event_types(payloads: Sequence[dict[str, Any]], expected: Sequence[str]) -> None:
    got = types_of(payloads)
    assert got == list(expected), f"events: expected {list(expected)}, got {got}\n" + "\n".join(
        json.dumps(p)[:300] for p in payloads
    )


def assert_no_events(payloads: Sequence[dict[str, Any]]) -> None:
    assert not payloads, "expected no events, got:\n" + "\n".join(json.dumps(p)[:300] for p in payloads)


@contextlib.contextmanager
def raises_exactly(exc_type: type[BaseException], match_text: Optional[str] = None) -> Iterator[Any]:
    """Like pytest.raises, but rejects subclasses/superclasses: the SDK's exception hierarchy
    makes NotFoundError a NetworkError, and the distinction is what we test."""
    with pytest.raises(Exception) as info:
        yield info
    assert type(info.value) is exc_type, (
        f"expected {exc_type.__name__}, got {type(info.value).__name__}: {str(info.value)[:500]}"
    )
    if match_text is not None:
        assert match_text.lower() in str(info.value).lower(), str(info.value)[:500]


def poll(fn, until, timeout: float = 20.0, interval: float = 0.2):
    """Calls `fn()` until `until(result)` or `timeout` seconds; returns the last result."""
    deadline = time.monotonic() + timeout
    while True:
        result = fn()
        if until(result) or time.monotonic() > deadline:
            return result
        time.sleep(interval)


def raw(method: str, url: str, **kwargs: Any) -> requests.Response:
    kwargs.setdefault("timeout", 30)
    kwargs.setdefault("allow_redirects", False)
    return requests.request(method, url, **kwargs)
