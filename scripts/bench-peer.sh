#!/usr/bin/env bash
# The peer benchmark (not part of `make test`): builds pinned SpiceDB and
# OpenFGA binaries from the Go module proxy into .tmp/peer/ (once), then runs
# the docs/design.md, section 7 check and lookup operations against the
# gateway and against each peer (in memory, over gRPC with its Go client, one
# connection per client), the same clients and duration for each, every
# answer checked, and prints one table with the ratios to the faster peer.
# The gateway serves from its own binary, in a process of its own, like
# each peer (GATEWAY_IN_PROCESS=1: in the load tool's process instead, as
# before 2026-12-07's teams round).
#   make bench-peer                 # 16 clients, 10 s per run
#   PEER_ARGS="-c 8 -d 5s" make bench-peer
set -euo pipefail
cd "$(dirname "$0")/.."
SPICEDB_VERSION="${SPICEDB_VERSION:-v1.56.2}"
BIN="$PWD/.tmp/peer/$SPICEDB_VERSION"
if [ ! -x "$BIN/spicedb" ]; then
  echo "bench-peer: building SpiceDB $SPICEDB_VERSION (a few minutes, once)" >&2
  GOBIN="$BIN" GOFLAGS=-mod=mod go install "github.com/authzed/spicedb/cmd/spicedb@$SPICEDB_VERSION"
fi
OPENFGA_VERSION="${OPENFGA_VERSION:-v1.22.1}"
FGA_BIN="$PWD/.tmp/peer/openfga-$OPENFGA_VERSION"
if [ ! -x "$FGA_BIN/openfga" ]; then
  echo "bench-peer: building OpenFGA $OPENFGA_VERSION (a few minutes, once)" >&2
  GOBIN="$FGA_BIN" GOFLAGS=-mod=mod go install "github.com/openfga/openfga/cmd/openfga@$OPENFGA_VERSION"
fi
GATEWAY_ARGS=()
if [ "${GATEWAY_IN_PROCESS:-0}" != 1 ]; then
  go build -o .tmp/authz-gateway .
  GATEWAY_ARGS=(-gateway-bin "$PWD/.tmp/authz-gateway")
fi
# shellcheck disable=SC2086
scripts/with-services.sh go run ./cmd/loadtest -peer "$BIN/spicedb" -peer-openfga "$FGA_BIN/openfga" "${GATEWAY_ARGS[@]}" ${PEER_ARGS:--c 16 -d 10s}
