#!/usr/bin/env bash
# The project's test command: Rust unit and integration tests, then the end-to-end suites
# that drive the real binary with the real segments-ai, svix and standardwebhooks packages.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check -r tests/requirements.txt

cargo build --workspace --all-targets
cargo test --workspace
.venv/bin/python -m pytest tests/e2e -q -p no:cacheprovider
