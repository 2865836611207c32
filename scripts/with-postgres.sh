#!/usr/bin/env bash
# Runs a command with a private, throw-away PostgreSQL cluster on loopback:
#
#   bash scripts/with-postgres.sh cargo test -p datahooks-store --test contract
#
# initdb into a temporary directory, start the server on 127.0.0.1 and a free port (its
# socket in that directory too, so it touches nothing system-wide), create the `datahooks`
# database, export DATAHOOKS_TEST_PG_URL=postgres://postgres@127.0.0.1:PORT/datahooks, run the
# command, then stop the server and remove the directory, whatever happened. Exits with the
# command's status. Installs Debian's `postgresql` package first when no server binaries exist.
#
# Environment: PG_FSYNC=on keeps fsync (off by default: the cluster is thrown away, and a
# server crash still loses nothing, only an operating-system crash would).
# DATAHOOKS_PG_PORT picks the port instead of a free one.
set -euo pipefail

if [ $# -eq 0 ]; then
  echo "usage: $0 COMMAND [ARG...]" >&2
  exit 2
fi

find_bindir() {
  local d
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then
      echo "$d"
      return 0
    fi
  done
  return 1
}

if ! bindir=$(find_bindir); then
  echo "with-postgres: installing postgresql" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq postgresql >/dev/null
  bindir=$(find_bindir) || { echo "with-postgres: no PostgreSQL binaries after install" >&2; exit 1; }
fi

# The server refuses to run as root; CI runs as root, so the server binaries run as the
# `postgres` OS user, created when missing.
as_pg=()
if [ "$(id -u)" -eq 0 ]; then
  if ! id postgres >/dev/null 2>&1; then
    useradd --system --user-group --home-dir /var/lib/postgresql --shell /bin/bash postgres
  fi
  if command -v runuser >/dev/null 2>&1; then
    as_pg=(runuser -u postgres --)
  else
    as_pg=(su postgres -s /bin/sh -c '"$0" "$@"')
  fi
fi

free_port() {
  python3 - <<'PY' 2>/dev/null || echo $((20000 + RANDOM % 20000))
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()
PY
}

port=${DATAHOOKS_PG_PORT:-$(free_port)}
dir=$(mktemp -d /tmp/datahooks-pg.XXXXXX)
chmod 755 "$dir"
data="$dir/data"
mkdir "$data"
if [ ${#as_pg[@]} -gt 0 ]; then
  chown -R postgres:postgres "$dir"
fi

stop() {
  local status=$?
  "${as_pg[@]}" "$bindir/pg_ctl" -D "$data" -m fast -w stop >/dev/null 2>&1 || true
  rm -rf "$dir"
  exit "$status"
}
trap stop EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

fsync=${PG_FSYNC:-off}
initdb_sync=()
[ "$fsync" = off ] && initdb_sync=(--no-sync)
"${as_pg[@]}" "$bindir/initdb" -D "$data" -U postgres --auth=trust --encoding=UTF8 \
  --locale=C.UTF-8 "${initdb_sync[@]}" >"$dir/initdb.log" 2>&1 \
  || { cat "$dir/initdb.log" >&2; exit 1; }
# max_connections: every test opens its own store (a pool plus a listener connection).
if ! "${as_pg[@]}" "$bindir/pg_ctl" -D "$data" -l "$dir/server.log" -w -t 60 \
  -o "-k $dir -h 127.0.0.1 -p $port -c fsync=$fsync -c max_connections=200" start >/dev/null; then
  cat "$dir/server.log" >&2
  exit 1
fi

"${as_pg[@]}" "$bindir/psql" -h 127.0.0.1 -p "$port" -U postgres -d postgres -q -v ON_ERROR_STOP=1 \
  -c "CREATE DATABASE datahooks" >/dev/null

export DATAHOOKS_TEST_PG_URL="postgres://postgres@127.0.0.1:$port/datahooks"
export DATAHOOKS_TEST_PG_BINDIR="$bindir"
export DATAHOOKS_TEST_PG_DATA="$data"
echo "with-postgres: PostgreSQL $("$bindir/postgres" --version | awk '{print $3}') on 127.0.0.1:$port" >&2

set +e
"$@"
status=$?
set -e
exit "$status"
