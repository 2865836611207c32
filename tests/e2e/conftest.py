"""Fixtures: one real `datahooks serve` per session, fresh accounts and datasets per test.

Interface:
    server        (session)  Datahooks: .base_url, .data_dir, .binary, .cli(*args),
                             .create_user(name, email) -> api key, .create_apikey(user) -> key,
                             .create_org(org, owner), .add_member(org, user, role),
                             .client(api_key) -> SegmentsClient, .events(after=None) -> [{seq, payload}]
    base_url      (session)  "http://127.0.0.1:PORT" (no trailing slash)
    events        (function) EventLog: .mark() -> seq, .since(mark, dataset=, owner=) -> [payload],
                             .wait_for(mark, event_type, dataset=, timeout=)
    make_account  (function) factory(prefix="user", email=True) -> Account(username, api_key, email, client)
    owner, other  (function) two fresh Accounts
    client        (function) owner.client
    make_dataset  (function) factory(account=owner, name=None, **add_dataset kwargs) -> Dataset
                             (vector task type with VECTOR_TASK_ATTRIBUTES unless overridden)
    dataset       (function) a fresh private vector dataset owned by `owner`

Binary: $DATAHOOKS_BIN, else <repo>/target/debug/datahooks.
"""

from __future__ import annotations

from typing import Any, Callable, Iterator, Optional

import pytest
from e2e_helpers import VECTOR_TASK_ATTRIBUTES, Account, Datahooks, EventLog, default_binary, unique


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Datahooks]:
    binary = default_binary()
    if not binary.exists():
        pytest.fail(f"datahooks binary not found at {binary} (build it or set DATAHOOKS_BIN)")
    data_dir = tmp_path_factory.mktemp("datahooks-data")
    srv = Datahooks(binary=binary, data_dir=data_dir)
    srv.start()
    try:
        yield srv
    finally:
        rc = srv.stop()
        if rc not in (0, None):
            raise AssertionError(
                f"datahooks exited with code {rc} after SIGTERM (expected a graceful 0)\n"
                f"stderr:\n{srv.stderr_tail()}"
            )


@pytest.fixture(scope="session")
def base_url(server: Datahooks) -> str:
    return server.base_url


@pytest.fixture
def events(server: Datahooks) -> EventLog:
    return EventLog(server)


@pytest.fixture
def make_account(server: Datahooks) -> Iterator[Callable[..., Account]]:
    made: list[Account] = []

    def make(prefix: str = "user", email: bool = True) -> Account:
        name = unique(prefix)
        mail = f"{name}@example.com" if email else None
        key = server.create_user(name, email=mail)
        acc = Account(username=name, api_key=key, email=mail, client=server.client(key))
        made.append(acc)
        return acc

    yield make
    for acc in made:
        acc.client.close()


@pytest.fixture
def owner(make_account: Callable[..., Account]) -> Account:
    return make_account("owner")


@pytest.fixture
def other(make_account: Callable[..., Account]) -> Account:
    return make_account("other")


@pytest.fixture
def client(owner: Account):
    return owner.client


@pytest.fixture
def make_dataset(owner: Account) -> Callable[..., Any]:
    def make(account: Optional[Account] = None, name: Optional[str] = None, **kwargs: Any):
        acc = account or owner
        kwargs.setdefault("task_type", "vector")
        kwargs.setdefault("task_attributes", VECTOR_TASK_ATTRIBUTES)
        return acc.client.add_dataset(name or unique("ds"), **kwargs)

    return make


@pytest.fixture
def dataset(make_dataset: Callable[..., Any]):
    return make_dataset()


# ---------------------------------------------------------------------------------------------
# Webhook fixtures (used by test_webhooks*.py)
#
#   receivers     (function) factory(default=None, **Receiver kwargs) -> receiver.Receiver,
#                            closed after the test
#   webhooks      (function) factory(account, srv=None) -> receiver.Hooks: enables webhooks for
#                            the account (svix `application.create`) on `srv` (default: `server`)
#   make_server   (function) factory(**Datahooks fields) -> a started extra `datahooks serve`
#                            with its own data dir (e.g. allow_destinations=(), or
#                            extra_args=["--request-timeout", "1"]); stopped after the test
# ---------------------------------------------------------------------------------------------

import receiver as _receiver  # noqa: E402


@pytest.fixture
def receivers() -> Iterator[Callable[..., "_receiver.Receiver"]]:
    made: list[_receiver.Receiver] = []

    def make(default: Any = None, **kwargs: Any) -> _receiver.Receiver:
        r = _receiver.Receiver(default, **kwargs)
        made.append(r)
        return r

    yield make
    for r in made:
        r.close()


@pytest.fixture
def webhooks(server: Datahooks) -> Callable[..., "_receiver.Hooks"]:
    def enable(account: Account, srv: Optional[Datahooks] = None) -> _receiver.Hooks:
        s = srv or server
        return _receiver.enable_webhooks(s.base_url, account.username, account.api_key)

    return enable


@pytest.fixture
def make_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., Datahooks]]:
    started: list[Datahooks] = []

    def make(**fields: Any) -> Datahooks:
        data_dir = tmp_path_factory.mktemp("datahooks-extra")
        srv = Datahooks(binary=default_binary(), data_dir=data_dir, **fields)
        srv.start()
        started.append(srv)
        return srv

    yield make
    for srv in started:
        try:
            srv.stop()
        except RuntimeError:
            pass
