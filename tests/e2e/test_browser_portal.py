"""Launcher of the app portal browser test (`tests/browser/portal.mjs`): makes a user with an
organization, enables webhooks for both with the real `svix` client, asks it for an app
portal link (`authentication.app_portal_access`) and runs node on the test with the link.
The rest (control server, node_modules, Chromium) is the main browser launcher's,
`test_browser.py`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import test_browser as tb
from e2e_helpers import REPO_ROOT, unique
from receiver import enable_webhooks


def test_browser_portal(server, owner) -> None:
    from svix.api import ApplicationIn, AppPortalAccessIn

    node = shutil.which("node")
    assert node, "node is needed for the browser tests (Debian: apt-get install nodejs)"
    assert Path(tb.CHROMIUM).exists(), f"Chromium not found at {tb.CHROMIUM}"
    tb.ensure_node_modules()
    hooks = enable_webhooks(server.base_url, owner.username, owner.api_key)
    org = unique("org")
    server.create_org(org, owner.username)
    hooks.svix.application.create(ApplicationIn(name=org, uid=org))
    link = hooks.svix.authentication.app_portal_access(hooks.app_id, AppPortalAccessIn())
    control = tb.Control(server)
    (tb.ARTIFACTS / "screenshots").mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.update(
        DATAHOOKS_URL=server.base_url,
        DATAHOOKS_CONTROL_URL=control.url,
        DATAHOOKS_ARTIFACTS=str(tb.ARTIFACTS),
        DATAHOOKS_DOCS=str(tb.DOCS),
        CHROMIUM_PATH=tb.CHROMIUM,
        DATAHOOKS_PORTAL_URL=link.url,
        DATAHOOKS_PORTAL_ACCOUNT=owner.username,
        DATAHOOKS_PORTAL_OTHER=org,
        DATAHOOKS_PORTAL_KEY=owner.api_key,
        DATAHOOKS_PORTAL_APP=hooks.app_id,
    )
    cmd = [node, "--test", "--test-reporter=spec", str(tb.BROWSER_DIR / "portal.mjs")]
    try:
        cp = subprocess.run(
            cmd, cwd=REPO_ROOT, env=env, capture_output=True, text=True,
            timeout=tb.NODE_TIMEOUT, stdin=subprocess.DEVNULL,
        )
    finally:
        control.close()
    out = cp.stdout + cp.stderr
    (tb.ARTIFACTS / "browser-portal.log").write_text(out)
    assert cp.returncode == 0, (
        f"`{' '.join(cmd)}` exited {cp.returncode}\n{out[-20000:]}\n"
        f"server stderr (tail):\n{server.stderr_tail()}"
    )
