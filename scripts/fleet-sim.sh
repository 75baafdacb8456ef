#!/usr/bin/env bash
# The fleet simulation (docs/performance.md, "A fleet of a hundred"): N
# gateways in one process against a PostgreSQL of its own, started here on
# its own port with room for every member's connections and
# pg_stat_statements loaded, and a Redis of its own. Arguments go to
# cmd/fleetsim (default: -members 1,10,100).
set -euo pipefail
cd "$(dirname "$0")/.."
export AUTHZGW_PG_PORT="${AUTHZGW_FLEET_PG_PORT:-55433}" AUTHZGW_REDIS_PORT="${AUTHZGW_FLEET_REDIS_PORT:-56380}"
unset AUTHZGW_SHARED_SERVICES TEST_DATABASE_URL TEST_REDIS_ADDR
env_lines="$(AUTHZGW_PG_OPTIONS="-c max_connections=1000 -c shared_preload_libraries=pg_stat_statements" scripts/services.sh)"
trap 'scripts/services.sh stop' EXIT
export $env_lines
go run ./cmd/fleetsim "$@"
