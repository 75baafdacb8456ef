# authz-gateway. `make run` starts the embedded default; `make test` runs the
# whole suite against real PostgreSQL and Redis (starting them when needed).

.PHONY: run test check chaos generate check-generate vet bench bench-peer fleet-sim loadtest fuzz services playground dashboard

# The binary is built first (saying so: the first build compiles every
# dependency, a minute or two on a small machine), then replaces the shell,
# so Ctrl-C reaches the gateway, which stops gracefully and exits 0.
run:
	@echo "Building authz-gateway (the first build compiles the dependencies: a minute or two)..."
	@go build -o .tmp/authz-gateway .
	@echo "Starting the embedded default (SQLite in .data, demo data, development mode)..."
	@GATEWAY_ENV=development exec ./.tmp/authz-gateway

test:
	scripts/test.sh

# The edit-test loop: vet and every test that needs no browser, identity
# provider, image build or long fault schedule (-short), no race detector.
check:
	scripts/check.sh

# The randomized fault test at length: `make chaos` (60 s, a seed from the
# clock, printed), `make chaos SEED=42 DURATION=5m`. The history is kept in
# .tmp/chaos-<seed>.json for re-checking. `make test` runs it for 10 s.
chaos:
	@mkdir -p .tmp
	seed=$(or $(SEED),$$(date +%s)); \
	CHAOS_DURATION=$(or $(DURATION),60s) CHAOS_SEED=$$seed CHAOS_HISTORY=$(CURDIR)/.tmp/chaos-$$seed.json \
		scripts/with-services.sh go test -count=1 -v -timeout 30m -run '^TestChaos$$' ./internal/chaos/

generate:
	scripts/with-services.sh go generate ./...

check-generate:
	scripts/check-generate.sh

vet:
	go vet ./...

# Rebuilds the playground's vendored GraphiQL and React from npm (pinned by
# web/playground/package-lock.json) into httpapi/playground/assets/.
playground:
	scripts/playground-assets.sh

# Rebuilds the dashboard's vendored uPlot from npm (web/dashboard) into
# httpapi/dashboard/assets/.
dashboard:
	scripts/dashboard-assets.sh

# Benchmarks against real PostgreSQL and Redis, benchstat-ready (6 runs).
bench:
	scripts/bench.sh

# The gateway against SpiceDB on the same workload (builds a pinned SpiceDB
# from the Go module proxy once): `make bench-peer`.
bench-peer:
	scripts/bench-peer.sh

# The fleet simulation alone (also part of make bench): N gateways in one
# process against a PostgreSQL of its own, `make fleet-sim ARGS="-members 1,10,100"`.
fleet-sim:
	scripts/fleet-sim.sh $(ARGS)

# The load tool: `make loadtest ARGS="-op me -c 16 -d 10s"`.
loadtest:
	scripts/with-services.sh go run ./cmd/loadtest $(ARGS)

# Longer fuzzing runs: `make fuzz FUZZTIME=500000x` (a count; a duration such
# as 5m works too but can end in Go 1.26's spurious "context deadline
# exceeded", see scripts/test.sh).
fuzz:
	FUZZTIME=$${FUZZTIME:-300000x} scripts/with-services.sh sh -c 'go test -run "^$$" -fuzz "^FuzzGraphQLHTTP$$" -fuzztime $$FUZZTIME ./httpapi/ && go test -run "^$$" -fuzz "^FuzzDecodeEnvelope$$" -fuzztime $$FUZZTIME ./cache/ && go test -run "^$$" -fuzz "^FuzzMeasureDocument$$" -fuzztime $$FUZZTIME ./graph/'

# Prints the environment pointing at the test services (starting them).
services:
	@scripts/services.sh
