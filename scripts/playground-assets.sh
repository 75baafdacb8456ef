#!/usr/bin/env bash
# Rebuilds the playground's vendored assets (make playground): GraphiQL and
# React from npm, pinned by web/playground/package-lock.json, copied with
# their licences into httpapi/playground/assets/, which the binary embeds.
# The gateway then serves its playground without any CDN.
set -euo pipefail
cd "$(dirname "$0")/.."
(cd web/playground && npm ci --no-audit --no-fund --silent)
src=web/playground/node_modules
dst=httpapi/playground/assets
mkdir -p "$dst"
cp "$src/graphiql/graphiql.min.js" "$src/graphiql/graphiql.min.css" "$dst/"
cp "$src/react/umd/react.production.min.js" "$src/react-dom/umd/react-dom.production.min.js" "$dst/"
cp "$src/graphiql/LICENSE" "$dst/LICENSE.graphiql"
cp "$src/react/LICENSE" "$dst/LICENSE.react"
cp "$src/react-dom/LICENSE" "$dst/LICENSE.react-dom"
node -e '
  const v = (p) => require("./web/playground/node_modules/" + p + "/package.json").version;
  console.log(`graphiql ${v("graphiql")}, react ${v("react")}, react-dom ${v("react-dom")} (npm; MIT, see the LICENSE.* files)`);
' > "$dst/VERSIONS"
echo "playground assets: $(cat "$dst/VERSIONS")"
