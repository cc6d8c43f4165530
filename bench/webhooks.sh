#!/usr/bin/env bash
# Webhook benchmarks (issue #3): an nginx sink answering 204, its raw capacity with wrk and what
# libcurl alone gets from it (fg_curlbase, also doing the same work as flowgate: as many
# endpoints as subscriptions), then flowgate's deliveries per second with 1 and 100
# subscriptions, publish-to-first-attempt latency at 1,000 events/s, and 90 healthy
# subscriptions' latency alone and beside 10 hanging ones (receiver: fg_sink), and one healthy
# subscription's drain of 20,000 events alone and beside 20 dead + 20 hanging ones (`dead`: the
# failed attempts during and after it, and the store's size).
# Prints figures; never fails on them. Needs nginx and wrk (`.ci/install-deps.sh bench`).
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${FLOWGATE_BUILD:-./build}
BIN=${FLOWGATE_BIN:-$BUILD/flowgate}
ulimit -n 20000 2>/dev/null || true
WORK=$(mktemp -d /tmp/fg-whbench-XXXXXX)
SINK_PORT=18900
. bench/sink.sh
sink_start "$WORK" "$SINK_PORT"
trap 'sink_stop "$WORK"; rm -rf "$WORK"' EXIT

BODY='{"type":"log_line","run_id":"3f1c2a4e-8b9d-4c1e-9f2a-1b2c3d4e5f60","step_id":"0b7d2e51-1111-4c1e-9f2a-1b2c3d4e5f61","step_name":"bench","stream":"stdout","line":"t1","id":"01a2036c-ed9c-711f-b9d9-b6dfc7152e46","at":"2026-11-22T13:00:00.000000Z"}'
cat > "$WORK/post.lua" <<LUA
wrk.method = "POST"
wrk.body = '$BODY'
wrk.headers["Content-Type"] = "application/json"
LUA
echo "== sink capacity: wrk POST of the same body, 1 thread, 32 connections, 5 s"
wrk -t1 -c32 -d5s -s "$WORK/post.lua" "http://127.0.0.1:$SINK_PORT/" | grep -E "Requests/sec|Latency"

run() {
    DATA=$(mktemp -d /tmp/fg-whbench-data-XXXXXX)
    FLOWGATE_WEBHOOKS_ALLOW_NETWORKS=127.0.0.0/8 FLOWGATE_LIMITS_PUBLISH_RATE=0 "$BIN" --listen 127.0.0.1:0 --data-dir "$DATA" 2> "$DATA/log" &
    PID=$!
    for _ in $(seq 100); do
        PORT=$(grep -o 'addr=127.0.0.1:[0-9]*' "$DATA/log" | cut -d: -f2)
        [ -n "$PORT" ] && break
        sleep 0.05
    done
    DATA_DIR="$DATA" FG_SINK=${FG_SINK:-$BUILD/fg_sink} FLOWGATE_URL="http://127.0.0.1:$PORT" SINK_URL="http://127.0.0.1:$SINK_PORT" node bench/webhooks.js "$@"
    kill -TERM "$PID"; wait "$PID" 2>/dev/null
    rm -rf "$DATA"
}

# libcurl alone and flowgate (B) on the same sink, alternated A C B A C B for 1 and for 100
# subscriptions: the ratio is taken within each round, as the machine's speed drifts over a day.
# A is the issue's yardstick: one multi handle, 32 in flight, curl_multi_perform. C does the same
# work as B: as many endpoints as subscriptions, each 32 in flight with its own multi handle
# (with 100, A has 32 requests in flight and B 3,200). NEIGHBOUR=ON_US/PERIOD_US gives A and C a
# thread busy that much of the time beside them, as flowgate's writer is beside its dispatcher
# (a diagnostic: what any neighbour on a two-vCPU machine costs libcurl alone).
if [ "${1:-all}" = all ] || [ "$1" = throughput ]; then
    echo "== deliveries per second against libcurl alone (one thread, nothing else)"
    # A and C send requests of a delivery's size and shape (the same work: body, headers); the
    # light requests the harness used before (a 73-byte body, no webhook headers) are shown once.
    echo "   (light requests) $("$BUILD/fg_curlbase" 32 50000 "http://127.0.0.1:$SINK_PORT/")"
    rate() { grep -o "[0-9]* $1/s" | cut -d' ' -f1; }
    for round in 1 2; do
        for subs in 1 100; do
            events=$((50000 / subs > 500 ? 50000 / subs : 500))
            a=$("$BUILD/fg_curlbase" 32 50000 "http://127.0.0.1:$SINK_PORT/" --webhook ${NEIGHBOUR:+--neighbour "$NEIGHBOUR"})
            echo "   A $a"
            c=$("$BUILD/fg_curlbase" 32 $((subs * events)) "http://127.0.0.1:$SINK_PORT" --webhook --endpoints "$subs" ${NEIGHBOUR:+--neighbour "$NEIGHBOUR"})
            echo "   C $c"
            b=$(run throughput "$subs" "$events")
            echo "   B $b"
            ra=$(rate requests <<<"$a")
            rc=$(rate requests <<<"$c")
            rb=$(rate deliveries <<<"$b")
            [ -n "$ra" ] && [ -n "$rc" ] && [ -n "$rb" ] &&
                echo "round $round, $subs subscription(s): flowgate $rb / libcurl alone $ra = $((100 * rb / ra)) %; / libcurl alone, the same work $rc = $((100 * rb / rc)) %"
        done
    done
fi
if [ "${1:-all}" = all ] || [ "$1" = latency ]; then
    echo "== publish-to-first-attempt latency"
    run latency 1000 10 0 1
fi
if [ "${1:-all}" = all ] || [ "$1" = isolation ]; then
    echo "== isolation: 90 healthy subscriptions at 50 events/s, alone and beside 10 hanging ones"
    run latency 50 10 0 90
    run latency 50 10 10 100
fi
# alone, then beside the others, twice (the ratio is within each pair)
if [ "${1:-all}" = all ] || [ "$1" = dead ]; then
    echo "== dead endpoints: 1 healthy subscription x 20,000 events, alone and beside 20 dead + 20 hanging"
    for _ in 1 2; do
        run dead 20000 0 0 0
        run dead 20000 20 20 60
    done
fi
