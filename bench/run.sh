#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# One benchmark run of activity-api against the ceilings of this machine (docs/BENCHMARKS.md):
#   (a) HTTP ceiling   bench-http-ceiling, every POST answered 202 with no work
#   (b) 429 path       activity-api with default limits: after the first 50 requests, all 429
#   (c) 400 path       activity-api with the limit raised, a body that fails validation
#   (d) 202 path       activity-api with the limit raised, a valid body: published and confirmed
#   (e) broker ceiling bench-broker-ceiling: persistent publishes with 1000 confirms in flight
#   (d) also: bench/latency.py, the same load shape from a second client, for its p99 (wrk's
#                      upper percentiles on this path are far above what the wire shows)
#   (j) batch path     activity-api, POST /api/v1/activities/batch with BENCH_BATCH_EVENTS events
#                      per request from BENCH_BATCH_CONNECTIONS connections: events per second
#                      against (e)
#   (i) broker ceiling at the load's concurrency: the same with as many confirms in flight as (d)
#                      has connections (64), which is all (d) can ever have in flight; with its
#                      confirm latency (p50, p99), the floor under (d)'s
# (a)-(d) are `wrk -t1 -c64 -d10s --latency` against 127.0.0.1; (e) and (i) publish for 10 s.
# Then it prints a table against the targets and writes it as Markdown to
# bench/results/<timestamp>.md.
#
# Assumes `scripts/services.sh up` was run (RabbitMQ on 127.0.0.1) and the project was built:
#   cmake -S . -B build -DCMAKE_BUILD_TYPE=Release && cmake --build build -j2
# (b)-(d) are skipped, and reported as not run, while $AT_BUILD_DIR/activity-api does not exist.
#
# Environment (defaults in brackets):
#   AT_BUILD_DIR [build]            where activity-api and the bench-* programs are
#   RABBITMQ_URL [amqp://guest:guest@127.0.0.1:5672/]
#   BENCH_RUNS [a b c d e i j]      which measurements to take
#   BENCH_BATCH_EVENTS [100]  BENCH_BATCH_CONNECTIONS [8]
#                                   (j): events per batch, and connections (their product is
#                                   what is in flight: keep it near the confirm window)
#   BENCH_DURATION [10s]  BENCH_CONNECTIONS [64]  BENCH_WINDOW [1000]
#   BENCH_SERVER_CPU [0]  BENCH_WRK_CPU [1]      cores for the server and for wrk
#   BENCH_PIN_202 [0]               1: pin (d) like (a)-(c); by default (d) is not pinned
#   BENCH_THREADS [1]               loop threads of both servers (API_THREADS)
#   BENCH_REPEAT [1]                repeat the whole sequence; the checks then use medians
#   BENCH_QUIET_CORES [0.3]  BENCH_QUIET_WAIT [120]
#                                   before each measurement, wait up to QUIET_WAIT s until other
#                                   processes use at most QUIET_CORES cores (0 s: do not wait)
#   BENCH_API_PORT [3100]  BENCH_CEILING_PORT [3101]  BENCH_QUEUE [bench.activities]
#   BENCH_QUEUE_TYPE [quorum]       quorum or classic: the API's RABBITMQ_QUEUE_TYPE and the type
#                                   of the ceilings' queue, so (d) and (e)/(i) meet the same queue
#
# Every load is bounded in time and targets loopback only; every process started here is
# stopped on exit (trap), and the benchmark queues are deleted.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${AT_BUILD_DIR:-build}
[[ $BUILD == /* ]] || BUILD="$ROOT/$BUILD"
RABBITMQ_URL=${RABBITMQ_URL:-amqp://guest:guest@127.0.0.1:5672/}
RUNS=${BENCH_RUNS:-a b c d e i j}
BATCH_EVENTS=${BENCH_BATCH_EVENTS:-100}
BATCH_CONNS=${BENCH_BATCH_CONNECTIONS:-8}
DURATION=${BENCH_DURATION:-10s}
CONNS=${BENCH_CONNECTIONS:-64}
WINDOW=${BENCH_WINDOW:-1000}
SERVER_CPU=${BENCH_SERVER_CPU:-0}
WRK_CPU=${BENCH_WRK_CPU:-1}
PIN_202=${BENCH_PIN_202:-0}
THREADS=${BENCH_THREADS:-1}
REPEAT=${BENCH_REPEAT:-1}
QUIET_CORES=${BENCH_QUIET_CORES:-0.3}
QUIET_WAIT=${BENCH_QUIET_WAIT:-120}
API_PORT=${BENCH_API_PORT:-3100}
CEILING_PORT=${BENCH_CEILING_PORT:-3101}
QUEUE=${BENCH_QUEUE:-bench.activities}
QUEUE_TYPE=${BENCH_QUEUE_TYPE:-quorum}
# The ceiling program takes one broker: the first of a cluster's list (the API gets them all).
CEILING_URL=${RABBITMQ_URL%%,*}
HOST=127.0.0.1
ROUTE=/api/v1/activities

API_BIN="$BUILD/activity-api"
HTTP_CEILING_BIN="$BUILD/bench/bench-http-ceiling"
BROKER_CEILING_BIN="$BUILD/bench/bench-broker-ceiling"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/at-bench.XXXXXX")
PIDS=()
QUEUE_USED=0

# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"

# ---- processes ---------------------------------------------------------------------------------

cleanup() {
    local status=$?
    trap - EXIT INT TERM
    local pid
    for pid in "${PIDS[@]}"; do
        stop_pid "$pid"
    done
    if ((QUEUE_USED)) && [[ -x $BROKER_CEILING_BIN ]]; then
        timeout 60 "$BROKER_CEILING_BIN" -D "$QUEUE" "$CEILING_URL" >/dev/null 2>&1 || true
        timeout 60 "$BROKER_CEILING_BIN" -D "$QUEUE.dlq" "$CEILING_URL" >/dev/null 2>&1 || true
    fi
    rm -rf "$WORK"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- measurements ------------------------------------------------------------------------------

# wrk_run KEY SCRIPT PORT WRK_CPU SERVER_PID: runs the load and keeps wrk's report in
# $WORK/KEY.wrk. Also records the server's CPU ticks in SRV_TICKS[KEY], and in OTHERS[KEY] the
# cores that processes other than the server and wrk kept busy meanwhile (the broker among them
# in (d)): a busy machine skews every figure.
wrk_run() { # wrk_run KEY SCRIPT PORT CPU SERVER_PID [CONNECTIONS [ROUTE]]
    local key=$1 script=$2 port=$3 cpu=$4 server=$5 busy0 kids0 srv0 t0 busy1 kids1 srv1 t1
    local cmd=(wrk -t1 -c"${6:-$CONNS}" -d"$DURATION" --latency -s "$ROOT/bench/$script"
        "http://$HOST:$port${7:-$ROUTE}")
    [[ -n $cpu ]] && cmd=(taskset -c "$cpu" "${cmd[@]}")
    printf '%s\n' "${cmd[*]}" >"$WORK/$key.cmd"
    say "($key) ${cmd[*]}"
    busy0=$(cpu_busy) kids0=$(children_ticks) srv0=$(cpu_ticks "$server") t0=$(date +%s.%N)
    # wrk stops itself after DURATION; the timeout is a guard against a wedged run.
    timeout 120 "${cmd[@]}" >"$WORK/$key.wrk" 2>&1 ||
        fail "$key" "wrk: $(tail -n 2 "$WORK/$key.wrk" | tr '\n' ' ')" || return 1
    busy1=$(cpu_busy) kids1=$(children_ticks) srv1=$(cpu_ticks "$server") t1=$(date +%s.%N)
    if [[ -n $srv0 && -n $srv1 ]]; then
        SRV_TICKS[$key]=$((srv1 - srv0))
        OTHERS[$key]=$(awk -v b=$((busy1 - busy0)) -v k=$((kids1 - kids0)) -v s=$((srv1 - srv0)) \
            -v hz="$TICK" -v t0="$t0" -v t1="$t1" \
            'BEGIN { o = (b - k - s) / hz / (t1 - t0); printf "%.2f", (o < 0 ? 0 : o) }')
    fi
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

children_ticks() { # CPU ticks of this shell's finished children (cutime + cstime), e.g. wrk
    sed 's/^.*) //' "/proc/$$/stat" | awk '{ print $14 + $15 }'
}

vm_rss_kb() {
    [[ -r /proc/$1/status ]] || return 0
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

# purge_queue [must]: empties the API's queue. With "must", a broker that does not answer is
# waited for (up to 60 s: it may be restarting) and then an error (status 1); otherwise a warning.
purge_queue() {
    local i tries=1
    QUEUE_USED=1
    [[ ${1:-} == must ]] && tries=30
    for ((i = 0; i < tries; i++)); do
        timeout 60 "$BROKER_CEILING_BIN" -P "$QUEUE" "$CEILING_URL" >"$WORK/purge.out" 2>&1 && {
            cat "$WORK/purge.out" >&2
            return 0
        }
        ((i + 1 < tries)) && sleep 2
    done
    cat "$WORK/purge.out" >&2
    [[ ${1:-} == must ]] && return 1
    say "warning: cannot purge $QUEUE (the cleanup on exit tries to delete it again)"
}

# port_free KEY PORT: 0 when nothing listens on 127.0.0.1:PORT. Both servers bind with
# SO_REUSEPORT, so a leftover server on the port would silently take a share of the connections.
port_free() {
    if [[ -n $(ss -Hltn "sport = :$2" 2>/dev/null) ]]; then
        fail "$1" "something already listens on port $2 (a leftover server?)"
        return 1
    fi
}

# start_api NAME CPU [VAR=VALUE...]: starts activity-api and waits for GET /ready; sets API_PID.
# Returns 1 (the run marked failed, the API stopped) when it does not become ready.
start_api() {
    local name=$1 cpu=$2
    shift 2
    local cmd=(env API_HOST="$HOST" API_PORT="$API_PORT" RABBITMQ_URL="$RABBITMQ_URL"
        RABBITMQ_QUEUE="$QUEUE" RABBITMQ_QUEUE_TYPE="$QUEUE_TYPE" API_THREADS="$THREADS"
        LOG_LEVEL=warn "$@")
    [[ -n $cpu ]] && cmd+=(taskset -c "$cpu")
    cmd+=("$API_BIN")
    # The command line without the broker URL, whose password is not for the report.
    printf '%s\n' "${cmd[*]}" | sed "s|RABBITMQ_URL=[^ ]*|RABBITMQ_URL=\$RABBITMQ_URL|" \
        >"$WORK/$name.server"
    QUEUE_USED=1
    port_free "$name" "$API_PORT" || return 1
    "${cmd[@]}" 2>"$WORK/$name.api.log" &
    API_PID=$!
    PIDS+=("$API_PID")
    if ! wait_status GET /ready "$API_PORT" 200 60 "$API_PID"; then
        tail -n 30 "$WORK/$name.api.log" >&2 || true
        stop_api "$name"
        fail "$name" "activity-api did not become ready (GET /ready) within 60 s"
        return 1
    fi
}

# stop_api NAME: stops the API of run NAME; notes it if it had died during the run.
stop_api() {
    local st=0
    if ! kill -0 "$API_PID" 2>/dev/null; then
        wait "$API_PID" 2>/dev/null || st=$?
        NOTE[$1]="${NOTE[$1]:+${NOTE[$1]}; }activity-api died during the run (status $st)"
    fi
    stop_pid "$API_PID"
    forget_pid "$API_PID"
}

# Results, keyed by run and repetition ("a1", "d2", ...).
declare -A RPS P50 P99 P99X REQ NON2XX SOCKERR OK_RPS NOTE OTHERS CPU_US IDLE_KB QUIET FAILED
declare -A SRV_TICKS SRV_US EV_RPS CPU_EV BROKER_US

# fail KEY MESSAGE: marks a measurement as failed (it is reported, and the others go on); 1.
fail() {
    FAILED[$1]=$2
    say "($1) failed: $2"
    return 1
}
record() { # record KEY 2xx|non2xx: parses $WORK/KEY.wrk into the tables
    local key=$1 rps req dur p50 p99 non2xx sockerr
    read -r rps req dur p50 _ _ p99 non2xx sockerr < <(wrk_parse "$WORK/$key.wrk") ||
        fail "$key" "cannot parse wrk's report" || return 1
    RPS[$key]=$rps P50[$key]=$p50 P99[$key]=$p99 REQ[$key]=$req
    NON2XX[$key]=$non2xx SOCKERR[$key]=$sockerr
    # Responses per second with the status the run is about (2xx for a, d; non-2xx for b, c).
    OK_RPS[$key]=$(awk -v r="$req" -v n="$non2xx" -v d="$dur" -v want="$2" \
        'BEGIN { c = (want == "2xx") ? r - n : n; printf "%.0f", (d > 0 ? c / d : 0) }')
    # The server's CPU time per response: shows whether the server or wrk was the bottleneck.
    if [[ -n ${SRV_TICKS[$key]:-} ]] && ((req > 0)); then
        SRV_US[$key]=$(awk -v t="${SRV_TICKS[$key]}" -v hz="$TICK" -v n="$req" \
            'BEGIN { printf "%.1f", t / hz * 1e6 / n }')
    fi
}

# ---- checks ------------------------------------------------------------------------------------

command -v wrk >/dev/null || die "wrk is not installed (apt-get install wrk)"
command -v curl >/dev/null || die "curl is not installed"
command -v taskset >/dev/null || die "taskset is not installed (util-linux)"
command -v ss >/dev/null || die "ss is not installed (iproute2)"
for b in "$HTTP_CEILING_BIN" "$BROKER_CEILING_BIN"; do
    [[ -x $b ]] || die "$b not found; build first:
  cmake -S . -B build -DCMAKE_BUILD_TYPE=Release && cmake --build build -j2"
done
HAVE_API=0
[[ -x $API_BIN ]] && HAVE_API=1
[[ $DURATION =~ ^[1-9][0-9]*s$ ]] || die "BENCH_DURATION must be whole seconds such as 10s"
[[ $REPEAT =~ ^[1-9][0-9]*$ ]] || die "BENCH_REPEAT must be a positive integer"
[[ $QUIET_WAIT =~ ^[0-9]+$ ]] || die "BENCH_QUIET_WAIT must be whole seconds"
[[ $QUEUE_TYPE == quorum || $QUEUE_TYPE == classic ]] || die "BENCH_QUEUE_TYPE must be quorum or classic"
CORES=$(nproc)
((SERVER_CPU < CORES && WRK_CPU < CORES)) || die "BENCH_SERVER_CPU/BENCH_WRK_CPU beyond $CORES cores"
# The broker must answer before anything is measured; purging our queue is the ping.
timeout 30 "$BROKER_CEILING_BIN" -P "$QUEUE" "$CEILING_URL" >/dev/null ||
    die "RabbitMQ does not answer at the RABBITMQ_URL (run scripts/services.sh up)"
QUEUE_USED=1

STAMP=$(date -u +%Y%m%dT%H%M%SZ)
BROKER=$(broker_description)
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
TICK=$(getconf CLK_TCK)
has_run() { [[ " $RUNS " == *" $1 "* ]]; }

# ---- measurements: each takes KEY = run letter + repetition number ------------------------------

measure_a() { # HTTP ceiling
    local k=$1 pid
    say "($k) HTTP ceiling"
    port_free "$k" "$CEILING_PORT" || return 1
    printf 'taskset -c %s %s %s %s\n' "$SERVER_CPU" "$HTTP_CEILING_BIN" "$CEILING_PORT" "$THREADS" \
        >"$WORK/$k.server"
    taskset -c "$SERVER_CPU" "$HTTP_CEILING_BIN" "$CEILING_PORT" "$THREADS" 2>"$WORK/$k.log" &
    pid=$!
    PIDS+=("$pid")
    if ! wait_status POST "$ROUTE" "$CEILING_PORT" 202 10 "$pid"; then
        fail "$k" "bench-http-ceiling did not answer: $(tail -n 1 "$WORK/$k.log")"
    elif wrk_run "$k" post.lua "$CEILING_PORT" "$WRK_CPU" "$pid"; then
        record "$k" 2xx
    fi
    stop_pid "$pid"
    forget_pid "$pid"
}

measure_b() { # 429 path: default limits, so everything after the first 50 requests is 429
    local k=$1
    say "($k) 429 path: default limits"
    start_api "$k" "$SERVER_CPU" || return 1
    [[ -n ${RL_BYTES:-} ]] || RL_BYTES=$(metric_value "$API_PORT" activity_api_ratelimit_bytes_per_client)
    if wrk_run "$k" post.lua "$API_PORT" "$WRK_CPU" "$API_PID"; then
        NOTE[$k]="after the run one more POST got $(http_status POST "$ROUTE" "$API_PORT" post.lua)"
        record "$k" non2xx
    fi
    stop_api "$k"
    purge_queue
}

measure_c() { # 400 path: limit raised, every body fails validation
    local k=$1 st
    say "($k) 400 path: limit raised, invalid body"
    start_api "$k" "$SERVER_CPU" RATE_LIMIT_MAX_REQUESTS=1000000 RATE_LIMIT_MAX_CLIENTS=64 || return 1
    st=$(http_status POST "$ROUTE" "$API_PORT" post_invalid.lua)
    if [[ $st != 400 ]]; then
        fail "$k" "expected 400 for bench/post_invalid.lua's body, got $st"
    elif wrk_run "$k" post_invalid.lua "$API_PORT" "$WRK_CPU" "$API_PID"; then
        record "$k" non2xx
    fi
    stop_api "$k"
}

measure_d() { # 202 path: limit raised, valid bodies published and confirmed
    local k=$1 st cpu="" wrk_cpu="" accepted u0 s0 u1="" s1=""
    say "($k) 202 path: limit raised, valid body, queue purged first"
    purge_queue must || {
        fail "$k" "RabbitMQ does not answer"
        return 1
    }
    if ((PIN_202)); then
        cpu=$SERVER_CPU
        wrk_cpu=$WRK_CPU
    fi
    start_api "$k" "$cpu" RATE_LIMIT_MAX_REQUESTS=1000000 RATE_LIMIT_MAX_CLIENTS=64 || return 1
    sleep 1 # let the process settle before reading its idle footprint
    # shellcheck disable=SC2034  # read through median's name reference
    IDLE_KB[$k]=$(vm_rss_kb "$API_PID")
    st=$(http_status POST "$ROUTE" "$API_PORT" post.lua)
    if [[ $st != 202 ]]; then
        fail "$k" "expected 202 for bench/post.lua's body, got $st"
    else
        read -r u0 s0 < <(cpu_user_sys "$API_PID")
        if wrk_run "$k" post.lua "$API_PORT" "$wrk_cpu" "$API_PID"; then
            read -r u1 s1 < <(cpu_user_sys "$API_PID") || true
            record "$k" 2xx
            accepted=$((REQ[$k] - NON2XX[$k]))
            NOTE[$k]="$accepted accepted"
            if [[ -n $u1 ]] && ((accepted > 0)); then
                CPU_US[$k]=$(awk -v t=$((u1 + s1 - u0 - s0)) -v hz="$TICK" -v n="$accepted" \
                    'BEGIN { printf "%.1f", t / hz * 1e6 / n }')
                NOTE[$k]+="; API CPU ${CPU_US[$k]} us per event ($(awk -v u=$((u1 - u0)) \
                    -v s=$((s1 - s0)) -v hz="$TICK" -v n="$accepted" \
                    'BEGIN { printf "user %.1f + system %.1f", u / hz * 1e6 / n, s / hz * 1e6 / n }'))"
            fi
            latency_check "$k"
        fi
    fi
    stop_api "$k"
    purge_queue
}

measure_j() { # batch path: BATCH_EVENTS events per request, BATCH_CONNS connections
    local k=$1 st u0 s0 u1="" s1="" batches events
    say "($k) batch path: $BATCH_EVENTS events per request, $BATCH_CONNS connections"
    purge_queue must || {
        fail "$k" "RabbitMQ does not answer"
        return 1
    }
    start_api "$k" "" RATE_LIMIT_MAX_REQUESTS=1000000 RATE_LIMIT_MAX_CLIENTS=64 \
        BATCH_MAX_EVENTS="$BATCH_EVENTS" || return 1
    export BATCH_EVENTS
    read -r u0 s0 < <(cpu_user_sys "$API_PID")
    if wrk_run "$k" post_batch.lua "$API_PORT" "" "$API_PID" "$BATCH_CONNS" "$ROUTE/batch"; then
        read -r u1 s1 < <(cpu_user_sys "$API_PID") || true
        record "$k" 2xx
        batches=$((REQ[$k] - NON2XX[$k]))
        events=$((batches * BATCH_EVENTS))
        # Events per second, for the ratio against the broker's messages per second.
        EV_RPS[$k]=$(awk -v r="${OK_RPS[$k]}" -v n="$BATCH_EVENTS" 'BEGIN { printf "%.0f", r * n }')
        NOTE[$k]="$batches batches accepted = $events events, ${EV_RPS[$k]} events/s"
        if [[ -n $u1 ]] && ((events > 0)); then
            # shellcheck disable=SC2034  # read through median's name reference
            CPU_EV[$k]=$(awk -v t=$((u1 + s1 - u0 - s0)) -v hz="$TICK" -v n="$events" \
                'BEGIN { printf "%.1f", t / hz * 1e6 / n }')
            NOTE[$k]+="; API CPU ${CPU_EV[$k]} us per event"
        fi
    fi
    stop_api "$k"
    purge_queue
}

# latency_check KEY: a second opinion on (d)'s latency from bench/latency.py, the same load shape
# (CONNS connections, one request in flight each) from another client, on the same API instance
# (its rate limit allows both loads within one window); its p99 goes to P99X[KEY].
latency_check() {
    local k=$1 py=/usr/bin/python3
    [[ -x $py ]] || py=python3
    purge_queue
    printf '%s bench/latency.py -c %s -d %s -p %s\n' "$py" "$CONNS" "${DURATION%s}" "$API_PORT" \
        >"$WORK/$k.latency.cmd"
    if timeout $((${DURATION%s} + 60)) "$py" "$ROOT/bench/latency.py" -c "$CONNS" \
        -d "${DURATION%s}" -p "$API_PORT" >"$WORK/$k.latency" 2>&1; then
        # shellcheck disable=SC2034  # read through median's name reference
        P99X[$k]=$(sed -n 's/.*p99_ms=\([0-9.]*\).*/\1/p' "$WORK/$k.latency")
        NOTE[$k]+="; bench/latency.py: $(cat "$WORK/$k.latency")"
    else
        NOTE[$k]+="; bench/latency.py failed: $(tail -n 1 "$WORK/$k.latency")"
    fi
}

# broker_ceiling KEY WINDOW: bench-broker-ceiling with WINDOW confirms in flight.
broker_ceiling() {
    local k=$1 window=$2 secs=${DURATION%s}
    # Also waits for a broker that is restarting.
    purge_queue must || {
        fail "$k" "RabbitMQ does not answer"
        return 1
    }
    say "($k) broker ceiling: $BROKER_CEILING_BIN -t $QUEUE_TYPE \$RABBITMQ_URL $secs $window"
    printf '%s -t %s $RABBITMQ_URL %s %s\n' "$BROKER_CEILING_BIN" "$QUEUE_TYPE" "$secs" "$window" \
        >"$WORK/$k.cmd"
    local b0 b1
    b0=$(broker_ticks)
    if ! timeout $((secs + 90)) "$BROKER_CEILING_BIN" -t "$QUEUE_TYPE" "$CEILING_URL" "$secs" "$window" \
        >"$WORK/$k.out" 2>&1; then
        fail "$k" "bench-broker-ceiling: $(tail -n 2 "$WORK/$k.out" | tr '\n' ' ')"
        return 1
    fi
    b1=$(broker_ticks)
    OK_RPS[$k]=$(sed -n 's/.*msg\/s=\([0-9.]*\).*/\1/p' "$WORK/$k.out" | tail -n 1)
    # The broker's CPU per confirmed message (every node of a cluster counted).
    local confirmed
    confirmed=$(sed -n 's/.*confirmed=\([0-9]*\).*/\1/p' "$WORK/$k.out" | tail -n 1)
    if [[ -n $confirmed ]] && ((confirmed > 0)); then
        # shellcheck disable=SC2034  # read through median's name reference
        BROKER_US[$k]=$(awk -v t=$((b1 - b0)) -v hz="$TICK" -v n="$confirmed" \
            'BEGIN { printf "%.1f", t / hz * 1e6 / n }')
    fi
    RPS[$k]=${OK_RPS[$k]}
    P50[$k]=$(sed -n 's/.*p50_ms=\([0-9.]*\).*/\1/p' "$WORK/$k.out" | tail -n 1)
    P99[$k]=$(sed -n 's/.*p99_ms=\([0-9.]*\).*/\1/p' "$WORK/$k.out" | tail -n 1)
}

measure_e() { broker_ceiling "$1" "$WINDOW"; }
measure_i() { broker_ceiling "$1" "$CONNS"; }

for ((rep = 1; rep <= REPEAT; rep++)); do
    for n in a b c d e i j; do
        has_run "$n" || continue
        [[ $n =~ [bcdj] ]] && ((!HAVE_API)) && continue
        wait_quiet "$n$rep"
        # A failed measurement is reported in the table; the others still run.
        "measure_$n" "$n$rep" || true
    done
done

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
# median TABLE RUN: the median over the repetitions of RUN in the associative array TABLE.
median() {
    local -n tab=$1
    local r vals=()
    for ((r = 1; r <= REPEAT; r++)); do
        [[ -n ${tab[$2$r]:-} ]] && vals+=("${tab[$2$r]}")
    done
    ((${#vals[@]})) || return 0
    printf '%s\n' "${vals[@]}" | sort -g |
        awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
row() { # row RUN LABEL: one table row per repetition
    local n=$1 r k label
    for ((r = 1; r <= REPEAT; r++)); do
        k=$n$r
        label="($n) $2"
        ((REPEAT > 1)) && label+=" #$r"
        if [[ -n ${FAILED[$k]:-} ]]; then
            printf '| %s | failed: %s | | | | | | |\n' "$label" "${FAILED[$k]//|/\\|}"
            continue
        fi
        if [[ -z ${RPS[$k]:-} ]]; then
            local why="not run"
            [[ $n =~ [bcdj] ]] && ((!HAVE_API)) && why="not run ($API_BIN not built)"
            printf '| %s | %s | | | | | | |\n' "$label" "$why"
            continue
        fi
        if [[ $n =~ [ei] ]]; then
            printf '| %s | | %s msg/s confirmed | %s | %s | | | window %s, latency from publish to confirm; broker CPU %s us per message%s |\n' \
                "$label" "${OK_RPS[$k]}" "${P50[$k]}" "${P99[$k]}" \
                "$([[ $n == e ]] && echo "$WINDOW" || echo "$CONNS")" "${BROKER_US[$k]:-?}" \
                "${QUIET[$k]:+; ${QUIET[$k]}}"
            continue
        fi
        printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' "$label" "${RPS[$k]}" "${OK_RPS[$k]}" \
            "${P50[$k]}" "${P99[$k]}" "${SRV_US[$k]:-}" \
            "${NON2XX[$k]}/${REQ[$k]} (socket errors ${SOCKERR[$k]})" \
            "${NOTE[$k]:+${NOTE[$k]}; }others busy: ${OTHERS[$k]:-?} cores${QUIET[$k]:+; ${QUIET[$k]}}"
    done
}

OK_A=$(median OK_RPS a)
RB=$(ratio "$(median OK_RPS b)" "$OK_A")
RC=$(ratio "$(median OK_RPS c)" "$OK_A")
RD=$(ratio "$(median OK_RPS d)" "$(median OK_RPS e)")
RDI=$(ratio "$(median OK_RPS d)" "$(median OK_RPS i)")
RJ=$(ratio "$(median EV_RPS j)" "$(median OK_RPS e)")
CPU_J=$(median CPU_EV j)
P99_D=$(median P99 d)
P99_I=$(median P99 i)
P99X_D=$(median P99X d)
CPU_D=$(median CPU_US d)
IDLE_MB=$(median IDLE_KB d)
[[ -n $IDLE_MB ]] && IDLE_MB=$(awk -v k="$IDLE_MB" 'BEGIN { printf "%.1f", k / 1024 }')
RL_BYTES=${RL_BYTES:-}
OF=""
((REPEAT > 1)) && OF=" (median of $REPEAT)"

REPORT="$WORK/report.md"
{
    printf '# Benchmark run %s\n\n' "$STAMP"
    printf -- '- commit: `%s`%s\n' "$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)" \
        "$(git -C "$ROOT" diff --quiet HEAD -- 2>/dev/null || echo ' (with uncommitted changes)')"
    printf -- '- machine: %s cores, %s; load average before the run: %s\n' "$CORES" \
        "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)" "$LOAD_BEFORE"
    printf -- '- load: `wrk -t1 -c%s -d%s --latency` on 127.0.0.1, bodies from bench/post.lua and bench/post_invalid.lua; %s repetition(s)\n' \
        "$CONNS" "$DURATION" "$REPEAT"
    printf -- '- pinning: (a)-(c) server on core %s, wrk on core %s; (d) %s; (e) not pinned\n' \
        "$SERVER_CPU" "$WRK_CPU" "$( ((PIN_202)) && echo "pinned the same way" || echo "not pinned (the broker needs both cores)")"
    printf -- '- loop threads: %s (bench-http-ceiling and API_THREADS)\n' "$THREADS"
    printf -- '- broker: %s; queue type %s; %s broker URL(s) given to the API\n\n' "$BROKER" \
        "$QUEUE_TYPE" "$(tr ',' '\n' <<<"$RABBITMQ_URL" | wc -l)"
    printf '| run | req/s | responses/s with the run'"'"'s status | p50 ms | p99 ms | server CPU us/response | non-2xx / total | notes ("others busy": cores used by other processes during the run; in (d) the broker is one) |\n'
    printf '|---|---|---|---|---|---|---|---|\n'
    row a "HTTP ceiling (202, no work)"
    row b "429 path (default limits)"
    row c "400 path (invalid body)"
    row d "202 path (published, confirmed)"
    row e "broker ceiling"
    row i "broker ceiling at ${CONNS} in flight"
    row j "batch path (${BATCH_EVENTS} events per request, ${BATCH_CONNS} connections; req/s are batches)"
    printf '\n| check%s | measured | target | result |\n|---|---|---|---|\n' "$OF"
    printf '| (b)/(a) 429 responses/s | %s | >= 0.80 | %s |\n' "$RB" "$(verdict "$RB" '>=' 0.80)"
    printf '| (c)/(a) 400 responses/s | %s | >= 0.70 | %s |\n' "$RC" "$(verdict "$RC" '>=' 0.70)"
    printf '| (d)/(e) 202 responses/s over confirmed msg/s | %s | >= 0.85 | %s |\n' "$RD" \
        "$(verdict "$RD" '>=' 0.85)"
    printf '| (d)/(i) the same, against the broker at (d)'"'"'s concurrency | %s | >= 0.85 | %s |\n' \
        "$RDI" "$(verdict "$RDI" '>=' 0.85)"
    printf '| (d) p99 latency at %s connections | %s | <= 25 ms | %s |\n' "$CONNS" \
        "$(withunit "$P99_D" ms)" "$(verdict "$P99_D" '<=' 25)"
    printf '| (d) p99 latency measured by bench/latency.py (a second client) | %s | <= 25 ms | %s |\n' \
        "$(withunit "$P99X_D" ms)" "$(verdict "$P99X_D" '<=' 25)"
    printf '| (i) the broker'"'"'s own p99 confirm latency at %s in flight | %s | (floor under (d)) | |\n' \
        "$CONNS" "$(withunit "$P99_I" ms)"
    printf '| API CPU time per accepted event | %s | <= 30 us | %s |\n' "$(withunit "$CPU_D" us)" \
        "$(verdict "$CPU_D" '<=' 30)"
    printf '| (j)/(e) batch events/s over confirmed msg/s | %s | >= 0.85 | %s |\n' "$RJ" \
        "$(verdict "$RJ" '>=' 0.85)"
    printf '| API CPU time per event in batches | %s | (information) | |\n' "$(withunit "$CPU_J" us)"
    printf '| API idle RSS (VmRSS after start, before load) | %s | <= 20 MB | %s |\n' \
        "$(withunit "$IDLE_MB" MB)" "$(verdict "$IDLE_MB" '<=' 20)"
    printf '| rate limiter bytes per client at the default limit (/metrics in (b)) | %s | <= 256 | %s |\n' \
        "$(withunit "$RL_BYTES" B)" "$(verdict "$RL_BYTES" '<=' 256)"
    printf '\n## Commands\n\n```\n'
    for n in a b c d e i j; do
        [[ -f $WORK/${n}1.server ]] && printf '(%s) server: %s\n' "$n" "$(cat "$WORK/${n}1.server")"
        [[ -f $WORK/${n}1.cmd ]] && printf '(%s) load:   %s\n' "$n" "$(cat "$WORK/${n}1.cmd")"
        [[ -f $WORK/${n}1.latency.cmd ]] && printf '(%s) second: %s\n' "$n" "$(cat "$WORK/${n}1.latency.cmd")"
    done
    printf '```\n\n## Raw output\n'
    for ((r = 1; r <= REPEAT; r++)); do
        for n in a b c d e i j; do
            k=$n$r
            [[ -f $WORK/$k.wrk ]] && printf '\n(%s)\n```\n%s\n```\n' "$k" "$(cat "$WORK/$k.wrk")"
            [[ -f $WORK/$k.out ]] && printf '\n(%s)\n```\n%s\n```\n' "$k" "$(cat "$WORK/$k.out")"
            if [[ -s $WORK/$k.api.log ]]; then
                printf '\n(%s) activity-api log at LOG_LEVEL=warn, last 20 lines:\n```\n%s\n```\n' \
                    "$k" "$(tail -n 20 "$WORK/$k.api.log")"
            fi
        done
    done
} >"$REPORT"

mkdir -p "$ROOT/bench/results"
OUT="$ROOT/bench/results/$STAMP.md"
cp "$REPORT" "$OUT"
sed -n '1,/^## Commands/p' "$REPORT" | sed '$d'
say "written to ${OUT#"$ROOT"/}"
