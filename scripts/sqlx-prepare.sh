#!/usr/bin/env bash
# Regenerates the offline query data in .sqlx/ without sqlx-cli: the sqlx macros write one file
# per query into SQLX_OFFLINE_DIR when they compile against a live database.
set -euo pipefail
cd "$(dirname "$0")/.."
eval "$(scripts/ensure-postgres.sh)"
db="sqlx_prepare"
psql "$DATABASE_URL" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db" >/dev/null
url="${DATABASE_URL%/*}/$db"
for f in migrations/*.sql; do psql "$url" -q -v ON_ERROR_STOP=1 -f "$f" >/dev/null; done
rm -rf .sqlx && mkdir .sqlx
# Touch the crates with queries so the macros run again.
touch crates/*/src/lib.rs
SQLX_OFFLINE=false SQLX_OFFLINE_DIR="$PWD/.sqlx" DATABASE_URL="$url" \
    cargo check --workspace --all-targets --locked
echo "sqlx-prepare: $(ls .sqlx | wc -l) queries in .sqlx/"
