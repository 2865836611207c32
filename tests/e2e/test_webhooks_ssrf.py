"""SSRF guard: a server started WITHOUT --allow-destination refuses endpoints at forbidden
addresses when they are created (400/422 with a clear message), names of the localhost family
included. The connect-time guard (a name that resolves to a forbidden address at delivery) is
tested in test_destinations.py."""

from __future__ import annotations

import pytest
from e2e_helpers import Datahooks, raw, unique
from receiver import Hooks, enable_webhooks

FORBIDDEN = [
    "http://10.0.0.1/hook",
    "http://172.16.0.1/hook",
    "http://192.168.1.1/hook",
    "http://169.254.169.254/latest/meta-data/",
    "http://100.64.0.1/hook",
    "http://127.0.0.1:8080/hook",
    "http://0.0.0.0/hook",
    "http://224.0.0.1/hook",
    "http://192.0.2.1/hook",
    "http://[::1]/hook",
    "http://[fc00::1]/hook",
    "http://[fe80::1]/hook",
    "http://[::ffff:127.0.0.1]/hook",
    # more of the ranges the issue names
    "https://172.31.255.254/hook",
    "http://198.51.100.7/hook",
    "http://203.0.113.9/hook",
    "http://198.18.0.1/hook",
    "http://240.0.0.1/hook",
    "http://255.255.255.255/hook",
    "http://[::]/hook",
    "http://[fd12:3456::1]/hook",
    "http://[ff02::1]/hook",
    "http://[2001:db8::1]/hook",
    "http://[::ffff:169.254.169.254]/hook",
    "http://[::ffff:10.0.0.1]/hook",
    # other spellings of loopback that URL parsers normalise
    "http://127.1/hook",
    "http://2130706433/hook",
    "http://0x7f000001/hook",
]

BAD_SCHEMES = ["ftp://example.com/hook", "file:///etc/passwd", "gopher://example.com/", "javascript:alert(1)"]


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory):
    """A server with the SSRF guard fully on (no --allow-destination), and an account on it."""
    from e2e_helpers import default_binary

    srv = Datahooks(binary=default_binary(), data_dir=tmp_path_factory.mktemp("ssrf"), allow_destinations=())
    srv.start()
    name = unique("ssrf")
    key = srv.create_user(name, email=f"{name}@example.com")
    hooks = enable_webhooks(srv.base_url, name, key)
    try:
        yield srv, hooks, key
    finally:
        srv.stop()


@pytest.mark.parametrize("url", FORBIDDEN)
def test_forbidden_destination_refused_at_creation(guarded, url: str) -> None:
    srv, hooks, _ = guarded
    r = raw("POST", f"{srv.base_url}/api/v1/app/{hooks.app_id}/endpoint", json={"url": url}, headers=hooks.auth)
    assert r.status_code in (400, 422), f"{url}: {r.status_code} {r.text[:300]}"
    body = r.json()
    assert set(body) >= {"code", "detail"}, body
    text = f"{body['code']} {body['detail']}".lower()
    assert any(w in text for w in ("forbidden", "not allowed", "private", "reserved")), f"{url}: unclear error {body}"


def test_forbidden_destination_refused_on_update_and_allowed_public(guarded) -> None:
    srv, hooks, _ = guarded
    base = f"{srv.base_url}/api/v1/app/{hooks.app_id}/endpoint"
    r = raw("POST", base, json={"url": "https://93.184.216.34/hook"}, headers=hooks.auth)
    assert r.status_code == 201, f"a public address was refused: {r.status_code} {r.text}"
    ep = r.json()["id"]
    for method in ("PUT", "PATCH"):
        r = raw(method, f"{base}/{ep}", json={"url": "http://169.254.169.254/"}, headers=hooks.auth)
        assert r.status_code in (400, 422), f"{method} to metadata address: {r.status_code} {r.text}"
    assert raw("GET", f"{base}/{ep}", headers=hooks.auth).json()["url"] == "https://93.184.216.34/hook"
    raw("DELETE", f"{base}/{ep}", headers=hooks.auth)


@pytest.mark.parametrize("url", BAD_SCHEMES)
def test_only_http_and_https(guarded, url: str) -> None:
    srv, hooks, _ = guarded
    r = raw("POST", f"{srv.base_url}/api/v1/app/{hooks.app_id}/endpoint", json={"url": url}, headers=hooks.auth)
    assert r.status_code in (400, 422), f"{url}: {r.status_code} {r.text[:300]}"
    assert "detail" in r.json()


def test_allow_list_opens_only_its_range(server: Datahooks, owner, webhooks) -> None:
    """The session server allows 127.0.0.0/8 only: other private ranges stay closed."""
    hooks: Hooks = webhooks(owner)
    for url in ("http://10.0.0.1/", "http://169.254.169.254/", "http://[::1]/", "http://192.168.0.10/"):
        r = raw("POST", f"{server.base_url}/api/v1/app/{hooks.app_id}/endpoint", json={"url": url}, headers=hooks.auth)
        assert r.status_code in (400, 422), f"{url}: {r.status_code} {r.text[:200]}"


def test_name_resolving_to_loopback_is_refused_at_creation(guarded, receivers) -> None:
    srv, hooks, _ = guarded
    rcv = receivers(name="loopback-by-name")
    url = f"http://localhost:{rcv.port}/hook"
    r = raw("POST", f"{srv.base_url}/api/v1/app/{hooks.app_id}/endpoint", json={"url": url}, headers=hooks.auth)
    assert r.status_code in (400, 422), f"{url}: {r.status_code} {r.text[:300]}"
    assert r.json()["code"] == "forbidden_destination", r.json()
    assert rcv.deliveries == []
