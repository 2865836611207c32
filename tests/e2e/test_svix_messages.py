"""Svix message features through the real `svix` 2.9.1 client against the real binary: message
tags and the `tag` filter (messages and attempts), `with_content=false` in lists and
`with_msg=true` on attempt lists, payload expunge (the message stays, its payload reads
`{"expired": true}`, deliveries not yet made are canceled and never sent, and it cannot be
resent), attempt response expunge, and `payloadRetentionPeriod` bounds (1–90 days, 422 outside).

Runs on PostgreSQL too (`DATAHOOKS_E2E_BACKEND=postgres` under `scripts/with-postgres.sh`).
"""

from __future__ import annotations

import pytest
from e2e_helpers import raw
from receiver import Reply
from svix.exceptions import HttpError, HTTPValidationError


def _msg(sv, app, event_type, payload, **kw):
    from svix.api import MessageIn

    return sv.message.create(app, MessageIn(event_type=event_type, payload=payload, **kw))


def test_tags_are_kept_and_filter_messages_and_attempts(owner, webhooks, receivers):
    from svix.api import (
        MessageAttemptListAttemptedMessagesOptions,
        MessageAttemptListByEndpointOptions,
        MessageAttemptListByMsgOptions,
        MessageListOptions,
    )

    hooks = webhooks(owner)
    sv, app = hooks.svix, hooks.app_id
    rcv = receivers(name="tags")
    ep, _ = hooks.add_endpoint(rcv)
    red = _msg(sv, app, "paint.done", {"c": "red"}, tags=["colour.red", "project#1"])
    blue = _msg(sv, app, "paint.done", {"c": "blue"}, tags=["colour.blue"])
    plain = _msg(sv, app, "paint.done", {"c": "none"})
    assert sorted(red.tags) == ["colour.red", "project#1"] and blue.tags == ["colour.blue"]
    assert not plain.tags
    assert sorted(sv.message.get(app, red.id).tags) == ["colour.red", "project#1"]
    rcv.wait_count(3)
    hooks.wait_attempts(ep.id, 3)

    tagged = sv.message.list(app, MessageListOptions(tag="colour.red")).data
    assert [m.id for m in tagged] == [red.id]
    assert [m.id for m in sv.message.list(app, MessageListOptions(tag="nope")).data] == []
    assert {m.id for m in sv.message.list(app).data} == {red.id, blue.id, plain.id}

    by_ep = sv.message_attempt.list_by_endpoint(app, ep.id, MessageAttemptListByEndpointOptions(tag="colour.blue")).data
    assert [a.msg_id for a in by_ep] == [blue.id]
    by_msg = sv.message_attempt.list_by_msg(app, red.id, MessageAttemptListByMsgOptions(tag="colour.blue")).data
    assert by_msg == []
    attempted = sv.message_attempt.list_attempted_messages(
        app, ep.id, MessageAttemptListAttemptedMessagesOptions(tag="project#1")
    ).data
    assert [m.id for m in attempted] == [red.id]

    # Bad tags are Svix validation errors, and nothing is created.
    before = len(sv.message.list(app).data)
    for bad in (["a b"], ["x"] * 6, [""], ["t" * 129]):
        with pytest.raises(HTTPValidationError) as info:
            _msg(sv, app, "paint.done", {"c": "x"}, tags=bad)
        assert info.value.detail[0].loc == ["body", "tags"], (bad, info.value)
    assert len(sv.message.list(app).data) == before


def test_with_content_and_with_msg(owner, webhooks, receivers):
    from svix.api import (
        MessageAttemptListAttemptedMessagesOptions,
        MessageAttemptListByEndpointOptions,
        MessageListOptions,
    )

    hooks = webhooks(owner)
    sv, app = hooks.svix, hooks.app_id
    rcv = receivers(name="content")
    ep, _ = hooks.add_endpoint(rcv)
    m = _msg(sv, app, "doc.saved", {"text": "secret stuff"}, tags=["t1"])
    rcv.wait_count(1)
    hooks.wait_attempts(ep.id, 1)

    # The client sends with_content=false unless told: lists then leave payloads out ({}).
    [lean] = sv.message.list(app).data
    assert lean.id == m.id and lean.payload == {}
    [full] = sv.message.list(app, MessageListOptions(with_content=True)).data
    assert full.payload == {"text": "secret stuff"} and full.tags == ["t1"]
    [lean_ep] = sv.message_attempt.list_attempted_messages(app, ep.id).data
    assert lean_ep.payload == {}
    [full_ep] = sv.message_attempt.list_attempted_messages(
        app, ep.id, MessageAttemptListAttemptedMessagesOptions(with_content=True)
    ).data
    assert full_ep.payload == {"text": "secret stuff"}
    # A single message always has its payload.
    assert sv.message.get(app, m.id).payload == {"text": "secret stuff"}

    # with_msg embeds the message in each attempt; without it there is none.
    [plain] = sv.message_attempt.list_by_endpoint(app, ep.id).data
    assert plain.msg is None
    [att] = sv.message_attempt.list_by_endpoint(
        app, ep.id, MessageAttemptListByEndpointOptions(with_msg=True, with_content=True)
    ).data
    assert att.msg.id == m.id and att.msg.payload == {"text": "secret stuff"} and att.msg.tags == ["t1"]
    [att] = sv.message_attempt.list_by_endpoint(app, ep.id, MessageAttemptListByEndpointOptions(with_msg=True)).data
    assert att.msg.id == m.id and att.msg.payload == {}


def test_expunge_payload_cancels_what_has_not_gone_out(server, owner, webhooks, receivers):
    from svix.api import MessageAttemptListByMsgOptions, MessageListOptions

    hooks = webhooks(owner)
    sv, app = hooks.svix, hooks.app_id
    ok = receivers(name="ok")
    ep_ok, _ = hooks.add_endpoint(ok)
    # An endpoint that fails the first attempt: its delivery then waits (pending) for the retry
    # 5 s later, and its endpoint is disabled meanwhile so nothing else moves it.
    waiting = receivers(name="waiting")
    waiting.script(Reply(500, b"not now"))
    ep_wait, _ = hooks.add_endpoint(waiting)
    m = _msg(sv, app, "card.charged", {"card": "4242 4242 4242 4242"})
    ok.wait_count(1)
    waiting.wait_count(1)
    [att] = hooks.wait_attempts(ep_ok.id, 1)
    hooks.wait_attempts(ep_wait.id, 1)
    from svix.api import EndpointPatch

    sv.endpoint.patch(app, ep_wait.id, EndpointPatch(disabled=True))
    pending = {e.id: int(e.status) for e in sv.message_attempt.list_attempted_destinations(app, m.id).data}
    assert pending[ep_wait.id] == 1, pending

    sv.message.expunge_content(app, m.id)
    # The message stays; its payload is gone, wherever it is read.
    got = sv.message.get(app, m.id)
    assert got.id == m.id and got.event_type == "card.charged" and got.payload == {"expired": True}
    [listed] = sv.message.list(app, MessageListOptions(with_content=True)).data
    assert listed.payload == {"expired": True}
    assert "4242" not in raw("GET", f"{server.base_url}/api/v1/app/{app}/msg/{m.id}", headers=hooks.auth).text
    # What went out keeps its outcome; what had not is canceled (status 4), visible as such.
    states = {e.id: (int(e.status), e.status_text) for e in sv.message_attempt.list_attempted_destinations(app, m.id).data}
    assert states[ep_ok.id] == (0, "success"), states
    assert states[ep_wait.id] == (4, "canceled"), states
    assert sv.endpoint.get_stats(app, ep_wait.id).canceled == 1
    # Enabling the endpoint again sends nothing, not even at the retry's time: the payload is gone.
    sv.endpoint.patch(app, ep_wait.id, EndpointPatch(disabled=False))
    waiting.quiet_for(7.0, timeout=8)
    assert len(waiting.deliveries) == 1, [d.short() for d in waiting.deliveries]
    assert len(hooks.attempts_by_msg(m.id)) == 2
    # It cannot be resent either (there is nothing to send).
    with pytest.raises(HttpError) as info:
        sv.message_attempt.resend(app, m.id, ep_ok.id)
    assert info.value.status_code == 400 and "expunged" in info.value.detail
    # Expunging twice is fine; an unknown message is 404.
    sv.message.expunge_content(app, m.id)
    with pytest.raises(HttpError) as info:
        sv.message.expunge_content(app, "msg_nope")
    assert info.value.status_code == 404

    # Attempt response expunge.
    ok.script(Reply(200, b"token=abc123"))
    m2 = _msg(sv, app, "card.charged", {"card": "x"})
    [a2] = hooks.wait_attempts(ep_ok.id, 1, where=lambda a: a.msg_id == m2.id)
    assert a2.response == "token=abc123"
    sv.message_attempt.expunge_content(app, m2.id, a2.id)
    assert sv.message_attempt.get(app, m2.id, a2.id).response == "EXPUNGED"
    [again] = [a for a in hooks.attempts_by_msg(m2.id) if a.id == a2.id]
    assert again.response == "EXPUNGED"
    # The other attempt is untouched; a wrong pair is 404.
    assert sv.message_attempt.get(app, m.id, att.id).response == att.response
    with pytest.raises(HttpError) as info:
        sv.message_attempt.expunge_content(app, m.id, a2.id)
    assert info.value.status_code == 404


def test_payload_retention_period_bounds(owner, other, webhooks):
    hooks = webhooks(owner)
    sv, app = hooks.svix, hooks.app_id
    for days in (1, 90):
        m = _msg(sv, app, "x.y", {"n": days}, payload_retention_period=days)
        assert sv.message.get(app, m.id).payload == {"n": days}
    for days in (0, 91, -3):
        with pytest.raises(HTTPValidationError) as info:
            _msg(sv, app, "x.y", {"n": days}, payload_retention_period=days)
        assert info.value.detail[0].loc == ["body", "payloadRetentionPeriod"], info.value
    # Another account cannot expunge (or even see) these messages.
    m = sv.message.list(app).data[0]
    r = raw("DELETE", f"{hooks.base_url}/api/v1/app/{owner.username}/msg/{m.id}/content", headers=other.auth)
    assert r.status_code == 404
    assert sv.message.get(app, m.id).payload != {"expired": True}
