# sink.sh - sourced by the benchmark scripts: an nginx webhook sink answering 204 to anything.
#   sink_start DIR PORT   writes DIR/nginx.conf and starts nginx on 127.0.0.1:PORT
#   sink_stop DIR         stops it
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
}
sink_stop() { nginx -c "$1/nginx.conf" -p "$1" -s stop 2>/dev/null; }
