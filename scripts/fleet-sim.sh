#!/usr/bin/env bash
# The fleet simulation (docs/performance.md, "A fleet of a hundred"): N
# gateways in one process against a PostgreSQL of its own, started here on
# its own port with room for every member's connections and
# pg_stat_statements loaded, and a Redis of its own. Arguments go to
# cmd/fleetsim (default: -members 1,10,100).
set -euo pipefail
cd "$(dirname "$0")/.."
env_lines="$(AUTHZGW_PRIVATE_SERVICES=1 AUTHZGW_PG_PORT="${AUTHZGW_FLEET_PG_PORT:-55433}" \
  AUTHZGW_REDIS_PORT="${AUTHZGW_FLEET_REDIS_PORT:-56380}" \
  AUTHZGW_PG_OPTIONS="-c max_connections=1000 -c shared_preload_libraries=pg_stat_statements" \
  scripts/services.sh)"
export $env_lines
exec go run ./cmd/fleetsim "$@"
