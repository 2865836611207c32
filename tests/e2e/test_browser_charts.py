"""Launcher of the charts browser test (`tests/browser/charts.mjs`): starts its own
`datahooks serve` with the retry schedule `1s,60s`, so a failed delivery is retried once and
then waits a minute (its next retry time can be read on the message page), and runs node on
the test. The control server, node_modules and Chromium are the main browser launcher's
(`test_browser.py`).
"""

from __future__ import annotations

from typing import Callable

import test_browser as tb
from e2e_helpers import Datahooks


def test_browser_charts(make_server: Callable[..., Datahooks]) -> None:
    tb.run_node_test(make_server(retry_schedule="1s,60s"), "charts")
