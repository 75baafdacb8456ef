#!/usr/bin/env bash
# Starts a Redis Sentinel group on loopback for trying the gateway by hand:
# a master, a replica and one sentinel (quorum 1), each with its own port and
# directory under .tmp/sentinel/, from Debian's redis-server. Prints the
# gateway's settings. Stop with: scripts/redis-sentinel.sh stop
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DIR="$ROOT/.tmp/sentinel"
MASTER=${SENTINEL_MASTER_PORT:-57001} REPLICA=${SENTINEL_REPLICA_PORT:-57002} SENTINEL=${SENTINEL_PORT:-57003}
if [ "${1:-}" = stop ]; then
  for p in "$MASTER" "$REPLICA" "$SENTINEL"; do redis-cli -p "$p" shutdown nosave 2>/dev/null || true; done
  exit 0
fi
mkdir -p "$DIR/m" "$DIR/r" "$DIR/s"
redis-server --port "$MASTER" --bind 127.0.0.1 --dir "$DIR/m" --daemonize yes --logfile "$DIR/m/redis.log"
redis-server --port "$REPLICA" --bind 127.0.0.1 --dir "$DIR/r" --daemonize yes --logfile "$DIR/r/redis.log" \
  --replicaof 127.0.0.1 "$MASTER"
cat >"$DIR/s/sentinel.conf" <<CONF
port $SENTINEL
bind 127.0.0.1
dir $DIR/s
sentinel monitor authzgw 127.0.0.1 $MASTER 1
sentinel down-after-milliseconds authzgw 1000
sentinel failover-timeout authzgw 5000
CONF
redis-server "$DIR/s/sentinel.conf" --sentinel --daemonize yes --logfile "$DIR/s/sentinel.log"
echo "REDIS_SENTINEL_MASTER=authzgw"
echo "REDIS_SENTINEL_ADDRS=127.0.0.1:$SENTINEL"
