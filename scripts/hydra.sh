#!/usr/bin/env bash
# Prints the path of an Ory Hydra v2.3.0 binary, building it the first time
# (a real OIDC provider for the identity tests and the README's example).
# Hydra's module replaces two of its dependencies, so `go install` refuses
# it; it is built inside its own module, fetched from the Go module proxy,
# with the replace that points into its source tree dropped (that
# directory is a separate module, published as hydra-client-go v2.2.1).
# The binary is kept in the user's cache: later runs reuse it.
set -euo pipefail
version=v2.3.0
bin="${XDG_CACHE_HOME:-$HOME/.cache}/authz-gateway/hydra-$version"
if [[ -x "$bin" ]]; then
  echo "$bin"
  exit 0
fi
mkdir -p "$(dirname "$bin")"
go mod download "github.com/ory/hydra/v2@$version" >&2
src="$(mktemp -d)"
trap 'rm -rf "$src"' EXIT
cp -r "$(go env GOMODCACHE)/github.com/ory/hydra/v2@$version/." "$src"
chmod -R u+w "$src"
sed -i '/^replace github.com\/ory\/hydra-client-go/d' "$src/go.mod"
echo "building Ory Hydra $version (once; kept at $bin)" >&2
(cd "$src" && GOFLAGS=-mod=mod go build -trimpath -o "$bin.tmp" .) >&2
mv "$bin.tmp" "$bin"
echo "$bin"
