#!/usr/bin/env bash
# The whole suite, as `make test` and CI run it: services, vet, generated-code
# drift, then every test with the race detector.
set -euo pipefail
cd "$(dirname "$0")/.."
cat >&2 <<'SAY'
make test: what it does (about 15 minutes on 2 cores; the README says more)
  - starts private PostgreSQL and Redis on 127.0.0.1:55432 and :56379 (data under
    .tmp/, or /var/tmp as root; installed with apt when missing) and stops them at
    the end; AUTHZGW_SHARED_SERVICES=1 uses the machine's 5432 and 6379 instead
    (each test its own database; Redis database 15, never 0, under key prefixes)
  - installs chromium and podman when missing (apt), builds Ory Hydra once into
    ~/.cache/authz-gateway, npm-installs the example web app and the audit suite
  - builds the release image with podman (tagged authz-gateway:latest)
  - go vet, the generated-code check, every test with -race (then the slowest
    tests), each benchmark once, the fuzzers briefly; `make check` is the fast
    loop (no race detector, browsers, Hydra or image build)
SAY
env_lines="$(scripts/services.sh)"
trap 'scripts/services.sh stop' EXIT
while IFS= read -r line; do export "$line"; done <<<"$env_lines"
echo "using $TEST_DATABASE_URL and redis $TEST_REDIS_ADDR"
go vet ./...
scripts/check-generate.sh
# The GraphQL-over-HTTP audit suite (npm graphql-http), from its lockfile,
# for TestGraphQLOverHTTP_Audit. Node is on CI; elsewhere the test skips.
# A real browser for the playground test: Debian's chromium, installed when
# missing (TestPlayground_OfflineInARealBrowser; screenshots in .tmp/artifacts).
if ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
  (apt-get install -y -qq chromium >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq chromium >/dev/null)) ||
    echo "could not install chromium" >&2
fi
# podman, to build the release image from scratch (TestDeploy_ImageBuilds...):
# no registry is reachable, so only the FROM scratch stage is built.
if ! command -v podman >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
  (apt-get install -y -qq podman >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq podman >/dev/null)) ||
    echo "could not install podman" >&2
fi
# A real OIDC provider for the identity tests (Ory Hydra, built once from
# the Go module proxy and kept in the user's cache).
if hydra_bin="$(scripts/hydra.sh)"; then
  export HYDRA_BIN="$hydra_bin"
else
  echo "could not build Ory Hydra: the identity provider tests will skip (fail under CI)" >&2
fi
if command -v chromium >/dev/null 2>&1; then
  export PLAYGROUND_BROWSER=1 TEST_ARTIFACTS="$PWD/.tmp/artifacts"
fi
# The example web app: installed from its lockfile, generated from the
# committed schema, type-checked and built, so a schema change that breaks
# typed clients fails here, and the browser test drives what ships.
if command -v npm >/dev/null 2>&1; then
  (cd scripts/graphql-http-audit && npm ci --no-audit --no-fund --silent)
  export GRAPHQL_HTTP_AUDIT=1
  (cd examples/web-client && npm ci --no-audit --no-fund --silent --loglevel=error && npm run --silent build >/dev/null)
  export WEB_CLIENT=1
  echo "web client example: generated, type-checked and built (TestWebClient_InARealBrowser)"
fi
# The test that loads every core from other processes runs alone, after the
# rest: beside other packages it would starve their Redis round trips too.
burner='^TestFanOut_BatchesHoldUnderExternalLoad$'
# Printed as go test prints it, then the slowest tests and packages.
go build -o .tmp/testreport ./internal/testreport
go test -race -count=1 -timeout 15m -skip "$burner" -json "$@" ./... | .tmp/testreport -top 15
go test -race -count=1 -run "$burner" "$@" ./loaders/
# Every benchmark once, so none can rot (figures come from `make bench`).
go test -run '^$' -bench . -benchtime=1x -count=1 ./...
# The fuzzers, briefly: the HTTP/GraphQL entry, the cache value decoder and
# the document measurement of the query guard. Budgets are execution counts,
# not durations: Go 1.26's fuzz coordinator can report its own -fuzztime
# deadline as a failure ("context deadline exceeded", no crasher; Go issue
# 75804, fixed in Go 1.27), and a count has no deadline to race.
go test -run '^$' -fuzz '^FuzzGraphQLHTTP$' -fuzztime "${FUZZTIME:-40000x}" ./httpapi/
go test -run '^$' -fuzz '^FuzzDecodeEnvelope$' -fuzztime "${FUZZTIME:-30000x}" ./cache/
go test -run '^$' -fuzz '^FuzzMeasureDocument$' -fuzztime "${FUZZTIME:-30000x}" ./graph/
