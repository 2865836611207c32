"""Svix's 422 shape through the real `svix` 2.9.1 client against the real binary: every 422 of
the Svix API is `{"detail": [{"loc", "msg", "type"}]}` (Svix's HTTPValidationError), which the
client raises as `HTTPValidationError` (with a string `detail` it crashed with AttributeError),
while the platform API's errors keep their string `detail` for the segments SDK.

Runs on PostgreSQL too (`DATAHOOKS_E2E_BACKEND=postgres` under `scripts/with-postgres.sh`).
"""

from __future__ import annotations

import pytest
from e2e_helpers import raw
from svix.exceptions import HTTPValidationError


def test_svix_422_is_a_validation_error_list(server, owner, webhooks):
    from svix.api import ApplicationIn, MessageListOptions

    hooks = webhooks(owner)
    sv, app = hooks.svix, hooks.app_id

    # A query parameter out of range: loc names it.
    with pytest.raises(HTTPValidationError) as info:
        sv.message.list(app, MessageListOptions(limit=251))
    err = info.value
    assert err.status_code == 422
    assert [(d.loc, d.type) for d in err.detail] == [(["query", "limit"], "invalid_limit")], err
    assert "between 1 and 250" in err.detail[0].msg

    # A body field breaking a rule: loc is ["body", field].
    with pytest.raises(HTTPValidationError) as info:
        sv.application.upsert(owner.username, ApplicationIn(name="x", uid="someone-else"))
    assert info.value.detail[0].loc == ["body", "uid"], info.value
    assert owner.username in info.value.detail[0].msg

    # The raw body: a list under `detail`, and the stable code beside it.
    r = raw("GET", f"{server.base_url}/api/v1/app/{app}/msg", headers=owner.auth, params={"limit": 0})
    body = r.json()
    assert r.status_code == 422 and body["code"] == "invalid_limit", r.text
    assert isinstance(body["detail"], list) and set(body["detail"][0]) == {"loc", "msg", "type"}, body


def test_other_errors_keep_a_string_detail(server, owner, other, webhooks):
    hooks = webhooks(owner)
    # Svix API, not a 422: {code, detail} with a string, as Svix's HttpError reads it.
    r = raw("GET", f"{server.base_url}/api/v1/app/{hooks.app_id}/msg/msg_nope", headers=owner.auth)
    assert r.status_code == 404 and isinstance(r.json()["detail"], str), r.text
    r = raw("GET", f"{server.base_url}/api/v1/app/{owner.username}", headers=other.auth)
    assert r.status_code == 404 and isinstance(r.json()["detail"], str), r.text
    # Platform API: its validation errors are 400s with the string the segments SDK reads.
    r = raw("POST", f"{server.base_url}/user/datasets", headers=owner.auth, json={"name": "bad name!"})
    assert 400 <= r.status_code < 500 and r.status_code != 422, r.text
    assert isinstance(r.json()["detail"], str), r.text
