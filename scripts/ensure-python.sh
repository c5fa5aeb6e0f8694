#!/usr/bin/env bash
# Installs the Python packages the tests use into a virtualenv under
# $SCHEDULER_CACHE/python (outside the repository, reused by every clone and CI run on this
# machine) and prints the `export` line for its interpreter:
#   standardwebhooks  the official Standard Webhooks library, which verifies real deliveries
#                     in crates/runner/tests/it/standard_webhooks.rs (a third party's check of
#                     our signatures)
# Usage: eval "$(scripts/ensure-python.sh)"; then SCHEDULER_PYTHON is the interpreter.
set -euo pipefail

cache="${SCHEDULER_CACHE:-$HOME/.cache/scheduler}"
# Pinned: a new release is taken on purpose, by changing this line (the venv is rebuilt).
requirement="standardwebhooks==1.1.0"
venv="$cache/python/venv"
stamp="$venv/.requirement"
log() { echo "ensure-python: $*" >&2; }

if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$requirement" ]; then
    python=$(command -v python3 || true)
    if [ -z "$python" ]; then
        log "python3 is missing; install it (3.9 or newer, with the venv module)"
        exit 1
    fi
    log "installing $requirement into $venv (once per machine)"
    rm -rf "$venv"
    mkdir -p "$(dirname "$venv")"
    "$python" -m venv "$venv" >&2
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$requirement" >&2
    echo "$requirement" >"$stamp"
fi
"$venv/bin/python" -c 'import standardwebhooks' >&2
echo "export SCHEDULER_PYTHON='$venv/bin/python'"
