"""Disable cancels, through the real `svix` 2.9.1 client and the segments SDK against the real
binary: deleting an account's application (the "Disable" button) cancels its queued
deliveries, which are then never sent, not even once webhooks are enabled again; they show
as canceled (status 4) in the Svix API and its `status` filter; `recover` sends them.

Runs on PostgreSQL too (`DATAHOOKS_E2E_BACKEND=postgres` under `scripts/with-postgres.sh`).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from e2e_helpers import image_attrs
from receiver import Reply


def test_disable_cancels_queued_deliveries_until_recovered(owner, webhooks, receivers, dataset):
    from svix.api import (
        ApplicationIn,
        MessageAttemptListAttemptedMessagesOptions,
        MessageStatus,
        RecoverIn,
    )

    hooks = webhooks(owner)
    sv, app = hooks.svix, hooks.app_id
    rcv = receivers(name="held")
    # The first delivery is refused with Retry-After: the endpoint pauses, and what follows is
    # held in the queue (pending) for those seconds.
    rcv.script(Reply(429, b"slow down", retry_after="4"))
    ep, _ = hooks.add_endpoint(rcv)
    owner.client.add_sample(dataset.full_name, "a.png", image_attrs())
    rcv.wait_count(1)
    owner.client.add_sample(dataset.full_name, "b.png", image_attrs())
    owner.client.add_sample(dataset.full_name, "c.png", image_attrs())

    # Disable, then Enable again at once.
    sv.application.delete(app)
    sv.application.create(ApplicationIn(name=owner.username, uid=owner.username))

    # Past the pause nothing arrives: the held deliveries were canceled, not kept.
    rcv.quiet_for(6.0, timeout=8)
    assert len(rcv.deliveries) == 1, [d.short() for d in rcv.deliveries]
    canceled = sv.message_attempt.list_attempted_messages(
        app, ep.id, MessageAttemptListAttemptedMessagesOptions(status=MessageStatus.CANCELED)
    ).data
    assert len(canceled) == 3 and {int(m.status) for m in canceled} == {4}, canceled
    assert {m.status_text for m in canceled} == {"canceled"}
    assert sv.endpoint.get_stats(app, ep.id).canceled == 3
    for m in canceled:
        [dest] = sv.message_attempt.list_attempted_destinations(app, m.id).data
        assert (int(dest.status), dest.status_text) == (4, "canceled")

    # Recover sends them, once each.
    since = datetime.now(timezone.utc) - timedelta(hours=1)
    task = sv.endpoint.recover(app, ep.id, RecoverIn(since=since))
    assert hooks.wait_task(task.id).status.value == "finished"
    got = rcv.wait_count(4, timeout=20)
    names = sorted(d.json["object"]["name"] for d in got[1:])
    assert names == ["a.png", "b.png", "c.png"], [d.short() for d in got]
    rcv.quiet_for(1.0, timeout=3)
    assert len(rcv.deliveries) == 4
    assert sv.message_attempt.list_attempted_messages(
        app, ep.id, MessageAttemptListAttemptedMessagesOptions(status=MessageStatus.CANCELED)
    ).data == []


def test_disable_on_the_web_page_cancels_and_the_log_shows_it(server, owner, webhooks, receivers, dataset):
    import re

    from e2e_helpers import raw

    hooks = webhooks(owner)
    rcv = receivers(name="held-web")
    rcv.script(Reply(429, b"slow down", retry_after="4"))
    hooks.add_endpoint(rcv)
    owner.client.add_sample(dataset.full_name, "a.png", image_attrs())
    rcv.wait_count(1)
    owner.client.add_sample(dataset.full_name, "b.png", image_attrs())

    r = raw("POST", server.base_url + "/ui/login", data={"api_key": owner.api_key})
    assert r.status_code in (302, 303), r.text[:300]
    cookie = {"Cookie": f"dh_session={r.cookies.get('dh_session')}"}
    home = raw("GET", server.base_url + "/ui/", headers=cookie)
    csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', home.text).group(1)
    toggle = f"{server.base_url}/ui/accounts/{owner.username}/webhooks"
    for action in ("disable", "enable"):
        r = raw("POST", toggle, headers=cookie, data={"csrf": csrf, "action": action})
        assert r.status_code in (302, 303), (action, r.status_code, r.text[:300])

    rcv.quiet_for(6.0, timeout=8)
    assert len(rcv.deliveries) == 1, [d.short() for d in rcv.deliveries]
    log = raw("GET", f"{server.base_url}/ui/accounts/{owner.username}/messages?status=4", headers=cookie)
    assert log.status_code == 200, log.text[:300]
    assert log.text.count("1 canceled") == 2, log.text
    assert '<option value="4" selected' in log.text or 'value="4" selected' in log.text, log.text
