#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# One benchmark run of activity-api against the ceilings of this machine (docs/BENCHMARKS.md):
#   (a) HTTP ceiling   bench-http-ceiling, every POST answered 202 with no work
#   (b) 429 path       activity-api with default limits: after the first 50 requests, all 429
#   (c) 400 path       activity-api with the limit raised, a body that fails validation
#   (d) 202 path       activity-api with the limit raised, a valid body: published and confirmed
#   (e) broker ceiling bench-broker-ceiling: persistent publishes with 1000 confirms in flight
# (a)-(d) are `wrk -t1 -c64 -d10s --latency` against 127.0.0.1; (e) publishes for 10 s. Then it
# prints a table against the targets and writes it as Markdown to bench/results/<timestamp>.md.
#
# Assumes `scripts/services.sh up` was run (RabbitMQ on 127.0.0.1) and the project was built:
#   cmake -S . -B build -DCMAKE_BUILD_TYPE=Release && cmake --build build -j2
# (b)-(d) are skipped, and reported as not run, while $AT_BUILD_DIR/activity-api does not exist.
#
# Environment (defaults in brackets):
#   AT_BUILD_DIR [build]            where activity-api and the bench-* programs are
#   RABBITMQ_URL [amqp://guest:guest@127.0.0.1:5672/]
#   BENCH_RUNS [a b c d e]          which measurements to take
#   BENCH_DURATION [10s]  BENCH_CONNECTIONS [64]  BENCH_WINDOW [1000]
#   BENCH_SERVER_CPU [0]  BENCH_WRK_CPU [1]      cores for the server and for wrk
#   BENCH_PIN_202 [0]               1: pin (d) like (a)-(c); by default (d) is not pinned
#   BENCH_THREADS [1]               loop threads of both servers (API_THREADS)
#   BENCH_API_PORT [3100]  BENCH_CEILING_PORT [3101]  BENCH_QUEUE [bench.activities]
#
# Every load is bounded in time and targets loopback only; every process started here is
# stopped on exit (trap), and the benchmark queues are deleted.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${AT_BUILD_DIR:-build}
[[ $BUILD == /* ]] || BUILD="$ROOT/$BUILD"
RABBITMQ_URL=${RABBITMQ_URL:-amqp://guest:guest@127.0.0.1:5672/}
RUNS=${BENCH_RUNS:-a b c d e}
DURATION=${BENCH_DURATION:-10s}
CONNS=${BENCH_CONNECTIONS:-64}
WINDOW=${BENCH_WINDOW:-1000}
SERVER_CPU=${BENCH_SERVER_CPU:-0}
WRK_CPU=${BENCH_WRK_CPU:-1}
PIN_202=${BENCH_PIN_202:-0}
THREADS=${BENCH_THREADS:-1}
API_PORT=${BENCH_API_PORT:-3100}
CEILING_PORT=${BENCH_CEILING_PORT:-3101}
QUEUE=${BENCH_QUEUE:-bench.activities}
HOST=127.0.0.1
ROUTE=/api/v1/activities

API_BIN="$BUILD/activity-api"
HTTP_CEILING_BIN="$BUILD/bench/bench-http-ceiling"
BROKER_CEILING_BIN="$BUILD/bench/bench-broker-ceiling"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/at-bench.XXXXXX")
PIDS=()
QUEUE_USED=0

say() { printf 'bench: %s\n' "$*" >&2; }
die() {
    printf 'bench: error: %s\n' "$*" >&2
    exit 1
}

# ---- processes ---------------------------------------------------------------------------------

# stop_pid PID: SIGTERM, up to 10 s of grace, then SIGKILL. Waits on that PID only.
stop_pid() {
    local pid=$1 i
    kill -0 "$pid" 2>/dev/null || {
        wait "$pid" 2>/dev/null || true
        return 0
    }
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        say "pid $pid did not stop within 10 s; killing it"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}

cleanup() {
    local status=$?
    trap - EXIT INT TERM
    local pid
    for pid in "${PIDS[@]}"; do
        stop_pid "$pid"
    done
    if ((QUEUE_USED)) && [[ -x $BROKER_CEILING_BIN ]]; then
        timeout 60 "$BROKER_CEILING_BIN" -D "$QUEUE" "$RABBITMQ_URL" >/dev/null 2>&1 || true
        timeout 60 "$BROKER_CEILING_BIN" -D "$QUEUE.dlq" "$RABBITMQ_URL" >/dev/null 2>&1 || true
    fi
    rm -rf "$WORK"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# forget_pid PID: drop PID from the cleanup list once it has been stopped.
forget_pid() {
    local keep=() p
    for p in "${PIDS[@]}"; do
        [[ $p == "$1" ]] || keep+=("$p")
    done
    PIDS=("${keep[@]+"${keep[@]}"}")
}

# ---- measurements ------------------------------------------------------------------------------

# wrk_run NAME SCRIPT PORT WRK_CPU: runs the load, keeps wrk's report in $WORK/NAME.wrk.
wrk_run() {
    local name=$1 script=$2 port=$3 cpu=$4
    local cmd=(wrk -t1 -c"$CONNS" -d"$DURATION" --latency -s "$ROOT/bench/$script"
        "http://$HOST:$port$ROUTE")
    [[ -n $cpu ]] && cmd=(taskset -c "$cpu" "${cmd[@]}")
    printf '%s\n' "${cmd[*]}" >"$WORK/$name.cmd"
    say "($name) ${cmd[*]}"
    # wrk stops itself after DURATION; the timeout is a guard against a wedged run.
    timeout 120 "${cmd[@]}" >"$WORK/$name.wrk" 2>&1 || die "wrk failed: $(cat "$WORK/$name.wrk")"
}

# wrk_parse FILE: prints "rps requests seconds p50_ms p75_ms p90_ms p99_ms non2xx socket_errors"
# from wrk's --latency report.
wrk_parse() {
    awk '
    function ms(v,   n, u) {
        n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
        if (u == "us") return n / 1000
        if (u == "ms") return n
        if (u == "s") return n * 1000
        if (u == "m") return n * 60000
        return n
    }
    function secs(v) { return ms(v) / 1000 }
    /^ +Latency Distribution/ { dist = 1; next }
    dist && $1 ~ /^[0-9]+%$/ { p[$1] = ms($2); next }
    { dist = 0 }
    / requests in / { req = $1; d = $4; sub(/,$/, "", d); dur = secs(d) }
    /^Requests\/sec:/ { rps = $2 }
    /^ +Non-2xx or 3xx responses:/ { non2xx = $NF }
    /^ +Socket errors:/ {
        for (i = 1; i <= NF; i++) if ($i ~ /^[0-9]+,?$/) { v = $i; sub(/,/, "", v); sockerr += v }
    }
    END {
        if (rps == "") exit 1
        printf "%s %d %.3f %.3f %.3f %.3f %.3f %d %d\n", rps, req, dur, p["50%"], p["75%"],
               p["90%"], p["99%"], non2xx + 0, sockerr + 0
    }' "$1"
}

# http_status METHOD PATH PORT [SCRIPT]: the status of one request (the body of SCRIPT if given).
http_status() {
    local method=$1 path=$2 port=$3 script=${4:-} args=()
    if [[ -n $script ]]; then
        args=(-H 'Content-Type: application/json' --data-binary "$(lua_body "$ROOT/bench/$script")")
    fi
    curl -s -o /dev/null -w '%{http_code}' --max-time 5 -X "$method" "${args[@]}" \
        "http://$HOST:$port$path" || true
}

# lua_body FILE: the request body a wrk script sets (concatenated single-quoted pieces).
lua_body() {
    sed -n '/^wrk.body =/,$p' "$1" | grep -o "'[^']*'" | tr -d "'\n"
}

# wait_status METHOD PATH PORT WANT SECONDS PID: polls until METHOD PATH answers WANT; 1 when
# SECONDS pass or PID exits first.
wait_status() {
    local method=$1 path=$2 port=$3 want=$4 secs=$5 pid=$6 i
    for ((i = 0; i < secs * 10; i++)); do
        kill -0 "$pid" 2>/dev/null || return 1
        [[ $(http_status "$method" "$path" "$port") == "$want" ]] && return 0
        sleep 0.1
    done
    return 1
}

cpu_ticks() { # utime + stime of PID, in clock ticks (fields 14 and 15 of /proc/PID/stat)
    sed 's/^.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'
}

vm_rss_kb() {
    awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"
}

# metric_value PORT NAME: the first sample of a metric family from GET /metrics, or empty.
metric_value() {
    curl -s --max-time 5 "http://$HOST:$1/metrics" 2>/dev/null |
        awk -v name="$2" '
        index($0, name) == 1 {
            rest = substr($0, length(name) + 1)
            if (rest !~ /^[ {]/) next
            sub(/^\{[^}]*\}/, "", rest); split(rest, f, " "); print f[1]; exit
        }' || true
}

# purge_queue [must]: empties the API's queue; a failure is fatal only with "must".
purge_queue() {
    QUEUE_USED=1
    timeout 60 "$BROKER_CEILING_BIN" -P "$QUEUE" "$RABBITMQ_URL" >&2 && return 0
    [[ ${1:-} == must ]] && die "cannot purge $QUEUE"
    say "warning: cannot purge $QUEUE (the cleanup on exit tries to delete it again)"
}

# start_api NAME CPU [VAR=VALUE...]: starts activity-api; sets API_PID.
start_api() {
    local name=$1 cpu=$2
    shift 2
    local cmd=(env API_HOST=$HOST API_PORT="$API_PORT" RABBITMQ_URL="$RABBITMQ_URL"
        RABBITMQ_QUEUE="$QUEUE" API_THREADS="$THREADS" LOG_LEVEL=warn "$@")
    [[ -n $cpu ]] && cmd+=(taskset -c "$cpu")
    cmd+=("$API_BIN")
    # The command line without the broker URL, whose password is not for the report.
    printf '%s\n' "${cmd[*]}" | sed "s|RABBITMQ_URL=[^ ]*|RABBITMQ_URL=\$RABBITMQ_URL|" \
        >"$WORK/$name.server"
    QUEUE_USED=1
    "${cmd[@]}" 2>"$WORK/$name.api.log" &
    API_PID=$!
    PIDS+=("$API_PID")
    if ! wait_status GET /ready "$API_PORT" 200 30 "$API_PID"; then
        tail -n 30 "$WORK/$name.api.log" >&2 || true
        die "activity-api did not become ready (GET /ready) within 30 s"
    fi
}

stop_api() {
    stop_pid "$API_PID"
    forget_pid "$API_PID"
}

# Results, by run name.
declare -A RPS P50 P99 REQ NON2XX SOCKERR OK_RPS NOTE
record() { # record NAME 2xx|non2xx: parses $WORK/NAME.wrk into the tables
    local name=$1 rps req dur p50 p75 p90 p99 non2xx sockerr
    read -r rps req dur p50 p75 p90 p99 non2xx sockerr < <(wrk_parse "$WORK/$name.wrk") ||
        die "cannot parse wrk's report for ($name)"
    RPS[$name]=$rps P50[$name]=$p50 P99[$name]=$p99 REQ[$name]=$req
    NON2XX[$name]=$non2xx SOCKERR[$name]=$sockerr
    # Responses per second with the status the run is about (2xx for a, d; non-2xx for b, c).
    OK_RPS[$name]=$(awk -v r="$req" -v n="$non2xx" -v d="$dur" -v want="$2" \
        'BEGIN { c = (want == "2xx") ? r - n : n; printf "%.0f", (d > 0 ? c / d : 0) }')
}

# ---- checks ------------------------------------------------------------------------------------

command -v wrk >/dev/null || die "wrk is not installed (apt-get install wrk)"
command -v curl >/dev/null || die "curl is not installed"
command -v taskset >/dev/null || die "taskset is not installed (util-linux)"
for b in "$HTTP_CEILING_BIN" "$BROKER_CEILING_BIN"; do
    [[ -x $b ]] || die "$b not found; build first:
  cmake -S . -B build -DCMAKE_BUILD_TYPE=Release && cmake --build build -j2"
done
HAVE_API=0
[[ -x $API_BIN ]] && HAVE_API=1
[[ $DURATION =~ ^[1-9][0-9]*s$ ]] || die "BENCH_DURATION must be whole seconds such as 10s"
CORES=$(nproc)
((SERVER_CPU < CORES && WRK_CPU < CORES)) || die "BENCH_SERVER_CPU/BENCH_WRK_CPU beyond $CORES cores"
# The broker must answer before anything is measured; purging our queue is the ping.
timeout 30 "$BROKER_CEILING_BIN" -P "$QUEUE" "$RABBITMQ_URL" >/dev/null ||
    die "RabbitMQ does not answer at the RABBITMQ_URL (run scripts/services.sh up)"
QUEUE_USED=1

STAMP=$(date -u +%Y%m%dT%H%M%SZ)
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
TICK=$(getconf CLK_TCK)
has_run() { [[ " $RUNS " == *" $1 "* ]]; }

# ---- (a) HTTP ceiling --------------------------------------------------------------------------
if has_run a; then
    say "(a) HTTP ceiling"
    printf 'taskset -c %s %s %s %s\n' "$SERVER_CPU" "$HTTP_CEILING_BIN" "$CEILING_PORT" "$THREADS" \
        >"$WORK/a.server"
    taskset -c "$SERVER_CPU" "$HTTP_CEILING_BIN" "$CEILING_PORT" "$THREADS" 2>"$WORK/a.log" &
    CEILING_PID=$!
    PIDS+=("$CEILING_PID")
    wait_status POST "$ROUTE" "$CEILING_PORT" 202 10 "$CEILING_PID" ||
        die "bench-http-ceiling did not answer: $(cat "$WORK/a.log")"
    wrk_run a post.lua "$CEILING_PORT" "$WRK_CPU"
    stop_pid "$CEILING_PID"
    forget_pid "$CEILING_PID"
    record a 2xx
fi

# ---- (b) 429 path ------------------------------------------------------------------------------
if has_run b && ((HAVE_API)); then
    say "(b) 429 path: default limits"
    start_api b "$SERVER_CPU"
    RL_BYTES=$(metric_value "$API_PORT" activity_api_ratelimit_bytes_per_client)
    wrk_run b post.lua "$API_PORT" "$WRK_CPU"
    NOTE[b]="after the run one more POST got $(http_status POST "$ROUTE" "$API_PORT" post.lua)"
    stop_api
    record b non2xx
    purge_queue
fi

# ---- (c) 400 path ------------------------------------------------------------------------------
if has_run c && ((HAVE_API)); then
    say "(c) 400 path: limit raised, invalid body"
    start_api c "$SERVER_CPU" RATE_LIMIT_MAX_REQUESTS=1000000 RATE_LIMIT_MAX_CLIENTS=64
    st=$(http_status POST "$ROUTE" "$API_PORT" post_invalid.lua)
    [[ $st == 400 ]] || die "(c) expected 400 for bench/post_invalid.lua's body, got $st"
    wrk_run c post_invalid.lua "$API_PORT" "$WRK_CPU"
    stop_api
    record c non2xx
fi

# ---- (d) 202 path ------------------------------------------------------------------------------
if has_run d && ((HAVE_API)); then
    say "(d) 202 path: limit raised, valid body, queue purged first"
    purge_queue must
    d_cpu=""
    d_wrk_cpu=""
    if ((PIN_202)); then
        d_cpu=$SERVER_CPU
        d_wrk_cpu=$WRK_CPU
    fi
    start_api d "$d_cpu" RATE_LIMIT_MAX_REQUESTS=1000000 RATE_LIMIT_MAX_CLIENTS=64
    sleep 1 # let the process settle before reading its idle footprint
    IDLE_RSS_KB=$(vm_rss_kb "$API_PID")
    [[ -n ${RL_BYTES:-} ]] || RL_BYTES=$(metric_value "$API_PORT" activity_api_ratelimit_bytes_per_client)
    st=$(http_status POST "$ROUTE" "$API_PORT" post.lua)
    [[ $st == 202 ]] || die "(d) expected 202 for bench/post.lua's body, got $st"
    ticks0=$(cpu_ticks "$API_PID")
    wrk_run d post.lua "$API_PORT" "$d_wrk_cpu"
    ticks1=$(cpu_ticks "$API_PID")
    stop_api
    record d 2xx
    ACCEPTED=$((REQ[d] - NON2XX[d]))
    CPU_US=$(awk -v t=$((ticks1 - ticks0)) -v hz="$TICK" -v n="$ACCEPTED" \
        'BEGIN { if (n > 0) printf "%.1f", t / hz * 1e6 / n }')
    NOTE[d]="$ACCEPTED accepted; API CPU $((ticks1 - ticks0)) ticks at $TICK Hz"
    purge_queue
fi

# ---- (e) broker ceiling ------------------------------------------------------------------------
if has_run e; then
    secs=${DURATION%s}
    say "(e) broker ceiling: $BROKER_CEILING_BIN \$RABBITMQ_URL $secs $WINDOW"
    printf '%s $RABBITMQ_URL %s %s\n' "$BROKER_CEILING_BIN" "$secs" "$WINDOW" >"$WORK/e.cmd"
    timeout $((secs + 90)) "$BROKER_CEILING_BIN" "$RABBITMQ_URL" "$secs" "$WINDOW" \
        >"$WORK/e.out" 2>&1 || die "bench-broker-ceiling failed: $(cat "$WORK/e.out")"
    OK_RPS[e]=$(sed -n 's/.*msg\/s=\([0-9.]*\).*/\1/p' "$WORK/e.out" | tail -n 1)
    RPS[e]=${OK_RPS[e]}
fi

# ---- report ------------------------------------------------------------------------------------

withunit() { # withunit VALUE UNIT: "VALUE UNIT", or n/a when VALUE is empty
    if [[ -n ${1:-} ]]; then printf '%s %s' "$1" "$2"; else printf 'n/a'; fi
}
ratio() { # ratio NUM DEN
    [[ -n ${1:-} && -n ${2:-} ]] || {
        printf 'n/a'
        return
    }
    awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else printf "n/a" }'
}
verdict() { # verdict VALUE OP LIMIT
    [[ -n ${1:-} && $1 != n/a ]] || {
        printf 'not measured'
        return
    }
    awk -v v="$1" -v op="$2" -v l="$3" \
        'BEGIN { ok = (op == ">=") ? v >= l : v <= l; printf ok ? "PASS" : "FAIL" }'
}
row() { # row NAME LABEL
    local n=$1
    if [[ -z ${RPS[$n]:-} ]]; then
        local why="not run"
        [[ $n =~ [bcd] ]] && ((!HAVE_API)) && why="not run ($API_BIN not built)"
        printf '| (%s) %s | %s | | | | | |\n' "$n" "$2" "$why"
        return
    fi
    if [[ $n == e ]]; then
        printf '| (%s) %s | %s msg/s confirmed | | | | | window %s |\n' "$n" "$2" "${OK_RPS[e]}" "$WINDOW"
        return
    fi
    printf '| (%s) %s | %s | %s | %s | %s | %s | %s |\n' "$n" "$2" "${RPS[$n]}" "${OK_RPS[$n]}" \
        "${P50[$n]}" "${P99[$n]}" "${NON2XX[$n]}/${REQ[$n]} (socket errors ${SOCKERR[$n]})" \
        "${NOTE[$n]:-}"
}

RB=$(ratio "${OK_RPS[b]:-}" "${OK_RPS[a]:-}")
RC=$(ratio "${OK_RPS[c]:-}" "${OK_RPS[a]:-}")
RD=$(ratio "${OK_RPS[d]:-}" "${OK_RPS[e]:-}")
IDLE_MB=""
[[ -n ${IDLE_RSS_KB:-} ]] && IDLE_MB=$(awk -v k="$IDLE_RSS_KB" 'BEGIN { printf "%.1f", k / 1024 }')
[[ -n ${RL_BYTES:-} ]] || RL_BYTES=""

REPORT="$WORK/report.md"
{
    printf '# Benchmark run %s\n\n' "$STAMP"
    printf -- '- commit: `%s`%s\n' "$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)" \
        "$(git -C "$ROOT" diff --quiet HEAD -- 2>/dev/null || echo ' (with uncommitted changes)')"
    printf -- '- machine: %s cores, %s; load average before the run: %s\n' "$CORES" \
        "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)" "$LOAD_BEFORE"
    printf -- '- load: `wrk -t1 -c%s -d%s --latency` on 127.0.0.1, bodies from bench/post.lua and bench/post_invalid.lua\n' \
        "$CONNS" "$DURATION"
    printf -- '- pinning: (a)-(c) server on core %s, wrk on core %s; (d) %s; (e) not pinned\n' \
        "$SERVER_CPU" "$WRK_CPU" "$( ((PIN_202)) && echo "pinned the same way" || echo "not pinned (the broker needs both cores)")"
    printf -- '- loop threads: %s (bench-http-ceiling and API_THREADS)\n\n' "$THREADS"
    printf '| run | req/s | responses/s with the run'"'"'s status | p50 ms | p99 ms | non-2xx / total | notes |\n'
    printf '|---|---|---|---|---|---|---|\n'
    row a "HTTP ceiling (202, no work)"
    row b "429 path (default limits)"
    row c "400 path (invalid body)"
    row d "202 path (published, confirmed)"
    row e "broker ceiling"
    printf '\n| check | measured | target | result |\n|---|---|---|---|\n'
    printf '| (b)/(a) 429 responses/s | %s | >= 0.80 | %s |\n' "$RB" "$(verdict "$RB" '>=' 0.80)"
    printf '| (c)/(a) 400 responses/s | %s | >= 0.70 | %s |\n' "$RC" "$(verdict "$RC" '>=' 0.70)"
    printf '| (d)/(e) 202 responses/s over confirmed msg/s | %s | >= 0.85 | %s |\n' "$RD" \
        "$(verdict "$RD" '>=' 0.85)"
    printf '| (d) p99 latency at %s connections | %s | <= 25 ms | %s |\n' "$CONNS" "$(withunit "${P99[d]:-}" ms)" \
        "$(verdict "${P99[d]:-}" '<=' 25)"
    printf '| API CPU time per accepted event | %s | <= 30 us | %s |\n' "$(withunit "${CPU_US:-}" us)" \
        "$(verdict "${CPU_US:-}" '<=' 30)"
    printf '| API idle RSS (VmRSS after start, before load) | %s | <= 20 MB | %s |\n' \
        "$(withunit "$IDLE_MB" MB)" "$(verdict "$IDLE_MB" '<=' 20)"
    printf '| rate limiter bytes per client (/metrics) | %s | <= 256 | %s |\n' "$(withunit "$RL_BYTES" B)" \
        "$(verdict "$RL_BYTES" '<=' 256)"
    printf '\n## Commands\n\n```\n'
    for n in a b c d e; do
        [[ -f $WORK/$n.server ]] && printf '(%s) server: %s\n' "$n" "$(cat "$WORK/$n.server")"
        [[ -f $WORK/$n.cmd ]] && printf '(%s) load:   %s\n' "$n" "$(cat "$WORK/$n.cmd")"
    done
    printf '```\n\n## Raw output\n'
    for n in a b c d; do
        [[ -f $WORK/$n.wrk ]] || continue
        printf '\n(%s)\n```\n%s\n```\n' "$n" "$(cat "$WORK/$n.wrk")"
    done
    [[ -f $WORK/e.out ]] && printf '\n(e)\n```\n%s\n```\n' "$(cat "$WORK/e.out")"
} >"$REPORT"

mkdir -p "$ROOT/bench/results"
OUT="$ROOT/bench/results/$STAMP.md"
cp "$REPORT" "$OUT"
sed -n '1,/^## Commands/p' "$REPORT" | sed '$d'
say "written to ${OUT#"$ROOT"/}"
