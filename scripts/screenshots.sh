#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Screenshots of the RabbitMQ management UI while events flow through activity-tracker.
#
# Usage: scripts/screenshots.sh
#
# Starts its own activity-consumer and activity-api against the local broker and database
# (scripts/services.sh up), drives a light, paced load through POST /api/v1/activities with wrk,
# publishes a few poison messages straight to the queue (the consumer dead-letters them), and
# meanwhile logs into the management UI with headless Chromium and saves, at 1400x900:
#   docs/images/rabbitmq-overview.png  Overview: queued messages and message rates charts
#   docs/images/rabbitmq-queues.png    Queues: RABBITMQ_QUEUE and RABBITMQ_QUEUE.dlq
#   docs/images/rabbitmq-queue.png     the page of queue RABBITMQ_QUEUE (rates, consumers)
# Everything it starts is stopped on exit (trap). The queues and the database are deleted at the
# end only if they did not exist before; queues that already exist are refused unless
# SHOTS_REUSE_QUEUES=1 (then they are used and left in place, with the poison messages in the
# .dlq queue). The whole run is bounded: about a minute plus the build.
#
# Needs (Debian): chromium chromium-driver python3-selenium python3-pymongo wrk curl cmake and
# the project's build dependencies; optipng (optional) shrinks the PNG files.
#
# Environment (defaults in brackets):
#   AT_BUILD_DIR                    a build with activity-api and src/consumer/activity-consumer;
#                                   unset: build them in SHOTS_BUILD_DIR
#   SHOTS_BUILD_DIR [/tmp/build-shots]  cmake -DCMAKE_BUILD_TYPE=Release build directory
#   RABBITMQ_URL [amqp://guest:guest@127.0.0.1:5672/]
#   RABBITMQ_MGMT_URL [http://127.0.0.1:15672]  (credentials: its userinfo, else RABBITMQ_URL's)
#   RABBITMQ_QUEUE [user_activities]
#   DATABASE_URL [mongodb://127.0.0.1:27017/activity_db_screens]
#   SHOTS_API_PORT [3920]           the API's port on 127.0.0.1 (the consumer's /metrics is off)
#   SHOTS_DURATION [50]             seconds of load
#   SHOTS_CONNECTIONS [8]           wrk connections
#   SHOTS_DELAY_MS [20]             pause of each connection between requests (paces the load
#                                   to a few hundred events per second)
#   SHOTS_SHOOT_AFTER [30]          seconds of load before the first screenshot, so the charts
#                                   (one sample per 5 s, last minute) show the flow
#   SHOTS_POISON [6]                poison messages published to RABBITMQ_QUEUE
#   SHOTS_OUT [docs/images]  SHOTS_SIZE [1400x900]
#   SHOTS_REUSE_QUEUES [0]          1: use queues that already exist, and leave them
#   SHOTS_PYTHON [/usr/bin/python3]  Python with Debian's selenium and pymongo
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
AT_PROG=screenshots.sh
ROOT=$AT_ROOT

export RABBITMQ_URL=${RABBITMQ_URL:-amqp://guest:guest@127.0.0.1:5672/}
export RABBITMQ_MGMT_URL=${RABBITMQ_MGMT_URL:-http://127.0.0.1:15672}
QUEUE=${RABBITMQ_QUEUE:-user_activities}
DATABASE_URL=${DATABASE_URL:-mongodb://127.0.0.1:27017/activity_db_screens}
API_PORT=${SHOTS_API_PORT:-3920}
DURATION=${SHOTS_DURATION:-50}
CONNS=${SHOTS_CONNECTIONS:-8}
DELAY_MS=${SHOTS_DELAY_MS:-20}
SHOOT_AFTER=${SHOTS_SHOOT_AFTER:-30}
POISON=${SHOTS_POISON:-6}
OUT=${SHOTS_OUT:-docs/images}
[[ $OUT == /* ]] || OUT="$ROOT/$OUT"
SIZE=${SHOTS_SIZE:-1400x900}
REUSE=${SHOTS_REUSE_QUEUES:-0}
PY=${SHOTS_PYTHON:-/usr/bin/python3}
HELPER="$ROOT/scripts/screenshots.py"
HOST=127.0.0.1

for v in API_PORT DURATION CONNS DELAY_MS SHOOT_AFTER POISON; do
    [[ ${!v} =~ ^[0-9]+$ ]] || at_die "$v must be a whole number, not '${!v}'"
done
((SHOOT_AFTER + 20 <= DURATION)) ||
    at_die "SHOTS_DURATION ($DURATION) must leave 20 s after SHOTS_SHOOT_AFTER ($SHOOT_AFTER) for the screenshots"
((POISON >= 1 && CONNS >= 1)) || at_die "SHOTS_POISON and SHOTS_CONNECTIONS must be at least 1"
[[ $SIZE =~ ^[0-9]+x[0-9]+$ ]] || at_die "SHOTS_SIZE must look like 1400x900"

for c in wrk curl chromium chromedriver ss; do
    command -v "$c" >/dev/null || at_die "$c is not installed (apt-get install wrk curl chromium chromium-driver iproute2)"
done
"$PY" -c 'import selenium, pymongo' 2>/dev/null ||
    at_die "$PY lacks selenium or pymongo (apt-get install python3-selenium python3-pymongo)"

helper() { "$PY" "$HELPER" "$@"; }

# ---- processes and cleanup ---------------------------------------------------------------------

WORK=$(mktemp -d "${TMPDIR:-/tmp}/at-shots.XXXXXX")
PIDS=()
OWN_QUEUES=0
OWN_DB=0

stop_pid() { # stop_pid PID: SIGTERM, up to 15 s of grace, then SIGKILL
    local pid=$1 i
    kill -TERM "$pid" 2>/dev/null || return 0
    for ((i = 0; i < 150; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

cleanup() {
    local status=$? i pid
    trap - EXIT INT TERM
    # The load first, then the API, the consumer last (it drains what the API published).
    for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
        pid=${PIDS[i]}
        stop_pid "$pid"
    done
    if ((OWN_QUEUES)); then
        timeout 30 "$PY" "$HELPER" delete-queue "$QUEUE" || true
        timeout 30 "$PY" "$HELPER" delete-queue "$QUEUE.dlq" || true
    fi
    if ((OWN_DB)); then
        timeout 30 "$PY" "$HELPER" db-drop "$DATABASE_URL" || true
    fi
    rm -rf "$WORK"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- the broker, the database, the build -------------------------------------------------------

state_q=$(timeout 30 "$PY" "$HELPER" queue-state "$QUEUE") ||
    at_die "the management API does not answer at $RABBITMQ_MGMT_URL (scripts/services.sh up)"
state_dlq=$(timeout 30 "$PY" "$HELPER" queue-state "$QUEUE.dlq") || at_die "management API failed"
if [[ $state_q == absent && $state_dlq == absent ]]; then
    OWN_QUEUES=1
elif ((REUSE)); then
    at_info "using the existing queues ($QUEUE: $state_q; $QUEUE.dlq: $state_dlq); they are left in place"
else
    at_die "queue $QUEUE or $QUEUE.dlq already exists ($state_q; $state_dlq): set RABBITMQ_QUEUE to another name, or SHOTS_REUSE_QUEUES=1 to use them"
fi
if timeout 30 "$PY" "$HELPER" db-exists "$DATABASE_URL"; then
    at_info "the database of DATABASE_URL exists already; it is kept"
else
    # db-exists also fails when the server does not answer: ask once more, loudly.
    timeout 30 "$PY" "$HELPER" db-count "$DATABASE_URL" >/dev/null ||
        at_die "MongoDB does not answer at DATABASE_URL (scripts/services.sh up)"
    OWN_DB=1
fi
[[ -z $(ss -Hltn "sport = :$API_PORT" 2>/dev/null) ]] ||
    at_die "something already listens on port $API_PORT (set SHOTS_API_PORT)"

if [[ -n ${AT_BUILD_DIR:-} ]]; then
    BUILD=$AT_BUILD_DIR
    [[ $BUILD == /* ]] || BUILD="$ROOT/$BUILD"
else
    BUILD=${SHOTS_BUILD_DIR:-/tmp/build-shots}
    at_info "building activity-api and activity-consumer in $BUILD"
    cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >"$WORK/cmake.log" 2>&1 ||
        { at_tail_log "$WORK/cmake.log"; at_die "cmake failed"; }
    cmake --build "$BUILD" -j2 --target activity-api activity-consumer >>"$WORK/cmake.log" 2>&1 ||
        { at_tail_log "$WORK/cmake.log"; at_die "the build failed"; }
fi
API_BIN="$BUILD/activity-api"
CONSUMER_BIN="$BUILD/src/consumer/activity-consumer"
for b in "$API_BIN" "$CONSUMER_BIN"; do
    [[ -x $b ]] || at_die "$b not found (unset AT_BUILD_DIR to build it)"
done

# ---- the services ------------------------------------------------------------------------------

at_info "starting activity-consumer (queue $QUEUE) and activity-api on $HOST:$API_PORT"
env RABBITMQ_URL="$RABBITMQ_URL" RABBITMQ_QUEUE="$QUEUE" DATABASE_URL="$DATABASE_URL" \
    CONSUMER_WORKERS=2 CONSUMER_METRICS_PORT=0 LOG_LEVEL=warn \
    "$CONSUMER_BIN" 2>"$WORK/consumer.log" &
PIDS+=($!)
env RABBITMQ_URL="$RABBITMQ_URL" RABBITMQ_QUEUE="$QUEUE" API_HOST="$HOST" API_PORT="$API_PORT" \
    API_THREADS=1 RATE_LIMIT_MAX_REQUESTS=1000000 RATE_LIMIT_MAX_CLIENTS=64 LOG_LEVEL=warn \
    "$API_BIN" 2>"$WORK/api.log" &
API_PID=$!
PIDS+=("$API_PID")

api_ready() {
    kill -0 "$API_PID" 2>/dev/null || return 2
    [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://$HOST:$API_PORT/ready") == 200 ]]
}
at_wait 60 "activity-api's /ready" api_ready ||
    { at_tail_log "$WORK/api.log"; at_die "activity-api did not become ready"; }
timeout 90 "$PY" "$HELPER" wait-consumers "$QUEUE" 2 60 ||
    { at_tail_log "$WORK/consumer.log"; at_die "activity-consumer did not start consuming"; }

# ---- the load and the screenshots --------------------------------------------------------------

# bench/post.lua's valid event, with a pause before each request of a connection: about
# CONNS * 1000 / DELAY_MS events per second at most, a light load.
{
    cat "$ROOT/bench/post.lua"
    printf '\nfunction delay()\n    return %d\nend\n' "$DELAY_MS"
} >"$WORK/paced.lua"
at_info "load: wrk -t1 -c$CONNS -d${DURATION}s, $DELAY_MS ms between requests per connection"
timeout $((DURATION + 30)) wrk -t1 -c"$CONNS" -d"${DURATION}s" -s "$WORK/paced.lua" \
    "http://$HOST:$API_PORT/api/v1/activities" >"$WORK/wrk.out" 2>&1 &
WRK_PID=$!
PIDS+=("$WRK_PID")
START=$SECONDS

# A signal's trap runs only once the foreground command ends: sleep in the background.
pause() {
    sleep "$1" &
    wait $!
}
pause 3
timeout 60 "$PY" "$HELPER" publish-poison "$QUEUE" "$POISON"
pause $((SHOOT_AFTER > 3 ? SHOOT_AFTER - 3 : 0))
at_info "screenshots after $((SECONDS - START)) s of load"
timeout $((DURATION + 60)) "$PY" "$HELPER" shoot --queue "$QUEUE" --out "$OUT" --size "$SIZE" \
    --poison "$POISON" --timeout 20 ||
    at_die "the screenshots failed"
((SECONDS - START < DURATION)) ||
    at_info "warning: the screenshots ended after the load (SHOTS_DURATION too short?)"

wait "$WRK_PID" || at_die "wrk failed: $(tail -n 3 "$WORK/wrk.out")"
requests=$(awk '/ requests in / { print $1 }' "$WORK/wrk.out")
non2xx=$(awk '/Non-2xx or 3xx responses:/ { print $NF }' "$WORK/wrk.out")
at_info "load done: ${requests:-?} requests, ${non2xx:-0} not 202 ($(awk '/^Requests\/sec:/ { print $2 }' "$WORK/wrk.out") per second)"

# Let the consumer store the rest, then show what reached the database.
drained() { [[ $("$PY" "$HELPER" queue-state "$QUEUE") == messages=0\ * ]]; }
at_wait 30 "the consumer to drain $QUEUE" drained || true
at_info "stored in the database: $(timeout 30 "$PY" "$HELPER" db-count "$DATABASE_URL" || echo '?') documents; $QUEUE.dlq: $("$PY" "$HELPER" queue-state "$QUEUE.dlq")"

if command -v optipng >/dev/null; then
    optipng -quiet -o2 -strip all "$OUT"/rabbitmq-{overview,queues,queue}.png
fi
for f in "$OUT"/rabbitmq-{overview,queues,queue}.png; do
    at_info "$(du -k "$f" | cut -f1) KB ${f#"$ROOT"/}"
done
