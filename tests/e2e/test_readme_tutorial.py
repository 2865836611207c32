"""The README's code runs as written: the "From zero to a verified webhook in five minutes"
tutorial, the quick start's SDK block and the webhooks block, each taken from README.md
between `<!-- readme-test:NAME -->` and `<!-- /readme-test:NAME -->`.

The only changes made to the README's text are the SUBSTITUTIONS below (free ports instead of
8080 and 9000, the debug binary instead of a release build, the key of a user this test
created instead of `dh_…`); each must match at least once, so a README edit that drifts
from them fails here instead of silently testing something else.

The tutorial runs in a fresh directory: ```sh blocks run with bash in order (what they start
with `&` keeps running in the block's process group until the test ends), ```python
file=NAME blocks are saved as NAME, and the ```text block after them is the receiver's
expected output, compared line by line.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Callable, Iterator

import pytest
import requests
from e2e_helpers import REPO_ROOT, Datahooks, default_binary
from svix.api import Svix, SvixOptions

README = REPO_ROOT / "README.md"
FENCE_RE = re.compile(r"^```([^\n]*)\n(.*?)^```\s*$", re.S | re.M)


def region(name: str) -> str:
    text = README.read_text()
    m = re.search(rf"<!-- readme-test:{name} -->(.*?)<!-- /readme-test:{name} -->", text, re.S)
    assert m, f"README.md has no <!-- readme-test:{name} --> region"
    return m.group(1)


def blocks(name: str) -> list[tuple[str, str]]:
    """(info string, code) of each fenced block of a region, in order."""
    return [(info.strip(), code) for info, code in FENCE_RE.findall(region(name))]


def substitute(text: str, subs: list[tuple[str, str]], used: set[str]) -> str:
    for old, new in subs:
        if old in text:
            used.add(old)
            text = text.replace(old, new)
    return text


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(check: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except (OSError, requests.RequestException):
            pass
        time.sleep(0.1)
    raise AssertionError(f"{what} did not happen within {timeout:.0f}s")


@pytest.fixture
def process_groups() -> Iterator[list[int]]:
    """Process groups of the shell blocks; whatever they left running is stopped at the end."""
    groups: list[int] = []
    yield groups
    for pgid in groups:
        try:
            os.killpg(pgid, signal.SIGTERM)
        except ProcessLookupError:
            pass


def test_the_five_minute_tutorial_runs_as_written(
    tmp_path: Path, process_groups: list[int]
) -> None:
    api_port, rcv_port = free_port(), free_port()
    bin_dir = default_binary().parent
    subs = [
        ('cargo build --release && export PATH="$PWD/target/release:$PATH"', f'export PATH="{bin_dir}:$PATH"'),
        ("127.0.0.1:8080", f"127.0.0.1:{api_port}"),
        ("127.0.0.1:9000", f"127.0.0.1:{rcv_port}"),
        ('("127.0.0.1", 9000)', f'("127.0.0.1", {rcv_port})'),
    ]
    used: set[str] = set()
    env = dict(os.environ)
    # `python3` is the suite's interpreter, with segments-ai, svix and standardwebhooks.
    venv_bin = REPO_ROOT / ".venv" / "bin"
    env["PATH"] = f"{venv_bin}:{env['PATH']}"
    # The tutorial's `serve` uses the default store (./data in the tutorial's directory);
    # a PostgreSQL URL from the suite's environment would point it elsewhere.
    env.pop("DATAHOOKS_DATABASE_URL", None)
    env.pop("DATAHOOKS_DATA_DIR", None)

    expected: list[str] = []
    logs: list[Path] = []
    for i, (info, code) in enumerate(blocks("tutorial")):
        code = substitute(code, subs, used)
        lang, _, rest = info.partition(" ")
        if lang == "python":
            m = re.fullmatch(r"file=(\S+)", rest.strip())
            assert m, f"a python block of the tutorial names its file (```python file=NAME): {info!r}"
            (tmp_path / m.group(1)).write_text(code)
        elif lang == "sh":
            log = tmp_path / f"block-{i}.log"
            logs.append(log)
            with open(log, "wb") as out:
                proc = subprocess.Popen(
                    ["bash", "-e", "-o", "pipefail", "-c", code],
                    cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL, start_new_session=True,
                )
            process_groups.append(proc.pid)
            rc = proc.wait(timeout=120)
            assert rc == 0, f"block {i} exited {rc}:\n{code}\n--- output:\n{log.read_text()}"
            # What a block started in the background must be up before the next step (a
            # person typing is slower than this test).
            if "datahooks serve" in code:
                wait_until(
                    lambda: requests.get(f"http://127.0.0.1:{api_port}/api/v1/health", timeout=2).status_code == 204,
                    "the server answering",
                )
            if "receiver.py &" in code:
                wait_until(lambda: socket.create_connection(("127.0.0.1", rcv_port), timeout=2).close() is None,
                           "the receiver listening")
        elif lang == "text":
            expected = [ln for ln in code.splitlines() if ln.strip()]
        else:
            raise AssertionError(f"unexpected block ```{info} in the tutorial")
    assert used == {old for old, _ in subs}, f"substitutions that matched nothing: {set(o for o, _ in subs) - used}"
    assert expected, "the tutorial shows what the receiver prints"

    def printed() -> list[str]:
        return [ln for log in logs for ln in log.read_text().splitlines() if ln.startswith(("verified", "rejected"))]

    wait_until(lambda: len(printed()) >= len(expected), "the receiver printing every expected line")
    time.sleep(0.5)  # would a stray extra or rejected delivery show up?
    assert printed() == expected, "\n".join(f"--- {p.name}\n{p.read_text()}" for p in logs)


def test_the_quick_start_and_webhooks_blocks_run_as_written(
    make_server: Callable[..., Datahooks], tmp_path: Path
) -> None:
    srv = make_server()
    key = srv.create_user("jane", email="jane@example.com")
    port = srv.base_url.rsplit(":", 1)[1]
    subs = [("dh_…", key), ("127.0.0.1:8080", f"127.0.0.1:{port}")]
    used: set[str] = set()
    for name in ("quickstart", "webhooks"):
        (info, code), = [b for b in blocks(name) if b[0] == "python"]
        script = tmp_path / f"{name}.py"
        script.write_text(substitute(code, subs, used))
        cp = subprocess.run(
            [str(REPO_ROOT / ".venv" / "bin" / "python"), str(script)],
            cwd=tmp_path, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
        )
        assert cp.returncode == 0, f"README block {name} failed:\n{code}\n{cp.stdout}\n{cp.stderr}"
    assert used == {"dh_…", "127.0.0.1:8080"}

    # What the webhooks block asked for is what the endpoint got: its filters reached the
    # server (a field the client does not know would have been dropped on the way).
    sv = Svix(key, SvixOptions(server_url=srv.base_url))
    (ep,) = sv.endpoint.list("jane").data
    assert ep.url == "https://hooks.example.com/x"
    assert ep.event_types == ["sample.created"]
    assert ep.channels == ["jane/flowers"]
