#!/usr/bin/env bash
# Runs the benchmarks of issue #2 against a fresh flowgate and prints the figures.
# It never fails on a figure: benchmarks report, tests judge behaviour.
#   bash bench/run.sh [scenario...]   scenarios: fanout fanout10k latency latency1 latency-h2
#   fanout-h2 publish views logs-publish logs-search logs-download filters (default: all)
set -uo pipefail
cd "$(dirname "$0")/.."
BIN=${FLOWGATE_BIN:-./build/flowgate}
GEN=${FG_LOADGEN:-./build/fg_loadgen}
ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)"
scenarios=("$@")
[ ${#scenarios[@]} -eq 0 ] && scenarios=(fanout fanout10k latency latency1 latency-h2 fanout-h2 publish views logs-publish logs-search logs-download filters)

start() {
    DATA=$(mktemp -d /tmp/fg-bench-XXXXXX)
    # one load tool on one address opens up to 10,000 streams and publishes flat out: lift the
    # per-client limits (limits.*) that would stop it
    env FLOWGATE_LIMITS_MAX_CONNECTIONS=0 FLOWGATE_LIMITS_MAX_STREAMS_PER_ADDRESS=0 \
        FLOWGATE_LIMITS_PUBLISH_RATE=0 "$@" "$BIN" --listen 127.0.0.1:0 --data-dir "$DATA" 2> "$DATA/log" &
    PID=$!
    for _ in $(seq 100); do
        PORT=$(grep -o 'addr=127.0.0.1:[0-9]*' "$DATA/log" 2>/dev/null | cut -d: -f2)
        [ -n "$PORT" ] && break
        sleep 0.05
    done
    # listening is logged at info: fall back to asking the kernel
    if [ -z "$PORT" ]; then
        for _ in $(seq 100); do
            PORT=$(ss -ltnpH 2>/dev/null | grep "pid=$PID," | head -1 | awk '{print $4}' | sed 's/.*://')
            [ -n "$PORT" ] && break
            sleep 0.05
        done
    fi
}
stop() { kill -TERM "$PID" 2>/dev/null; wait "$PID" 2>/dev/null; rm -rf "$DATA"; }
# Stops and starts again on the same data, the run views rebuilt from the log at start.
restart_rebuild() {
    kill -TERM "$PID" 2>/dev/null; wait "$PID" 2>/dev/null
    KEEP=$DATA
    env FLOWGATE_STORE_REBUILD_VIEWS=1 "$BIN" --listen 127.0.0.1:0 --data-dir "$KEEP" 2> "$KEEP/log2" &
    PID=$!
    for _ in $(seq 600); do grep -q 'event=listening' "$KEEP/log2" 2>/dev/null && break; sleep 0.1; done
    grep -o 'event=run_views_synced.*' "$KEEP/log2"
}

for s in "${scenarios[@]}"; do
    case "$s" in
    fanout)
        echo "== fan-out: 1,000 streams x 1,000 events (batches of 100, 4 publishers)"
        start; "$GEN" --port "$PORT" --pid "$PID" --streams 1000 --events 1000 --batch 100 --publishers 4; stop ;;
    fanout10k)
        echo "== fan-out: 10,000 streams x 100 events (batches of 100)"
        start; "$GEN" --port "$PORT" --pid "$PID" --streams 10000 --events 100 --batch 100 --publishers 1; stop ;;
    latency)
        echo "== latency: 1,000 streams, 500 events/s single-event POSTs for 10 s"
        start; "$GEN" --port "$PORT" --pid "$PID" --streams 1000 --events 5000 --rate 500 --publishers 16; stop ;;
    latency1)
        echo "== latency baseline: 1 stream, 500 events/s single-event POSTs for 10 s"
        start; "$GEN" --port "$PORT" --pid "$PID" --streams 1 --events 5000 --rate 500 --publishers 16; stop ;;
    latency-h2)
        echo "== latency: 1,000 streams over 10 HTTP/2 connections, 500 events/s for 10 s"
        start; "$GEN" --h2 10 --port "$PORT" --pid "$PID" --streams 1000 --events 5000 --rate 500 --publishers 16; stop ;;
    fanout-h2)
        echo "== fan-out: 1,000 streams over 10 HTTP/2 connections x 1,000 events"
        start; "$GEN" --h2 10 --port "$PORT" --pid "$PID" --streams 1000 --events 1000 --batch 100 --publishers 4; stop ;;
    publish)
        echo "== durable publish: batches of 100 over 8 connections, no streams"
        start; "$GEN" --port "$PORT" --pid "$PID" --streams 0 --events 500000 --batch 100 --publishers 8; stop
        echo "== durable publish: single-event POSTs over 64 connections, no streams"
        start; "$GEN" --port "$PORT" --pid "$PID" --streams 0 --events 200000 --batch 1 --publishers 64; stop
        echo "== durable publish: batches of 100, every line a new step (run views' worst case)"
        start; "$GEN" --port "$PORT" --pid "$PID" --streams 0 --events 500000 --batch 100 --publishers 8 --steps 1000000
        echo "== run views rebuilt from those 500,000 events at start (store.rebuild_views)"
        restart_rebuild; stop ;;
    views)
        echo "== run views read: 6,250 runs (100,000 lines over 100,000 steps), then one run of 100,000 lines"
        start
        "$GEN" --port "$PORT" --streams 0 --events 100000 --batch 100 --publishers 4 --steps 1000000 | grep published
        "$GEN" --port "$PORT" --streams 0 --events 100000 --batch 100 --publishers 4 --steps 16 | grep published
        RUN=3f1c2a4e-8b9d-4c1e-9f2a-000000000001
        for path in "/v1/runs?limit=100" "/v1/runs/$RUN" "/v1/approvals" "/v1/runs/$RUN/logs?limit=1000" \
                    "/v1/runs/$RUN/logs?limit=1000&after=90000"; do
            echo "-- GET $path (wrk: 2 threads, 16 connections, 5 s)"
            wrk -t2 -c16 -d5s --latency "http://127.0.0.1:$PORT$path" | grep -E 'Requests/sec|  50%|  99%'
        done
        stop ;;
    filters)
        # payload filters (issue #15): 1,000 streams with a filter on the event's fields against
        # the same streams with a type filter only, the same events (every one matches both),
        # alternating A B A B
        PF='%7B%22step_name%22%3A%22bench%22%2C%22stream%22%3A%7B%22%24in%22%3A%5B%22stdout%22%2C%22stderr%22%5D%7D%7D'
        for round in 1 2; do
            echo "== A: 1,000 streams, types=log_line, x 5,000 events (round $round)"
            start; "$GEN" --port "$PORT" --pid "$PID" --streams 1000 --events 5000 --batch 100 --publishers 4 | grep -E 'delivered|latency'; stop
            echo "== B: 1,000 streams, types=log_line and filter={\"step_name\":\"bench\",\"stream\":{\"\$in\":[\"stdout\",\"stderr\"]}} (round $round)"
            start; "$GEN" --port "$PORT" --pid "$PID" --streams 1000 --events 5000 --batch 100 --publishers 4 \
                --sub-path "/v1/stream?types=log_line&filter=$PF" | grep -E 'delivered|latency'; stop
            echo "== C: 1,000 streams, types=log_line and 1,000 different filters {\"step_name\":\"bench\",\"seq_note\":{\"\$ne\":\"<i>\"}} (round $round)"
            start; "$GEN" --port "$PORT" --pid "$PID" --streams 1000 --events 5000 --batch 100 --publishers 4 \
                --sub-path "/v1/stream?types=log_line&filter=%7B%22step_name%22%3A%22bench%22%2C%22seq_note%22%3A%7B%22%24ne%22%3A%22{i}%22%7D%7D" | grep -E 'delivered|latency'; stop
        done ;;
    logs-publish)
        # what the search index (logs.search_index) costs a publish of compiler-like lines,
        # index on (A) and off (B), alternating
        for idx in 1 0 1 0; do
            echo "== logs.search_index=$idx: batches of 100 over 8 connections, 300,000 build-log lines"
            start FLOWGATE_LOGS_SEARCH_INDEX=$idx
            "$GEN" --port "$PORT" --pid "$PID" --streams 0 --events 300000 --batch 100 --publishers 8 --build-log | grep -E 'published|publish'
            echo "   store: $(du -cb "$DATA"/flowgate.db* | tail -1 | cut -f1) bytes"; stop
            echo "== logs.search_index=$idx: single-event POSTs over 64 connections, 100,000 build-log lines"
            start FLOWGATE_LOGS_SEARCH_INDEX=$idx
            "$GEN" --port "$PORT" --pid "$PID" --streams 0 --events 100000 --batch 1 --publishers 64 --build-log | grep -E 'published|publish'; stop
        done ;;
    logs-search|logs-download)
        # one run of 1,000,000 compiler-like lines (about 130 MiB of text)
        echo "== $s: one run of 1,000,000 lines"
        start
        "$GEN" --port "$PORT" --streams 0 --events 1000000 --batch 100 --publishers 4 --build-log | grep -E 'published'
        RUN=3f1c2a4e-8b9d-4c1e-9f2a-1b2c3d4e5f60
        # the index follows at the lowest priority: measured once it has caught up
        t0=$(date +%s%N)
        last=$(curl -s "127.0.0.1:$PORT/metrics" | awk '/^flowgate_store_last_seq /{print $2}')
        for _ in $(seq 1200); do
            cov=$(curl -s "127.0.0.1:$PORT/metrics" | awk '/^flowgate_log_index_covered_seq /{print $2}')
            [ "$cov" = "$last" ] && break
            sleep 0.1
        done
        echo "-- the index caught up with the last line $(( ($(date +%s%N) - t0) / 1000000 )) ms after the publish ended"
        if [ "$s" = logs-search ]; then
            echo "-- with the index"
            node bench/logs.js search "$PORT" "$RUN"
            kill -TERM "$PID"; wait "$PID" 2>/dev/null
            env FLOWGATE_LOGS_SEARCH_INDEX=0 "$BIN" --listen "127.0.0.1:$PORT" --data-dir "$DATA" 2> "$DATA/log2" &
            PID=$!
            for _ in $(seq 100); do grep -q 'event=listening' "$DATA/log2" 2>/dev/null && break; sleep 0.1; done
            echo "-- without it (logs.search_index=0: every line of the run read)"
            node bench/logs.js search "$PORT" "$RUN"
        else
            node bench/logs.js download "$PORT" "$RUN" "$PID"
        fi
        stop ;;
    *) echo "unknown scenario $s" >&2 ;;
    esac
done
