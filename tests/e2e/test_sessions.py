"""Web sessions end when they should, against the real binary: signing out makes the old
cookie worthless (a replay is sent to sign-in), `datahooks apikey revoke` ends at once the
sessions that key opened, and only those, and `datahooks user delete` ends the user's. A forged
or altered cookie never opens a page."""

from __future__ import annotations

import re

import requests
from e2e_helpers import Datahooks, raw, unique


def new_key(server: Datahooks, user: str) -> tuple[str, str]:
    """`datahooks apikey create`: (key id, key)."""
    out = server.cli("apikey", "create", user).stdout
    key_id = re.search(r"created key id (\S+)", out).group(1)
    key = [ln.strip() for ln in out.splitlines() if ln.strip()][-1]
    return key_id, key


def sign_in(base_url: str, key: str) -> str:
    """Signs in with the form; returns the session cookie's value."""
    r = raw("POST", base_url + "/ui/login", data={"api_key": key})
    assert r.status_code in (302, 303), (r.status_code, r.text[:300])
    cookie = r.cookies.get("dh_session")
    assert cookie, r.headers
    return cookie


def page(base_url: str, cookie: str, path: str = "/ui/") -> requests.Response:
    return raw("GET", base_url + path, headers={"Cookie": f"dh_session={cookie}"})


def signed_in(r: requests.Response) -> bool:
    if r.status_code == 200:
        return True
    assert r.status_code in (302, 303) and r.headers["location"].endswith("/ui/login"), r.status_code
    return False


def csrf_of(r: requests.Response) -> str:
    m = re.search(r'name="csrf" value="([0-9a-f]+)"', r.text)
    assert m, r.text[:500]
    return m.group(1)


def test_sign_out_ends_the_session_and_a_replayed_cookie_is_refused(server: Datahooks):
    name = unique("sess")
    key = server.create_user(name, email=f"{name}@example.com")
    cookie = sign_in(server.base_url, key)
    home = page(server.base_url, cookie)
    assert signed_in(home) and name in home.text

    other = sign_in(server.base_url, key)  # a second session (another browser)
    r = raw(
        "POST",
        server.base_url + "/ui/logout",
        headers={"Cookie": f"dh_session={cookie}"},
        data={"csrf": csrf_of(home)},
    )
    assert r.status_code in (302, 303), r.status_code
    assert "Max-Age=0" in r.headers.get("set-cookie", "")
    # The browser forgot the cookie; an attacker who copied it replays it: refused.
    assert not signed_in(page(server.base_url, cookie))
    assert not signed_in(page(server.base_url, cookie, f"/ui/accounts/{name}/webhooks"))
    # The other session was not signed out.
    assert signed_in(page(server.base_url, other))


def test_revoking_the_key_ends_its_sessions_at_once(server: Datahooks):
    name = unique("sess")
    server.create_user(name, email=f"{name}@example.com")
    first_id, first = new_key(server, name)
    _, second = new_key(server, name)
    by_first = sign_in(server.base_url, first)
    by_second = sign_in(server.base_url, second)
    assert signed_in(page(server.base_url, by_first))

    server.cli("apikey", "revoke", first_id)

    assert not signed_in(page(server.base_url, by_first)), "the revoked key's session lives on"
    assert signed_in(page(server.base_url, by_second)), "another key's session ended too"
    r = raw("POST", server.base_url + "/ui/login", data={"api_key": first})
    assert r.status_code == 401 and "dh_session" not in r.cookies


def test_forged_and_altered_cookies_open_nothing(server: Datahooks):
    name = unique("sess")
    key = server.create_user(name, email=f"{name}@example.com")
    cookie = sign_in(server.base_url, key)
    token, mac = cookie.split(".")
    flipped = ("0" if token[0] != "0" else "1") + token[1:]
    for bad in [
        f"{flipped}.{mac}",
        f"{token}.{'0' * len(mac)}",
        f"{token}.",
        token,
        f"{token}.{mac[:-2]}",
        "",
        "x" * 5000,
    ]:
        assert not signed_in(page(server.base_url, bad)), bad[:80]
    assert signed_in(page(server.base_url, cookie))


def test_deleting_the_user_ends_its_sessions_at_once(server: Datahooks, make_dataset, owner):
    name = unique("sess")
    key = server.create_user(name, email=f"{name}@example.com")
    cookie = sign_in(server.base_url, key)
    assert signed_in(page(server.base_url, cookie))

    server.cli("user", "delete", name)

    assert not signed_in(page(server.base_url, cookie))
    assert raw("GET", server.base_url + "/user", headers={"Authorization": f"APIKey {key}"}).status_code == 401

    # A user who still owns a dataset is not deleted, and keeps signing in.
    make_dataset()
    cp = server.cli("user", "delete", owner.username, check=False)
    assert cp.returncode != 0 and "owns datasets" in cp.stderr, cp.stderr[-300:]
    assert signed_in(page(server.base_url, sign_in(server.base_url, owner.api_key)))
