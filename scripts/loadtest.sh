#!/usr/bin/env bash
# Side-by-side load test on 127.0.0.1: the same upstream reached directly (the baseline),
# through nginx as a reverse proxy, and through `splitway serve` with the talk's phase-2 rules
# (so every request is matched against the canary rule, then round-robin picked).
#
#   scripts/loadtest.sh [SECONDS] [CONNECTIONS]
#
# Installs wrk and nginx with apt-get when they are missing. Everything listens on 127.0.0.1
# and is stopped on exit. On a 2-core machine wrk, the proxy and the upstream share the cores:
# compare the rows of one run, not absolute figures across machines.
set -euo pipefail

seconds=${1:-10}
conns=${2:-32}
cd "$(dirname "$0")/.."

if ! command -v wrk >/dev/null || ! command -v nginx >/dev/null; then
    apt-get install -y -q wrk nginx >/dev/null
fi
cargo build -q --release -p splitway-cli

work=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    [ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

# nginx plays both the upstream (port 18091: a fixed 200) and the nginx proxy (18092).
cat >"$work/nginx.conf" <<NGINX
worker_processes 1;
pid $work/nginx.pid;
error_log $work/error.log;
events { worker_connections 1024; }
http {
    access_log off;
    upstream app { server 127.0.0.1:18091; keepalive 64; }
    server { listen 127.0.0.1:18091; location / { return 200 "ok\n"; } }
    server {
        listen 127.0.0.1:18092;
        location / {
            proxy_pass http://app;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host \$host;
            proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
        }
    }
}
NGINX
nginx -c "$work/nginx.conf" -p "$work"

cat >"$work/routes.yaml" <<YAML
frontends:
  web:
    rules: ["Host:web.agendor.com.br"]
  web_canary:
    rules: ["Host:web.agendor.com.br", "HeadersRegexp:Cookie,_AUSER_TYPE=canary"]
backends:
  web:
    - {name: legacy_1, url: "http://127.0.0.1:18091", weight: 5}
    - {name: legacy_2, url: "http://127.0.0.1:18091", weight: 5}
    - {name: k8s, url: "http://127.0.0.1:18091", weight: 1}
  web_canary:
    - {name: k8s, url: "http://127.0.0.1:18091"}
YAML
# One worker thread, as nginx runs one worker process here.
RUST_LOG=warn TOKIO_WORKER_THREADS=1 target/release/splitway serve --config "$work/routes.yaml" \
    --listen 127.0.0.1:18093 2>"$work/splitway.log" &
pids+=($!)
for _ in $(seq 100); do
    curl -sf -o /dev/null -H 'Host: web.agendor.com.br' http://127.0.0.1:18093/ && break
    sleep 0.1
done

cookie='Cookie: _ga=GA1.2.1234567890.1700000000; _gid=GA1.2.987654321.1700000000; session_id=3f9a1c2b7e6d4f5a8b9c0d1e2f3a4b5c; locale=pt-BR'
echo "wrk -t2 -c$conns -d${seconds}s, Host web.agendor.com.br, a 5-cookie Cookie header; $(nproc) cores"
printf '%-34s %12s %10s %10s\n' "target" "requests/s" "p50" "p99"
for row in "upstream directly (baseline):18091" "nginx $(nginx -v 2>&1 | sed 's/.*\///') proxy:18092" "splitway serve:18093"; do
    name=${row%:*}
    port=${row##*:}
    out=$(wrk -t2 -c"$conns" -d"${seconds}s" --latency -H 'Host: web.agendor.com.br' -H "$cookie" \
        "http://127.0.0.1:$port/deals/42")
    rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
    p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
    p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
    errors=$(grep -E 'Non-2xx|Socket errors' <<<"$out" || true)
    printf '%-34s %12s %10s %10s %s\n' "$name" "$rps" "$p50" "$p99" "$errors"
done
