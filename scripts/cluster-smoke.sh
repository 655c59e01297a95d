#!/usr/bin/env bash
# Smoke test of docker-compose.cluster.yml on this machine's Docker engine, without pulling any image.
#
# Usage: scripts/cluster-smoke.sh [--keep]
#
# What stands in for what (docker/compose.cluster-smoke.yml): RabbitMQ is Debian's rabbitmq-server
# (docker/standins/rabbitmq.Dockerfile), clustered exactly as the official image clusters (cookie
# file, classic_config peer discovery from conf.d); HAProxy is Debian's haproxy 2.6 with the same
# configuration file. MongoDB is ONE FerretDB: FerretDB cannot be a replica set, so the replica set
# (mongo1..3, mongo-keyfile, mongo-init, replicaSet=rs0) is NOT tested here; the consumers' URL
# keeps the options a single server honours (authSource=admin&w=majority&retryWrites=true).
#
#   1. Debian bookworm base images (scripts/base-image.sh; cached) and the stand-ins; the API and
#      consumer images are built once each (tagged :smoke, the same as scripts/compose-smoke.sh's).
#   2. The two compose files under a project name of its own, on free host ports (all published on
#      127.0.0.1) and a free subnet for the balancer's network, values from .env.example; `up -d`,
#      then every service healthy and the one-shot services exited 0.
#   3. HAProxy sees the three API replicas up; GET /ready through it is 200.
#   4. Through HAProxy on 127.0.0.1: from one client address 60 events give exactly 50 x 202 and
#      10 x 429 (the limit, 50 per 60 s, lives in the one replica the client is hashed to); a forged
#      X-Forwarded-For gets no extra quota (HAProxy replaces the header); the 50 accepted events are
#      stored exactly once.
#   5. The cluster: three running RabbitMQ nodes; the queue is a quorum queue with three online
#      members and consumers.
#   6. Failover: once the rate-limit window has passed, a little load (4 requests/s); the node that
#      the replica serving this client publishes to is killed (`docker kill`); 202s must resume
#      within AT_CLUSTER_SMOKE_RESUME_S seconds, only 202 and 503 may be answered, and every
#      accepted event must be stored exactly once.
#   7. The node is started again and must rejoin (three online queue members); every service
#      healthy again. Then `down -v`, also on failure or interruption (after printing the
#      services' logs); --keep leaves the stack running instead and prints how to remove it.
#
# The host ports 3000, 5672, 15672-15674, 8404 and 27017 are never used. Every wait is bounded.
#
# Environment:
#   AT_COMPOSE                 compose command (default: `docker compose` when the plugin exists,
#                              else docker-compose, installed from Debian when missing)
#   AT_SMOKE_PROJECT           compose project name (default activity-cluster-smoke-<pid>)
#   AT_SMOKE_TIMEOUT           bound of each wait in seconds (default 300)
#   AT_SMOKE_BUILD_TIMEOUT     bound of each image build in seconds (default 1500)
#   AT_CLUSTER_SMOKE_RESUME_S  how soon 202s must resume after the kill (default 15)
#   AT_BASE_IMAGE, AT_SLIM_IMAGE  base images to build on (default: scripts/base-image.sh's)
#   AT_NO_INSTALL              1 = never install packages
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
AT_PROG=cluster-smoke.sh
cd "$AT_ROOT"

KEEP=0
for arg in "$@"; do
    case $arg in
    --keep) KEEP=1 ;;
    -h | --help)
        at_print_help
        exit 0
        ;;
    *)
        echo "usage: $0 [--keep]" >&2
        exit 2
        ;;
    esac
done

TIMEOUT=${AT_SMOKE_TIMEOUT:-300}
BUILD_TIMEOUT=${AT_SMOKE_BUILD_TIMEOUT:-1500}
RESUME_S=${AT_CLUSTER_SMOKE_RESUME_S:-15}
PROJECT=${AT_SMOKE_PROJECT:-activity-cluster-smoke-$$}
BASE_IMAGE=${AT_BASE_IMAGE:-activity-tracker/bookworm:base}
SLIM_IMAGE=${AT_SLIM_IMAGE:-activity-tracker/bookworm:slim}
RABBITMQ_IMAGE=activity-tracker/rabbitmq-standin:latest
MONGO_IMAGE=activity-tracker/ferretdb-standin:latest
HAPROXY_IMAGE=activity-tracker/haproxy-standin:latest
ENV_FILE="$AT_ROOT/.env.example"
COMPOSE_FILES=(-f "$AT_ROOT/docker-compose.cluster.yml" -f "$AT_ROOT/docker/compose.cluster-smoke.yml")
SERVICES=(rabbitmq1 rabbitmq2 rabbitmq3 mongo1 mongo2 mongo3 api1 api2 api3 consumer1 consumer2 consumer3 haproxy)
ONE_SHOT=(rabbitmq-cookie mongo-keyfile mongo-init)
SMOKE_NAME="cluster smoke test"
PY=/usr/bin/python3
[[ -x $PY ]] || PY=python3

WORK=$(mktemp -d "${TMPDIR:-/tmp}/at-cluster-smoke.XXXXXX")
STARTED=0
T0=$SECONDS

# shellcheck source=scripts/compose-lib.sh
source "$AT_ROOT/scripts/compose-lib.sh"

trap finish EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# free_subnet: a /24 in 10.213.0.0/16 that no Docker network on this engine overlaps.
free_subnet() {
    local ids
    ids=$(docker network ls -q)
    # shellcheck disable=SC2086  # one argument per network id
    { [[ -z $ids ]] || docker network inspect -f '{{range .IPAM.Config}}{{.Subnet}} {{end}}' $ids; } |
        "$PY" -c '
import ipaddress, random, sys
used = [ipaddress.ip_network(s, strict=False) for s in sys.stdin.read().split() if "." in s]
third = list(range(20, 250))
random.shuffle(third)
for t in third:
    net = ipaddress.ip_network(f"10.213.{t}.0/24")
    if not any(net.overlaps(u) for u in used):
        print(net)
        sys.exit(0)
sys.exit("no free /24 in 10.213.0.0/16")'
}

# one_shots_done: every one-shot service ran and exited 0.
one_shots_done() {
    local s id state
    for s in "${ONE_SHOT[@]}"; do
        id=$(dc 60 ps -a -q "$s" 2>/dev/null | head -n 1)
        [[ -n $id ]] || return 1
        state=$(docker inspect -f '{{.State.Status}} {{.State.ExitCode}}' "$id" 2>/dev/null) || return 1
        [[ $state == "exited 0" ]] || return 1
    done
}

# mgmt PATH: GET of the management API, from the first node that answers.
mgmt() {
    local port
    for port in "$MGMT1_PORT" "$MGMT2_PORT" "$MGMT3_PORT"; do
        curl -fsS --max-time 5 -u "$RMQ_USER:$RMQ_PASS" "http://127.0.0.1:$port/api/$1" 2>/dev/null && return 0
    done
    return 1
}

# running_nodes: how many nodes of the cluster run, as the management API reports them.
running_nodes() {
    mgmt nodes | "$PY" -c 'import json, sys; print(sum(1 for n in json.load(sys.stdin) if n.get("running")))'
}

three_nodes_running() {
    [[ $(running_nodes 2>/dev/null) == 3 ]]
}

# queue_ready: the events queue is a quorum queue with three online members and consumers.
queue_ready() {
    mgmt "queues/%2F/$QUEUE" | "$PY" -c '
import json, sys
q = json.load(sys.stdin)
ok = q.get("type") == "quorum" and len(q.get("online", [])) == 3 and q.get("consumers", 0) >= 3
sys.exit(0 if ok else 1)'
}

# haproxy_replicas_up: HAProxy reports api1, api2 and api3 UP (its stats page as CSV).
haproxy_replicas_up() {
    [[ $(curl -fsS --max-time 5 "http://127.0.0.1:$STATS_PORT/stats;csv" 2>/dev/null |
        awk -F, '$1 == "api" && $2 ~ /^api[123]$/ && $18 == "UP"' | wc -l) == 3 ]]
}

# serving_replica: the replica that served the most requests (this test is HAProxy's only client).
serving_replica() {
    local r
    r=$(curl -fsS --max-time 5 "http://127.0.0.1:$STATS_PORT/stats;csv" |
        awk -F, '$1 == "api" && $2 ~ /^api[123]$/ { print $8, $2 }' | sort -rn | awk 'NR == 1 && $1 > 0 { print $2 }')
    [[ -n $r ]] && echo "$r"
}

# replica_broker REPLICA: the node (rabbitmqN) that REPLICA's publisher connection is open to.
replica_broker() {
    local ips
    ips=$(docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}' "$(container_of "$1")") || return 1
    mgmt connections | "$PY" -c '
import json, sys
ips = set(sys.argv[1].split())
for c in json.load(sys.stdin):
    name = (c.get("client_properties") or {}).get("connection_name", "")
    if c.get("peer_host") in ips and name == "activity-api publisher":
        print(c["node"].split("@", 1)[1])
        sys.exit(0)
sys.exit(1)' "$ips"
}

# The HTTP client and database checks (python3 with pymongo).
cat >"$WORK/smoke.py" <<'EOF'
import http.client, json, subprocess, sys, time

def post(port, body, headers=None, timeout=15):
    """POST /api/v1/activities: (status, parsed body or None)."""
    h = {"Content-Type": "application/json"}
    h.update(headers or {})
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("POST", "/api/v1/activities", body=json.dumps(body), headers=h)
        resp = conn.getresponse()
        data = resp.read()
    finally:
        conn.close()
    try:
        return resp.status, json.loads(data)
    except ValueError:
        return resp.status, None

def event(run, phase, n):
    return {"userId": f"cluster-smoke-{n % 7}", "eventType": "cluster_smoke",
            "timestamp": "2024-05-01T12:00:00Z", "payload": {"run": run, "phase": phase, "n": n}}

def cmd_limit(port, run, count, limit, out):
    """COUNT events from this one client: exactly LIMIT 202s, then 429s."""
    answers, count = [], int(count)
    for n in range(count):
        status, body = post(int(port), event(run, "limit", n))
        answers.append({"n": n, "status": status, "id": (body or {}).get("id"), "t": time.time()})
    json.dump(answers, open(out, "w"))
    statuses = [a["status"] for a in answers]
    accepted, limited = statuses.count(202), statuses.count(429)
    print(f"{count} requests: {accepted} x 202, {limited} x 429, others {[s for s in statuses if s not in (202, 429)]}")
    if accepted != int(limit) or limited != count - int(limit) or statuses[:int(limit)] != [202] * int(limit):
        sys.exit(f"expected exactly {limit} x 202 and then {count - int(limit)} x 429, got {statuses}")

def cmd_forged(port, run):
    """A forged X-Forwarded-For must not give a client another rate-limit key."""
    for xff in ("1.2.3.4", "1.2.3.4, 5.6.7.8"):
        status, body = post(int(port), event(run, "forged", 0), {"X-Forwarded-For": xff})
        print(f"X-Forwarded-For: {xff} -> {status}")
        if status != 429:
            sys.exit(f"a forged X-Forwarded-For: {xff} got {status}, not 429: it was believed")

def cmd_failover(port, run, out, kill_after, max_requests, max_seconds, resume_ok, *kill_cmd):
    """A little load; kill a node after KILL_AFTER requests; until RESUME_OK 202s in a row after it."""
    kill_after, max_requests, resume_ok = int(kill_after), int(max_requests), int(resume_ok)
    answers, killed_at, streak, start = [], None, 0, time.time()
    for n in range(max_requests):
        if n == kill_after:
            subprocess.run(list(kill_cmd), check=True, stdout=subprocess.DEVNULL)
            killed_at = time.time()
            print(f"killed after {n} requests: {' '.join(kill_cmd)}")
        sent = time.time()
        try:
            status, body = post(int(port), event(run, "failover", n))
        except OSError as e:
            status, body = f"error: {e}", None
        done = time.time()
        answers.append({"n": n, "status": status, "id": (body or {}).get("id"), "sent": sent, "done": done,
                        "after_kill": killed_at is not None,
                        "detail": (body or {}).get("detail") if status != 202 else None})
        if killed_at is not None:
            streak = streak + 1 if status == 202 else 0
            if streak >= resume_ok:
                break
        if time.time() - start > float(max_seconds):
            break
        time.sleep(max(0.0, 0.25 - (time.time() - sent)))
    json.dump({"answers": answers, "killed_at": killed_at}, open(out, "w"))
    after = [a for a in answers if a["after_kill"]]
    statuses = {}
    for a in answers:
        statuses[str(a["status"])] = statuses.get(str(a["status"]), 0) + 1
    print(f"{len(answers)} requests ({len(after)} after the kill): {statuses}")
    if killed_at is None:
        sys.exit("the node was never killed")
    for a in answers:
        print(f"  request {a['n']:2d} sent {a['sent'] - killed_at:+6.2f} s after the kill: {a['status']} "
              f"in {a['done'] - a['sent']:.2f} s{' ' + a['detail'] if a.get('detail') else ''}")
    bad = [a for a in answers if a["status"] not in (202, 503)]
    if bad:
        sys.exit(f"answers other than 202 or 503: {bad}")
    first = next((a for a in after if a["status"] == 202), None)
    if first is None or streak < resume_ok:
        sys.exit(f"no {resume_ok} x 202 in a row after the kill within {max_requests} requests / {max_seconds} s")
    slowest = max(a["done"] - a["sent"] for a in after)
    print(f"first 202 after the kill answered {first['done'] - killed_at:.1f} s after it; "
          f"slowest answer after the kill {slowest:.1f} s; 503s after the kill: "
          f"{sum(1 for a in after if a['status'] == 503)}")
    print(f"RESUME_S={first['done'] - killed_at:.1f}")

def cmd_stored(db_url, db_name, run, phase, answers_file, timeout):
    """Every 202 of PHASE is stored, once; nothing is stored that was not answered 202 or 503."""
    import pymongo
    data = json.load(open(answers_file))
    answers = data["answers"] if isinstance(data, dict) else data
    accepted = {a["id"] for a in answers if a["status"] == 202}
    maybe = {a["id"] for a in answers if a["status"] == 503 and a["id"]}
    if len(accepted) != sum(1 for a in answers if a["status"] == 202) or None in accepted:
        sys.exit("a 202 without an id, or two 202s with the same id")
    coll = pymongo.MongoClient(db_url, serverSelectionTimeoutMS=5000)[db_name]["activities"]
    query = {"payload.run": run, "payload.phase": phase}
    deadline = time.monotonic() + float(timeout)
    while True:
        docs = list(coll.find(query, {"_id": 1}))
        ids = [d["_id"] for d in docs]
        if accepted <= set(ids) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    missing = accepted - set(ids)
    if missing:
        sys.exit(f"{len(missing)} accepted events of phase {phase} are not stored after {timeout} s: {sorted(missing)[:5]}")
    time.sleep(2)  # let any late duplicate arrive before counting
    ids = [d["_id"] for d in coll.find(query, {"_id": 1})]
    if len(ids) != len(set(ids)):
        sys.exit(f"phase {phase}: an event is stored twice")
    extra = set(ids) - accepted - maybe
    if extra:
        sys.exit(f"phase {phase}: stored events that were never answered 202 or 503: {sorted(extra)[:5]}")
    print(f"phase {phase}: all {len(accepted)} accepted events stored exactly once"
          + (f" ({len(set(ids) & maybe)} of {len(maybe)} answered 503 stored too)" if maybe else ""))

commands = {"limit": cmd_limit, "forged": cmd_forged, "failover": cmd_failover, "stored": cmd_stored}
commands[sys.argv[1]](*sys.argv[2:])
EOF

# ---- prerequisites -------------------------------------------------------------------------------

step "Prerequisites"
check_docker
# Only .env.example (and the ports and subnet below) configure the stack.
drop_compose_env "$AT_ROOT/docker-compose.cluster.yml" "$AT_ROOT/docker/compose.cluster-smoke.yml"
read -r API_PORT STATS_PORT MGMT1_PORT MGMT2_PORT MGMT3_PORT MONGO_PORT <<<"$(free_ports 6)"
SUBNET=$(free_subnet) || at_die "no free subnet for the balancer's network"
export CLUSTER_PUBLISH_HOST=127.0.0.1 CLUSTER_API_PUBLISH_PORT=$API_PORT CLUSTER_HAPROXY_STATS_PUBLISH_PORT=$STATS_PORT
export CLUSTER_RABBITMQ1_MGMT_PUBLISH_PORT=$MGMT1_PORT CLUSTER_RABBITMQ2_MGMT_PUBLISH_PORT=$MGMT2_PORT
export CLUSTER_RABBITMQ3_MGMT_PUBLISH_PORT=$MGMT3_PORT AT_SMOKE_MONGO_PUBLISH_PORT=$MONGO_PORT
export CLUSTER_EDGE_SUBNET=$SUBNET
export AT_BASE_IMAGE=$BASE_IMAGE AT_SLIM_IMAGE=$SLIM_IMAGE
export AT_SMOKE_RABBITMQ_IMAGE=$RABBITMQ_IMAGE AT_SMOKE_MONGO_IMAGE=$MONGO_IMAGE AT_SMOKE_HAPROXY_IMAGE=$HAPROXY_IMAGE
at_info "project $PROJECT; host ports: api (haproxy) $API_PORT, haproxy stats $STATS_PORT, management $MGMT1_PORT $MGMT2_PORT $MGMT3_PORT, mongo $MONGO_PORT; edge subnet $SUBNET"

# ---- 1. images -------------------------------------------------------------------------------------

step "1. Images"
build_base_images
build_standin rabbitmq "$RABBITMQ_IMAGE"
build_standin haproxy "$HAPROXY_IMAGE"
build_ferretdb_standin "$MONGO_IMAGE"
dc 60 config -q || at_die "the compose files do not validate"
dc 60 config >"$WORK/config.yml" || at_die "compose config failed"
"$PY" - "$WORK/config.yml" <<'EOF' || at_die "the smoke override leaves a service on an image from a registry"
import sys, yaml
services = yaml.safe_load(open(sys.argv[1]))["services"]
bad = {n: s.get("image") for n, s in services.items() if not str(s.get("image", "")).startswith("activity-tracker/")}
if bad:
    sys.exit(f"services on registry images: {bad}")
EOF
# One build per image: api2, api3, consumer2 and consumer3 use the same tags.
run_logged "compose build (api1, consumer1)" "$WORK/compose-build.log" dc "$BUILD_TIMEOUT" build api1 consumer1

# ---- 2. the stack ----------------------------------------------------------------------------------

step "2. Start the cluster stack"
STARTED=1
# up -d waits for the one-shot services and the healthy brokers before it starts the replicas.
run_logged "compose up -d" "$WORK/compose-up.log" dc "$TIMEOUT" up -d
wait_all_healthy "after up"
at_wait 60 "the one-shot services to exit 0" one_shots_done || at_die "a one-shot service (${ONE_SHOT[*]}) did not exit 0"
print_states
at_info "one-shot services exited 0: ${ONE_SHOT[*]}"

# ---- 3. the balancer -------------------------------------------------------------------------------

step "3. The balancer"
API="http://127.0.0.1:$API_PORT"
RMQ_USER=$(container_env rabbitmq1 RABBITMQ_DEFAULT_USER)
RMQ_PASS=$(container_env rabbitmq1 RABBITMQ_DEFAULT_PASS)
DB_USER=$(container_env mongo1 MONGO_INITDB_ROOT_USERNAME)
DB_PASS=$(container_env mongo1 MONGO_INITDB_ROOT_PASSWORD)
QUEUE=$(container_env consumer1 RABBITMQ_QUEUE)
LIMIT=$(container_env api1 RATE_LIMIT_MAX_REQUESTS)
WINDOW_MS=$(container_env api1 RATE_LIMIT_WINDOW_MS)
DB_NAME=$(container_env consumer1 DATABASE_URL | sed -E 's|^[^/]*//[^/]*/([^?]*).*|\1|')
DB_URL="mongodb://$DB_USER:$DB_PASS@127.0.0.1:$MONGO_PORT/$DB_NAME?authSource=admin"
[[ $LIMIT =~ ^[0-9]+$ && $WINDOW_MS =~ ^[0-9]+$ ]] || at_die "cannot read the rate limit from the api1 container"

# All three replicas up before the first request: a replica coming up later would move this
# client's address (and its quota) to another limiter.
at_wait 60 "HAProxy to see api1, api2 and api3 up" haproxy_replicas_up ||
    at_die "HAProxy does not see the three replicas up: $(curl -sS --max-time 5 "http://127.0.0.1:$STATS_PORT/stats;csv" | cut -d, -f1,2,18 | head -n 8)"
ready=$(curl -sS --max-time 5 -o /dev/null -w '%{http_code}' "$API/ready") || at_die "GET /ready through HAProxy failed"
[[ $ready == 200 ]] || at_die "GET /ready through HAProxy: $ready"
at_info "HAProxy: api1, api2, api3 UP; GET /ready through it: 200"

# ---- 4. through the balancer -----------------------------------------------------------------------

step "4. Rate limit and storage through the balancer"
RUN=$(cat /proc/sys/kernel/random/uuid)
"$PY" "$WORK/smoke.py" limit "$API_PORT" "$RUN" $((LIMIT + 10)) "$LIMIT" "$WORK/limit.json" ||
    at_die "the rate limit through HAProxy is not exactly $LIMIT per client"
LIMIT_DONE=$SECONDS
"$PY" "$WORK/smoke.py" forged "$API_PORT" "$RUN" || at_die "a forged X-Forwarded-For was believed"
"$PY" "$WORK/smoke.py" stored "$DB_URL" "$DB_NAME" "$RUN" limit "$WORK/limit.json" "$TIMEOUT" ||
    at_die "the accepted events did not arrive in the database exactly once"

# ---- 5. the cluster (while this client's rate-limit window passes) -------------------------------

step "5. The cluster"
at_wait 60 "three running nodes in the management API" three_nodes_running ||
    at_die "the cluster does not have three running nodes: $(mgmt nodes | head -c 600)"
at_info "RabbitMQ: three nodes running in one cluster"
at_wait 60 "queue $QUEUE: quorum, three online members, consumers" queue_ready ||
    at_die "queue $QUEUE is not a quorum queue on three nodes with consumers: $(mgmt "queues/%2F/$QUEUE" | head -c 800)"
at_info "queue $QUEUE: quorum queue, three online members, consumers attached"

# ---- 6. failover -----------------------------------------------------------------------------------

step "6. Kill a RabbitMQ node under load"
# The node to kill: the one the replica serving this client publishes to, so that the replica
# itself must fail over (and resend what was unconfirmed); whether it also holds the queue's
# leader is reported.
REPLICA=$(serving_replica) || at_die "cannot tell from HAProxy's statistics which replica serves this client"
VICTIM=$(replica_broker "$REPLICA") || at_die "cannot tell which node $REPLICA publishes to: $(mgmt connections | head -c 800)"
leader=$(dc 60 exec -T rabbitmq1 rabbitmqctl -q list_queues --no-table-headers name leader 2>/dev/null |
    awk -v q="$QUEUE" '$1 == q { print $2 }') || true
at_info "this client is served by $REPLICA, which publishes to $VICTIM: the node to kill; queue $QUEUE's leader is on ${leader#rabbit@}"
# The events above used this client's whole quota: wait until the window has passed.
wait_s=$((WINDOW_MS / 1000 + 2 - (SECONDS - LIMIT_DONE)))
if ((wait_s > 0)); then
    at_info "waiting ${wait_s} s for the rate-limit window ($((WINDOW_MS / 1000)) s) to pass"
    sleep "$wait_s"
fi
victim_id=$(container_of "$VICTIM")
rc=0
out=$("$PY" "$WORK/smoke.py" failover "$API_PORT" "$RUN" "$WORK/failover.json" 8 $((LIMIT - 2)) 40 8 \
    docker kill "$victim_id" 2>&1) || rc=$?
printf '%s\n' "$out"
((rc == 0)) || at_die "the API did not recover from the loss of $VICTIM"
resume=$(sed -n 's/^RESUME_S=//p' <<<"$out")
awk -v r="$resume" -v max="$RESUME_S" 'BEGIN { exit !(r <= max) }' ||
    at_die "202s resumed ${resume} s after the kill, later than ${RESUME_S} s"
at_info "202s resumed ${resume} s after $VICTIM was killed (bound ${RESUME_S} s)"
"$PY" "$WORK/smoke.py" stored "$DB_URL" "$DB_NAME" "$RUN" failover "$WORK/failover.json" "$TIMEOUT" ||
    at_die "an event accepted around the failover is missing from the database"
if moved=$(replica_broker "$REPLICA"); then
    at_info "$REPLICA now publishes to $moved"
else
    at_warn "cannot tell which node $REPLICA publishes to now"
fi

step "7. The node comes back"
run_logged "compose start $VICTIM" "$WORK/start.log" dc "$TIMEOUT" start "$VICTIM"
at_wait "$TIMEOUT" "three running nodes again" three_nodes_running || at_die "$VICTIM did not rejoin the cluster"
at_wait "$TIMEOUT" "queue $QUEUE to have three online members again" queue_ready ||
    at_die "queue $QUEUE did not get its third member back: $(mgmt "queues/%2F/$QUEUE" | head -c 800)"
wait_all_healthy "after $VICTIM came back"
haproxy_replicas_up || at_die "HAProxy does not see the three replicas up"
at_info "$VICTIM rejoined; queue $QUEUE has three online members; every service healthy"
