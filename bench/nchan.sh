#!/usr/bin/env bash
# flowgate against nginx + Nchan on the same fan-out work, side by side (issue #13): the same
# load tool (fg_loadgen) publishes single-event POSTs and counts SSE frames on one HTTP/1.1
# connection per subscriber; Nchan is Debian's libnginx-mod-nchan with its memory store, two
# workers, one channel, `nchan_subscriber_first_message newest`; flowgate keeps its defaults
# (synchronous=full: every event is on disk before it is acknowledged). Alternates A B A B and
# prints each figure and the ratio. Prints figures; never fails on them.
# Needs `.ci/install-deps.sh bench` (nginx, libnginx-mod-nchan).
#   bash bench/nchan.sh [rounds]    (default 2; DEPTH=1 for one request in flight)
set -uo pipefail
cd "$(dirname "$0")/.."
BIN=${FLOWGATE_BIN:-./build/flowgate}
GEN=${FG_LOADGEN:-./build/fg_loadgen}
ROUNDS=${1:-2}
DEPTH=${DEPTH:-32} # publish requests in flight per publisher connection (HTTP/1.1 pipelining)
ulimit -n 20000 2>/dev/null || true
WORK=$(mktemp -d /tmp/fg-nchan-XXXXXX)
NPORT=18972
cat > "$WORK/nginx.conf" <<NGINX
load_module /usr/lib/nginx/modules/ngx_nchan_module.so;
worker_processes 2;
worker_rlimit_nofile 20000;
pid $WORK/nginx.pid;
error_log $WORK/nginx-error.log;
events { worker_connections 12000; }
http {
    access_log off;
    client_body_temp_path $WORK/body;
    keepalive_requests 1000000;
    server {
        listen 127.0.0.1:$NPORT;
        location = /pub { nchan_publisher; nchan_channel_id bench; nchan_message_buffer_length 1000; }
        location = /sub { nchan_subscriber eventsource; nchan_channel_id bench;
                          nchan_subscriber_first_message newest; }
    }
}
NGINX
PID=""
stop_all() {
    [ -n "$PID" ] && kill -TERM "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
    PID=""
    [ -f "$WORK/nginx.pid" ] && nginx -c "$WORK/nginx.conf" -p "$WORK" -s stop 2>/dev/null
    sleep 0.3
}
trap 'stop_all; rm -rf "$WORK"' EXIT

flowgate() {
    rm -rf "$WORK/data" && mkdir -p "$WORK/data"
    FLOWGATE_LIMITS_MAX_CONNECTIONS=0 FLOWGATE_LIMITS_MAX_STREAMS_PER_ADDRESS=0 \
        FLOWGATE_LIMITS_PUBLISH_RATE=0 "$BIN" --listen 127.0.0.1:0 --data-dir "$WORK/data" \
        2> "$WORK/fg.log" &
    PID=$!
    for _ in $(seq 200); do
        FPORT=$(grep -o 'addr=127.0.0.1:[0-9]*' "$WORK/fg.log" 2>/dev/null | cut -d: -f2)
        [ -n "$FPORT" ] && break
        sleep 0.05
    done
}

# run NAME STREAMS EVENTS PUBLISHERS [extra loadgen args]: one workload, A (flowgate) then B
run() {
    local name=$1 streams=$2 events=$3 pubs=$4
    shift 4
    flowgate
    a=$("$GEN" --port "$FPORT" --pid "$PID" --streams "$streams" --events "$events" --batch 1 \
        --publishers "$pubs" --pipeline "$DEPTH" "$@" | grep -E "delivered|latency" | tr '\n' ' ')
    stop_all
    nginx -c "$WORK/nginx.conf" -p "$WORK"
    sleep 0.3
    b=$("$GEN" --port "$NPORT" --streams "$streams" --events "$events" --batch 1 \
        --publishers "$pubs" --pipeline "$DEPTH" --pub-path /pub --sub-path /sub "$@" | grep -E "delivered|latency" |
        tr '\n' ' ')
    stop_all
    ra=$(echo "$a" | grep -o '[0-9]* deliveries/s' | cut -d' ' -f1)
    rb=$(echo "$b" | grep -o '[0-9]* deliveries/s' | cut -d' ' -f1)
    echo "$name"
    echo "  flowgate:      $a"
    echo "  nginx + Nchan: $b"
    if [ -n "${RATE_RUN:-}" ]; then # paced: the figures are the latencies, and whether it kept up
        pa=$(echo "$a" | grep -o 'p99 [0-9.]* ms' | head -1)
        pb=$(echo "$b" | grep -o 'p99 [0-9.]* ms' | head -1)
        echo "  publish->receive $pa (flowgate) vs $pb (Nchan)"
    else
        awk -v a="${ra:-0}" -v b="${rb:-0}" 'BEGIN{ if (b > 0) printf "  ratio flowgate / Nchan: %.2f\n", a / b }'
    fi
}

for r in $(seq "$ROUNDS"); do
    echo "=== round $r (single-event POSTs, up to $DEPTH in flight per publisher connection)"
    run "1,000 streams x 1,000 events, 1 publisher" 1000 1000 1
    run "1,000 streams x 1,000 events, 4 publishers" 1000 1000 4
    run "10,000 streams x 100 events, 4 publishers" 10000 100 4
    run "100 streams x 10,000 events, 4 publishers" 100 10000 4
    DEPTH=1 RATE_RUN=1 run "1,000 streams at 100 events/s for 10 s" 1000 1000 16 --rate 100
    DEPTH=1 RATE_RUN=1 run "1,000 streams at 500 events/s for 10 s" 1000 5000 16 --rate 500
done
