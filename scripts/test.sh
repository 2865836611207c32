#!/usr/bin/env bash
# The project's test command. Starts a private PostgreSQL cluster (scripts/with-postgres.sh),
# then runs the Rust tests (the store contract suite on SQLite and PostgreSQL, multi-node and
# restart tests), the end-to-end suites against the real binary with the real segments-ai,
# svix and standardwebhooks packages on SQLite and again on PostgreSQL, and the browser tests
# in headless Chromium.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${1:-}" != "--inside" ]; then
  # Debian packages the tests need on a fresh machine: Python's venv, Chromium for the browser
  # tests, Node.js for Playwright, PostgreSQL's server binaries for the second backend.
  need_apt=()
  command -v python3 >/dev/null || need_apt+=(python3)
  python3 -c 'import venv, ensurepip' 2>/dev/null || need_apt+=(python3-venv)
  [ -x /usr/bin/chromium ] || need_apt+=(chromium)
  command -v node >/dev/null || need_apt+=(nodejs)
  command -v npm >/dev/null || need_apt+=(npm)
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need_apt+=(postgresql)
  if [ ${#need_apt[@]} -gt 0 ]; then
    echo "installing ${need_apt[*]} with apt-get"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
  fi
  exec bash scripts/with-postgres.sh bash scripts/test.sh --inside
fi

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check -r tests/requirements.txt

cargo build --workspace --all-targets
cargo test --workspace

echo "== end-to-end suites on SQLite (and the browser tests)"
.venv/bin/python -m pytest tests/e2e -q -p no:cacheprovider
echo "== end-to-end suites on PostgreSQL"
DATAHOOKS_E2E_BACKEND=postgres .venv/bin/python -m pytest tests/e2e -q -p no:cacheprovider \
  --deselect tests/e2e/test_browser.py::test_browser_pages
