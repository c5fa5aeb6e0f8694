# One target directory for every clone on this machine (CI clones main afresh each run), kept
# with the other slow-to-build caches outside the repository.
export SCHEDULER_CACHE ?= $(HOME)/.cache/scheduler
export CARGO_TARGET_DIR ?= $(SCHEDULER_CACHE)/target
# Queries are checked against the committed .sqlx/ data: building needs no database.
export SQLX_OFFLINE ?= true

.PHONY: all build run test lint fmt sqlx-prepare pg bench schemathesis

all: build

build:
	cargo build --workspace --locked

## The whole service on this machine: private Postgres, mock Kafka, local S3, seed tenant,
## on http://127.0.0.1:8080 (Ctrl-C stops it; data stays in .data/).
run:
	cargo run --locked --bin scheduler -- dev $(ARGS)

## Runs every test of the workspace (starts or finds Postgres first).
test:
	scripts/test.sh

## schemathesis over /openapi.json against a real `scheduler dev` on a private database: all
## checks and phases, tenant (/3rd, /v1) and admin routes, ~2.5 minutes (scripts/schemathesis.sh).
schemathesis:
	scripts/schemathesis.sh $(ARGS)

## Benchmarks (not tests): ceilings (pgbench, lean and project claim), API, bursts, a 1/2/4
## runner sweep, steady, scale, retention over a 10,000,000-fire backlog and a 15-minute flexible
## window, against the release build; writes bench/results/. About 30 minutes (the window run
## alone is 16); ARGS=--quick is the developer loop (under 3 minutes), ARGS=--only=a,b picks parts.
bench:
	scripts/bench.sh $(ARGS)

## cargo fmt --check, clippy with warnings as errors, and deploy/: hadolint on the Dockerfile,
## kubernetes-validate on the manifests, promtool on the alerting rules (scripts/lint-deploy.sh).
lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets --locked -- -D warnings
	scripts/lint-deploy.sh

fmt:
	cargo fmt --all

## Regenerates .sqlx/ (the offline query data) against a live database; run after changing SQL.
sqlx-prepare:
	scripts/sqlx-prepare.sh

## Prints the DATABASE_URL of the Postgres the tests use, starting one when needed.
pg:
	@scripts/ensure-postgres.sh
