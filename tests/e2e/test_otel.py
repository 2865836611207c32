"""OpenTelemetry traces from ingest to delivery: with `OTEL_EXPORTER_OTLP_ENDPOINT` set, the real
binary exports its spans over OTLP/HTTP to a receiver on loopback (`otlp_receiver.py`), in JSON
and in protobuf. A sample created through segments-ai gives one trace: the API request's span
is an ancestor of every delivery attempt's span, the first attempt (handed to the worker in
memory, answered 500) and the retry (claimed from the queue later, so its trace context came
from the stored message). An incoming `traceparent` is continued. Without the variable no trace
context reaches the receivers.

Runs on PostgreSQL too (`DATAHOOKS_E2E_BACKEND=postgres` under scripts/with-postgres.sh)."""

from __future__ import annotations

import os
import re
import secrets
from typing import Any, Callable, Iterator

import pytest
import requests

from e2e_helpers import VECTOR_TASK_ATTRIBUTES, Datahooks, default_binary, fresh_pg_database, image_attrs, unique
from otlp_receiver import OtlpReceiver, Span, ancestors
from receiver import Receiver, Reply, enable_webhooks

SAMPLES_ROUTE = "/datasets/{owner}/{name}/samples/"
TRACEPARENT_RE = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-0[01]$")


@pytest.fixture
def otlp() -> Iterator[OtlpReceiver]:
    r = OtlpReceiver()
    yield r
    r.close()


def traced_server(
    make_server: Callable[..., Datahooks], monkeypatch: pytest.MonkeyPatch, otlp: OtlpReceiver, protocol: str
) -> Datahooks:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", otlp.endpoint)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", protocol)
    monkeypatch.setenv("OTEL_SERVICE_NAME", "datahooks-e2e")
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "100")  # export batches quickly
    return make_server()


def setup_account(srv: Datahooks, rcv: Receiver) -> tuple[Any, Any, str, Any]:
    """A user with webhooks on, a dataset, then an endpoint at `rcv` (so it gets what comes
    after the dataset)."""
    name = unique("otel")
    key = srv.create_user(name, email=f"{name}@example.com")
    client = srv.client(key)
    hooks = enable_webhooks(srv.base_url, name, key)
    ds = client.add_dataset(unique("ds"), task_type="vector", task_attributes=VECTOR_TASK_ATTRIBUTES)
    ep, _ = hooks.add_endpoint(rcv)
    return client, ep, key, ds


def attempts_of(spans: list[Span], msg_id: str) -> list[Span]:
    return sorted(
        (s for s in spans if s.name == "webhook attempt" and s.attributes.get("msg_id") == msg_id),
        key=lambda s: s.attributes.get("attempt", 0),
    )


def request_spans(spans: list[Span], trace_id: str) -> list[Span]:
    return [
        s
        for s in spans
        if s.trace_id == trace_id and s.kind == 2 and s.attributes.get("http.route") == SAMPLES_ROUTE
    ]


@pytest.mark.parametrize("protocol", ["http/json", "http/protobuf"])
def test_one_trace_from_the_sdk_call_to_every_delivery_attempt(
    make_server: Callable[..., Datahooks],
    monkeypatch: pytest.MonkeyPatch,
    otlp: OtlpReceiver,
    receivers: Callable[..., Receiver],
    protocol: str,
) -> None:
    srv = traced_server(make_server, monkeypatch, otlp, protocol)
    rcv = receivers()
    rcv.script(Reply(500, b"not yet"))  # the first attempt fails; the retry is claimed later
    client, ep, _, ds = setup_account(srv, rcv)

    client.add_sample(ds.full_name, "rose.png", image_attrs())
    got = rcv.wait_count(2, where=lambda d: d.event_type == "sample.created")
    assert len(got) == 2, [(d.msg_id, d.event_type, d.reply and d.reply.status) for d in rcv.deliveries]
    msg_id = got[0].msg_id
    assert msg_id and got[1].msg_id == msg_id

    spans = otlp.wait_for(lambda ss: len(attempts_of(ss, msg_id)) >= 2)
    attempts = attempts_of(spans, msg_id)
    assert len(attempts) == 2, f"attempt spans: {attempts}\nall: {[s.name for s in spans]}"
    expected_type = "application/json" if protocol == "http/json" else "application/x-protobuf"
    assert set(otlp.content_types) == {expected_type}

    first, retry = attempts
    trace_id = first.trace_id
    assert retry.trace_id == trace_id, "the retry, claimed from the queue, is in the same trace"
    (request,) = request_spans(spans, trace_id)
    assert request.attributes["http.request.method"] == "POST"
    assert request.attributes["http.response.status_code"] in (200, 201)
    assert request.resource.get("service.name") == "datahooks-e2e"

    for n, (span, status) in enumerate([(first, 500), (retry, 200)], start=1):
        assert span.kind == 3, span  # client
        assert span.attributes["endpoint_id"] == ep.id
        assert span.attributes["attempt"] == n
        assert span.attributes["http.response.status_code"] == status
        assert request in ancestors(span, spans), f"attempt {n} does not descend from the request"
    assert first.attributes["outcome"] == "retry"
    assert retry.attributes["outcome"] == "success"

    # Each delivery carried its attempt's context, so the receiver's own spans can join.
    for delivery, span in zip(got, attempts):
        m = TRACEPARENT_RE.match(delivery.headers.get("traceparent", ""))
        assert m, delivery.headers
        assert m.group(1) == trace_id and m.group(2) == span.span_id

    assert srv.stop() == 0  # the exporter flushes and the server still stops gracefully


def test_an_incoming_traceparent_is_continued(
    make_server: Callable[..., Datahooks],
    monkeypatch: pytest.MonkeyPatch,
    otlp: OtlpReceiver,
    receivers: Callable[..., Receiver],
) -> None:
    srv = traced_server(make_server, monkeypatch, otlp, "http/json")
    rcv = receivers()
    _, ep, key, ds = setup_account(srv, rcv)
    caller_trace, caller_span = secrets.token_hex(16), secrets.token_hex(8)

    r = requests.post(
        f"{srv.base_url}/datasets/{ds.full_name}/samples/",
        json={"name": "tulip.png", "attributes": image_attrs()},
        headers={"Authorization": f"APIKey {key}", "traceparent": f"00-{caller_trace}-{caller_span}-01"},
        timeout=30,
    )
    assert r.status_code in (200, 201), r.text
    (delivery,) = rcv.wait_count(1, where=lambda d: d.event_type == "sample.created")

    spans = otlp.wait_for(lambda ss: len(attempts_of(ss, delivery.msg_id)) >= 1 and request_spans(ss, caller_trace))
    (request,) = request_spans(spans, caller_trace)
    assert request.parent_span_id == caller_span, "the request span is the caller's span's child"
    (attempt,) = attempts_of(spans, delivery.msg_id)
    assert attempt.trace_id == caller_trace
    assert attempt.attributes["endpoint_id"] == ep.id
    assert request in ancestors(attempt, spans)


def test_without_the_variable_no_trace_context_travels(
    make_server: Callable[..., Datahooks], monkeypatch: pytest.MonkeyPatch, receivers: Callable[..., Receiver]
) -> None:
    for var in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        monkeypatch.delenv(var, raising=False)
    srv = make_server()
    rcv = receivers()
    client, _, _, ds = setup_account(srv, rcv)
    client.add_sample(ds.full_name, "rose.png", image_attrs())
    (delivery,) = rcv.wait_count(1, where=lambda d: d.event_type == "sample.created")
    assert "traceparent" not in delivery.headers


def test_an_unsupported_protocol_is_refused_at_start(
    make_server: Callable[..., Datahooks], monkeypatch: pytest.MonkeyPatch, otlp: OtlpReceiver
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", otlp.endpoint)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
    with pytest.raises(RuntimeError, match="OTEL_EXPORTER_OTLP_PROTOCOL=grpc is not supported"):
        make_server()


@pytest.mark.skipif(
    os.environ.get("DATAHOOKS_E2E_BACKEND") != "postgres", reason="several nodes need the PostgreSQL backend"
)
def test_a_delivery_claimed_by_another_node_joins_the_trace(
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
    otlp: OtlpReceiver,
    receivers: Callable[..., Receiver],
) -> None:
    """An API-only node takes the message; a worker-only node claims and sends it. Each node
    exports its own spans (told apart by service name), and they form one trace."""
    db, key = fresh_pg_database(), secrets.token_hex(32)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", otlp.endpoint)
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "100")
    nodes = []
    try:
        for role in ("api", "worker"):
            monkeypatch.setenv("OTEL_SERVICE_NAME", f"datahooks-{role}")
            node = Datahooks(
                binary=default_binary(),
                data_dir=tmp_path_factory.mktemp(f"otel-{role}"),
                database_url=db,
                extra_args=["--secret-key", key, "--role", role],
            )
            node.start()
            nodes.append(node)
        api = nodes[0]
        rcv = receivers()
        name = unique("otel")
        api_key = api.create_user(name)
        hooks = enable_webhooks(api.base_url, name, api_key)
        ep, _ = hooks.add_endpoint(rcv)
        r = requests.post(
            f"{api.base_url}/api/v1/app/{name}/msg",
            json={"eventType": "trace.test", "payload": {"n": 1}},
            headers={"Authorization": f"Bearer {api_key}"},
            timeout=30,
        )
        assert r.status_code == 202, r.text
        msg_id = r.json()["id"]
        (delivery,) = rcv.wait_count(1, timeout=30)
        assert delivery.msg_id == msg_id

        spans = otlp.wait_for(
            lambda ss: attempts_of(ss, msg_id)
            and any(s.kind == 2 and s.attributes.get("http.route") == "/api/v1/app/{app}/msg" for s in ss)
        )
        (attempt,) = attempts_of(spans, msg_id)
        assert attempt.resource.get("service.name") == "datahooks-worker"
        assert attempt.attributes["endpoint_id"] == ep.id
        request = [s for s in ancestors(attempt, spans) if s.kind == 2]
        assert request, f"the attempt has no request ancestor: {attempt}"
        assert request[0].resource.get("service.name") == "datahooks-api"
        assert request[0].attributes["http.request.method"] == "POST"
    finally:
        for node in nodes:
            node.stop()
