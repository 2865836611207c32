"""`Idempotency-Key` only after authentication, against the real binary: unauthenticated (or
wrongly authenticated) POSTs with random keys add no rows to the idempotency table, and the
scope is the account, so `Bearer K` and `APIKey K` replay one another."""

from __future__ import annotations

import sqlite3
import subprocess
import uuid

from e2e_helpers import Datahooks, raw


def idempotency_rows(server: Datahooks) -> int:
    if server.database_url:
        cp = subprocess.run(
            ["psql", server.database_url, "-tAc", "SELECT count(*) FROM idempotency"],
            check=True,
            capture_output=True,
            text=True,
            timeout=60,
        )
        return int(cp.stdout.strip())
    con = sqlite3.connect(f"file:{server.data_dir / 'datahooks.db'}?mode=ro", uri=True)
    try:
        return con.execute("SELECT count(*) FROM idempotency").fetchone()[0]
    finally:
        con.close()


def test_unauthenticated_posts_write_no_idempotency_rows(server: Datahooks, owner):
    before = idempotency_rows(server)
    statuses = set()
    for i in range(50):
        headers = {"Idempotency-Key": uuid.uuid4().hex, "Content-Type": "application/json"}
        if i % 2:
            headers["Authorization"] = f"Bearer dh_{uuid.uuid4().hex}"  # a key that does not exist
        path = ["/api/v1/app/", f"/api/v1/app/{owner.username}/msg/", "/user/datasets/"][i % 3]
        r = raw("POST", server.base_url + path, headers=headers, data='{"name": "x"}')
        statuses.add(r.status_code)
    assert statuses <= {401}, statuses
    assert idempotency_rows(server) == before, "an unauthenticated request wrote to the store"

    # An authenticated one does (so the count above could have moved).
    r = raw(
        "POST",
        server.base_url + "/api/v1/app/",
        headers={**owner.auth, "Idempotency-Key": uuid.uuid4().hex},
        json={"name": owner.username, "uid": owner.username},
    )
    assert r.status_code in (200, 201), r.text
    assert idempotency_rows(server) == before + 1


def test_bearer_and_apikey_are_one_scope(server: Datahooks, owner, other, webhooks):
    webhooks(owner)
    webhooks(other)
    key = uuid.uuid4().hex
    url = f"{server.base_url}/api/v1/app/{owner.username}/endpoint/"
    body = {"url": "http://127.0.0.1:9/a", "description": "first"}
    first = raw("POST", url, headers={"Authorization": f"APIKey {owner.api_key}", "Idempotency-Key": key}, json=body)
    assert first.status_code == 201, first.text
    again = raw(
        "POST",
        url,
        headers={"Authorization": f"Bearer {owner.api_key}", "Idempotency-Key": key},
        json={**body, "description": "second"},
    )
    assert again.status_code == 201, again.text
    assert again.json()["id"] == first.json()["id"], "Bearer K and APIKey K were two scopes"
    listed = raw("GET", url, headers=owner.auth).json()["data"]
    assert [e["description"] for e in listed] == ["first"]

    # Another account with the same Idempotency-Key is its own scope.
    theirs = raw(
        "POST",
        f"{server.base_url}/api/v1/app/{other.username}/endpoint/",
        headers={**other.auth, "Idempotency-Key": key},
        json=body,
    )
    assert theirs.status_code == 201, theirs.text
    assert theirs.json()["id"] != first.json()["id"]
