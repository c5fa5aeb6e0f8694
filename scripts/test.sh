#!/usr/bin/env bash
# `make test`: every test of the workspace against real services.
set -euo pipefail
cd "$(dirname "$0")/.."
eval "$(scripts/ensure-postgres.sh)"
export DATABASE_URL
# The Kafka-protocol broker and the S3-compatible server the runner and attachment tests start.
eval "$(scripts/ensure-tools.sh tansu s3s-fs)"
export TANSU_BIN S3S_FS_BIN
# Headless Chromium and chromedriver (Debian's packages), which drive the console's browser test.
eval "$(scripts/ensure-chromium.sh)"
export CHROMIUM_BIN CHROMEDRIVER_BIN
# The Python tools (scripts/python-requirements.txt): the official Standard Webhooks library,
# which verifies real deliveries in the runner's tests, and schemathesis.
eval "$(scripts/ensure-python.sh)"
export SCHEDULER_PYTHON SCHEMATHESIS_BIN

# Each test creates its own database named t_<uuid>; drop what earlier runs left behind.
stale=$(psql "$DATABASE_URL" -Atqc "SELECT datname FROM pg_database WHERE datname LIKE 't\_%'")
for db in $stale; do psql "$DATABASE_URL" -qc "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null || true; done

# Property tests draw the same cases on every run, so CI's verdict does not depend on luck.
# Explore new cases with e.g. `PROPTEST_RNG_SEED=$RANDOM make test`; commit the seeds of any
# failure proptest records in a *.proptest-regressions file.
export PROPTEST_RNG_SEED="${PROPTEST_RNG_SEED:-20261128}"

if ! command -v cargo-nextest >/dev/null; then
    echo "test.sh: cargo-nextest is missing; installing it" >&2
    cargo install cargo-nextest --locked
fi
# nextest reads .config/nextest.toml at the workspace root: per-test timeouts (a hung test fails
# with its name) and one-at-a-time runs of the heavy process tests (runner bursts, tansu, faults).
status=0
cargo nextest run --workspace --locked --no-fail-fast "$@" || status=$?
# schemathesis over /openapi.json against a live `scheduler dev` (all checks and phases, both
# prefixes and the admin routes, 150 s budget, fixed seed), then the dashboard's and the alerting
# rules' metric names against the same server's /metrics.
scripts/schemathesis.sh || status=$?
exit "$status"
