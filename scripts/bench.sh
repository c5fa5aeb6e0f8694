#!/usr/bin/env bash
# `make bench`: builds the release `scheduler` binary and `scheduler-bench`, finds or starts
# Postgres (scripts/ensure-postgres.sh; the bench makes a fresh database on it) and the tansu
# broker binary (scripts/ensure-tools.sh), then runs every benchmark and writes
# bench/results/<date>-*.json, <date>-summary.md and the PNG charts.
# Arguments go to scheduler-bench: `make bench ARGS=--quick`, `ARGS='--only burst,api'`.
# RUNNER_BATCH_SIZE / RUNNER_CONCURRENCY in the environment reach the runner processes.
set -euo pipefail
cd "$(dirname "$0")/.."
export SCHEDULER_CACHE="${SCHEDULER_CACHE:-$HOME/.cache/scheduler}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$SCHEDULER_CACHE/target}"
export SQLX_OFFLINE="${SQLX_OFFLINE:-true}"
log() { echo "bench: $*" >&2; }

apt_install() {
    local sudo=()
    [ "$(id -u)" = 0 ] || sudo=(sudo)
    log "installing $* through apt"
    ("${sudo[@]}" apt-get update -qq && DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "$@") >&2
}

font=/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf
[ -f "$font" ] || apt_install fonts-dejavu-core || log "no font: the charts will be skipped"

eval "$(scripts/ensure-postgres.sh)"
eval "$(scripts/ensure-tools.sh tansu)"
pgbench=$(ls /usr/lib/postgresql/*/bin/pgbench 2>/dev/null | sort -V | tail -n 1 || true)
if [ -z "$pgbench" ]; then
    apt_install postgresql-contrib || apt_install postgresql
    pgbench=$(ls /usr/lib/postgresql/*/bin/pgbench | sort -V | tail -n 1)
fi

# Two invocations, so each keeps the feature set it has when built alone (no rebuilds).
cargo build --release --locked -p scheduler-server
cargo build --release --locked -p scheduler-bench

mkdir -p bench/results
exec "$CARGO_TARGET_DIR/release/scheduler-bench" \
    --scheduler-bin "$CARGO_TARGET_DIR/release/scheduler" \
    --tansu-bin "$TANSU_BIN" \
    --pgbench-bin "$pgbench" \
    --database-url "$DATABASE_URL" \
    --font "$font" \
    --out bench/results \
    "$@"
