#!/usr/bin/env bash
# Cluster mode against a single node, side by side on the same machine, alternating A B A B
# (issue #12): durable publish (batches of 100 over 8 connections; single-event POSTs over 64),
# publish on node A -> SSE frame on node B at 1,000 events/s, Redis commands and bytes per
# published event, and the follower's apply rate when a node catches up from the log.
# Redis runs as the README says to (AOF, appendfsync always). Prints figures; never fails on them.
#   bash bench/cluster.sh [rounds]    (default 2)
#   bash bench/cluster.sh webhooks [rounds]: webhook deliveries/s over 1, 2, 3 nodes (see below)
set -uo pipefail
cd "$(dirname "$0")/.."
BIN=${FLOWGATE_BIN:-./build/flowgate}
GEN=${FG_LOADGEN:-./build/fg_loadgen}
ROUNDS=${1:-2}
ulimit -n 20000 2>/dev/null || true
WORK=$(mktemp -d /tmp/fg-clbench-XXXXXX)
RPORT=16479
PIDS=()

redis_start() {
    rm -rf "$WORK/redis" && mkdir -p "$WORK/redis"
    redis-server --port $RPORT --bind 127.0.0.1 --dir "$WORK/redis" --appendonly yes \
        --appendfsync always --save '' --daemonize yes --logfile "$WORK/redis/log" >/dev/null
    for _ in $(seq 100); do redis-cli -p $RPORT ping >/dev/null 2>&1 && return; sleep 0.05; done
}
redis_stop() { redis-cli -p $RPORT shutdown nosave >/dev/null 2>&1; sleep 0.2; }

# node NAME [cluster]: starts flowgate, sets PORT_<NAME> and its pid
node() {
    local name=$1 mode=${2:-single} dir="$WORK/$1" env=()
    rm -rf "$dir" && mkdir -p "$dir"
    [ "$mode" = cluster ] && env=(FLOWGATE_CLUSTER_REDIS_URL=redis://127.0.0.1:$RPORT FLOWGATE_CLUSTER_NODE_ID=$name ${CLUSTER_ENV:-})
    env FLOWGATE_LIMITS_MAX_CONNECTIONS=0 FLOWGATE_LIMITS_MAX_STREAMS_PER_ADDRESS=0 \
        FLOWGATE_WEBHOOKS_ALLOW_NETWORKS=127.0.0.0/8 \
        FLOWGATE_LIMITS_PUBLISH_RATE=0 "${env[@]}" "$BIN" --listen 127.0.0.1:0 --data-dir "$dir" \
        2> "$dir/log" &
    PIDS+=($!)
    eval "PID_$name=$!"
    local p=""
    for _ in $(seq 200); do
        p=$(grep -o 'addr=127.0.0.1:[0-9]*' "$dir/log" 2>/dev/null | cut -d: -f2)
        [ -n "$p" ] && break
        sleep 0.05
    done
    eval "PORT_$name=$p"
}
stop_all() {
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
    PIDS=()
}
trap 'stop_all; redis_stop; rm -rf "$WORK"' EXIT

redis_stat() { redis-cli -p $RPORT info stats | tr -d '\r' | awk -F: -v k="$1" '$1==k{print $2}'; }
redis_cmds() { redis-cli -p $RPORT info stats | tr -d '\r' | awk -F: '$1=="total_commands_processed"{print $2}'; }

applied() { curl -s "http://127.0.0.1:$1/metrics" | awk '$1=="flowgate_cluster_applied_total"{print $2}'; }

# Webhook deliveries/s with the subscriptions spread over 1, 2 and 3 nodes, against one node
# on its own, alternating (bench/webhooks.js throughput against an nginx sink answering 204).
#   bash bench/cluster.sh webhooks [rounds]
if [ "${1:-}" = webhooks ]; then
    ROUNDS=${2:-2}
    SINK_PORT=18955
    . bench/sink.sh
    sink_start "$WORK" "$SINK_PORT"
    trap 'stop_all; redis_stop; sink_stop "$WORK"; rm -rf "$WORK"' EXIT
    for r in $(seq "$ROUNDS"); do
        for n in single 1 2 3; do
            echo "=== round $r: $([ $n = single ] && echo "one node, embedded store" || echo "cluster, $n node(s)")"
            urls=""
            if [ $n = single ]; then
                node a single
                urls="http://127.0.0.1:$PORT_a"
            else
                redis_start
                for k in $(seq "$n"); do
                    node "n$k" cluster
                    eval "urls=\"\${urls:+\$urls,}http://127.0.0.1:\$PORT_n$k\""
                done
            fi
            first=${urls%%,*}
            FLOWGATE_URL="$first" FLOWGATE_URLS="$urls" SINK_URL="http://127.0.0.1:$SINK_PORT" \
                command node bench/webhooks.js throughput 12 2000
            stop_all
            [ $n = single ] || redis_stop
        done
    done
    exit 0
fi

for r in $(seq "$ROUNDS"); do
    for mode in single cluster; do
        echo "=== round $r: $mode"
        if [ $mode = cluster ]; then redis_start; fi
        node a $mode
        if [ $mode = cluster ]; then node b cluster; SUBPORT=$PORT_b; else SUBPORT=$PORT_a; fi
        c0=0; b0=0
        if [ $mode = cluster ]; then c0=$(redis_cmds); b0=$(redis_stat total_net_input_bytes); fi
        echo "-- publish, batches of 100 over 8 connections (on a)"
        "$GEN" --port "$PORT_a" --streams 0 --events 500000 --batch 100 --publishers 8 | grep published
        if [ $mode = cluster ]; then
            c1=$(redis_cmds); b1=$(redis_stat total_net_input_bytes)
            awk -v c=$((c1 - c0)) -v b=$((b1 - b0)) 'BEGIN{printf "redis per published event (batches of 100): %.3f commands, %.0f bytes in\n", c/500000, b/500000}'
        fi
        echo "-- publish, single-event POSTs over 64 connections (on a)"
        if [ $mode = cluster ]; then c0=$(redis_cmds); fi
        "$GEN" --port "$PORT_a" --streams 0 --events 200000 --batch 1 --publishers 64 | grep published
        if [ $mode = cluster ]; then
            c1=$(redis_cmds)
            awk -v c=$((c1 - c0)) 'BEGIN{printf "redis commands per single-event publish: %.3f\n", c/200000}'
        fi
        if [ $mode = cluster ]; then
            on="node b"
            # the stream starts live: first let b apply what the runs above published
            for _ in $(seq 600); do n=$(applied "$PORT_b"); [ "${n:-0}" -ge 700000 ] && break; sleep 0.1; done
        else
            on="node a"
        fi
        echo "-- latency: publish on node a, 1 stream on $on, 1,000 events/s for 10 s"
        "$GEN" --port "$SUBPORT" --pub-port "$PORT_a" --streams 1 --events 10000 --rate 1000 --publishers 16 | grep -E "latency|delivered"
        if [ $mode = cluster ]; then
            echo "-- catch-up: a new node applies the whole log (700,000 events)"
            t0=$(date +%s.%N)
            node c cluster
            for _ in $(seq 1200); do
                n=$(applied "$PORT_c"); [ "${n:-0}" -ge 700000 ] && break; sleep 0.1
            done
            t1=$(date +%s.%N)
            awk -v n="${n:-0}" -v a="$t0" -v b="$t1" 'BEGIN{t = b - a; printf "follower applied %d events in %.2f s -> %.0f events/s\n", n, t, n/t}'
        fi
        stop_all
        if [ $mode = cluster ]; then redis_stop; fi
    done
done
