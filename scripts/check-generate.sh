#!/usr/bin/env bash
# Fails when `go generate ./...` would change the generated code: what is in
# the tree must be what the generators produce from the schemas.
set -euo pipefail
cd "$(dirname "$0")/.."
snapshot() { find ent graph gqlgen.yml schema.graphql db/migrations -type f | LC_ALL=C sort | xargs sha256sum; }
before="$(snapshot)"
go generate ./...
after="$(snapshot)"
if [ "$before" != "$after" ]; then
  echo "generated code is stale; run 'make generate' and commit the result:" >&2
  diff <(echo "$before") <(echo "$after") >&2 || true
  exit 1
fi
echo "generated code is up to date"
