#!/usr/bin/env bash
# Runs the Go benchmarks 6 times (for benchstat) and the load tool, and writes
# the raw output to docs/benchmarks.txt. The README's figures come from here.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-docs/benchmarks.txt}"
{
  echo "# $(date -u +%Y-%m-%dT%H:%MZ) $(go version) $(nproc) cores"
  scripts/with-services.sh go test -run '^$' -bench . -benchtime=${BENCHTIME:-1s} -count=${COUNT:-6} ./authz/ ./httpapi/
  for op in floor me check lookup; do
    for c in 1 16; do
      scripts/with-services.sh go run ./cmd/loadtest -op "$op" -c "$c" -d "${LOAD_DURATION:-10s}"
    done
  done
  # The check with an identity provider's RS256 tokens beside the gateway's
  # own HS256 tokens, alternated (README: Using your identity provider).
  for c in 1 16; do
    for tokens in own issuer own issuer; do
      scripts/with-services.sh go run ./cmd/loadtest -op check -tokens "$tokens" -c "$c" -d "${LOAD_DURATION:-10s}"
    done
  done
  for tier in cold redis-down; do
    for c in 1 16; do
      scripts/with-services.sh go run ./cmd/loadtest -op me -tier "$tier" -c "$c" -d "${LOAD_DURATION:-10s}"
    done
  done
  for c in 1 16; do
    scripts/with-services.sh go run ./cmd/loadtest -op fanout -n 100 -c "$c" -d "${LOAD_DURATION:-10s}"
  done
  # The fleet's cost with 1, 10 and 100 members (its own PostgreSQL).
  scripts/fleet-sim.sh -members 1,10,100
} 2>&1 | grep -v '^{' | tee "$out"
if command -v benchstat >/dev/null || [ -x "$(go env GOPATH)/bin/benchstat" ]; then
  PATH="$PATH:$(go env GOPATH)/bin" benchstat "$out" || true
fi
