"""Durability: SIGKILL the server in the middle of a burst of ~200 sample creations made by
concurrent SDK clients, restart it on the same data dir, and count: every event committed in
the outbox reaches every subscribed endpoint at least once (deduplicated on webhook-id).

A delivery that was in flight when the process died is held by its lease (request timeout +
45 s) until it runs out, so the wait after the restart is bounded by about a minute; the server
here runs with `--request-timeout 2` to keep that short.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from e2e_helpers import VECTOR_TASK_ATTRIBUTES, Datahooks, default_binary, image_attrs, unique
from receiver import enable_webhooks
from segments import SegmentsClient

BURST = 200
KILL_AFTER = 80
THREADS = 8


def test_sigkill_mid_burst_loses_no_event(tmp_path_factory: pytest.TempPathFactory, receivers, record_property) -> None:
    srv = Datahooks(
        binary=default_binary(), data_dir=tmp_path_factory.mktemp("crash"), extra_args=["--request-timeout", "2"]
    )
    srv.start()
    try:
        _run(srv, receivers, record_property)
    finally:
        try:
            srv.stop()
        except RuntimeError:
            pass


def _run(srv: Datahooks, receivers, record_property) -> None:
    name = unique("crash")
    key = srv.create_user(name, email=f"{name}@example.com")
    hooks = enable_webhooks(srv.base_url, name, key)
    every = receivers(name="every")
    samples_only = receivers(name="samples-only")
    hooks.add_endpoint(every)
    hooks.add_endpoint(samples_only, event_types=["sample.created"])
    setup = srv.client(key)
    ds = setup.add_dataset(unique("burst"), task_type="vector", task_attributes=VECTOR_TASK_ATTRIBUTES).full_name
    setup.close()

    names = [f"s{i:03d}.png" for i in range(BURST)]
    acknowledged: dict[str, str] = {}  # name -> uuid, the server said 200
    errors: dict[str, str] = {}
    lock = threading.Lock()
    started = [0]
    kill_now = threading.Event()
    clients = [SegmentsClient(api_key=key, api_url=srv.base_url + "/") for _ in range(THREADS)]

    def one(i: int) -> None:
        n = names[i]
        with lock:
            started[0] += 1
            if started[0] >= KILL_AFTER:
                kill_now.set()
        try:
            s = clients[i % THREADS].add_sample(ds, n, image_attrs())
            with lock:
                acknowledged[n] = s.uuid
        except Exception as e:  # the server died under us
            with lock:
                errors[n] = type(e).__name__

    t0 = time.monotonic()
    with ThreadPoolExecutor(THREADS) as pool:
        futures = [pool.submit(one, i) for i in range(BURST)]
        kill_now.wait(60)
        rc = srv.kill()
        killed_at = time.monotonic()
        for f in futures:
            f.result()
    for c in clients:
        c.close()
    assert rc == -9, f"server exit code after SIGKILL: {rc}"
    assert len(acknowledged) >= KILL_AFTER // 2, f"only {len(acknowledged)} creations before the kill"
    assert errors, "the kill came after the burst; nothing was in flight"

    srv.start()
    restarted_at = time.monotonic()
    # Finish the burst on the restarted server (fresh names: an errored request may have committed).
    c2 = srv.client(key)
    for n in list(errors)[:20]:
        s = c2.add_sample(ds, "retry-" + n, image_attrs())
        acknowledged["retry-" + n] = s.uuid
    c2.close()

    outbox = [e for e in srv.events() if e["payload"]["dataset"].split("/")[0] == name]
    created = {e["payload"]["object"]["uuid"]: e["id"] for e in outbox if e["payload"]["event_type"] == "sample.created"}
    lost_commits = sorted(n for n, u in acknowledged.items() if u not in created)
    assert not lost_commits, f"acknowledged sample creations missing from the outbox: {lost_commits[:10]}"
    all_ids = {e["id"] for e in outbox}
    sample_ids = set(created.values())

    every.wait_for(lambda ds_: all_ids <= {d.msg_id for d in ds_}, timeout=90)
    samples_only.wait_for(lambda ds_: sample_ids <= {d.msg_id for d in ds_}, timeout=30)
    done_at = time.monotonic()

    report: dict[str, Any] = {}
    for label, rcv, want in (("every", every, all_ids), ("samples-only", samples_only, sample_ids)):
        by = rcv.by_msg()
        missing = want - set(by)
        extra = set(by) - want
        dups = {m: len(v) for m, v in by.items() if len(v) > 1}
        report[label] = {"committed": len(want), "delivered": len(set(by) & want), "missing": len(missing),
                         "duplicates": len(dups), "extra_deliveries": sum(dups.values()) - len(dups)}
        assert not missing, f"{label}: {len(missing)} of {len(want)} committed events never delivered after restart"
        assert not extra, f"{label}: deliveries of messages not in the outbox: {sorted(extra)[:5]}"
        bad_types = [d.short() for d in rcv.deliveries if label == "samples-only" and d.event_type != "sample.created"]
        assert not bad_types, bad_types[:3]
        rcv.assert_all_verified()
    report["acknowledged_before_kill"] = len(acknowledged) - min(20, len(errors))
    report["errored_requests"] = len(errors)
    report["burst_to_kill_s"] = round(killed_at - t0, 2)
    report["restart_to_all_delivered_s"] = round(done_at - restarted_at, 2)
    print(f"\nSIGKILL report: {report}")
    record_property("sigkill_report", report)
