"""The first five minutes: what `datahooks serve` prints on a store without users, and the
one-time setup link it prints, driven over real HTTP against the real binary (SQLite, or
PostgreSQL with DATAHOOKS_E2E_BACKEND=postgres).
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from typing import Callable

import requests
from e2e_helpers import Datahooks, default_binary, unique

LINK_RE = re.compile(r"(http://127\.0\.0\.1:\d+/ui/setup/[0-9a-f]{64})\b")


def summary(srv: Datahooks, timeout: float = 10.0) -> str:
    """The start-up summary; `start()` returns at its first line, so wait for its last."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out = "\n".join(srv.stdout_lines)
        if "users       0" in out and "--email EMAIL" in out:
            return out
        if re.search(r"users       [1-9]", out):
            return out
        time.sleep(0.05)
    return "\n".join(srv.stdout_lines)


def the_command(srv: Datahooks) -> str:
    lines = srv.stdout_lines
    i = next(i for i, ln in enumerate(lines) if "in a shell" in ln)
    return lines[i + 1].strip()


def test_a_fresh_server_says_where_everything_is_and_what_to_do_next(
    make_server: Callable[..., Datahooks], monkeypatch
) -> None:
    monkeypatch.setenv("RUST_LOG", "warn")
    srv = make_server()
    out = summary(srv)
    base = srv.base_url
    assert f"web pages   {base}/ui/" in out, out
    assert f"OpenAPI     {base}/openapi.json" in out, out
    assert f"API docs    {base}/docs" in out, out
    assert f"API         {base}/" in out, out
    assert f"data dir    {srv.data_dir.resolve()}" in out, out
    if srv.database_url:
        host_db = srv.database_url.split("@")[-1]
        host, db = host_db.split("/", 1)
        assert f"database    PostgreSQL, database {db.split('?')[0]} on {host}" in out, out
    else:
        assert f"database    SQLite, {srv.data_dir}/datahooks.db" in out, out
    assert "users       0" in out, out
    assert "No users yet" in out, out

    # Logs: no colour codes when stderr is not a terminal, and RUST_LOG=warn drops INFO.
    err = srv.stderr_tail(100_000)
    assert "\x1b[" not in err, err
    assert " INFO " not in err, err
    # The link is on the console only, never in the log.
    link = LINK_RE.search(out)
    assert link, out
    assert link.group(1).rsplit("/", 1)[1] not in err

    # The printed command works as printed (with a name and e-mail filled in), on the same store.
    command = the_command(srv)
    assert command.endswith("user create NAME --email EMAIL"), command
    name = unique("first")
    cp = subprocess.run(
        ["bash", "-c", command.replace("NAME", name).replace("EMAIL", f"{name}@example.com")],
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
    )
    assert cp.returncode == 0, cp.stderr
    key = cp.stdout.strip().splitlines()[-1]
    me = requests.get(f"{base}/api/v1/app", headers={"Authorization": f"APIKey {key}"}, timeout=10)
    assert me.status_code == 200, me.text

    # Now that a user exists, the link is refused with a page that says why.
    r = requests.get(link.group(1), timeout=10)
    assert r.status_code == 409 and "already has users" in r.text, (r.status_code, r.text)
    login = requests.get(f"{base}/ui/login", timeout=10).text
    assert "datahooks apikey create USER" in login and "no users yet" not in login


def test_the_setup_link_creates_the_first_user_once(make_server: Callable[..., Datahooks]) -> None:
    srv = make_server()
    link = LINK_RE.search(summary(srv))
    assert link, summary(srv)
    url = link.group(1)
    login = requests.get(f"{srv.base_url}/ui/login", timeout=10).text
    assert "no users yet" in login and "setup link" in login, login

    page = requests.get(url, timeout=10)
    assert page.status_code == 200 and "Create the first user" in page.text
    assert page.headers["Cache-Control"] == "no-store"
    # A guessed token is refused.
    guess = requests.get(url[:-4] + ("0000" if not url.endswith("0000") else "1111"), timeout=10)
    assert guess.status_code == 404, guess.text

    done = requests.post(url, data={"name": "jane", "email": "jane@example.com"}, timeout=10)
    assert done.status_code == 200, done.text
    key = re.search(r'<code id="api-key">([^<]+)</code>', done.text).group(1)

    # The key works with the SDK and the Svix client alike.
    client = srv.client(key)
    ds = client.add_dataset(unique("ds"), task_type="vector")
    assert ds.owner.username == "jane"
    client.close()

    again = requests.post(url, data={"name": "mallory"}, timeout=10)
    assert again.status_code == 409 and key not in again.text

    # A restart on a store with users prints no link and no "No users yet".
    srv.stop()
    srv.stdout_lines.clear()
    srv.start()
    out = summary(srv)
    assert "users       1" in out and "No users yet" not in out and "/ui/setup/" not in out, out


def stderr_at_a_terminal(tmp_path, extra_env: dict[str, str]) -> bytes:
    """`datahooks migrate` on a fresh store (it logs each migration) with stderr on a pty."""
    import pty

    master, slave = pty.openpty()
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "DATAHOOKS_DATABASE_URL")}
    env.update(RUST_LOG="info", **extra_env)
    proc = subprocess.Popen(
        [str(default_binary()), "--data-dir", str(tmp_path / "data"), "migrate"],
        stdout=subprocess.DEVNULL, stderr=slave, stdin=subprocess.DEVNULL, env=env,
    )
    os.close(slave)
    out = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:  # EIO: the other end closed
            break
        if not chunk:
            break
        out += chunk
    os.close(master)
    assert proc.wait(30) == 0, out
    return out


def test_log_colour_only_at_a_terminal(tmp_path) -> None:
    coloured = stderr_at_a_terminal(tmp_path / "a", {})
    assert b"applied SQLite migration" in coloured and b"\x1b[" in coloured, coloured
    plain = stderr_at_a_terminal(tmp_path / "b", {"NO_COLOR": "1"})
    assert b"applied SQLite migration" in plain and b"\x1b[" not in plain, plain
