#!/usr/bin/env bash
# Runs a command with TEST_DATABASE_URL and TEST_REDIS_ADDR pointing at
# reachable services (private ones started by scripts/services.sh when
# needed, and stopped again when the command ends).
set -euo pipefail
cd "$(dirname "$0")/.."
env_lines="$(scripts/services.sh)"
trap 'scripts/services.sh stop' EXIT
while IFS= read -r line; do export "$line"; done <<<"$env_lines"
"$@"
