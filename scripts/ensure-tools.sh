#!/usr/bin/env bash
# Installs the external test services once into $SCHEDULER_CACHE/tools (outside the repository,
# reused by every clone and CI run on this machine) and prints `export` lines for their paths:
#   tansu   a Kafka-protocol broker (10-20 minutes to build the first time)
#   s3s-fs  an S3-compatible server that checks request signatures
# Usage: eval "$(scripts/ensure-tools.sh [tansu] [s3s-fs])" (default: both).
set -euo pipefail

cache="${SCHEDULER_CACHE:-$HOME/.cache/scheduler}"
root="$cache/tools"
mkdir -p "$root"
log() { echo "ensure-tools: $*" >&2; }

want=("$@")
[ ${#want[@]} -gt 0 ] || want=(tansu s3s-fs)

install() { # name, cargo install arguments...
    local name=$1; shift
    if [ -x "$root/bin/$name" ]; then return 0; fi
    log "building $name into $root (once per machine)"
    # A private target dir so a concurrent workspace build does not wait on (or evict) it.
    CARGO_TARGET_DIR="$cache/tools-target" nice -n 10 cargo install --locked --root "$root" "$@" >&2
}

for tool in "${want[@]}"; do
    case "$tool" in
        tansu)
            install tansu tansu@0.6.0 --features dynostore
            echo "export TANSU_BIN='$root/bin/tansu'"
            ;;
        s3s-fs)
            install s3s-fs s3s-fs@0.14.1 --features binary
            echo "export S3S_FS_BIN='$root/bin/s3s-fs'"
            ;;
        *) log "unknown tool $tool"; exit 2 ;;
    esac
done
