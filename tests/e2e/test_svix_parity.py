"""Svix parity through the real `svix` 2.9.1 client against the real binary: application
settings (PUT/PATCH with `name`, `throttleRate`, `metadata`), endpoint attempt stats over a
window, recover windows of at most 14 days, and `svix.ping` for send-example.

Runs on PostgreSQL too (`DATAHOOKS_E2E_BACKEND=postgres` under `scripts/with-postgres.sh`).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from e2e_helpers import raw
from receiver import svix_client


def test_application_settings_are_kept(server, owner, other):
    from svix.api import ApplicationIn, ApplicationPatch

    sv = svix_client(server.base_url, owner.api_key)
    # PUT on an account without webhooks enables them (Svix's upsert creates).
    app = sv.application.upsert(
        owner.username,
        ApplicationIn(name="Owner's hooks", uid=owner.username, throttle_rate=7, metadata={"team": "ml"}),
    )
    assert (app.uid, app.name, app.throttle_rate, app.metadata) == (owner.username, "Owner's hooks", 7, {"team": "ml"})
    got = sv.application.get(app.id)
    assert (got.name, got.throttle_rate, got.metadata) == ("Owner's hooks", 7, {"team": "ml"})

    # PATCH changes what it names and keeps the rest.
    p = sv.application.patch(owner.username, ApplicationPatch(metadata={"team": "cv", "tier": "gold"}))
    assert (p.name, p.throttle_rate, p.metadata) == ("Owner's hooks", 7, {"team": "cv", "tier": "gold"})
    assert p.updated_at >= got.updated_at
    p = sv.application.patch(app.id, ApplicationPatch(name="Renamed"))
    assert (p.name, p.throttle_rate, p.metadata["tier"]) == ("Renamed", 7, "gold")

    # PUT replaces: what it leaves out goes back to the default.
    put = sv.application.upsert(owner.username, ApplicationIn(name="Plain"))
    assert (put.name, put.throttle_rate, put.metadata) == ("Plain", None, {})
    listed = {a.uid: a for a in sv.application.list().data}
    assert listed[owner.username].name == "Plain"

    # Bad values are refused with 4xx and change nothing.
    url = f"{server.base_url}/api/v1/app/{owner.username}/"
    for body in ({"throttleRate": 0}, {"metadata": {"a": 1}}, {"name": ""}, {"uid": "someone-else"}):
        r = raw("PATCH", url, headers=owner.auth, json=body)
        assert 400 <= r.status_code < 500 and r.status_code != 404, (body, r.status_code, r.text)
        assert "detail" in r.json()
    assert sv.application.get(owner.username).name == "Plain"

    # Another user's application stays invisible.
    r = raw("PATCH", url, headers=other.auth, json={"name": "mine"})
    assert r.status_code == 404
    r = raw("PUT", url, headers=other.auth, json={"name": "mine"})
    assert r.status_code == 404

    # Disabling and creating again starts from the new body's settings.
    sv.application.delete(owner.username)
    again = sv.application.create(ApplicationIn(name="Fresh", uid=owner.username, metadata={"k": "v"}))
    assert (again.name, again.throttle_rate, again.metadata) == ("Fresh", None, {"k": "v"})
