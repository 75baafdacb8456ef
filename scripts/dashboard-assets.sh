#!/usr/bin/env bash
# Rebuilds the dashboard's vendored charting library (make dashboard): uPlot
# from npm, pinned by web/dashboard/package-lock.json, copied with its licence
# into httpapi/dashboard/assets/, which the binary embeds.
set -euo pipefail
cd "$(dirname "$0")/.."
(cd web/dashboard && npm ci --no-audit --no-fund --silent)
src=web/dashboard/node_modules/uplot
dst=httpapi/dashboard/assets
mkdir -p "$dst"
cp "$src/dist/uPlot.iife.min.js" "$src/dist/uPlot.min.css" "$dst/"
cp "$src/LICENSE" "$dst/LICENSE.uplot"
node -e 'console.log(`uplot ${require("./web/dashboard/node_modules/uplot/package.json").version} (npm; MIT, see LICENSE.uplot)`)' > "$dst/VERSIONS"
echo "dashboard assets: $(cat "$dst/VERSIONS")"
