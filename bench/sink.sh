# sink.sh - sourced by the benchmark scripts: an nginx webhook sink answering 204 to anything.
#   sink_start DIR PORT   writes DIR/nginx.conf and starts nginx on 127.0.0.1:PORT
#   sink_stop DIR         stops it
# SINK_BATCH=1 runs the sink's worker as SCHED_BATCH: woken by a request, it does not preempt the
# sender on the sender's vCPU (as a receiver on another machine would not); a diagnostic, for
# both sides of a comparison alike. SINK_CPU=N pins the worker to vCPU N instead: it is never
# woken onto the sender's vCPU, though the sender may still be moved onto the sink's (see
# bench/cpushare.py and bench/README.md, "Fourth session").
sink_start() {
    local dir=$1 port=$2
    cat > "$dir/nginx.conf" <<NGINX
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/nginx-error.log;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $dir/body;
    keepalive_requests 1000000;
    server {
        listen 127.0.0.1:$port;
        location / { return 204; }
    }
}
NGINX
    nginx -c "$dir/nginx.conf" -p "$dir"
    sleep 0.3
    if [ "${SINK_BATCH:-0}" = 1 ]; then
        local pid
        for pid in $(pgrep -P "$(cat "$dir/nginx.pid")"); do chrt -b -a -p 0 "$pid"; done
    fi
    if [ -n "${SINK_CPU:-}" ]; then
        local pid
        for pid in $(pgrep -P "$(cat "$dir/nginx.pid")"); do taskset -a -p -c "$SINK_CPU" "$pid" >/dev/null; done
    fi
}
sink_stop() { nginx -c "$1/nginx.conf" -p "$1" -s stop 2>/dev/null; }
