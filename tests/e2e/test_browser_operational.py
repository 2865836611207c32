"""Launcher of the operational webhooks browser test (`tests/browser/operational.mjs`): starts
its own `datahooks serve` and runs node on the test. The control server, node_modules and
Chromium are the main browser launcher's (`test_browser.py`).
"""

from __future__ import annotations

from typing import Callable

import test_browser as tb
from e2e_helpers import Datahooks


def test_browser_operational(make_server: Callable[..., Datahooks]) -> None:
    tb.run_node_test(make_server(), "operational")
