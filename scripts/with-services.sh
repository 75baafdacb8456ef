#!/usr/bin/env bash
# Runs a command with TEST_DATABASE_URL and TEST_REDIS_ADDR pointing at
# reachable services (started by scripts/services.sh when needed).
set -euo pipefail
cd "$(dirname "$0")/.."
env_lines="$(scripts/services.sh)"
while IFS= read -r line; do export "$line"; done <<<"$env_lines"
exec "$@"
