#!/usr/bin/env bash
# The edit-test loop (`make check`, a few minutes on 2 cores): vet, then the
# unit tests and the fast integration tests against real PostgreSQL and
# Redis (private ones, started and stopped here), without the race detector
# and without what `make test` adds: browsers, Ory Hydra, the image build,
# the generated-code check, the long fault schedules (tests call
# testenv.Slow to stay out of -short). The slowest tests are listed at the
# end.
set -euo pipefail
cd "$(dirname "$0")/.."
env_lines="$(scripts/services.sh)"
trap 'scripts/services.sh stop' EXIT
while IFS= read -r line; do export "$line"; done <<<"$env_lines"
go vet ./...
go build -o .tmp/testreport ./internal/testreport
go test -short -count=1 -json "$@" ./... | .tmp/testreport -top 10
