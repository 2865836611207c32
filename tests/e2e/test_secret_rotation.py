"""`datahooks secret-key rotate` while the server delivers: no delivery goes out unsigned or
wrongly signed, and afterwards the old key can be dropped.

1. The server runs with key OLD; endpoints are created (their signing secrets sealed with OLD),
   one of them has its signing secret rotated through the API (so it also holds a previous
   secret, sealed with OLD).
2. The server restarts with `--secret-key NEW,OLD` (the deploy step of a rotation: seal with
   NEW, open with either). Writers keep creating samples while `datahooks secret-key rotate`
   re-seals every endpoint secret under NEW, a few endpoints per transaction.
3. Every delivery at every step is verified on arrival with `standardwebhooks` (and `svix`)
   against its own endpoint's `whsec_` secret; every sample reaches every endpoint.
4. The server restarts with NEW alone: deliveries still verify, the secrets read through the
   API are unchanged, and OLD alone opens nothing any more.

Runs on PostgreSQL too (`DATAHOOKS_E2E_BACKEND=postgres` under `scripts/with-postgres.sh`).
"""

from __future__ import annotations

import secrets as pysecrets
import threading
import time

import pytest
from e2e_helpers import VECTOR_TASK_ATTRIBUTES, CliError, Datahooks, default_binary, image_attrs, unique
from receiver import enable_webhooks, svix_client

ENDPOINTS = 5


def test_rotate_the_secret_key_while_delivering(tmp_path_factory: pytest.TempPathFactory, receivers) -> None:
    old, new = pysecrets.token_hex(32), pysecrets.token_hex(32)
    srv = Datahooks(binary=default_binary(), data_dir=tmp_path_factory.mktemp("rotate"), extra_args=["--secret-key", old])
    srv.start()
    try:
        _run(srv, receivers, old, new)
    finally:
        try:
            srv.stop()
        except RuntimeError:
            pass


def _restart(srv: Datahooks, key_arg: str) -> None:
    assert srv.stop() == 0
    srv.extra_args = ["--secret-key", key_arg]
    srv.start()


def _run(srv: Datahooks, receivers, old: str, new: str) -> None:
    name = unique("rot")
    key = srv.create_user(name, email=f"{name}@example.com")
    hooks = enable_webhooks(srv.base_url, name, key)
    rcvs = [receivers(name=f"ep{i}") for i in range(ENDPOINTS)]
    eps = [hooks.add_endpoint(r, event_types=["sample.created"])[0] for r in rcvs]
    # One endpoint rotates its signing secret: it then signs with both, the old one sealed too.
    from svix.api import EndpointSecretRotateIn

    hooks.svix.endpoint.rotate_secret(hooks.app_id, eps[0].id, EndpointSecretRotateIn())
    rcvs[0].add_secret(hooks.svix.endpoint.get_secret(hooks.app_id, eps[0].id).key)
    whsecs = {ep.id: hooks.svix.endpoint.get_secret(hooks.app_id, ep.id).key for ep in eps}

    client = srv.client(key)
    ds = client.add_dataset(unique("rot"), task_type="vector", task_attributes=VECTOR_TASK_ATTRIBUTES).full_name
    created: list[str] = []

    def add(n: int) -> None:
        s = client.add_sample(ds, f"s{n:04d}.png", image_attrs())
        created.append(s.uuid)

    for n in range(5):
        add(n)

    # Deploy NEW first, OLD still accepted; rotate while writers keep the worker busy.
    client.close()
    _restart(srv, f"{new},{old}")
    client = srv.client(key)
    stop = threading.Event()
    errors: list[BaseException] = []
    counter = [100]

    def writer() -> None:
        try:
            while not stop.is_set():
                counter[0] += 1
                add(counter[0])
        except BaseException as e:  # surfaced below
            errors.append(e)

    t = threading.Thread(target=writer, daemon=True)
    t.start()
    time.sleep(0.3)
    out = srv.cli("secret-key", "rotate", "--secret-key", f"{new},{old}", "--batch-size", "2").stdout
    time.sleep(0.3)
    stop.set()
    t.join(30)
    assert not errors, errors
    assert f"re-sealed {ENDPOINTS} endpoint secret(s)" in out, out
    during = len(created)
    assert during > 5, "no sample was created while the rotation ran"

    # A second run finds nothing left under OLD.
    again = srv.cli("secret-key", "rotate", "--secret-key", f"{new},{old}").stdout
    assert f"re-sealed 0 endpoint secret(s) under the first key ({ENDPOINTS} already were" in again, again

    # Drop OLD: NEW alone opens everything.
    client.close()
    _restart(srv, new)
    client = srv.client(key)
    for n in range(1000, 1005):
        add(n)
    client.close()
    sv = svix_client(srv.base_url, key)  # the port changed with the restart
    assert {ep.id: sv.endpoint.get_secret(hooks.app_id, ep.id).key for ep in eps} == whsecs, (
        "the signing secrets changed: only their sealing may"
    )
    with pytest.raises(CliError, match="open with none of the keys"):
        srv.cli("secret-key", "rotate", "--secret-key", old)

    # Every sample reached every endpoint, every delivery verified with its endpoint's secret.
    want = set(created)
    for r in rcvs:
        r.wait_for(lambda ds: want <= {d.json["object"]["uuid"] for d in ds}, timeout=60)
        got = {d.json["object"]["uuid"] for d in r.deliveries}
        assert want <= got, f"{r.name}: {len(want - got)} of {len(want)} samples not delivered"
        r.assert_all_verified()
        assert all(d.reply is None or d.reply.status < 300 for d in r.deliveries)
    print(f"rotation: {len(created)} samples ({during - 5} written during the rotation), "
          f"{sum(len(r.deliveries) for r in rcvs)} deliveries, all verified")
