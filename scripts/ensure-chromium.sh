#!/usr/bin/env bash
# Prints CHROMIUM_BIN=... and CHROMEDRIVER_BIN=... for `eval`, installing Debian's chromium and
# chromium-driver through apt when they are missing (the console's browser tests drive them).
set -euo pipefail
find_bins() {
    CHROMIUM_BIN=$(command -v chromium || command -v chromium-browser || true)
    CHROMEDRIVER_BIN=$(command -v chromedriver || command -v chromium-driver || true)
    [ -x /usr/lib/chromium/chromedriver ] && [ -z "$CHROMEDRIVER_BIN" ] && CHROMEDRIVER_BIN=/usr/lib/chromium/chromedriver
    [ -n "$CHROMIUM_BIN" ] && [ -n "$CHROMEDRIVER_BIN" ]
}
if ! find_bins; then
    echo "ensure-chromium.sh: installing chromium and chromium-driver" >&2
    sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium chromium-driver >&2
    find_bins || { echo "ensure-chromium.sh: chromium or chromedriver still missing" >&2; exit 1; }
fi
echo "CHROMIUM_BIN=$CHROMIUM_BIN"
echo "CHROMEDRIVER_BIN=$CHROMEDRIVER_BIN"
