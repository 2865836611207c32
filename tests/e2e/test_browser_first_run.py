"""Launcher of the first-run browser test (`tests/browser/first-run.mjs`): starts its own
`datahooks serve` on an empty store (the session server already has users), takes the
one-time setup link from the server's console output, and runs node on the test with
DATAHOOKS_SETUP_URL set. The rest (control server, node_modules, Chromium) is the main browser
launcher's, `test_browser.py`.
"""

from __future__ import annotations

import re
import time
from typing import Callable

import test_browser as tb
from e2e_helpers import Datahooks

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
    srv = make_server()
    tb.run_node_test(srv, "first-run", DATAHOOKS_SETUP_URL=setup_link(srv))
