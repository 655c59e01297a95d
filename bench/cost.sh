#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# What one request costs activity-api, counted rather than timed, so that two builds can be
# compared on a machine whose speed changes from minute to minute (docs/BENCHMARKS.md, "Cost per
# request"). For each build directory and each path:
#   instructions  user-space instructions the whole process (every thread) executes per request:
#                 activity-api under `valgrind --tool=cachegrind --cache-sim=no`, once with N1 and
#                 once with N2 requests; (I refs at N2 - I refs at N1) / (N2 - N1), so start-up and
#                 shutdown cancel out
#   syscalls      system calls per request: activity-api run natively, `perf stat -e
#                 raw_syscalls:sys_enter` attached after N1 warm-up requests, over N2 - N1 more
# Paths: 429 (default limits, past the first 50 requests), 400 (bench/post_invalid.lua's body),
# 202 (bench/post.lua's event, limit raised) and batch (bench/post_batch.lua, BATCH_EVENTS events;
# figures per event). bench/cost_client.py sends the requests one after the other on one
# keep-alive connection and checks every status, so these are the costs of a lone client: under
# wrk's 64 connections the loop and the AMQP thread share wake-ups among many requests.
#
# Usage: bench/cost.sh [BUILD_DIR...]   (default: build; any number, e.g. two commits' builds)
# Assumes `scripts/services.sh up` (RabbitMQ on 127.0.0.1), valgrind and perf; a build whose API
# has no batch route gets "n/a" there. Prints a Markdown table (also written to
# bench/results/cost-<timestamp>.md).
#
# Environment (defaults in brackets):
#   RABBITMQ_URL [amqp://guest:guest@127.0.0.1:5672/]
#   BENCH_COST_PATHS [429 400 202 batch]   BENCH_COST_N1 [200]  BENCH_COST_N2 [1200]
#   BATCH_EVENTS [100]                    BENCH_COST_PORT [3120]  BENCH_QUEUE [bench.cost]
#   BENCH_CEILING_BIN [build/bench/bench-broker-ceiling]   deletes the queue between runs
# Targets loopback only; every process started here is stopped on exit, and the queue deleted.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"

RABBITMQ_URL=${RABBITMQ_URL:-amqp://guest:guest@127.0.0.1:5672/}
PATHS=${BENCH_COST_PATHS:-429 400 202 batch}
N1=${BENCH_COST_N1:-200}
N2=${BENCH_COST_N2:-1200}
export BATCH_EVENTS=${BATCH_EVENTS:-100}
PORT=${BENCH_COST_PORT:-3120}
QUEUE=${BENCH_QUEUE:-bench.cost}
BUILDS=("$@")
((${#BUILDS[@]} > 0)) || BUILDS=(build)
((N2 > N1 && N1 >= 60)) || die "need BENCH_COST_N2 > BENCH_COST_N1 >= 60 (the 429 path starts after 50)"
command -v valgrind >/dev/null || die "valgrind is not installed (apt-get install valgrind)"
command -v perf >/dev/null || die "perf is not installed (apt-get install linux-perf)"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/at-cost.XXXXXX")
PIDS=()
# Purges and deletes the queue between runs, whatever the builds under test are.
CEILING=${BENCH_CEILING_BIN:-$ROOT/build/bench/bench-broker-ceiling}
[[ -x $CEILING ]] || die "no $CEILING (build this tree, or set BENCH_CEILING_BIN)"
cleanup() {
    local status=$? pid
    trap - EXIT INT TERM
    for pid in "${PIDS[@]}"; do
        stop_pid "$pid" 60
    done
    drop_queue
    rm -rf "$WORK"
    exit "$status"
}
trap cleanup EXIT INT TERM

# drop_queue: deletes the queue and its DLQ, so that each run declares them afresh.
drop_queue() {
    timeout 60 "$CEILING" -D "$QUEUE" "${RABBITMQ_URL%%,*}" >/dev/null 2>&1 || true
    timeout 60 "$CEILING" -D "$QUEUE.dlq" "${RABBITMQ_URL%%,*}" >/dev/null 2>&1 || true
}

# api_env PATH: the API's environment for a path (default limits for 429, raised otherwise).
api_env() {
    local e=(API_HOST=127.0.0.1 "API_PORT=$PORT" "RABBITMQ_URL=$RABBITMQ_URL" "RABBITMQ_QUEUE=$QUEUE"
        API_THREADS=1 LOG_LEVEL=error)
    [[ $1 == 429 ]] || e+=(RATE_LIMIT_MAX_REQUESTS=1000000 RATE_LIMIT_MAX_CLIENTS=64)
    printf '%s\n' "${e[@]}"
}

kind_of() {
    case $1 in
    429 | 202) echo valid ;;
    400) echo invalid ;;
    batch) echo batch ;;
    *) die "unknown path '$1' (429 400 202 batch)" ;;
    esac
}

wait_port() {
    local i
    for ((i = 0; i < 600; i++)); do
        (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}

# start_api BIN PATH [WRAPPER...]: starts the API (under WRAPPER when given); sets API_PID.
start_api() {
    local bin=$1 path=$2
    shift 2
    mapfile -t envs < <(api_env "$path")
    env "${envs[@]}" "$@" "$bin" >"$WORK/api.out" 2>&1 &
    API_PID=$!
    PIDS+=("$API_PID")
    wait_port || {
        cat "$WORK/api.out" >&2
        die "activity-api did not listen on $PORT"
    }
}

stop_api() {
    stop_pid "$API_PID" 60
    PIDS=()
}

# send PATH N: N requests; "" when the build refuses the kind (e.g. no batch route).
send() {
    python3 "$ROOT/bench/cost_client.py" "$PORT" "$(kind_of "$1")" "$2" >"$WORK/client.out" 2>&1
}

# instructions BIN PATH N: I refs of a whole run with N requests, under cachegrind.
instructions() {
    local log="$WORK/cg.log"
    drop_queue
    start_api "$1" "$2" valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file=/dev/null \
        --log-file="$log"
    if ! send "$2" "$3"; then
        stop_api
        return 1
    fi
    stop_api
    awk '/I *refs:/ {gsub(",", "", $4); print $4}' "$log"
}

# syscalls BIN PATH: system calls over N2 - N1 requests after N1, natively.
syscalls() {
    drop_queue
    start_api "$1" "$2"
    send "$2" "$N1" || {
        stop_api
        return 1
    }
    perf stat -x, -e raw_syscalls:sys_enter -p "$API_PID" -o "$WORK/perf.out" &
    local perf=$!
    sleep 0.5
    send "$2" $((N2 - N1)) || true
    kill -INT "$perf"
    wait "$perf" || true
    stop_api
    awk -F, '/raw_syscalls:sys_enter/ {print $1}' "$WORK/perf.out"
}

STAMP=$(date -u +%Y%m%dT%H%M%SZ)
OUT="$ROOT/bench/results/cost-$STAMP.md"
mkdir -p "$ROOT/bench/results"
{
    echo "# Cost per request, $STAMP"
    echo
    echo "- \`bench/cost.sh ${BUILDS[*]}\` (N1=$N1, N2=$N2, BATCH_EVENTS=$BATCH_EVENTS); one client, one keep-alive connection; per event for batch"
    echo
    echo "| build | commit | path | instructions per request | system calls per request |"
    echo "|---|---|---|---|---|"
} >"$OUT"

for b in "${BUILDS[@]}"; do
    [[ $b == /* ]] || b="$ROOT/$b"
    bin="$b/activity-api"
    [[ -x $bin ]] || die "no $bin (build it first)"
    commit=$(git -C "$(dirname "$b")" rev-parse --short HEAD 2>/dev/null || echo "?")
    for path in $PATHS; do
        per=1
        [[ $path == batch ]] && per=$BATCH_EVENTS
        say "$b: path $path"
        ins="n/a" sys="n/a"
        if i1=$(instructions "$bin" "$path" "$N1") && i2=$(instructions "$bin" "$path" "$N2"); then
            ins=$(awk -v a="$i1" -v b="$i2" -v n=$((N2 - N1)) -v p="$per" \
                'BEGIN {printf "%.0f", (b - a) / n / p}')
            s=$(syscalls "$bin" "$path") &&
                sys=$(awk -v s="$s" -v n=$((N2 - N1)) -v p="$per" 'BEGIN {printf "%.2f", s / n / p}')
        else
            say "$path: $(cat "$WORK/client.out")"
        fi
        echo "| $b | $commit | $path | $ins | $sys |" >>"$OUT"
    done
done
cat "$OUT"
