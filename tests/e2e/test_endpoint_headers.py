"""Custom endpoint headers through the real `svix` 2.9.1 client (issue 15, item 6): values are
visible ASCII, space and tab only, names are RFC 9110 tokens, at most 20 headers of at most
4 KiB each; anything else is a 400 `{code, detail}` that says what is wrong, and changes
nothing. Accepted headers arrive with every delivery."""

from __future__ import annotations

from typing import Any

import pytest
from svix.api import EndpointHeadersIn, EndpointHeadersPatchIn, EndpointIn
from svix.exceptions import HttpError

from e2e_helpers import VECTOR_TASK_ATTRIBUTES, unique

BAD_VALUES = {
    "nul": "a\x00b",
    "soh": "\x01",
    "del": "x\x7f",
    "vertical tab": "a\x0bb",
    "line feed": "a\nX-Injected: 1",
    "carriage return": "a\rb",
    "non-ascii": "café",
}


def refused(fn, *args: Any) -> HttpError:
    with pytest.raises(HttpError) as info:
        fn(*args)
    err = info.value
    assert err.status_code == 400, (err.status_code, err.to_dict())
    assert err.code == "validation" and err.detail, err.to_dict()
    return err


@pytest.fixture
def endpoint(owner, webhooks, receivers):
    hooks = webhooks(owner)
    rcv = receivers(name="headers")
    ep, _ = hooks.add_endpoint(rcv)
    return hooks, ep, rcv


@pytest.mark.parametrize("what", sorted(BAD_VALUES))
def test_control_characters_and_non_ascii_values_are_refused(endpoint, what: str) -> None:
    hooks, ep, _ = endpoint
    value = BAD_VALUES[what]
    for call in (hooks.svix.endpoint.set_headers, hooks.svix.endpoint.patch_headers):
        body = EndpointHeadersIn if call == hooks.svix.endpoint.set_headers else EndpointHeadersPatchIn
        err = refused(call, hooks.app_id, ep.id, body(headers={"x-team": value}))
        assert "visible ASCII" in err.detail, err.detail
    err = refused(
        hooks.svix.endpoint.create,
        hooks.app_id,
        EndpointIn(url=ep.url, headers={"x-team": value}),
    )
    assert hooks.svix.endpoint.get_headers(hooks.app_id, ep.id).headers == {}


def test_names_must_be_tokens(endpoint) -> None:
    hooks, ep, _ = endpoint
    for name in ["x team", "x:team", "x(team)", "x/team", "tëam", "", "x" * 257]:
        err = refused(hooks.svix.endpoint.set_headers, hooks.app_id, ep.id, EndpointHeadersIn(headers={name: "v"}))
        assert "not a valid header name" in err.detail, (name, err.detail)
    # Every tchar is fine, and so are spaces and tabs inside a value.
    hooks.svix.endpoint.set_headers(
        hooks.app_id, ep.id, EndpointHeadersIn(headers={"x-a.b~c!#$%&'*+^_`|": "a b\tc ~!\"#"})
    )
    assert hooks.svix.endpoint.get_headers(hooks.app_id, ep.id).headers == {"x-a.b~c!#$%&'*+^_`|": "a b\tc ~!\"#"}


def test_at_most_20_headers_of_at_most_4_kib(endpoint) -> None:
    hooks, ep, _ = endpoint
    twenty = {f"x-h{i}": "v" for i in range(20)}
    hooks.svix.endpoint.set_headers(hooks.app_id, ep.id, EndpointHeadersIn(headers=twenty))
    err = refused(
        hooks.svix.endpoint.set_headers,
        hooks.app_id,
        ep.id,
        EndpointHeadersIn(headers={**twenty, "x-h20": "v"}),
    )
    assert "at most 20" in err.detail, err.detail
    # A PATCH that would take the set past 20 is refused too, and changes nothing.
    err = refused(hooks.svix.endpoint.patch_headers, hooks.app_id, ep.id, EndpointHeadersPatchIn(headers={"x-more": "v"}))
    assert "at most 20" in err.detail, err.detail
    assert len(hooks.svix.endpoint.get_headers(hooks.app_id, ep.id).headers) == 20
    # 2,000 headers at creation: refused, no endpoint made.
    before = len(hooks.svix.endpoint.list(hooks.app_id).data)
    refused(
        hooks.svix.endpoint.create,
        hooks.app_id,
        EndpointIn(url=ep.url, headers={f"x-h{i}": "v" for i in range(2000)}),
    )
    assert len(hooks.svix.endpoint.list(hooks.app_id).data) == before

    hooks.svix.endpoint.set_headers(hooks.app_id, ep.id, EndpointHeadersIn(headers={"x-big": "v" * 4096}))
    err = refused(
        hooks.svix.endpoint.set_headers, hooks.app_id, ep.id, EndpointHeadersIn(headers={"x-big": "v" * 4097})
    )
    assert "maximum is 4096" in err.detail, err.detail


def test_accepted_headers_arrive_with_deliveries(endpoint, owner) -> None:
    hooks, ep, rcv = endpoint
    hooks.svix.endpoint.set_headers(hooks.app_id, ep.id, EndpointHeadersIn(headers={"X-Team": "flowers\tteam 1"}))
    owner.client.add_dataset(unique("hdr"), task_type="vector", task_attributes=VECTOR_TASK_ATTRIBUTES)
    (d,) = rcv.wait_count(1)
    assert d.headers.get("x-team") == "flowers\tteam 1", d.headers
