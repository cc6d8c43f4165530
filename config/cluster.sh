#!/usr/bin/env bash
# `make cluster`: a try-out of cluster mode on this machine — a redis-server (AOF, appendfsync
# always) and three flowgate nodes on loopback, each with its own data directory under
# ./data/cluster/. Publish to any node, stream from any other. Ctrl-C stops them all.
#   REDIS_PORT (6390) and FIRST_PORT (8081: nodes on 8081, 8082, 8083) may be set.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${FLOWGATE_BIN:-./build/flowgate}
REDIS_PORT=${REDIS_PORT:-6390}
FIRST_PORT=${FIRST_PORT:-8081}
DIR=./data/cluster
mkdir -p "$DIR/redis"
pids=()
stop() {
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    echo "cluster stopped (data kept in $DIR)"
}
trap stop EXIT
trap 'exit 130' INT TERM

redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$DIR/redis" --appendonly yes \
    --appendfsync always --save '' --maxmemory-policy noeviction --logfile redis.log &
pids+=($!)
for _ in $(seq 100); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.05; done

for i in 1 2 3; do
    port=$((FIRST_PORT + i - 1))
    FLOWGATE_CLUSTER_REDIS_URL="redis://127.0.0.1:$REDIS_PORT" FLOWGATE_CLUSTER_NODE_ID="node$i" \
        FLOWGATE_CLUSTER_DURABILITY=strict \
        "$BIN" --listen "127.0.0.1:$port" --data-dir "$DIR/node$i" 2> "$DIR/node$i.log" &
    pids+=($!)
done
sleep 1
cat <<MSG
cluster up: redis on 127.0.0.1:$REDIS_PORT, nodes on
  http://127.0.0.1:$FIRST_PORT  http://127.0.0.1:$((FIRST_PORT + 1))  http://127.0.0.1:$((FIRST_PORT + 2))
logs in $DIR/node*.log. Try:
  curl -N http://127.0.0.1:$((FIRST_PORT + 1))/v1/stream &
  curl -H 'content-type: application/json' -d '{"type":"user_signed_in","user_id":"'\$(cat /proc/sys/kernel/random/uuid)'","username":"ana"}' http://127.0.0.1:$FIRST_PORT/v1/events
Ctrl-C stops everything.
MSG
wait
