"""Launcher of the `/docs` browser test (`tests/browser/docs.mjs`): starts its own
`datahooks serve` and runs node on the test in Debian's Chromium. The control server,
node_modules and Chromium are the main browser launcher's (`test_browser.py`).
"""

from __future__ import annotations

from typing import Callable

import test_browser as tb
from e2e_helpers import Datahooks


def test_browser_docs(make_server: Callable[..., Datahooks]) -> None:
    tb.run_node_test(make_server(), "docs")
