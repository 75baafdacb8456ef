#!/usr/bin/env bash
# Makes sure the PostgreSQL and Redis the tests need are reachable and prints
# the environment that points the tests at them:
#   TEST_DATABASE_URL=...   TEST_REDIS_ADDR=...
# Already set variables are kept. Otherwise private servers are started on
# their own ports (55432, 56379) and data directories under .tmp/ (or
# /var/tmp as root), installing the Debian packages first when missing and
# running as root: a test run never writes to someone else's servers.
# AUTHZGW_SHARED_SERVICES=1 uses the machine's servers on the standard
# loopback ports instead when they answer (faster to start); tests then only
# create databases of their own and write to Redis database 15 (TEST_REDIS_DB)
# under key prefixes of their own, never to database 0. AUTHZGW_PG_OPTIONS
# adds server settings to a private PostgreSQL started here (the fleet
# simulation's max_connections).
# `scripts/services.sh stop` stops the private servers it started.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
STATE="$ROOT/.tmp/services"
PG_PORT="${AUTHZGW_PG_PORT:-55432}"
REDIS_PORT="${AUTHZGW_REDIS_PORT:-56379}"
mkdir -p "$STATE"

log() { echo "services: $*" >&2; }

install_packages() {
  if [ "$(id -u)" != 0 ]; then
    log "missing $* and not root: install the Debian packages $* (or set TEST_DATABASE_URL / TEST_REDIS_ADDR)"
    exit 1
  fi
  log "installing $*"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq "$@" >&2
}

pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1; }

tcp_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

postgres_answers() { # host port
  if command -v pg_isready >/dev/null; then
    pg_isready -q -h "$1" -p "$2" -U postgres -d postgres
  else
    tcp_open "$1" "$2"
  fi
}

ensure_postgres() {
  if [ -n "${TEST_DATABASE_URL:-}" ]; then echo "TEST_DATABASE_URL=$TEST_DATABASE_URL"; return; fi
  if [ -n "${AUTHZGW_SHARED_SERVICES:-}" ] && postgres_answers 127.0.0.1 5432; then
    echo "TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"; return
  fi
  if ! postgres_answers 127.0.0.1 "$PG_PORT"; then
    [ -n "$(pg_bin)" ] || install_packages postgresql
    local bin data run owner
    bin="$(pg_bin)"; data="$STATE/pg"; run="$STATE/pg-run"
    owner="$(id -un)"
    # PostgreSQL refuses to run as root; use the postgres account then, with
    # directories it can surely reach (the checkout's parents may be private).
    if [ "$(id -u)" = 0 ]; then
      owner=postgres
      data="/var/tmp/authzgw-pg-$PG_PORT/data"; run="/var/tmp/authzgw-pg-$PG_PORT/run"
    fi
    mkdir -p "$data" "$run"
    chown "$owner" "$data" "$run"; chmod 700 "$data"
    as_owner() { if [ "$owner" = "$(id -un)" ]; then "$@"; else su -s /bin/sh "$owner" -c "$(printf '%q ' "$@")"; fi; }
    if [ ! -f "$data/PG_VERSION" ]; then
      log "initdb in $data"
      as_owner "$bin/initdb" -D "$data" -U postgres --auth=trust -E UTF8 >/dev/null
    fi
    log "starting PostgreSQL on 127.0.0.1:$PG_PORT"
    as_owner "$bin/pg_ctl" -D "$data" -l "$run/pg.log" -w -o "-p $PG_PORT -k $run -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300 ${AUTHZGW_PG_OPTIONS:-}" start >&2
    # What this run started, for scripts/services.sh stop.
    printf '%q ' "$owner" "$bin/pg_ctl" -D "$data" > "$STATE/started-postgres-$PG_PORT"
  fi
  echo "TEST_DATABASE_URL=postgres://postgres@127.0.0.1:$PG_PORT/postgres?sslmode=disable"
}

redis_answers() { # host port
  if command -v redis-cli >/dev/null; then
    [ "$(redis-cli -h "$1" -p "$2" ping 2>/dev/null)" = PONG ]
  else
    tcp_open "$1" "$2"
  fi
}

ensure_redis() {
  # The fault tests start redis-server processes of their own.
  command -v redis-server >/dev/null || install_packages redis-server
  if [ -n "${TEST_REDIS_ADDR:-}" ]; then echo "TEST_REDIS_ADDR=$TEST_REDIS_ADDR"; return; fi
  if [ -n "${AUTHZGW_SHARED_SERVICES:-}" ] && redis_answers 127.0.0.1 6379; then echo "TEST_REDIS_ADDR=127.0.0.1:6379"; return; fi
  if ! redis_answers 127.0.0.1 "$REDIS_PORT"; then
    log "starting Redis on 127.0.0.1:$REDIS_PORT"
    redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no \
      --dir "$STATE" --logfile "$STATE/redis.log" --daemonize yes >&2
    for _ in $(seq 50); do redis_answers 127.0.0.1 "$REDIS_PORT" && break; sleep 0.1; done
    echo "$REDIS_PORT" > "$STATE/started-redis-$REDIS_PORT"
  fi
  echo "TEST_REDIS_ADDR=127.0.0.1:$REDIS_PORT"
}

# stop ends the private servers an earlier call started (and only those:
# a server that was already running, or the machine's, is left alone).
stop() {
  if [ -f "$STATE/started-redis-$REDIS_PORT" ]; then
    log "stopping the Redis it started on 127.0.0.1:$(cat "$STATE/started-redis-$REDIS_PORT")"
    redis-cli -h 127.0.0.1 -p "$(cat "$STATE/started-redis-$REDIS_PORT")" shutdown nosave >/dev/null 2>&1 || true
    rm -f "$STATE/started-redis-$REDIS_PORT"
  fi
  if [ -f "$STATE/started-postgres-$PG_PORT" ]; then
    read -r -a pg < "$STATE/started-postgres-$PG_PORT" || true # one line, no newline
    owner="${pg[0]}"; pg=("${pg[@]:1}")
    log "stopping the PostgreSQL it started on 127.0.0.1:$PG_PORT"
    if [ "$owner" = "$(id -un)" ]; then "${pg[@]}" stop -m fast >&2 || true
    else su -s /bin/sh "$owner" -c "$(printf '%q ' "${pg[@]}") stop -m fast" >&2 || true; fi
    rm -f "$STATE/started-postgres-$PG_PORT"
  fi
}

if [ "${1:-}" = stop ]; then
  stop
  exit 0
fi
ensure_postgres
ensure_redis
