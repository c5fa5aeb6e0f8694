#!/usr/bin/env bash
# Vendors the console's chart library, uPlot (MIT), from its npm package into
# crates/api/src/console/assets/ (committed: 52 KB; the binary embeds it with include_str!, so
# the console needs no CDN and works offline). Run to update; pin the version here.
set -euo pipefail
cd "$(dirname "$0")/.."
version=1.6.31
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
(cd "$dir" && npm pack --silent "uplot@$version" >/dev/null && tar xzf uplot-*.tgz)
dest=crates/api/src/console/assets
cp "$dir/package/dist/uPlot.iife.min.js" "$dest/uplot.iife.min.js"
cp "$dir/package/dist/uPlot.min.css" "$dest/uplot.min.css"
cp "$dir/package/LICENSE" "$dest/uplot.LICENSE"
echo "vendor-uplot.sh: uPlot $version in $dest"
