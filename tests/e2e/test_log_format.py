"""`serve --log-format json` (or `DATAHOOKS_LOG_FORMAT=json`): every line the server logs on
stderr is one JSON object with a timestamp, a level and a message; the default stays text."""

from __future__ import annotations

import json
import urllib.request
from typing import Callable

import pytest

from e2e_helpers import Datahooks


def logged_lines(srv: Datahooks) -> list[str]:
    # A request that fails and one that works, so the log has more than start-up lines.
    for path in ("/api/v1/health", "/no-such-page"):
        try:
            urllib.request.urlopen(srv.base_url + path, timeout=10).read()
        except urllib.error.HTTPError:
            pass
    assert srv.stop() == 0
    assert srv.stderr_path is not None
    return [line for line in srv.stderr_path.read_text().splitlines() if line.strip()]


def assert_json_lines(lines: list[str]) -> None:
    assert lines, "the server logged nothing"
    for line in lines:
        record = json.loads(line)  # fails the test on any line that is not JSON
        assert isinstance(record, dict), line
        assert record["level"] in {"TRACE", "DEBUG", "INFO", "WARN", "ERROR"}, line
        assert record["timestamp"], line
        assert isinstance(record["fields"]["message"], str), line
        assert "\x1b[" not in line, line


def test_json_log_lines_with_the_flag(make_server: Callable[..., Datahooks], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUST_LOG", "debug")
    assert_json_lines(logged_lines(make_server(extra_args=["--log-format", "json"])))


def test_json_log_lines_from_the_environment(make_server: Callable[..., Datahooks], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATAHOOKS_LOG_FORMAT", "json")
    monkeypatch.setenv("RUST_LOG", "debug")
    assert_json_lines(logged_lines(make_server()))


def test_text_is_the_default(make_server: Callable[..., Datahooks], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATAHOOKS_LOG_FORMAT", raising=False)
    lines = logged_lines(make_server())
    assert lines and not any(line.startswith("{") for line in lines), lines[:5]


def test_an_unknown_format_is_refused(make_server: Callable[..., Datahooks]) -> None:
    with pytest.raises(RuntimeError, match="log-format"):
        make_server(extra_args=["--log-format", "xml"])
