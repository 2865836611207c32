"""Launcher of the app portal browser test (`tests/browser/portal.mjs`): makes a user with an
organization, enables webhooks for both with the real `svix` client, asks it for an app
portal link (`authentication.app_portal_access`) and runs node on the test with the link.
The rest (control server, node_modules, Chromium) is the main browser launcher's,
`test_browser.py`.
"""

from __future__ import annotations

import test_browser as tb
from e2e_helpers import unique
from receiver import enable_webhooks


def test_browser_portal(server, owner) -> None:
    from svix.api import ApplicationIn, AppPortalAccessIn

    hooks = enable_webhooks(server.base_url, owner.username, owner.api_key)
    org = unique("org")
    server.create_org(org, owner.username)
    hooks.svix.application.create(ApplicationIn(name=org, uid=org))
    link = hooks.svix.authentication.app_portal_access(hooks.app_id, AppPortalAccessIn())
    tb.run_node_test(
        server,
        "portal",
        DATAHOOKS_PORTAL_URL=link.url,
        DATAHOOKS_PORTAL_ACCOUNT=owner.username,
        DATAHOOKS_PORTAL_OTHER=org,
        DATAHOOKS_PORTAL_KEY=owner.api_key,
        DATAHOOKS_PORTAL_APP=hooks.app_id,
    )
