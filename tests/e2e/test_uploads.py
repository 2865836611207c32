"""Asset uploads against the real binary: the policy is checked before the file is read, the
file streams to disk (the server's peak memory does not grow with the body), and an account's
assets stay under `--asset-quota`.

Bodies are sent over a raw socket so the test controls when each byte goes out: a refused
upload must be answered while most of its body is still unsent.
"""

from __future__ import annotations

import io
import json
import socket
import threading
from pathlib import Path
from typing import Any, Callable

import requests
from e2e_helpers import Datahooks, unique

BIG = 50 * 1000 * 1000
CHUNK = 1 << 20
BOUNDARY = "datahooks-test-boundary"
# Peak memory may grow by buffers and allocator slack, never by a body's size.
MAX_GROWTH_KIB = 16 * 1024


def vm_hwm_kib(srv: Datahooks) -> int:
    assert srv.proc is not None
    for line in Path(f"/proc/{srv.proc.pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


def presign(srv: Datahooks, key: str, filename: str = "big.bin") -> dict[str, Any]:
    r = requests.post(
        f"{srv.base_url}/assets/", json={"filename": filename}, headers={"Authorization": f"APIKey {key}"}
    )
    assert r.status_code == 201, r.text
    return r.json()


def form_parts(fields: dict[str, str], file_first: bool = False) -> tuple[bytes, bytes]:
    """(bytes before the file's content, bytes after it), with their part heads."""
    def field(k: str, v: str) -> bytes:
        return f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()

    fields_bytes = b"".join(field(k, v) for k, v in fields.items())
    file_head = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="big.bin"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    end = f"--{BOUNDARY}--\r\n".encode()
    if file_first:
        return file_head, b"\r\n" + fields_bytes + end
    return fields_bytes + file_head, b"\r\n" + end


def request_head(srv: Datahooks, url: str, length: int) -> bytes:
    path = url[len(srv.base_url):]
    host = srv.base_url.split("//", 1)[1]
    return (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\n"
        f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\nContent-Length: {length}\r\n\r\n"
    ).encode()


def read_response(s: socket.socket) -> tuple[int, dict[str, Any]]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(65536)
        assert chunk, f"closed before an answer: {data!r}"
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    lines = head.decode().split("\r\n")
    length = next((int(l.split(":", 1)[1]) for l in lines if l.lower().startswith("content-length:")), 0)
    while len(body) < length:
        chunk = s.recv(65536)
        assert chunk, "closed mid-body"
        body += chunk
    return int(lines[0].split()[1]), (json.loads(body) if body else {})


def upload(srv: Datahooks, asset: dict[str, Any], fields: dict[str, str], size: int,
           file_first: bool = False, answer_early: bool = False) -> tuple[int, dict[str, Any], int]:
    """Streams a `size`-byte file; returns (status, JSON body, bytes of content sent)."""
    before, after = form_parts(fields, file_first)
    url = asset["presignedPostFields"]["url"]
    host, port = srv.base_url.split("//", 1)[1].rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=60)
    sent = 0
    try:
        s.sendall(request_head(srv, url, len(before) + size + len(after)) + before)
        if answer_early:
            # A little of the file (it fits in the socket buffers, so the send cannot fail
            # even if the server answers first), then the answer must come before the rest.
            s.sendall(b"\0" * 16384)
            sent = 16384
            status, body = read_response(s)
            try:
                while sent < size:
                    s.sendall(b"\0" * min(CHUNK, size - sent))
                    sent += CHUNK
            except OSError:
                pass  # the server closed the connection: the rest is not read
            return status, body, sent
        block = b"\0" * CHUNK
        try:
            while sent < size:
                n = min(CHUNK, size - sent)
                s.sendall(block[:n])
                sent += n
            s.sendall(after)
        except OSError:
            pass  # refused mid-body: the answer is waiting
        status, body = read_response(s)
        return status, body, sent
    finally:
        s.close()


def fields_of(asset: dict[str, Any]) -> dict[str, str]:
    return dict(asset["presignedPostFields"]["fields"])


def part_files(srv: Datahooks) -> list[Path]:
    return list((srv.data_dir / "assets").glob("*.part"))


def test_a_bad_policy_is_refused_before_the_file_is_read(make_server: Callable[..., Datahooks]) -> None:
    srv = make_server()
    key = srv.create_user(unique("up"))
    asset = presign(srv, key)
    forged = dict(fields_of(asset), **{"x-amz-signature": "0" * 64})
    status, body, _ = upload(srv, asset, forged, BIG, answer_early=True)
    assert status == 403, body
    assert body["code"] == "invalid_upload_policy", body

    # Fields after the file are too late: refused before the file is read, too.
    status, body, _ = upload(srv, asset, fields_of(asset), BIG, file_first=True, answer_early=True)
    assert status == 403, body

    # Four 50 MB bodies with a bad policy at once: the peak memory grows by buffers only.
    hwm = vm_hwm_kib(srv)
    results: list[int] = []
    def bad() -> None:
        results.append(upload(srv, asset, forged, BIG)[0])
    threads = [threading.Thread(target=bad) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [403] * 4, results
    growth = vm_hwm_kib(srv) - hwm
    assert growth < MAX_GROWTH_KIB, f"peak RSS grew by {growth} KiB for 4 refused 50 MB bodies"
    assert requests.get(asset["url"]).status_code == 404
    assert part_files(srv) == []


def test_a_large_upload_streams_to_disk(make_server: Callable[..., Datahooks]) -> None:
    srv = make_server()
    key = srv.create_user(unique("up"))
    asset = presign(srv, key)
    hwm = vm_hwm_kib(srv)
    status, body, sent = upload(srv, asset, fields_of(asset), BIG)
    assert status == 204, body
    assert sent == BIG
    growth = vm_hwm_kib(srv) - hwm
    assert growth < MAX_GROWTH_KIB, f"peak RSS grew by {growth} KiB for one 50 MB upload"
    stored = srv.data_dir / "assets" / asset["uuid"]
    assert stored.stat().st_size == BIG
    assert part_files(srv) == []


def test_the_account_quota_is_enforced(make_server: Callable[..., Datahooks]) -> None:
    srv = make_server(extra_args=["--asset-quota", "1000"])
    name = unique("up")
    key = srv.create_user(name)
    client = srv.client(key)
    first = client.upload_asset(io.BytesIO(b"a" * 600), "a.bin")
    assert requests.get(first.url).content == b"a" * 600

    second = presign(srv, key, "b.bin")
    status, body, _ = upload(srv, second, fields_of(second), 600)
    assert status == 413, body
    assert body["code"] == "asset_quota_exceeded", body
    assert "1000 bytes" in body["detail"]
    assert requests.get(second["url"]).status_code == 404
    assert part_files(srv) == []

    # Within the quota it works; another account has its own quota.
    status, body, _ = upload(srv, second, fields_of(second), 400)
    assert status == 204, body
    other = srv.create_user(unique("up"))
    third = presign(srv, other, "c.bin")
    assert upload(srv, third, fields_of(third), 1000)[0] == 204
    client.close()
