#!/usr/bin/env bash
# Smoke test of the compose stack on this machine's Docker engine, without pulling any image.
#
# Usage: scripts/compose-smoke.sh [--integration] [--keep]
#
#   1. Debian bookworm base images built locally (scripts/base-image.sh; cached).
#   2. Stand-ins for the official rabbitmq:3-management and mongo:7 images (docker/standins/:
#      Debian's rabbitmq-server; FerretDB, built on the host by scripts/lib.sh).
#   3. docker-compose.yml with docker/compose.smoke.yml on top, under a project name of its own,
#      on free host ports, values from .env.example: build, `up -d`, wait until every service is
#      healthy.
#   4. Checks through the published ports: events POSTed to the API are answered 202 and arrive in
#      the database; 400 for an invalid event; 429 with Retry-After once the rate limit is used
#      up; /health and /ready; the consumer attached to the queue; every service still healthy.
#   5. --integration: the integration tests (scripts/test.sh integration) against the stack too,
#      configured by environment variables alone.
#   6. `down -v`, also on failure or interruption (after printing the services' logs); --keep
#      leaves the stack running instead and prints how to reach and remove it.
#
# The host ports 3000, 5672, 15672 and 27017 are never used. Every wait is bounded.
#
# Environment:
#   AT_COMPOSE                 compose command (default: `docker compose` when the plugin exists,
#                              else docker-compose, installed from Debian when missing)
#   AT_SMOKE_PROJECT           compose project name (default activity-smoke-<pid>)
#   AT_SMOKE_TIMEOUT           bound of each wait in seconds (default 300)
#   AT_SMOKE_BUILD_TIMEOUT     bound of each image build in seconds (default 1500)
#   AT_SMOKE_INTEGRATION_CMD   how --integration runs the tests (default "bash scripts/test.sh integration")
#   AT_BASE_IMAGE, AT_SLIM_IMAGE  base images to build on (default: scripts/base-image.sh's)
#   AT_NO_INSTALL              1 = never install packages
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
AT_PROG=compose-smoke.sh
cd "$AT_ROOT"

INTEGRATION=0
KEEP=0
for arg in "$@"; do
    case $arg in
    --integration) INTEGRATION=1 ;;
    --keep) KEEP=1 ;;
    -h | --help)
        sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'
        exit 0
        ;;
    *)
        echo "usage: $0 [--integration] [--keep]" >&2
        exit 2
        ;;
    esac
done

TIMEOUT=${AT_SMOKE_TIMEOUT:-300}
BUILD_TIMEOUT=${AT_SMOKE_BUILD_TIMEOUT:-1500}
PROJECT=${AT_SMOKE_PROJECT:-activity-smoke-$$}
BASE_IMAGE=${AT_BASE_IMAGE:-activity-tracker/bookworm:base}
SLIM_IMAGE=${AT_SLIM_IMAGE:-activity-tracker/bookworm:slim}
RABBITMQ_IMAGE=activity-tracker/rabbitmq-standin:latest
MONGO_IMAGE=activity-tracker/ferretdb-standin:latest
INTEGRATION_CMD=${AT_SMOKE_INTEGRATION_CMD:-bash scripts/test.sh integration}
ENV_FILE="$AT_ROOT/.env.example"
COMPOSE_FILES=(-f "$AT_ROOT/docker-compose.yml" -f "$AT_ROOT/docker/compose.smoke.yml")
SERVICES=(rabbitmq mongo api consumer)
PY=/usr/bin/python3
[[ -x $PY ]] || PY=python3

WORK=$(mktemp -d "${TMPDIR:-/tmp}/at-compose-smoke.XXXXXX")
STARTED=0
T0=$SECONDS

# ---- helpers -------------------------------------------------------------------------------------

step() {
    at_section "$* (at $((SECONDS - T0)) s)"
}

install_packages() {
    [[ ${AT_NO_INSTALL:-0} != 1 ]] || at_die "missing: $* (AT_NO_INSTALL=1)"
    at_info "installing: $*"
    export DEBIAN_FRONTEND=noninteractive
    at_root_cmd apt-get update -q
    at_root_cmd apt-get install -y -q --no-install-recommends "$@" </dev/null
}

# pick_compose: COMPOSE=(the compose command).
pick_compose() {
    if [[ -n ${AT_COMPOSE:-} ]]; then
        read -r -a COMPOSE <<<"$AT_COMPOSE"
    elif docker compose version >/dev/null 2>&1; then
        COMPOSE=(docker compose)
    else
        command -v docker-compose >/dev/null 2>&1 || install_packages docker-compose
        COMPOSE=(docker-compose)
    fi
    at_info "compose: ${COMPOSE[*]} ($("${COMPOSE[@]}" version 2>/dev/null | head -n 1))"
}

# dc SECONDS ARGS...: the compose command on this project, bounded in time.
dc() {
    local t=$1
    shift
    timeout "$t" "${COMPOSE[@]}" --env-file "$ENV_FILE" -p "$PROJECT" "${COMPOSE_FILES[@]}" "$@"
}

# run_logged WHAT LOG COMMAND...: run COMMAND with its output in LOG; on failure show its end.
run_logged() {
    local what=$1 log=$2 start=$SECONDS rc=0
    shift 2
    "$@" >"$log" 2>&1 || rc=$?
    if ((rc != 0)); then
        at_tail_log "$log" 60
        ((rc == 124)) && at_die "$what: timed out after $((SECONDS - start)) s"
        at_die "$what failed (exit status $rc)"
    fi
    at_info "$what: done in $((SECONDS - start)) s"
}

# free_ports N: N distinct free TCP ports (on every address) below the ephemeral range.
free_ports() {
    "$PY" - "$1" <<'EOF'
import random, socket, sys
try:
    low = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
except (OSError, ValueError):
    low = 32768
avoid = {3000, 5672, 15672, 25672, 27017, 4369}
ports = []
rng = random.Random()
while len(ports) < int(sys.argv[1]):
    p = rng.randrange(20000, low)
    if p in avoid or p in ports:
        continue
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("0.0.0.0", p))
    except OSError:
        continue
    ports.append(p)
print(" ".join(map(str, ports)))
EOF
}

container_of() {
    dc 60 ps -q "$1" 2>/dev/null | head -n 1
}

# container_env SERVICE NAME: the value of NAME in the service container's environment.
container_env() {
    local id
    id=$(container_of "$1")
    docker inspect -f '{{range .Config.Env}}{{println .}}{{end}}' "$id" | sed -n "s/^$2=//p" | head -n 1
}

# service_state SERVICE: "<status> <health>" of its container (e.g. "running healthy").
service_state() {
    local id
    id=$(container_of "$1")
    [[ -n $id ]] || {
        echo "missing -"
        return
    }
    docker inspect -f '{{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}' "$id" 2>/dev/null ||
        echo "missing -"
}

all_healthy() {
    local s
    for s in "${SERVICES[@]}"; do
        [[ $(service_state "$s") == "running healthy" ]] || return 1
    done
}

# wait_all_healthy WHEN: waits (up to TIMEOUT) until every service is healthy, or dies saying WHEN.
wait_all_healthy() {
    local start=$SECONDS
    until all_healthy; do
        if ((SECONDS - start >= TIMEOUT)); then
            print_states >&2
            at_die "not every service was healthy within ${TIMEOUT}s $1"
        fi
        sleep 2
    done
    at_info "every service is healthy ($((SECONDS - start)) s $1)"
}

print_states() {
    local s
    for s in "${SERVICES[@]}"; do
        printf '  %-9s %s\n' "$s" "$(service_state "$s")"
    done
}

finish() {
    local rc=$?
    trap - EXIT INT TERM
    if ((STARTED)); then
        if ((rc != 0)); then
            at_section "FAILED: state and logs of the compose services"
            print_states >&2 || true
            dc 60 ps >&2 || true
            dc 120 logs --no-color --tail=150 >&2 || true
        fi
        if ((KEEP)); then
            at_info "--keep: the stack is still running; remove it with:"
            printf '  %s --env-file %q -p %q' "${COMPOSE[*]}" "$ENV_FILE" "$PROJECT"
            printf ' %q' "${COMPOSE_FILES[@]}"
            printf ' down -v\n'
        else
            at_section "Tear down (down -v)"
            dc 180 down -v --remove-orphans || at_warn "'down -v' failed; remove project $PROJECT by hand"
        fi
    fi
    rm -rf "$WORK"
    if ((rc == 0)); then
        at_info "compose smoke test passed in $((SECONDS - T0)) s"
    else
        at_warn "compose smoke test FAILED (exit status $rc) after $((SECONDS - T0)) s"
    fi
    exit "$rc"
}
trap finish EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- prerequisites -------------------------------------------------------------------------------

step "Prerequisites"
command -v docker >/dev/null 2>&1 || at_die "docker is not installed"
timeout 30 docker info >/dev/null 2>&1 || at_die "no Docker engine answers (docker info failed)"
pick_compose
need=()
command -v curl >/dev/null 2>&1 || need+=(curl)
"$PY" -c 'import pymongo' 2>/dev/null || need+=(python3-pymongo)
((${#need[@]} == 0)) || install_packages "${need[@]}"

# Only .env.example (and the ports below) configure the stack: variables of the caller's
# environment that the compose files read are dropped, so the test always runs the documented
# defaults.
while read -r v; do
    unset "$v"
done < <(grep -ohE '\$\{[A-Za-z_][A-Za-z0-9_]*' "$AT_ROOT/docker-compose.yml" "$AT_ROOT/docker/compose.smoke.yml" |
    cut -c3- | sort -u)
read -r API_PORT AMQP_PORT MGMT_PORT MONGO_PORT <<<"$(free_ports 4)"
export API_PUBLISH_PORT=$API_PORT RABBITMQ_PUBLISH_PORT=$AMQP_PORT RABBITMQ_MGMT_PUBLISH_PORT=$MGMT_PORT
export MONGO_PUBLISH_PORT=$MONGO_PORT
export AT_BASE_IMAGE=$BASE_IMAGE AT_SLIM_IMAGE=$SLIM_IMAGE
export AT_SMOKE_RABBITMQ_IMAGE=$RABBITMQ_IMAGE AT_SMOKE_MONGO_IMAGE=$MONGO_IMAGE
at_info "project $PROJECT; host ports: api $API_PORT, amqp $AMQP_PORT, management $MGMT_PORT, mongo $MONGO_PORT"

# ---- 1. base images --------------------------------------------------------------------------------

step "1. Base images"
# (scripts/base-image.sh makes the local ones; base images named otherwise must exist already.)
if [[ $BASE_IMAGE == activity-tracker/bookworm:* || $SLIM_IMAGE == activity-tracker/bookworm:* ]]; then
    AT_BASE_IMAGE=$BASE_IMAGE AT_SLIM_IMAGE=$SLIM_IMAGE bash "$AT_ROOT/scripts/base-image.sh"
fi
docker image inspect "$BASE_IMAGE" >/dev/null 2>&1 || at_die "base image $BASE_IMAGE does not exist"
docker image inspect "$SLIM_IMAGE" >/dev/null 2>&1 || at_die "base image $SLIM_IMAGE does not exist"

# ---- 2. stand-ins ----------------------------------------------------------------------------------

step "2. Stand-in images"
run_logged "build $RABBITMQ_IMAGE" "$WORK/rabbitmq-build.log" \
    timeout "$BUILD_TIMEOUT" docker build --build-arg "BASE_IMAGE=$SLIM_IMAGE" -t "$RABBITMQ_IMAGE" \
    -f "$AT_ROOT/docker/standins/rabbitmq.Dockerfile" "$AT_ROOT/docker/standins"
ensure_ferretdb
FERRETDB=$(at_ferretdb_bin)
mkdir -p "$WORK/ferretdb"
cp "$AT_ROOT/docker/standins/ferretdb.Dockerfile" "$AT_ROOT/docker/standins/ferretdb-entrypoint.sh" "$WORK/ferretdb/"
cp "$FERRETDB" "$WORK/ferretdb/ferretdb"
run_logged "build $MONGO_IMAGE" "$WORK/ferretdb-build.log" \
    timeout "$BUILD_TIMEOUT" docker build --build-arg "BASE_IMAGE=$SLIM_IMAGE" -t "$MONGO_IMAGE" \
    -f "$WORK/ferretdb/ferretdb.Dockerfile" "$WORK/ferretdb"

# ---- 3. the stack ----------------------------------------------------------------------------------

step "3. Build and start the compose stack"
dc 60 config -q || at_die "the compose files do not validate"
run_logged "compose build (api, consumer)" "$WORK/compose-build.log" dc "$BUILD_TIMEOUT" build
STARTED=1
# up -d itself waits for rabbitmq and mongo to be healthy before it starts api and consumer.
run_logged "compose up -d" "$WORK/compose-up.log" dc "$TIMEOUT" up -d
wait_all_healthy "after up"
print_states

# ---- 4. checks -------------------------------------------------------------------------------------

step "4. Checks through the published ports"
API="http://127.0.0.1:$API_PORT"
LIMIT=$(container_env api RATE_LIMIT_MAX_REQUESTS)
RMQ_USER=$(container_env rabbitmq RABBITMQ_DEFAULT_USER)
RMQ_PASS=$(container_env rabbitmq RABBITMQ_DEFAULT_PASS)
DB_USER=$(container_env mongo MONGO_INITDB_ROOT_USERNAME)
DB_PASS=$(container_env mongo MONGO_INITDB_ROOT_PASSWORD)
DB_NAME=$(container_env mongo MONGO_INITDB_DATABASE)
QUEUE=$(container_env consumer RABBITMQ_QUEUE)
DB_URL="mongodb://$DB_USER:$DB_PASS@127.0.0.1:$MONGO_PORT/$DB_NAME?authSource=admin"
[[ $LIMIT =~ ^[0-9]+$ ]] || at_die "cannot read RATE_LIMIT_MAX_REQUESTS from the api container"

# post BODY: "<status> <response body>" of POST /api/v1/activities; HEADERS_FILE gets the headers.
HEADERS_FILE="$WORK/headers"
post() {
    local out
    out=$(curl -sS --max-time 15 -D "$HEADERS_FILE" -o "$WORK/body" -w '%{http_code}' \
        -X POST "$API/api/v1/activities" -H 'Content-Type: application/json' --data-binary "$1") ||
        at_die "POST /api/v1/activities did not get an answer"
    printf '%s %s\n' "$out" "$(cat "$WORK/body")"
}

admitted=0
EVENTS_FILE="$WORK/events.jsonl"
: >"$EVENTS_FILE"
for i in 1 2 3 4 5; do
    if ((i == 5)); then
        id=$(cat /proc/sys/kernel/random/uuid)
        body=$(printf '{"id":"%s","userId":"smoke-user-%d","eventType":"smoke_test","timestamp":"2024-05-01T12:00:0%d.250+02:00","payload":{"n":%d,"nested":{"ok":true}}}' "$id" "$i" "$i" "$i")
    else
        body=$(printf '{"userId":"smoke-user-%d","eventType":"smoke_test","timestamp":"2024-05-01T12:00:0%d.250+02:00","payload":{"n":%d,"nested":{"ok":true}}}' "$i" "$i" "$i")
    fi
    read -r status answer <<<"$(post "$body")"
    admitted=$((admitted + 1))
    [[ $status == 202 ]] || at_die "event $i: expected 202, got $status: $answer"
    printf '%s\t%s\n' "$answer" "$body" >>"$EVENTS_FILE"
done
at_info "5 events accepted (202)"

read -r status answer <<<"$(post '{"userId":"","eventType":"smoke_test","timestamp":"yesterday","payload":[]}')"
admitted=$((admitted + 1))
[[ $status == 400 ]] || at_die "invalid event: expected 400, got $status: $answer"
grep -qi '^content-type: application/problem+json' "$HEADERS_FILE" || at_die "400 without application/problem+json"
for field in userId timestamp payload; do
    [[ $answer == *"$field"* ]] || at_die "the 400 does not name the invalid field $field: $answer"
done
at_info "invalid event: 400 problem+json naming every invalid field"

# The rate limit: requests that get through count, valid or not; the first one past the limit is
# a 429 with Retry-After. (Every client on the host reaches the container from the same bridge
# gateway address, so all of them share one limit here.)
got429=0
while ((admitted <= LIMIT + 5)); do
    read -r status answer <<<"$(post '{}')"
    if [[ $status == 429 ]]; then
        got429=1
        break
    fi
    [[ $status == 400 ]] || at_die "request $((admitted + 1)): expected 400 or 429, got $status: $answer"
    admitted=$((admitted + 1))
done
((got429)) || at_die "no 429 after $admitted requests (limit $LIMIT)"
((admitted == LIMIT)) || at_die "429 after $admitted admitted requests; the limit is $LIMIT"
retry_after=$(sed -n 's/^[Rr]etry-[Aa]fter: *\([0-9]*\).*/\1/p' "$HEADERS_FILE" | head -n 1)
if [[ -z $retry_after ]] || ((retry_after < 1)); then
    at_die "429 without a Retry-After of at least 1 s"
fi
at_info "rate limit: $admitted requests admitted, then 429 with Retry-After: $retry_after"

health=$(curl -sS --max-time 5 -w ' %{http_code}' "$API/health") || at_die "GET /health failed"
[[ $health == *' 200' && $health == *'"amqp":"connected"'* ]] || at_die "GET /health: $health"
ready=$(curl -sS --max-time 5 -o /dev/null -w '%{http_code}' "$API/ready") || at_die "GET /ready failed"
[[ $ready == 200 ]] || at_die "GET /ready: $ready"
at_info "/health 200 (broker connected), /ready 200"

at_info "waiting for the 5 events in $DB_NAME.activities (FerretDB on 127.0.0.1:$MONGO_PORT)"
"$PY" - "$DB_URL" "$DB_NAME" "$EVENTS_FILE" "$TIMEOUT" <<'EOF' || at_die "the events did not arrive in the database as sent"
import datetime, json, sys, time
import pymongo

url, dbname, events_file, timeout = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
sent = {}
for line in open(events_file):
    answer, body = line.rstrip("\n").split("\t")
    sent[json.loads(answer)["id"]] = json.loads(body)
coll = pymongo.MongoClient(url, serverSelectionTimeoutMS=5000)[dbname]["activities"]
deadline = time.monotonic() + timeout
while True:
    docs = {d["_id"]: d for d in coll.find({"_id": {"$in": list(sent)}})}
    if len(docs) == len(sent) or time.monotonic() > deadline:
        break
    time.sleep(0.5)
missing = sorted(set(sent) - set(docs))
if missing:
    sys.exit(f"missing after {timeout:.0f} s: {missing}")
for event_id, event in sent.items():
    d = docs[event_id]
    ts = datetime.datetime.fromisoformat(event["timestamp"]).astimezone(datetime.timezone.utc)
    problems = []
    if d.get("userId") != event["userId"] or d.get("eventType") != event["eventType"]:
        problems.append("userId/eventType")
    if d.get("payload") != event["payload"]:
        problems.append("payload")
    if not isinstance(d.get("timestamp"), datetime.datetime) or \
            abs(d["timestamp"].replace(tzinfo=datetime.timezone.utc) - ts).total_seconds() > 0.001:
        problems.append("timestamp")
    if not isinstance(d.get("processedAt"), datetime.datetime):
        problems.append("processedAt")
    if d.get("id") != event_id or ("id" in event and event["id"] != event_id):
        problems.append("id")
    if problems:
        sys.exit(f"document {event_id} differs from the event in {problems}: {d!r}")
print(f"all {len(sent)} events stored once, fields as sent, processedAt set")
EOF

queue=$(curl -sS --max-time 10 -u "$RMQ_USER:$RMQ_PASS" "http://127.0.0.1:$MGMT_PORT/api/queues/%2F/$QUEUE") ||
    at_die "management API: GET /api/queues/%2F/$QUEUE failed"
consumers=$("$PY" -c 'import json, sys; print(json.load(sys.stdin).get("consumers", 0))' <<<"$queue")
((consumers >= 1)) || at_die "no consumer on queue $QUEUE: $queue"
ui=$(curl -sS --max-time 10 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$MGMT_PORT/") || at_die "management UI did not answer"
[[ $ui == 200 ]] || at_die "management UI: HTTP $ui"
at_info "management UI 200; queue $QUEUE has $consumers consumers"

all_healthy || {
    print_states >&2
    at_die "a service is no longer healthy"
}
at_info "every service still healthy"

# ---- 5. integration tests --------------------------------------------------------------------------

if ((INTEGRATION)); then
    step "5. Integration tests against the stack"
    compose_cmd=$(printf '%q ' "${COMPOSE[@]}" --env-file "$ENV_FILE" -p "$PROJECT" "${COMPOSE_FILES[@]}")
    export AT_LOCAL_SERVICES=0
    export RABBITMQ_URL="amqp://$RMQ_USER:$RMQ_PASS@127.0.0.1:$AMQP_PORT/"
    export RABBITMQ_MGMT_URL="http://127.0.0.1:$MGMT_PORT"
    export DATABASE_URL=$DB_URL
    export AT_RABBITMQCTL="${compose_cmd}exec -T rabbitmq rabbitmqctl"
    # The database outage tests stop and start the compose service (never a local FerretDB).
    export AT_DB_STOP_CMD="${compose_cmd}stop mongo"
    export AT_DB_START_CMD="${compose_cmd}start mongo"
    at_info "RABBITMQ_URL=amqp://$RMQ_USER:***@127.0.0.1:$AMQP_PORT/ RABBITMQ_MGMT_URL=$RABBITMQ_MGMT_URL"
    at_info "DATABASE_URL=mongodb://$DB_USER:***@127.0.0.1:$MONGO_PORT/$DB_NAME?authSource=admin"
    at_info "AT_RABBITMQCTL=$AT_RABBITMQCTL"
    at_info "running: $INTEGRATION_CMD"
    bash -c "$INTEGRATION_CMD" || at_die "integration tests against the compose stack failed"
    wait_all_healthy "after the integration tests"
fi
