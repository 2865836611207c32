"""A small OTLP/HTTP trace receiver on loopback, for the OpenTelemetry e2e tests.

It accepts `POST /v1/traces` in both encodings the server can send: `application/json`
(`OTEL_EXPORTER_OTLP_PROTOCOL=http/json`) and `application/x-protobuf` (the default,
`http/protobuf`), decoded here by a minimal protobuf wire-format reader for the few fields of
`ExportTraceServiceRequest` the tests look at (no generated code, no extra package). Each
received span becomes a `Span` with hex ids, its name, kind, attributes (plain Python values)
and the resource's attributes.
"""

from __future__ import annotations

import json
import struct
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Optional


@dataclass
class Span:
    trace_id: str
    span_id: str
    parent_span_id: str  # "" for a root span
    name: str
    kind: int  # 2 server, 3 client
    attributes: dict[str, Any]
    resource: dict[str, Any] = field(default_factory=dict)


# ---- protobuf (wire format) ------------------------------------------------------------------


def _varint(buf: bytes, i: int) -> tuple[int, int]:
    shift = result = 0
    while True:
        b = buf[i]
        i += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, i
        shift += 7


def _fields(buf: bytes) -> dict[int, list[Any]]:
    """Field number -> values (ints for varint/fixed, bytes for length-delimited)."""
    out: dict[int, list[Any]] = {}
    i = 0
    while i < len(buf):
        key, i = _varint(buf, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _varint(buf, i)
        elif wire == 1:
            value = struct.unpack_from("<Q", buf, i)[0]
            i += 8
        elif wire == 2:
            n, i = _varint(buf, i)
            value = buf[i : i + n]
            i += n
        elif wire == 5:
            value = struct.unpack_from("<I", buf, i)[0]
            i += 4
        else:
            raise ValueError(f"unsupported wire type {wire}")
        out.setdefault(number, []).append(value)
    return out


def _first(f: dict[int, list[Any]], n: int, default: Any) -> Any:
    return f[n][0] if n in f else default


def _any_value_pb(buf: bytes) -> Any:
    f = _fields(buf)
    if 1 in f:
        return f[1][0].decode()
    if 2 in f:
        return bool(f[2][0])
    if 3 in f:
        v = f[3][0]
        return v - (1 << 64) if v >= 1 << 63 else v
    if 4 in f:
        return struct.unpack("<d", struct.pack("<Q", f[4][0]))[0]
    return None


def _attributes_pb(values: list[bytes]) -> dict[str, Any]:
    out = {}
    for kv in values:
        f = _fields(kv)
        out[_first(f, 1, b"").decode()] = _any_value_pb(_first(f, 2, b""))
    return out


def decode_protobuf(body: bytes) -> list[Span]:
    spans = []
    for rs in _fields(body).get(1, []):  # ExportTraceServiceRequest.resource_spans
        rsf = _fields(rs)
        resource = _attributes_pb(_fields(_first(rsf, 1, b"")).get(1, []))
        for ss in rsf.get(2, []):  # ResourceSpans.scope_spans
            for sp in _fields(ss).get(2, []):  # ScopeSpans.spans
                f = _fields(sp)
                spans.append(
                    Span(
                        trace_id=_first(f, 1, b"").hex(),
                        span_id=_first(f, 2, b"").hex(),
                        parent_span_id=_first(f, 4, b"").hex(),
                        name=_first(f, 5, b"").decode(),
                        kind=_first(f, 6, 0),
                        attributes=_attributes_pb(f.get(9, [])),
                        resource=resource,
                    )
                )
    return spans


# ---- JSON ------------------------------------------------------------------------------------


def _any_value_json(v: dict[str, Any]) -> Any:
    if "stringValue" in v:
        return v["stringValue"]
    if "boolValue" in v:
        return bool(v["boolValue"])
    if "intValue" in v:
        return int(v["intValue"])  # a string in proto3 JSON, a number in some encoders
    if "doubleValue" in v:
        return float(v["doubleValue"])
    return None


def _attributes_json(values: list[dict[str, Any]]) -> dict[str, Any]:
    return {kv["key"]: _any_value_json(kv.get("value", {})) for kv in values or []}


def decode_json(body: bytes) -> list[Span]:
    spans = []
    for rs in json.loads(body).get("resourceSpans", []):
        resource = _attributes_json(rs.get("resource", {}).get("attributes", []))
        for ss in rs.get("scopeSpans", []):
            for sp in ss.get("spans", []):
                spans.append(
                    Span(
                        trace_id=sp.get("traceId", "").lower(),
                        span_id=sp.get("spanId", "").lower(),
                        parent_span_id=(sp.get("parentSpanId") or "").lower(),
                        name=sp.get("name", ""),
                        kind=int(sp.get("kind", 0)),
                        attributes=_attributes_json(sp.get("attributes", [])),
                        resource=resource,
                    )
                )
    return spans


# ---- the receiver ----------------------------------------------------------------------------


class OtlpReceiver:
    """`POST /v1/traces` on 127.0.0.1:<free port>; `.endpoint` is the base URL to give as
    `OTEL_EXPORTER_OTLP_ENDPOINT`. Records spans and the content types that arrived."""

    def __init__(self) -> None:
        self.spans: list[Span] = []
        self.content_types: list[str] = []
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                ctype = (self.headers.get("content-type") or "").split(";")[0].strip()
                if self.path != "/v1/traces":
                    self.send_response(404)
                    self.send_header("content-length", "0")
                    self.end_headers()
                    return
                spans = decode_json(body) if ctype == "application/json" else decode_protobuf(body)
                with outer._lock:
                    outer.content_types.append(ctype)
                    outer.spans.extend(spans)
                answer = b"{}" if ctype == "application/json" else b""
                self.send_response(200)
                self.send_header("content-type", ctype or "application/x-protobuf")
                self.send_header("content-length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="otlp-receiver", daemon=True)
        self._thread.start()

    @property
    def endpoint(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def snapshot(self) -> list[Span]:
        with self._lock:
            return list(self.spans)

    def wait_for(self, pred: Callable[[list[Span]], bool], timeout: float = 20.0) -> list[Span]:
        """Polls (bounded) until `pred(spans)` holds; returns the spans either way."""
        deadline = time.monotonic() + timeout
        while True:
            spans = self.snapshot()
            if pred(spans) or time.monotonic() > deadline:
                return spans
            time.sleep(0.1)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def ancestors(span: Span, spans: list[Span]) -> list[Span]:
    """`span`'s parent, its parent, … as far as the received spans go."""
    by_id = {(s.trace_id, s.span_id): s for s in spans}
    out: list[Span] = []
    cur: Optional[Span] = span
    while cur is not None and cur.parent_span_id:
        cur = by_id.get((cur.trace_id, cur.parent_span_id))
        if cur is not None:
            out.append(cur)
    return out
