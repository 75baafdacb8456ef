#!/usr/bin/env bash
# Starts a Redis Cluster on loopback for trying the gateway by hand: three
# masters with one replica each, ports 47101-47106 (a cluster bus port is 10000 higher), directories under
# .tmp/cluster/, from Debian's redis-server. Prints the gateway's setting.
# Stop with: scripts/redis-cluster.sh stop
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DIR="$ROOT/.tmp/cluster"
PORTS=(47101 47102 47103 47104 47105 47106)
if [ "${1:-}" = stop ]; then
  for p in "${PORTS[@]}"; do redis-cli -p "$p" shutdown nosave 2>/dev/null || true; done
  exit 0
fi
addrs=()
for p in "${PORTS[@]}"; do
  mkdir -p "$DIR/$p"
  redis-server --port "$p" --bind 127.0.0.1 --dir "$DIR/$p" --daemonize yes --logfile "$DIR/$p/redis.log" \
    --cluster-enabled yes --cluster-config-file nodes.conf --cluster-node-timeout 2000
  addrs+=("127.0.0.1:$p")
done
for p in "${PORTS[@]}"; do until redis-cli -p "$p" ping >/dev/null 2>&1; do sleep 0.1; done; done
redis-cli --cluster create "${addrs[@]}" --cluster-replicas 1 --cluster-yes >&2
echo "REDIS_CLUSTER_ADDRS=$(IFS=,; echo "${addrs[*]}")"
