"""Launcher of the first-run browser test (`tests/browser/first-run.mjs`): starts its own
`datahooks serve` on an empty store (the session server already has users), takes the
one-time setup link from the server's console output, and runs node on the test with
DATAHOOKS_SETUP_URL set. The rest (control server, node_modules, Chromium) is the main browser
launcher's, `test_browser.py`.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Callable

import test_browser as tb
from e2e_helpers import REPO_ROOT, Datahooks

LINK_RE = re.compile(r"(http://\S+/ui/setup/[0-9a-f]{64})\b")


def setup_link(srv: Datahooks, timeout: float = 10.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        m = LINK_RE.search("\n".join(srv.stdout_lines))
        if m:
            return m.group(1)
        time.sleep(0.05)
    raise AssertionError(f"no setup link in the server's output:\n{srv.stdout_text()}")


def test_browser_first_run(make_server: Callable[..., Datahooks]) -> None:
    node = shutil.which("node")
    assert node, "node is needed for the browser tests (Debian: apt-get install nodejs)"
    assert Path(tb.CHROMIUM).exists(), f"Chromium not found at {tb.CHROMIUM}"
    tb.ensure_node_modules()
    srv = make_server()
    link = setup_link(srv)
    control = tb.Control(srv)
    (tb.ARTIFACTS / "screenshots").mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.update(
        DATAHOOKS_URL=srv.base_url,
        DATAHOOKS_SETUP_URL=link,
        DATAHOOKS_CONTROL_URL=control.url,
        DATAHOOKS_ARTIFACTS=str(tb.ARTIFACTS),
        DATAHOOKS_DOCS=str(tb.DOCS),
        CHROMIUM_PATH=tb.CHROMIUM,
    )
    cmd = [node, "--test", "--test-reporter=spec", str(tb.BROWSER_DIR / "first-run.mjs")]
    try:
        cp = subprocess.run(
            cmd, cwd=REPO_ROOT, env=env, capture_output=True, text=True,
            timeout=tb.NODE_TIMEOUT, stdin=subprocess.DEVNULL,
        )
    finally:
        control.close()
    out = cp.stdout + cp.stderr
    (tb.ARTIFACTS / "browser-first-run.log").write_text(out)
    assert cp.returncode == 0, (
        f"`{' '.join(cmd)}` exited {cp.returncode}\n{out[-20000:]}\n"
        f"server stderr (tail):\n{srv.stderr_tail()}"
    )
