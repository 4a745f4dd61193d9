#!/usr/bin/env bash
# splitway serve beside nginx and HAProxy on the talk's phase-2 job, in one run:
# cookie `_AUSER_TYPE=canary` -> the canary, everyone else 5:5:1 over legacy_1, legacy_2, k8s;
# one request in ten carries the cookie. Two cases: one host, and 1,000 hosts (nginx: 1,000
# server blocks; HAProxy: a host map; splitway: 2,000 frontends). Everything on 127.0.0.1.
#
#   bench/compare.sh                 # 3 interleaved rounds of 8 s per target and case
#   DURATION=3s ROUNDS=1 bench/compare.sh      # a smoke run
#   bench/compare.sh --admin         # splitway alone at 1,000 hosts with --admin: RSS and
#                                    # p99 through 3 x 8 s of load, and the /metrics size
#   bench/compare.sh --syscalls      # strace -c -f on each target at one host over a fixed
#                                    # number of requests (REQUESTS, 20000): calls per request
#   bench/compare.sh --profile       # perf record of splitway at one host under load: the
#                                    # top symbols and the share of kernel, libc and its own
#   bench/compare.sh --instructions  # instructions (callgrind) and heap blocks (DHAT) per
#                                    # request of each splitway target at one host, from the
#                                    # difference of 1,000 and 2,000 requests: the machine's
#                                    # load does not move these (also: --allocations); and
#                                    # nginx's instructions, when it is in TARGETS
#
# Knobs (environment): DURATION (8s), ROUNDS (3), CONNECTIONS (64), CASES ("1 1000"),
# TARGETS ("nginx haproxy splitway"), SPLITWAY (the binary; default target/release/splitway,
# built when missing), SPLITWAY_ARGS (extra `serve` flags), and EXTRA: more splitway targets
# as "label=BINARY [FLAGS...]" separated by ';' (e.g. a build of main as the baseline of a
# change, or the same binary with other flags), run interleaved with the others.
#
# Placement: wrk (one thread) and the upstreams on CPU 0, each proxy alone on CPU 1, with one
# worker (nginx: one worker process; HAProxy: nbthread 1; splitway: --workers 1 where the
# binary has it, which is its default when pinned to one CPU). The upstreams are one nginx
# answering on four ports with the server's name as the body ("legacy_1", "legacy_2", "k8s",
# "canary"), so the routing check can count who answered. CPU per request is the proxy's
# utime + stime (its /proc/PID/stat, children included) over the requests wrk completed, with
# utime alone beside it (the user-space work; the rest is the kernel's); RSS
# is read at the end of each run. Every process started here is stopped by its PID on exit.
set -euo pipefail

cd "$(dirname "$0")/.."
root=$PWD
mode=compare
case ${1:-} in
    --admin) mode=admin ;;
    --syscalls) mode=syscalls ;;
    --profile) mode=profile ;;
    --allocations | --instructions) mode=counts ;;
    "") ;;
    *) echo "usage: bench/compare.sh [--admin | --syscalls | --profile | --instructions]" >&2; exit 2 ;;
esac

duration=${DURATION:-8s}
rounds=${ROUNDS:-3}
conns=${CONNECTIONS:-64}
cases=${CASES:-1 1000}
targets=${TARGETS:-nginx haproxy splitway}
splitway=${SPLITWAY:-$root/target/release/splitway}
splitway_args=${SPLITWAY_ARGS:-}
base=${BASE_PORT:-$((20000 + RANDOM % 20000))}

missing=()
for tool in nginx haproxy wrk curl taskset; do
    command -v "$tool" >/dev/null || missing+=("$tool")
done
if [ ${#missing[@]} -gt 0 ]; then
    pkgs=()
    for tool in "${missing[@]}"; do
        case $tool in taskset) pkgs+=(util-linux) ;; *) pkgs+=("$tool") ;; esac
    done
    apt-get install -y -q "${pkgs[@]}" >/dev/null
fi
if [ ! -x "$splitway" ]; then
    cargo build -q --release --locked -p splitway-cli
fi

cpus=$(nproc)
if [ "$cpus" -ge 2 ]; then
    load_cpu=0
    proxy_cpu=1
else
    load_cpu=0
    proxy_cpu=0
fi
tick=$(getconf CLK_TCK)

work=$(mktemp -d)
pids=()
cleanup() {
    local p
    for p in "${pids[@]}"; do
        kill "$p" 2>/dev/null || true
    done
    for p in "${pids[@]}"; do
        wait "$p" 2>/dev/null || true
    done
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Ports: upstreams base+1..4; targets from base+10 up, two a target (one per case).
up_legacy_1=$((base + 1))
up_legacy_2=$((base + 2))
up_k8s=$((base + 3))
up_canary=$((base + 4))
for p in $(seq $((base + 1)) $((base + 60))); do
    port_free "$p" || { echo "port $p is taken; set BASE_PORT" >&2; exit 2; }
done

# Hosts of a case: 1 -> the talk's host; N -> h0.example.com .. h(N-1).example.com.
hosts_of() {
    if [ "$1" -eq 1 ]; then echo web.agendor.com.br; else seq -f 'h%g.example.com' 0 $(($1 - 1)); fi
}
check_host_of() {
    if [ "$1" -eq 1 ]; then echo web.agendor.com.br; else echo "h$(($1 / 2 + 7)).example.com"; fi
}

# --- upstreams: one nginx, four ports, each answering its name -------------------------------
mkdir -p "$work/up"
cat >"$work/up/nginx.conf" <<NGINX
worker_processes 1;
daemon off;
pid $work/up/nginx.pid;
error_log $work/up/error.log;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 100000000;
    keepalive_timeout 120s;
    server { listen 127.0.0.1:$up_legacy_1 backlog=1024; location / { return 200 "legacy_1\n"; } }
    server { listen 127.0.0.1:$up_legacy_2 backlog=1024; location / { return 200 "legacy_2\n"; } }
    server { listen 127.0.0.1:$up_k8s backlog=1024; location / { return 200 "k8s\n"; } }
    server { listen 127.0.0.1:$up_canary backlog=1024; location / { return 200 "canary\n"; } }
}
NGINX
taskset -c "$load_cpu" nginx -c "$work/up/nginx.conf" -p "$work/up" &
pids+=($!)

# --- configurations -------------------------------------------------------------------------
nginx_conf() { # CASE PORT DIR
    local n=$1 port=$2 dir=$3 host
    {
        cat <<NGINX
worker_processes 1;
daemon off;
pid $dir/nginx.pid;
error_log $dir/error.log;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 100000000;
    keepalive_timeout 120s;
    server_names_hash_max_size 4096;
    map \$cookie__AUSER_TYPE \$pool { canary web_canary; default web; }
    upstream web {
        server 127.0.0.1:$up_legacy_1 weight=5;
        server 127.0.0.1:$up_legacy_2 weight=5;
        server 127.0.0.1:$up_k8s weight=1;
        keepalive 128;
        keepalive_requests 100000000;
    }
    upstream web_canary {
        server 127.0.0.1:$up_canary;
        keepalive 128;
        keepalive_requests 100000000;
    }
    server { listen 127.0.0.1:$port default_server backlog=1024; return 404; }
NGINX
        while read -r host; do
            cat <<NGINX
    server {
        listen 127.0.0.1:$port;
        server_name $host;
        location / {
            proxy_pass http://\$pool;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host \$host;
            proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Host \$host;
            proxy_set_header X-Forwarded-Proto \$scheme;
        }
    }
NGINX
        done < <(hosts_of "$n")
        echo "}"
    } >"$dir/nginx.conf"
}

haproxy_conf() { # CASE PORT DIR
    local n=$1 port=$2 dir=$3
    hosts_of "$n" | sed 's/$/ web/' >"$dir/hosts.map"
    cat >"$dir/haproxy.cfg" <<HAPROXY
global
    nbthread 1
    maxconn 4096
defaults
    mode http
    timeout connect 5s
    timeout client 120s
    timeout server 120s
    http-reuse always
    option forwardfor
frontend proxy
    bind 127.0.0.1:$port
    acl canary req.cook(_AUSER_TYPE) -m str canary
    acl known req.hdr(host),lower,map($dir/hosts.map) -m found
    http-request return status 404 if !known
    http-request set-header X-Forwarded-Host %[req.hdr(host)]
    http-request set-header X-Forwarded-Proto http
    use_backend web_canary if known canary
    use_backend web if known
backend web
    balance roundrobin
    server legacy_1 127.0.0.1:$up_legacy_1 weight 5
    server legacy_2 127.0.0.1:$up_legacy_2 weight 5
    server k8s 127.0.0.1:$up_k8s weight 1
backend web_canary
    server canary 127.0.0.1:$up_canary
HAPROXY
}

splitway_conf() { # CASE DIR
    local n=$1 dir=$2 i=0 host
    {
        echo "frontends:"
        while read -r host; do
            cat <<YAML
  web_$i:
    backend: web
    rules: ["Host:$host"]
  web_canary_$i:
    backend: web_canary
    rules: ["Host:$host", "HeadersRegexp:Cookie,_AUSER_TYPE=canary"]
YAML
            i=$((i + 1))
        done < <(hosts_of "$n")
        cat <<YAML
backends:
  web:
    - {name: legacy_1, url: "http://127.0.0.1:$up_legacy_1", weight: 5}
    - {name: legacy_2, url: "http://127.0.0.1:$up_legacy_2", weight: 5}
    - {name: k8s, url: "http://127.0.0.1:$up_k8s", weight: 1}
  web_canary:
    - {name: canary, url: "http://127.0.0.1:$up_canary"}
YAML
    } >"$dir/routes.yaml"
}

# --- targets --------------------------------------------------------------------------------
declare -A target_pid target_port
labels=()
next_port=$((base + 10))

# Starts LABEL's proxy for CASE on CPU 1; remembers its PID and port.
start_target() { # LABEL KIND CASE [BINARY FLAGS...]
    local label=$1 kind=$2 n=$3
    shift 3
    local port=$next_port dir="$work/$label-$n"
    next_port=$((next_port + 1))
    mkdir -p "$dir"
    case $kind in
        nginx)
            nginx_conf "$n" "$port" "$dir"
            taskset -c "$proxy_cpu" nginx -c "$dir/nginx.conf" -p "$dir" 2>"$dir/stderr.log" &
            ;;
        haproxy)
            haproxy_conf "$n" "$port" "$dir"
            taskset -c "$proxy_cpu" haproxy -db -f "$dir/haproxy.cfg" 2>"$dir/stderr.log" &
            ;;
        splitway)
            splitway_conf "$n" "$dir"
            local bin=$1
            shift
            # shellcheck disable=SC2086
            RUST_LOG=warn TOKIO_WORKER_THREADS=1 taskset -c "$proxy_cpu" "$bin" serve \
                --config "$dir/routes.yaml" --listen "127.0.0.1:$port" "$@" \
                2>"$dir/stderr.log" &
            ;;
    esac
    pids+=($!)
    target_pid[$label-$n]=$!
    target_port[$label-$n]=$port
}

wait_ready() { # PORT HOST
    local _
    for _ in $(seq 200); do
        curl -s -o /dev/null -H "Host: $2" "http://127.0.0.1:$1/" && return 0
        sleep 0.05
    done
    echo "nothing answers on port $1" >&2
    exit 1
}

# The process and its children (nginx's worker) as a list of PIDs.
tree() {
    local p=$1 c
    echo "$p"
    for c in $(cat /proc/"$p"/task/*/children 2>/dev/null); do tree "$c"; done
}
cpu_ticks() { # PID: "user+system user", in clock ticks
    local total=0 user=0 p f
    for p in $(tree "$1"); do
        # Fields 14 and 15 (utime, stime) after the command's parenthesis.
        f=$(sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null) || continue
        set -- $f
        total=$((total + ${12} + ${13}))
        user=$((user + ${12}))
    done
    echo "$total $user"
}
rss_kb() {
    local total=0 p kb
    for p in $(tree "$1"); do
        kb=$(awk '/^VmRSS/ {print $2}' "/proc/$p/status" 2>/dev/null || echo 0)
        total=$((total + ${kb:-0}))
    done
    echo "$total"
}

# Checks the routing of LABEL-CASE: 1,100 plain requests give exactly 500/500/100, and ten
# requests with the cookie all go to the canary.
check_routing() { # LABEL CASE
    local key=$1-$2 host got want cookie
    host=$(check_host_of "$2")
    got=$(curl -s -H "Host: $host" "http://127.0.0.1:${target_port[$key]}/check/[1-1100]" |
        sort | uniq -c | awk '{printf "%s=%s ", $2, $1}')
    want="k8s=100 legacy_1=500 legacy_2=500 "
    cookie=$(curl -s -H "Host: $host" -H 'Cookie: a=1; _AUSER_TYPE=canary; b=2' \
        "http://127.0.0.1:${target_port[$key]}/check/[1-10]" | sort | uniq -c |
        awk '{printf "%s=%s ", $2, $1}')
    if [ "$got" != "$want" ] || [ "$cookie" != "canary=10 " ]; then
        echo "routing check FAILED for $key ($host): plain: $got(want $want) cookie: $cookie" >&2
        exit 1
    fi
    echo "routing ok: $key ($host): $got| cookie: $cookie"
}

# The load: one request in ten with the canary cookie, hosts taken in turn.
cat >"$work/load.lua" <<'LUA'
local requests = {}
local i = 0
function init(args)
  local hosts = tonumber(os.getenv("BENCH_HOSTS") or "1")
  local cookie = "_ga=GA1.2.1234567890.1700000000; _gid=GA1.2.987654321.1700000000; "
    .. "session_id=3f9a1c2b7e6d4f5a8b9c0d1e2f3a4b5c; locale=pt-BR"
  local n = math.max(hosts, 10)
  for k = 0, n - 1 do
    local host = "web.agendor.com.br"
    if hosts > 1 then host = "h" .. (k % hosts) .. ".example.com" end
    local c = cookie
    if k % 10 == 9 then c = cookie .. "; _AUSER_TYPE=canary" end
    requests[k + 1] = wrk.format("GET", "/deals/42", { ["Host"] = host, ["Cookie"] = c })
  end
end
function request()
  i = i % #requests + 1
  return requests[i]
end
-- A fixed number of requests (the syscall counts): wrk stops after BENCH_REQUESTS answers.
local limit = tonumber(os.getenv("BENCH_REQUESTS") or "")
if limit then
  local answered = 0
  function response(status, headers, body)
    answered = answered + 1
    if answered >= limit then wrk.thread:stop() end
  end
end
LUA

to_ms() { # wrk's "1.23ms" / "850.00us" / "1.02s" -> milliseconds
    awk -v v="$1" 'BEGIN {
        if (v ~ /us$/) { sub(/us$/, "", v); printf "%.3f", v / 1000 }
        else if (v ~ /ms$/) { sub(/ms$/, "", v); printf "%.3f", v }
        else if (v ~ /s$/) { sub(/s$/, "", v); printf "%.3f", v * 1000 }
        else printf "?" }'
}

# One measured run against LABEL-CASE; appends "label case round rps p50 p99 cpu_us rss_mb
# user_us errors" to $work/results.
measure() { # LABEL CASE ROUND
    local key=$1-$2 pid out before after reqs rps p50 p99 cpu user rss errors
    local before_user after_user
    pid=${target_pid[$key]}
    read -r before before_user < <(cpu_ticks "$pid")
    out=$(BENCH_HOSTS=$2 taskset -c "$load_cpu" wrk -t1 -c"$conns" -d"$duration" --latency \
        -s "$work/load.lua" "http://127.0.0.1:${target_port[$key]}/")
    read -r after after_user < <(cpu_ticks "$pid")
    reqs=$(awk '/requests in/ {print $1}' <<<"$out")
    rps=$(awk '/^Requests\/sec/ {printf "%.0f", $2}' <<<"$out")
    p50=$(to_ms "$(awk '$1 == "50%" {print $2}' <<<"$out")")
    p99=$(to_ms "$(awk '$1 == "99%" {print $2}' <<<"$out")")
    cpu=$(awk -v t=$((after - before)) -v hz="$tick" -v n="$reqs" \
        'BEGIN { printf "%.2f", t / hz * 1e6 / n }')
    user=$(awk -v t=$((after_user - before_user)) -v hz="$tick" -v n="$reqs" \
        'BEGIN { printf "%.2f", t / hz * 1e6 / n }')
    rss=$(awk -v kb="$(rss_kb "$pid")" 'BEGIN { printf "%.1f", kb / 1024 }')
    errors=$(grep -E 'Non-2xx|Socket errors' <<<"$out" | tr -s ' ' | tr '\n' ' ' || true)
    echo "$1 $2 $3 $rps $p50 $p99 $cpu $rss $user ${errors:-}" >>"$work/results"
    printf '  round %s %-22s %6s hosts %9s req/s  p50 %7s ms  p99 %7s ms  %7s us/req (user %6s)  %6s MB %s\n' \
        "$3" "$1" "$2" "$rps" "$p50" "$p99" "$cpu" "$user" "$rss" "${errors:-}"
}

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

describe_machine() {
    echo "machine: $(nproc) CPUs ($(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)), load average $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "versions: $(nginx -v 2>&1 | sed 's/.*: //'), HAProxy $(haproxy -v | awk 'NR == 1 {print $3}'), $(wrk -v 2>&1 | awk 'NR == 1 {print $1, $2}'), splitway $splitway"
    echo "placement: wrk -t1 -c$conns and the upstreams on CPU $load_cpu, each proxy alone on CPU $proxy_cpu; $duration a run, $rounds round(s)"
}

# --- the CPU study: system calls, profile, allocations -------------------------------------
start_study_targets() {
    for t in $targets; do
        case $t in
            splitway)
                # shellcheck disable=SC2086
                start_target splitway splitway 1 "$splitway" $splitway_args
                ;;
            *) start_target "$t" "$t" 1 ;;
        esac
        labels+=("$t")
    done
    if [ -n "${EXTRA:-}" ]; then
        IFS=';' read -ra extras <<<"$EXTRA"
        for e in "${extras[@]}"; do
            # shellcheck disable=SC2086
            start_target "${e%%=*}" splitway 1 ${e#*=}
            labels+=("${e%%=*}")
        done
    fi
    for l in "${labels[@]}"; do
        wait_ready "${target_port[$l-1]}" web.agendor.com.br
        check_routing "$l" 1
    done
}

if [ "$mode" = syscalls ]; then
    command -v strace >/dev/null || apt-get install -y -q strace >/dev/null
    requests=${REQUESTS:-20000}
    start_study_targets
    describe_machine
    for l in "${labels[@]}"; do
        pid=${target_pid[$l-1]}
        # nginx: its worker (the master handles no request).
        traced=$(tree "$pid" | tail -1)
        strace -c -f -p "$traced" -o "$work/strace-$l" 2>/dev/null &
        st=$!
        pids+=($st)
        sleep 0.5
        out=$(BENCH_HOSTS=1 BENCH_REQUESTS=$requests taskset -c "$load_cpu" wrk -t1 -c"$conns" \
            -d60s -s "$work/load.lua" "http://127.0.0.1:${target_port[$l-1]}/")
        kill -INT "$st"
        wait "$st" 2>/dev/null || true
        done_requests=$(awk '/requests in/ {print $1}' <<<"$out")
        echo
        echo "$l: $done_requests requests; system calls per request:"
        awk -v n="$done_requests" '$1 ~ /^[0-9.]+$/ && NF >= 5 && $NF != "total" {
                name = $NF; calls = $4; printf "  %-16s %8.3f\n", name, calls / n; total += calls }
            END { printf "  %-16s %8.3f\n", "total", total / n }' "$work/strace-$l" |
            sort -k2 -g -r | head -12
    done
    exit 0
fi

if [ "$mode" = profile ]; then
    command -v perf >/dev/null || apt-get install -y -q linux-perf >/dev/null
    targets=splitway
    start_study_targets
    describe_machine
    for l in "${labels[@]}"; do
        pid=${target_pid[$l-1]}
        BENCH_HOSTS=1 taskset -c "$load_cpu" wrk -t1 -c"$conns" -d"$duration" \
            -s "$work/load.lua" "http://127.0.0.1:${target_port[$l-1]}/" >/dev/null &
        w=$!
        pids+=($w)
        sleep 1
        perf record -q -e cpu-clock -F 1999 -g -p "$pid" -o "$work/perf-$l.data" -- sleep 5 \
            >/dev/null 2>&1
        wait "$w" || true
        echo
        echo "$l: share of samples by object"
        perf report -q -i "$work/perf-$l.data" --no-children --sort dso --stdio -g none 2>/dev/null |
            grep -v '^#' | grep -v '^$' | head -8
        echo "$l: top symbols"
        perf report -q -i "$work/perf-$l.data" --no-children --sort sym --stdio -g none \
            2>/dev/null | grep -v '^#' | grep -v '^$' | head -"${TOP:-40}"
    done
    exit 0
fi

if [ "$mode" = counts ]; then
    command -v valgrind >/dev/null || apt-get install -y -q valgrind >/dev/null
    describe_machine
    splitways=("splitway=$splitway $splitway_args")
    if [ -n "${EXTRA:-}" ]; then
        IFS=';' read -ra extras <<<"$EXTRA"
        splitways+=("${extras[@]}")
    fi
    dir="$work/counts"
    mkdir -p "$dir"
    splitway_conf 1 "$dir"
    # Waits for PORT to answer, then sends it N requests on one keep-alive connection (the
    # same requests as the load: the 5-cookie header, one in ten with the canary cookie).
    send_counted() { # PORT N
        local port=$1 n=$2
        for _ in $(seq 600); do
            curl -s -o /dev/null -H 'Host: web.agendor.com.br' "http://127.0.0.1:$port/" && break
            sleep 0.1
        done
        local cookie='_ga=GA1.2.1234567890.1700000000; _gid=GA1.2.987654321.1700000000; session_id=3f9a1c2b7e6d4f5a8b9c0d1e2f3a4b5c; locale=pt-BR'
        curl -s -o /dev/null -H 'Host: web.agendor.com.br' -H "Cookie: $cookie" \
            "http://127.0.0.1:$port/deals/[1-$((n * 9 / 10))]"
        curl -s -o /dev/null -H 'Host: web.agendor.com.br' -H "Cookie: $cookie; _AUSER_TYPE=canary" \
            "http://127.0.0.1:$port/deals/[1-$((n / 10))]"
    }
    # COUNT: the tool's total after send_counted's N requests.
    count() { # LABEL TOOL N BINARY FLAGS...
        local label=$1 tool=$2 n=$3 bin=$4 port=$next_port v
        shift 4
        next_port=$((next_port + 1))
        local log="$dir/log-$label-$tool-$n"
        RUST_LOG=warn valgrind --tool="$tool" --"$tool"-out-file="$dir/out-$label-$tool-$n" \
            "$bin" serve --config "$dir/routes.yaml" --listen "127.0.0.1:$port" "$@" 2>"$log" &
        v=$!
        pids+=($v)
        send_counted "$port" "$n"
        kill -INT "$v"
        wait "$v" 2>/dev/null || true
        case $tool in
            dhat) sed -n 's/^==[0-9]*== Total: *[0-9,]* bytes in \([0-9,]*\) blocks$/\1/p' "$log" | tr -d , ;;
            callgrind) sed -n 's/^==[0-9]*== Collected : \([0-9]*\)$/\1/p' "$log" ;;
        esac
    }
    # nginx's worker in the same way (one process: no master; QUIT lets callgrind write out),
    # when nginx is among the targets: the user-space instructions of the baseline.
    count_nginx() { # N
        local n=$1 port=$next_port v ndir="$dir/nginx-$1"
        next_port=$((next_port + 1))
        mkdir -p "$ndir"
        nginx_conf 1 "$port" "$ndir"
        sed -i 's/^daemon off;/daemon off;\nmaster_process off;/' "$ndir/nginx.conf"
        valgrind --tool=callgrind --callgrind-out-file="$ndir/callgrind.out" \
            nginx -c "$ndir/nginx.conf" -p "$ndir" 2>"$ndir/log" &
        v=$!
        pids+=($v)
        send_counted "$port" "$n"
        kill -QUIT "$v"
        wait "$v" 2>/dev/null || true
        sed -n 's/^==[0-9]*== Collected : \([0-9]*\)$/\1/p' "$ndir/log"
    }
    if [[ " $targets " == *" nginx "* ]]; then
        i1=$(count_nginx 1000)
        i2=$(count_nginx 2000)
        echo "nginx: $(( (i2 - i1) / 1000 )) instructions per request (callgrind; 2,000 requests less 1,000)"
    fi
    for e in "${splitways[@]}"; do
        label=${e%%=*}
        # shellcheck disable=SC2086
        set -- ${e#*=}
        i1=$(count "$label" callgrind 1000 "$@")
        i2=$(count "$label" callgrind 2000 "$@")
        b1=$(count "$label" dhat 1000 "$@")
        b2=$(count "$label" dhat 2000 "$@")
        echo "$label: $(( (i2 - i1) / 1000 )) instructions and $(( (b2 - b1) / 1000 )) heap blocks per request (callgrind, DHAT; 2,000 requests less 1,000)"
    done
    exit 0
fi

# --- the admin mode ---------------------------------------------------------------------------
if [ "$mode" = admin ]; then
    n=1000
    admin_port=$((base + 59))
    start_target splitway-admin splitway "$n" "$splitway" --admin "127.0.0.1:$admin_port" $splitway_args
    wait_ready "${target_port[splitway-admin-$n]}" "$(check_host_of $n)"
    check_routing splitway-admin "$n"
    describe_machine
    echo "splitway --admin at $n hosts: rss before load $(awk -v kb="$(rss_kb "${target_pid[splitway-admin-$n]}")" 'BEGIN { printf "%.1f", kb / 1024 }') MB"
    for r in $(seq "${ADMIN_ROUNDS:-3}"); do
        measure splitway-admin "$n" "$r"
    done
    curl -s "http://127.0.0.1:$admin_port/metrics" -o "$work/metrics.txt"
    echo "/metrics: $(wc -c <"$work/metrics.txt") bytes, $(grep -vc '^#' "$work/metrics.txt") samples"
    exit 0
fi

# --- the comparison -------------------------------------------------------------------------
for n in $cases; do
    for t in $targets; do
        case $t in
            splitway)
                # shellcheck disable=SC2086
                start_target splitway splitway "$n" "$splitway" $splitway_args
                ;;
            *) start_target "$t" "$t" "$n" ;;
        esac
        labels+=("$t")
    done
    if [ -n "${EXTRA:-}" ]; then
        IFS=';' read -ra extras <<<"$EXTRA"
        for e in "${extras[@]}"; do
            label=${e%%=*}
            # shellcheck disable=SC2086
            start_target "$label" splitway "$n" ${e#*=}
            labels+=("$label")
        done
    fi
done
mapfile -t labels < <(printf '%s\n' "${labels[@]}" | awk '!seen[$0]++')
for n in $cases; do
    for l in "${labels[@]}"; do
        wait_ready "${target_port[$l-$n]}" "$(check_host_of "$n")"
        check_routing "$l" "$n"
    done
done

describe_machine
: >"$work/results"
for r in $(seq "$rounds"); do
    for n in $cases; do
        # Each round in another order, so that no target always runs right after another.
        for l in $(printf '%s\n' "${labels[@]}" | awk -v r="$r" '{ print (NR + r) % 7919, $0 }' |
            sort -n | cut -d' ' -f2); do
            measure "$l" "$n" "$r"
        done
    done
done

echo
echo "medians of $rounds round(s):"
printf '| %-22s | %6s | %10s | %9s | %9s | %11s | %8s | %12s |\n' target hosts "req/s" "p50 ms" "p99 ms" "CPU us/req" "RSS MB" "user us/req"
printf '|%s|\n' "------------------------|-------:|-----------:|----------:|----------:|------------:|---------:|-------------:"
for n in $cases; do
    for l in "${labels[@]}"; do
        col() { awk -v l="$l" -v n="$n" -v c="$1" '$1 == l && $2 == n { print $c }' "$work/results" | median; }
        printf '| %-22s | %6s | %10s | %9s | %9s | %11s | %8s | %12s |\n' "$l" "$n" "$(col 4)" "$(col 5)" "$(col 6)" "$(col 7)" "$(col 8)" "$(col 9)"
    done
done
if [ -n "${RESULTS:-}" ]; then
    cp "$work/results" "$RESULTS"
fi
