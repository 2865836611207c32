"""App portal access through the real `svix` 2.9.1 client: `authentication.app_portal_access`
returns `{url, token}`, a short-lived sign-in link to the Manage webhooks page of that one
account; opening it starts a server-side web session for that account only. `logout` (called
with the link's token) and `expire_all` (all the application's links, or those of some session
ids) end the link and the sessions it opened; a `readOnly` link may look but not change.

The browser side (Chromium opens the link, sees the page, is refused after `expire_all`) is
`test_browser_portal.py`. Runs on PostgreSQL too (`DATAHOOKS_E2E_BACKEND=postgres` under
`scripts/with-postgres.sh`).
"""

from __future__ import annotations

import re

import pytest
import requests
from e2e_helpers import unique
from receiver import svix_client


def _open(url: str) -> requests.Session:
    s = requests.Session()
    r = s.get(url, timeout=10)
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store"
    assert "dh_session=" in r.headers["set-cookie"]
    return s


def _page(s: requests.Session, base: str, account: str) -> requests.Response:
    return s.get(f"{base}/ui/accounts/{account}/webhooks", timeout=10, allow_redirects=False)


def _signed_in(s: requests.Session, base: str, account: str) -> bool:
    r = _page(s, base, account)
    if r.status_code == 200:
        return True
    assert r.status_code in (302, 303, 307) and r.headers["location"].endswith("/ui/login"), (r.status_code, r.text[:200])
    return False


def test_portal_link_signs_in_to_one_account(server, owner, other, webhooks):
    from svix.api import ApplicationIn, AppPortalAccessIn
    from svix.exceptions import HttpError

    hooks = webhooks(owner)
    base = server.base_url
    # The owner also manages an organization with webhooks: the link must not show it.
    org = unique("org")
    server.create_org(org, owner.username)
    hooks.svix.application.create(ApplicationIn(name=org, uid=org))

    access = hooks.svix.authentication.app_portal_access(hooks.app_id, AppPortalAccessIn())
    assert access.url == f"{base}/ui/portal/{access.token}", access
    assert re.fullmatch(r"[0-9a-f]{64}", access.token)
    s = _open(access.url)
    page = _page(s, base, owner.username)
    assert page.status_code == 200 and f"Manage webhooks for {owner.username}" in page.text
    # The start page is that account's page; another account is not there.
    start = s.get(f"{base}/ui/", timeout=10, allow_redirects=False)
    assert start.status_code in (302, 303) and start.headers["location"] == f"/ui/accounts/{owner.username}/webhooks"
    assert _page(s, base, org).status_code == 404
    # Another user cannot make a link for this application.
    with pytest.raises(HttpError) as info:
        svix_client(base, other.api_key).authentication.app_portal_access(hooks.app_id, AppPortalAccessIn())
    assert info.value.status_code == 404
    # Expiry outside Svix's bounds (1 h to 7 days) is refused.
    with pytest.raises(HttpError) as info:
        hooks.svix.authentication.app_portal_access(hooks.app_id, AppPortalAccessIn(expiry=60))
    assert info.value.status_code == 400

    # logout with the link's token ends the link and its sessions; an API key cannot.
    with pytest.raises(HttpError) as info:
        hooks.svix.authentication.logout()
    assert info.value.status_code == 401
    svix_client(base, access.token).authentication.logout()
    assert not _signed_in(s, base, owner.username)
    assert requests.get(access.url, timeout=10).status_code == 410
    # The owner's own API access is untouched.
    assert hooks.svix.application.get(hooks.app_id).uid == owner.username


def test_expire_all_ends_the_applications_links(server, owner, webhooks):
    from svix.api import AppPortalAccessIn, ApplicationTokenExpireIn

    hooks = webhooks(owner)
    base = server.base_url
    a = hooks.svix.authentication.app_portal_access(hooks.app_id, AppPortalAccessIn(session_id="a"))
    b = hooks.svix.authentication.app_portal_access(hooks.app_id, AppPortalAccessIn(session_id="b", expiry=7200))
    sa, sb = _open(a.url), _open(b.url)
    assert _signed_in(sa, base, owner.username) and _signed_in(sb, base, owner.username)

    # Only the sessions of the ids named...
    hooks.svix.authentication.expire_all(hooks.app_id, ApplicationTokenExpireIn(session_ids=["a"]))
    assert not _signed_in(sa, base, owner.username)
    assert _signed_in(sb, base, owner.username)
    # ...then every link of the application, and the links cannot be opened again.
    hooks.svix.authentication.expire_all(hooks.app_id, ApplicationTokenExpireIn())
    assert not _signed_in(sb, base, owner.username)
    for link in (a.url, b.url):
        assert requests.get(link, timeout=10).status_code == 410
    # A new link works again.
    c = hooks.svix.authentication.app_portal_access(hooks.app_id, AppPortalAccessIn())
    assert _signed_in(_open(c.url), base, owner.username)


def test_read_only_link_may_look_but_not_change(server, owner, webhooks):
    from svix.api import AppPortalAccessIn

    hooks = webhooks(owner)
    base = server.base_url
    link = hooks.svix.authentication.app_portal_access(hooks.app_id, AppPortalAccessIn(read_only=True))
    s = _open(link.url)
    page = _page(s, base, owner.username)
    assert page.status_code == 200
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    r = s.post(
        f"{base}/ui/accounts/{owner.username}/webhooks",
        data={"csrf": csrf, "action": "disable"},
        headers={"Origin": base},
        timeout=10,
        allow_redirects=False,
    )
    assert r.status_code == 403 and "read-only" in r.text, r.text[:300]
    assert hooks.svix.application.get(hooks.app_id).uid == owner.username, "still enabled"
    # Signing out is allowed.
    out = s.post(f"{base}/ui/logout", data={"csrf": csrf}, headers={"Origin": base}, timeout=10, allow_redirects=False)
    assert out.status_code in (302, 303) and out.headers["location"] == "/ui/login"
    assert not _signed_in(s, base, owner.username)
