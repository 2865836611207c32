"""Destinations, against the real binary (issue 15, item 9): names of the localhost family and
names that resolve only to forbidden addresses are refused when an endpoint is created or
changed, with a clear error; IPv6 spellings that embed an IPv4 address are judged by it;
`--allow-destination` takes `CIDR`, `CIDR:port` and `[v6CIDR]:port`; and the connect-time
guard still refuses a destination that was allowed when the endpoint was made."""

from __future__ import annotations

import socket
import subprocess

import pytest
from e2e_helpers import VECTOR_TASK_ATTRIBUTES, Datahooks, default_binary, raw, unique
from receiver import Hooks, enable_webhooks

LOCALHOST_NAMES = [
    "http://localhost/hook",
    "http://LOCALHOST:8080/hook",
    "http://localhost./hook",
    "http://api.localhost/hook",
    "http://a.b.localhost:9/hook",
    "http://localhost.localdomain/hook",
    "http://ip6-localhost/hook",
    "http://ip6-loopback/hook",
]

EMBEDDED_FORBIDDEN = [
    "http://[::ffff:0:7f00:1]/hook",  # IPv4-translated 127.0.0.1 (the example)
    "http://[::ffff:0:127.0.0.1]/hook",
    "http://[::ffff:0:a9fe:a9fe]/hook",  # translated 169.254.169.254
    "http://[::7f00:1]/hook",  # IPv4-compatible 127.0.0.1
    "http://[::a00:1]/hook",  # compatible 10.0.0.1
    "http://[64:ff9b::7f00:1]/hook",  # NAT64 well-known prefix, 127.0.0.1
    "http://[64:ff9b::a9fe:a9fe]/hook",  # NAT64, 169.254.169.254
    "http://[64:ff9b::c0a8:1]/hook",  # NAT64, 192.168.0.1
    "http://[::ffff:7f00:1]/hook",  # mapped, hex spelling
]


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory):
    """A server with no --allow-destination, and an account with webhooks on."""
    srv = Datahooks(binary=default_binary(), data_dir=tmp_path_factory.mktemp("dest"), allow_destinations=())
    srv.start()
    name = unique("dest")
    key = srv.create_user(name, email=f"{name}@example.com")
    try:
        yield srv, enable_webhooks(srv.base_url, name, key)
    finally:
        srv.stop()


def create(srv: Datahooks, hooks: Hooks, url: str):
    return raw("POST", f"{srv.base_url}/api/v1/app/{hooks.app_id}/endpoint", json={"url": url}, headers=hooks.auth)


def assert_refused(r, url: str, *words: str) -> None:
    assert r.status_code in (400, 422), f"{url}: {r.status_code} {r.text[:300]}"
    body = r.json()
    assert body["code"] == "forbidden_destination", (url, body)
    for w in words:
        assert w in body["detail"], (url, body)


@pytest.mark.parametrize("url", LOCALHOST_NAMES)
def test_localhost_names_are_refused_at_creation(guarded, url: str) -> None:
    srv, hooks = guarded
    assert_refused(create(srv, hooks, url), url, "loopback")


@pytest.mark.parametrize("url", EMBEDDED_FORBIDDEN)
def test_ipv6_forms_embedding_a_forbidden_ipv4_are_refused(guarded, url: str) -> None:
    srv, hooks = guarded
    assert_refused(create(srv, hooks, url), url, "not allowed")


def test_embedded_public_ipv4_is_judged_as_public(guarded) -> None:
    srv, hooks = guarded
    for url in ("http://[64:ff9b::5db8:d822]/hook", "http://[::ffff:0:5db8:d822]/hook"):  # 93.184.216.34
        r = create(srv, hooks, url)
        assert r.status_code == 201, f"{url}: {r.status_code} {r.text}"
        raw("DELETE", f"{srv.base_url}/api/v1/app/{hooks.app_id}/endpoint/{r.json()['id']}", headers=hooks.auth)


def test_localhost_names_are_refused_on_update(guarded) -> None:
    srv, hooks = guarded
    base = f"{srv.base_url}/api/v1/app/{hooks.app_id}/endpoint"
    r = create(srv, hooks, "https://93.184.216.34/hook")
    assert r.status_code == 201, r.text
    ep = r.json()["id"]
    for method in ("PUT", "PATCH"):
        r = raw(method, f"{base}/{ep}", json={"url": "http://api.localhost/x"}, headers=hooks.auth)
        assert_refused(r, method, "loopback")
    assert raw("GET", f"{base}/{ep}", headers=hooks.auth).json()["url"] == "https://93.184.216.34/hook"


def test_a_name_that_resolves_only_to_forbidden_addresses_is_refused(guarded) -> None:
    """This machine's own name (not of the localhost family) resolves through /etc/hosts."""
    srv, hooks = guarded
    host = socket.gethostname()
    try:
        addrs = {a[4][0] for a in socket.getaddrinfo(host, 80)}
    except socket.gaierror:
        pytest.skip(f"{host} does not resolve here")
    if "localhost" in host or not all(a.startswith("127.") or a == "::1" for a in addrs):
        pytest.skip(f"{host} resolves to {addrs}, not only to loopback")
    url = f"http://{host}:8080/hook"
    assert_refused(create(srv, hooks, url), url, "resolves only to forbidden addresses")


def test_allow_destination_with_a_port_opens_only_that_port(make_server, make_account, receivers) -> None:
    rcv = receivers(name="port-allowed")
    srv = make_server(allow_destinations=(f"127.0.0.1/32:{rcv.port}", "[::1]:9", "10.0.0.0/8"))
    name = unique("port")
    key = srv.create_user(name, email=f"{name}@example.com")
    hooks = enable_webhooks(srv.base_url, name, key)
    # The allowed port, by address and by name (the name goes through the guarded resolver,
    # which learns the port of the delivery).
    by_ip, _ = hooks.add_endpoint(rcv, url=f"http://127.0.0.1:{rcv.port}/hook")
    by_name, _ = hooks.add_endpoint(rcv, url=f"http://localhost:{rcv.port}/hook")
    # Any other port of the same address is refused; the port-less rule opens every port.
    assert_refused(create(srv, hooks, f"http://127.0.0.1:{rcv.port + 1}/hook"), "other port", "not allowed")
    assert_refused(create(srv, hooks, "http://localhost:80/hook"), "other port by name", "loopback")
    assert create(srv, hooks, "http://10.1.2.3:1234/hook").status_code == 201
    assert create(srv, hooks, "http://[::1]:9/hook").status_code == 201
    assert_refused(create(srv, hooks, "http://[::1]:10/hook"), "[::1]:10", "not allowed")

    client = srv.client(key)
    try:
        client.add_dataset(unique("ds"), task_type="vector", task_attributes=VECTOR_TASK_ATTRIBUTES)
        got = rcv.wait_count(2, timeout=20)
        assert len(got) >= 2, got
        for ep in (by_ip, by_name):
            atts = hooks.wait_attempts(ep.id, 1, where=lambda a: a.response_status_code == 200)
            assert atts, f"no successful attempt for {ep.url}"
    finally:
        client.close()


@pytest.mark.parametrize("bad", ["10.0.0.0/33", "127.0.0.1/32:0", "fd00::/8:443", "[10.0.0.0/8]:80", "nope"])
def test_malformed_allow_destination_stops_the_server_with_a_clear_message(tmp_path, bad: str) -> None:
    cp = subprocess.run(
        [str(default_binary()), "serve", "--listen", "127.0.0.1:0", "--data-dir", str(tmp_path), "--allow-destination", bad],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert cp.returncode != 0
    assert "--allow-destination" in cp.stderr and "CIDR:port" in cp.stderr, cp.stderr[-500:]


def loopback_name() -> str:
    """A name that resolves only to loopback and is not of the localhost family (so only the
    resolver judges it): this machine's own name where /etc/hosts says so, else `localhost`."""
    host = socket.gethostname()
    try:
        addrs = {a[4][0] for a in socket.getaddrinfo(host, 80)}
    except socket.gaierror:
        return "localhost"
    return host if addrs and all(a.startswith("127.") or a == "::1" for a in addrs) else "localhost"


def test_connect_time_guard_refuses_what_creation_allowed(tmp_path_factory, receivers) -> None:
    """An endpoint made while loopback was allowed, then the server restarted without the
    allowance: the resolver refuses the name at delivery and nothing reaches the receiver."""
    rcv = receivers(name="later-forbidden")
    data_dir = tmp_path_factory.mktemp("dest-restart")
    first = Datahooks(binary=default_binary(), data_dir=data_dir, allow_destinations=("127.0.0.0/8",))
    first.start()
    name = unique("restart")
    try:
        key = first.create_user(name, email=f"{name}@example.com")
        hooks = enable_webhooks(first.base_url, name, key)
        ep, _ = hooks.add_endpoint(url=f"http://{loopback_name()}:{rcv.port}/hook")
    finally:
        first.stop()
    second = Datahooks(
        binary=default_binary(), data_dir=data_dir, allow_destinations=(), database_url=first.database_url
    )
    second.start()
    try:
        from receiver import svix_client

        hooks = Hooks(svix=svix_client(second.base_url, key), app_id=name, account=name, base_url=second.base_url, api_key=key)
        client = second.client(key)
        try:
            client.add_dataset(unique("ds"), task_type="vector", task_attributes=VECTOR_TASK_ATTRIBUTES)
            atts = hooks.wait_attempts(ep.id, 1, timeout=10)
            assert atts, "no attempt was made"
            for a in atts:
                assert a.response_status_code == 0, a
                assert any(w in a.response for w in ("forbidden", "not allowed")), a.response
            rcv.quiet_for(0.5, timeout=2)
            assert rcv.deliveries == [], "the connect-time guard let a delivery through"
        finally:
            client.close()
    finally:
        second.stop()
