"""Launcher of the `/docs` browser test (`tests/browser/docs.mjs`): starts its own
`datahooks serve` and runs node on the test in Debian's Chromium. The control server,
node_modules and Chromium are the main browser launcher's (`test_browser.py`).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Callable

import test_browser as tb
from e2e_helpers import REPO_ROOT, Datahooks


def test_browser_docs(make_server: Callable[..., Datahooks]) -> None:
    node = shutil.which("node")
    assert node, "node is needed for the browser tests (Debian: apt-get install nodejs)"
    assert Path(tb.CHROMIUM).exists(), f"Chromium not found at {tb.CHROMIUM}"
    tb.ensure_node_modules()
    srv = make_server()
    control = tb.Control(srv)
    (tb.ARTIFACTS / "screenshots").mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.update(
        DATAHOOKS_URL=srv.base_url,
        DATAHOOKS_CONTROL_URL=control.url,
        DATAHOOKS_ARTIFACTS=str(tb.ARTIFACTS),
        DATAHOOKS_DOCS=str(tb.DOCS),
        CHROMIUM_PATH=tb.CHROMIUM,
    )
    cmd = [node, "--test", "--test-reporter=spec", str(tb.BROWSER_DIR / "docs.mjs")]
    try:
        cp = subprocess.run(
            cmd, cwd=REPO_ROOT, env=env, capture_output=True, text=True,
            timeout=tb.NODE_TIMEOUT, stdin=subprocess.DEVNULL,
        )
    finally:
        control.close()
    out = cp.stdout + cp.stderr
    (tb.ARTIFACTS / "browser-docs.log").write_text(out)
    assert cp.returncode == 0, (
        f"`{' '.join(cmd)}` exited {cp.returncode}\n{out[-20000:]}\n"
        f"server stderr (tail):\n{srv.stderr_tail()}"
    )
