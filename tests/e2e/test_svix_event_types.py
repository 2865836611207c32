"""Custom event types through the real `svix` 2.9.1 client: create, get, list, upsert, patch
and delete (archive; `expunge` deletes) for types beyond the 11 platform ones, which stay
read-only (403). Once a user has declared a type, its messages must name a known one (422
otherwise); endpoint filters may name its declared types, and a custom message goes only to
the endpoints that want it. Types are the caller's own: another user sees none of them.

Runs on PostgreSQL too (`DATAHOOKS_E2E_BACKEND=postgres` under `scripts/with-postgres.sh`).
"""

from __future__ import annotations

import pytest
import requests
from e2e_helpers import unique

SCHEMA_V1 = {
    "type": "object",
    "required": ["invoice", "amount"],
    "properties": {"invoice": {"type": "string"}, "amount": {"type": "number"}},
}


def _status(fn, *args) -> int:
    from svix.exceptions import HttpError

    with pytest.raises(HttpError) as info:
        fn(*args)
    return info.value.status_code


def _post_msg(hooks, event_type: str) -> requests.Response:
    return requests.post(
        f"{hooks.base_url}/api/v1/app/{hooks.app_id}/msg",
        json={"eventType": event_type, "payload": {"invoice": "in_1", "amount": 12.5}},
        headers=hooks.auth,
        timeout=10,
    )


def test_custom_event_types_lifecycle(owner, other, webhooks):
    from svix.api import EventTypeDeleteOptions, EventTypeIn, EventTypeListOptions, EventTypePatch, EventTypeUpsertIn

    sv = webhooks(owner).svix
    paid = unique("invoice") + ".paid"
    made = sv.event_type.create(
        EventTypeIn(name=paid, description="An invoice was paid", schemas={"1": SCHEMA_V1}, group_name="billing")
    )
    assert (made.name, made.description, made.deprecated, made.group_name) == (paid, "An invoice was paid", False, "billing")
    assert made.schemas == {"1": SCHEMA_V1} and made.archived is False
    got = sv.event_type.get(paid)
    assert got.schemas == {"1": SCHEMA_V1} and got.created_at == made.created_at
    names = [t.name for t in sv.event_type.list().data]
    assert paid in names and "sample.created" in names and len(names) == 12
    assert _status(sv.event_type.create, EventTypeIn(name=paid, description="again")) == 409

    # PUT creates or replaces; PATCH changes only what it names.
    refunded = paid.replace(".paid", ".refunded")
    put = sv.event_type.upsert(refunded, EventTypeUpsertIn(description="Refunded"))
    assert (put.name, put.description, put.schemas) == (refunded, "Refunded", None)
    patched = sv.event_type.patch(paid, EventTypePatch(deprecated=True, schemas={"1": SCHEMA_V1, "2": {"type": "object"}}))
    assert patched.deprecated is True and set(patched.schemas) == {"1", "2"}
    assert patched.description == "An invoice was paid" and patched.group_name == "billing"
    assert patched.updated_at >= made.updated_at

    # The 11 platform types stay as they are.
    assert _status(sv.event_type.create, EventTypeIn(name="sample.created", description="x")) == 403
    assert _status(sv.event_type.patch, "sample.created", EventTypePatch(description="x")) == 403
    assert _status(sv.event_type.upsert, "dataset.deleted", EventTypeUpsertIn(description="x")) == 403
    assert _status(sv.event_type.delete, "release.created") == 403
    assert sv.event_type.get("sample.created").description
    # Bad names and bodies: 4xx, nothing made.
    assert _status(sv.event_type.create, EventTypeIn(name="has space", description="x")) == 400

    # Another user sees none of them.
    osv = webhooks(other).svix
    assert paid not in [t.name for t in osv.event_type.list().data]
    assert _status(osv.event_type.get, paid) == 404

    # DELETE archives (hidden from the list unless asked for); expunge deletes.
    assert sv.event_type.delete(refunded) is None
    assert sv.event_type.get(refunded).archived is True
    assert refunded not in [t.name for t in sv.event_type.list().data]
    assert refunded in [t.name for t in sv.event_type.list(EventTypeListOptions(include_archived=True)).data]
    sv.event_type.delete(refunded, EventTypeDeleteOptions(expunge=True))
    assert _status(sv.event_type.get, refunded) == 404
    assert _status(sv.event_type.delete, refunded) == 404


def test_messages_and_filters_name_known_types(owner, other, webhooks, receivers):
    from svix.api import EndpointIn, EventTypeIn, MessageIn

    hooks = webhooks(owner)
    sv = hooks.svix
    # Before any type is declared, a message may name any type (as Svix accepts).
    assert _post_msg(hooks, "anything.goes").status_code == 202

    paid = unique("order") + ".paid"
    sv.event_type.create(EventTypeIn(name=paid, description="Paid", schemas={"1": SCHEMA_V1}))
    # Filters may name declared types; undeclared ones are refused.
    wants_paid, wants_samples = receivers(name="paid"), receivers(name="samples")
    ep_paid = sv.endpoint.create(hooks.app_id, EndpointIn(url=wants_paid.url, event_types=[paid, "sample.created"]))
    assert sorted(ep_paid.event_types) == sorted([paid, "sample.created"])
    sv.endpoint.create(hooks.app_id, EndpointIn(url=wants_samples.url, event_types=["sample.created"]))
    r = requests.post(
        f"{hooks.base_url}/api/v1/app/{hooks.app_id}/endpoint",
        json={"url": wants_paid.url, "filterTypes": ["never.declared"]},
        headers=hooks.auth,
        timeout=10,
    )
    assert r.status_code == 400 and "never.declared" in r.json()["detail"], r.text

    # Now only known types: the declared one and the 11.
    msg = sv.message.create(hooks.app_id, MessageIn(event_type=paid, payload={"invoice": "in_1", "amount": 12.5}))
    assert msg.event_type == paid
    (d,) = wants_paid.wait_count(1, where=lambda x: x.msg_id == msg.id)
    assert d.json == {"invoice": "in_1", "amount": 12.5}
    assert not wants_samples.quiet_for(0.5, timeout=3), "an endpoint that does not want the type got it"
    for bad in ("anything.goes", "order.unknown"):
        r = _post_msg(hooks, bad)
        assert r.status_code == 422, r.text
        # (The reason is in the body whichever 422 shape it takes.)
        assert bad in r.text and "event-type" in r.text, r.text
    with pytest.raises(Exception):
        sv.message.create(hooks.app_id, MessageIn(event_type="order.unknown", payload={}))
    assert _post_msg(hooks, "sample.created").status_code == 202

    # An archived type is no longer accepted, in messages or new filters.
    sv.event_type.delete(paid)
    assert _post_msg(hooks, paid).status_code == 422
    r = requests.post(
        f"{hooks.base_url}/api/v1/app/{hooks.app_id}/endpoint",
        json={"url": wants_paid.url, "filterTypes": [paid]},
        headers=hooks.auth,
        timeout=10,
    )
    assert r.status_code == 400, r.text

    # Another user's declared types do not bind this one, nor the other way round.
    other_hooks = webhooks(other)
    assert _post_msg(other_hooks, paid).status_code == 202


def test_editing_an_endpoint_on_the_web_page_keeps_its_custom_types(server, owner, webhooks, receivers):
    """The page's form shows the 11 platform types only: saving it keeps the custom ones."""
    import re

    from svix.api import AppPortalAccessIn, EndpointIn, EventTypeIn

    hooks = webhooks(owner)
    sv = hooks.svix
    paid = unique("bill") + ".paid"
    sv.event_type.create(EventTypeIn(name=paid, description="Paid"))
    ep = sv.endpoint.create(hooks.app_id, EndpointIn(url=receivers().url, event_types=[paid, "sample.created"]))
    # A web session through an app portal link (any sign-in would do).
    s = requests.Session()
    assert s.get(sv.authentication.app_portal_access(hooks.app_id, AppPortalAccessIn()).url, timeout=10).ok
    page_url = f"{server.base_url}/ui/accounts/{owner.username}/endpoints/{ep.id}"
    page = s.get(page_url, timeout=10)
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    r = s.post(
        page_url,
        data={"csrf": csrf, "action": "edit", "url": ep.url, "version": "1", "event_types": "sample.updated"},
        headers={"Origin": server.base_url},
        timeout=10,
    )
    assert r.status_code == 200, r.text[:500]
    assert sorted(sv.endpoint.get(hooks.app_id, ep.id).event_types) == sorted(["sample.updated", paid])
