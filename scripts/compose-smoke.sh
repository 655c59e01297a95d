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
        at_print_help
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

# ---- helpers (shared with scripts/cluster-smoke.sh) ----------------------------------------------

# shellcheck source=scripts/compose-lib.sh
source "$AT_ROOT/scripts/compose-lib.sh"

trap finish EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- prerequisites -------------------------------------------------------------------------------

step "Prerequisites"
check_docker

# Only .env.example (and the ports below) configure the stack: variables of the caller's
# environment that the compose files read are dropped, so the test always runs the documented
# defaults.
drop_compose_env "$AT_ROOT/docker-compose.yml" "$AT_ROOT/docker/compose.smoke.yml"
read -r API_PORT AMQP_PORT MGMT_PORT MONGO_PORT <<<"$(free_ports 4)"
export API_PUBLISH_PORT=$API_PORT RABBITMQ_PUBLISH_PORT=$AMQP_PORT RABBITMQ_MGMT_PUBLISH_PORT=$MGMT_PORT
export MONGO_PUBLISH_PORT=$MONGO_PORT
export AT_BASE_IMAGE=$BASE_IMAGE AT_SLIM_IMAGE=$SLIM_IMAGE
export AT_SMOKE_RABBITMQ_IMAGE=$RABBITMQ_IMAGE AT_SMOKE_MONGO_IMAGE=$MONGO_IMAGE
at_info "project $PROJECT; host ports: api $API_PORT, amqp $AMQP_PORT, management $MGMT_PORT, mongo $MONGO_PORT"

# ---- 1. base images --------------------------------------------------------------------------------

step "1. Base images"
# (scripts/base-image.sh makes the local ones; base images named otherwise must exist already.)
build_base_images

# ---- 2. stand-ins ----------------------------------------------------------------------------------

step "2. Stand-in images"
build_standin rabbitmq "$RABBITMQ_IMAGE"
build_ferretdb_standin "$MONGO_IMAGE"

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
