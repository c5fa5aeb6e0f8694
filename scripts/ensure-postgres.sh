#!/usr/bin/env bash
# Finds or starts a Postgres server for the tests and prints `export DATABASE_URL=...` on stdout
# (progress goes to stderr). Order: $DATABASE_URL when it answers; else the server on
# 127.0.0.1:5432 when it answers; else a private cluster under $SCHEDULER_CACHE/pg started from
# the installed Postgres binaries (installed through apt when missing).
set -euo pipefail

cache="${SCHEDULER_CACHE:-$HOME/.cache/scheduler}"
log() { echo "ensure-postgres: $*" >&2; }

apt_install() {
    if ! command -v apt-get >/dev/null; then
        log "cannot install $*: no apt-get"; return 1
    fi
    log "installing $* through apt"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@") >&2
}

command -v psql >/dev/null || apt_install postgresql-client

answers() { psql "$1" -Atqc 'SELECT 1' >/dev/null 2>&1; }

if [ -n "${DATABASE_URL:-}" ] && answers "$DATABASE_URL"; then
    log "using DATABASE_URL"
    echo "export DATABASE_URL='$DATABASE_URL'"
    exit 0
fi

local_url="postgres://postgres@127.0.0.1:5432/postgres"
if answers "$local_url"; then
    log "using the server on 127.0.0.1:5432"
    echo "export DATABASE_URL='$local_url'"
    exit 0
fi

# A private cluster. initdb and postgres refuse to run as root, so as root they run as `postgres`.
port="${SCHEDULER_PG_PORT:-55432}"
private_url="postgres://postgres@127.0.0.1:$port/postgres"
if answers "$private_url"; then
    log "using the private cluster on port $port"
    echo "export DATABASE_URL='$private_url'"
    exit 0
fi

bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
if [ -z "$bindir" ] || [ ! -x "$bindir/initdb" ]; then
    apt_install postgresql
    bindir=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
fi

data="$cache/pg/data"
mkdir -p "$cache/pg"
as_pg=()
if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || useradd --system --home-dir "$cache/pg" postgres
    chown -R postgres "$cache/pg"
    # The cache's parents must be traversable by postgres.
    d="$cache/pg"; while [ "$d" != "/" ]; do chmod o+x "$d" 2>/dev/null || true; d=$(dirname "$d"); done
    as_pg=(runuser -u postgres --)
fi
if [ ! -f "$data/PG_VERSION" ]; then
    log "initializing a private cluster in $data"
    "${as_pg[@]}" "$bindir/initdb" -D "$data" -U postgres --auth=trust -E UTF8 --no-locale >&2
fi
log "starting the private cluster on port $port"
"${as_pg[@]}" "$bindir/pg_ctl" -D "$data" -l "$cache/pg/server.log" -w -t 60 \
    -o "-p $port -k /tmp -c listen_addresses=127.0.0.1 -c max_connections=300 -c fsync=off" start >&2
answers "$private_url" || { log "the private cluster does not answer; see $cache/pg/server.log"; exit 1; }
echo "export DATABASE_URL='$private_url'"
