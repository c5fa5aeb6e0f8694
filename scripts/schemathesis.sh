#!/usr/bin/env bash
# schemathesis, driven by /openapi.json, against a real `scheduler dev` on a private database:
# all checks, all phases (examples, coverage, fuzzing, stateful), the tenant routes under /3rd
# and /v1 and the admin routes, within a time budget. Prints schemathesis's summary; exits
# non-zero on any failure not named in tests/schemathesis/baseline.json (each entry there says
# why the seed document fixes that behaviour).
# Usage: scripts/schemathesis.sh [extra schemathesis arguments]   (make schemathesis, make test)
#        scripts/schemathesis.sh --metrics-only   only the metric-name check below
# Either way the metric names the Grafana dashboard and the alerting rules use are checked
# against the live server's /metrics (scripts/check-metric-names.py).
# Env: SCHEMATHESIS_MAX_TIME (seconds, default 150), SCHEMATHESIS_SEED, SCHEDULER_BIN,
#      SCHEMATHESIS_KEEP (a directory to copy the server's log and the reports to).
set -euo pipefail
cd "$(dirname "$0")/.."
log() { echo "schemathesis.sh: $*" >&2; }

export SCHEDULER_CACHE="${SCHEDULER_CACHE:-$HOME/.cache/scheduler}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$SCHEDULER_CACHE/target}"
export SQLX_OFFLINE="${SQLX_OFFLINE:-true}"
[ -n "${DATABASE_URL:-}" ] || eval "$(scripts/ensure-postgres.sh)"
[ -n "${SCHEMATHESIS_BIN:-}" ] || eval "$(scripts/ensure-python.sh)"

bin="${SCHEDULER_BIN:-}"
if [ -z "$bin" ]; then
    cargo build --locked --quiet --bin scheduler
    bin="$CARGO_TARGET_DIR/debug/scheduler"
fi

# A private database, dropped at the end: the run creates and deletes thousands of rows.
db="schemathesis_$$_$RANDOM"
base="${DATABASE_URL%%\?*}"
query="${DATABASE_URL#"$base"}"
db_url="${base%/*}/$db$query"
work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
admin_token="schemathesis-admin-$RANDOM$RANDOM$RANDOM"
server_pid=""
cleanup() {
    if [ -n "$server_pid" ]; then
        kill -TERM "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    psql "$DATABASE_URL" -qc "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT
psql "$DATABASE_URL" -qc "CREATE DATABASE \"$db\"" >/dev/null

DATABASE_URL="$db_url" ADMIN_TOKEN="$admin_token" RUST_LOG="${RUST_LOG:-warn}" \
    "$bin" dev --listen "127.0.0.1:$port" --data-dir "$work/data" >"$work/server.log" 2>&1 &
server_pid=$!
url="http://127.0.0.1:$port"
for _ in $(seq 1 300); do
    curl -fsS "$url/readyz" >/dev/null 2>&1 && break
    kill -0 "$server_pid" 2>/dev/null || { log "scheduler dev died:"; tail -n 40 "$work/server.log" >&2; exit 1; }
    sleep 0.2
done
curl -fsS "$url/readyz" >/dev/null || { log "scheduler dev is not ready"; tail -n 40 "$work/server.log" >&2; exit 1; }

metrics_status=0
python3 scripts/check-metric-names.py "$url/metrics" deploy/grafana/scheduler-dashboard.json \
    deploy/prometheus/alerts.yaml || metrics_status=1
if [ "${1:-}" = "--metrics-only" ]; then
    exit "$metrics_status"
fi

seed_args=()
[ -z "${SCHEMATHESIS_SEED:-}" ] || seed_args=(--seed "$SCHEMATHESIS_SEED")
started=$(date +%s)
set +e
(
    cd tests/schemathesis
    "$SCHEMATHESIS_BIN" --config-file schemathesis.toml run "$url/openapi.json" \
        --checks all --phases examples,coverage,fuzzing,stateful \
        --max-time "${SCHEMATHESIS_MAX_TIME:-150}" "${seed_args[@]}" \
        --include-path-regex '^/(3rd|v1)/organization/|^/admin/' \
        --header "x-access-token: api_2f576a7d-f7eb-4748-9ec0-b295d7204de1" \
        --header "x-admin-token: $admin_token" \
        --baseline baseline.json \
        --report junit --report-dir "$work/report" \
        --no-color "$@"
)
rc=$?
set -e
log "finished in $(( $(date +%s) - started ))s with exit code $rc"
if grep -q "panicked" "$work/server.log"; then
    log "the server panicked:"; grep -A5 "panicked" "$work/server.log" >&2; rc=1
fi
[ "$metrics_status" = 0 ] || rc=1
if [ -n "${SCHEMATHESIS_KEEP:-}" ]; then
    # The server's log and the reports, for a closer look at what failed.
    mkdir -p "$SCHEMATHESIS_KEEP"
    cp -r "$work/server.log" "$work/report" "$SCHEMATHESIS_KEEP/"
    log "server log and reports kept in $SCHEMATHESIS_KEEP"
fi
exit "$rc"
