#!/usr/bin/env bash
# Local services for development and the integration tests, on loopback only:
#   RabbitMQ (Debian's rabbitmq-server)  amqp://guest:guest@127.0.0.1:5672/, management http://127.0.0.1:15672
#   FerretDB (SQLite backend)            mongodb://127.0.0.1:27017/
#
# Usage: scripts/services.sh up|down|status
#
#   up      start whatever is not already answering, then wait until both answer (a server already
#           listening on a port is reused). FerretDB is built on first use (see scripts/lib.sh).
#   down    stop what `up` started (RabbitMQ with `rabbitmqctl stop`, FerretDB by its pid file).
#   status  print each service's state; exit status 0 only when both answer.
#
# Environment: AT_SERVICES_DIR (default /tmp/activity-tracker-services) holds FerretDB's data, the
# logs and pid files; AT_SERVICES_TIMEOUT (default 120) bounds each wait, in seconds.
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
AT_PROG=services.sh

TIMEOUT=${AT_SERVICES_TIMEOUT:-120}
HOST=127.0.0.1
AMQP_PORT=5672
MGMT_PORT=15672
MONGO_PORT=27017

RMQ_DIR="$AT_SERVICES_DIR/rabbitmq"
RMQ_STARTED="$RMQ_DIR/started-by-services-sh"
FDB_DIR="$AT_SERVICES_DIR/ferretdb"
FDB_PID="$FDB_DIR/ferretdb.pid"
FDB_LOG="$FDB_DIR/ferretdb.log"

# ---- RabbitMQ ------------------------------------------------------------------------------------

# Keep the broker's listeners on loopback. AMQP and management come from a config file of our own;
# epmd and Erlang distribution are kept on loopback too when the node's host name resolves there
# (rabbitmqctl reaches the node through that name).
rmq_env() {
    mkdir -p "$RMQ_DIR"
    chmod 755 "$AT_SERVICES_DIR" "$RMQ_DIR"
    cat >"$RMQ_DIR/rabbitmq.conf" <<EOF
listeners.tcp.default = $HOST:$AMQP_PORT
management.tcp.ip = $HOST
management.tcp.port = $MGMT_PORT
EOF
    chmod 644 "$RMQ_DIR/rabbitmq.conf"
    export RABBITMQ_CONFIG_FILE="$RMQ_DIR/rabbitmq.conf"
    local addr
    addr=$(getent ahostsv4 "$(hostname -s 2>/dev/null || hostname)" 2>/dev/null | awk 'NR == 1 { print $1 }')
    if [[ $addr == 127.* ]]; then
        export ERL_EPMD_ADDRESS=127.0.0.1
        export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="${RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS:-} -kernel inet_dist_use_interface {127,0,0,1}"
    fi
}

rmq_log() {
    local f
    f=$(ls -t /var/log/rabbitmq/rabbit@*.log 2>/dev/null | head -n 1 || true)
    printf '%s\n' "${f:-/var/log/rabbitmq/rabbit.log}"
}

mgmt_overview_ok() {
    curl -fsS --max-time 3 -u guest:guest "http://$HOST:$MGMT_PORT/api/overview" >/dev/null 2>&1
}

amqp_ok() {
    at_tcp_open "$HOST" "$AMQP_PORT"
}

rabbitmq_up() {
    command -v rabbitmq-server >/dev/null 2>&1 ||
        at_die "rabbitmq-server is not installed (scripts/test.sh installs it; or: apt-get install rabbitmq-server)"
    rmq_env
    if amqp_ok; then
        at_info "RabbitMQ: reusing the server already listening on $HOST:$AMQP_PORT"
    elif timeout 30 rabbitmqctl ping >/dev/null 2>&1; then
        # The node runs but its application is stopped (e.g. after `rabbitmqctl stop_app`).
        at_info "RabbitMQ: the node is running with its application stopped; rabbitmqctl start_app"
        timeout "$TIMEOUT" rabbitmqctl start_app >/dev/null || {
            at_tail_log "$(rmq_log)"
            at_die "RabbitMQ: 'rabbitmqctl start_app' failed"
        }
    else
        at_info "RabbitMQ: starting (rabbitmq-server -detached)"
        if ! rabbitmq-server -detached; then
            at_tail_log "$(rmq_log)"
            at_die "RabbitMQ: 'rabbitmq-server -detached' failed"
        fi
        touch "$RMQ_STARTED"
        if ! timeout "$TIMEOUT" rabbitmqctl await_startup --timeout "$TIMEOUT" >/dev/null 2>&1 &&
            ! at_wait "$TIMEOUT" "RabbitMQ's AMQP port $HOST:$AMQP_PORT" amqp_ok; then
            at_tail_log "$(rmq_log)"
            at_die "RabbitMQ did not start within ${TIMEOUT}s"
        fi
    fi
    at_wait "$TIMEOUT" "RabbitMQ's AMQP port $HOST:$AMQP_PORT" amqp_ok || {
        at_tail_log "$(rmq_log)"
        at_die "RabbitMQ's AMQP port $HOST:$AMQP_PORT does not answer"
    }
    if ! mgmt_overview_ok; then
        at_info "RabbitMQ: enabling the management plugin"
        rabbitmq-plugins enable rabbitmq_management >/dev/null ||
            at_warn "'rabbitmq-plugins enable rabbitmq_management' failed (is the broker a local node?)"
        at_wait "$TIMEOUT" "the management API http://$HOST:$MGMT_PORT/api/overview" mgmt_overview_ok || {
            at_tail_log "$(rmq_log)"
            at_die "RabbitMQ's management API http://$HOST:$MGMT_PORT/api/overview does not answer (guest/guest)"
        }
    fi
    rmq_lazy_policy
    at_info "RabbitMQ: up (amqp://guest:guest@$HOST:$AMQP_PORT/, management http://$HOST:$MGMT_PORT)"
}

# Debian 12's RabbitMQ is 3.10, whose classic queues keep their messages in memory: a backlog
# grows the queue process's heap and stalls confirms (p99 ~60 ms at 64 in flight, docs/
# BENCHMARKS.md). From 3.12 on (the official image of docker-compose.yml) classic queues write
# messages through to disk instead, as 3.10 does in "lazy" mode. On a broker this script started,
# older than 3.12, a policy puts every queue in that mode, so the local broker behaves like the
# deployed one. A broker it only reuses is left as it is.
rmq_lazy_policy() {
    [[ -e $RMQ_STARTED ]] || return 0
    local version
    version=$(timeout 30 rabbitmqctl version 2>/dev/null || true)
    [[ $version =~ ^3\.([0-9]+)\. ]] && ((BASH_REMATCH[1] < 12)) || return 0
    if timeout 30 rabbitmqctl set_policy --apply-to queues --priority 0 lazy-classic-queues '.*' \
        '{"queue-mode":"lazy"}' >/dev/null 2>&1; then
        at_info "RabbitMQ $version: every queue in lazy mode (policy lazy-classic-queues), as from 3.12 on"
    else
        at_warn "RabbitMQ $version: cannot set the lazy-classic-queues policy"
    fi
}

rabbitmq_down() {
    if [[ ! -e $RMQ_STARTED ]]; then
        if amqp_ok; then
            at_info "RabbitMQ: not started by services.sh; leaving it running"
        else
            at_info "RabbitMQ: not running"
        fi
        return 0
    fi
    rmq_env
    at_info "RabbitMQ: stopping (rabbitmqctl stop)"
    if ! timeout "$TIMEOUT" rabbitmqctl stop >/dev/null 2>&1 && amqp_ok; then
        at_die "RabbitMQ: 'rabbitmqctl stop' failed and the broker still answers"
    fi
    rm -f "$RMQ_STARTED"
    at_wait 30 "RabbitMQ to close $HOST:$AMQP_PORT" bash -c "! timeout 2 bash -c 'exec 3<>/dev/tcp/$HOST/$AMQP_PORT'" ||
        at_warn "RabbitMQ still accepts connections on $HOST:$AMQP_PORT"
    at_info "RabbitMQ: stopped"
}

rabbitmq_status() {
    local amqp=down mgmt=down
    amqp_ok && amqp=up
    mgmt_overview_ok && mgmt=up
    local owner=""
    [[ -e $RMQ_STARTED ]] && owner=" (started by services.sh)"
    printf 'rabbitmq  amqp %s:%s %s, management %s:%s %s%s\n' "$HOST" "$AMQP_PORT" "$amqp" "$HOST" "$MGMT_PORT" "$mgmt" "$owner"
    [[ $amqp == up && $mgmt == up ]]
}

# ---- FerretDB ------------------------------------------------------------------------------------

# A real MongoDB-protocol round trip: OP_MSG {ping: 1, $db: "admin"} must come back with ok: 1.
mongo_ping() {
    if ! command -v python3 >/dev/null 2>&1; then
        at_tcp_open "$HOST" "$MONGO_PORT"
        return
    fi
    python3 - "$HOST" "$MONGO_PORT" <<'EOF'
import socket, struct, sys

def bson_doc(items):
    out = b""
    for key, kind, value in items:
        out += bytes([kind]) + key.encode() + b"\0" + value
    return struct.pack("<i", len(out) + 5) + out + b"\0"

doc = bson_doc([("ping", 0x10, struct.pack("<i", 1)),
                ("$db", 0x02, struct.pack("<i", 6) + b"admin\0")])
body = struct.pack("<I", 0) + b"\0" + doc            # flagBits, section kind 0, document
msg = struct.pack("<iiii", 16 + len(body), 1, 0, 2013) + body
with socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=3) as s:
    s.sendall(msg)
    head = b""
    while len(head) < 16:
        chunk = s.recv(16 - len(head))
        if not chunk:
            sys.exit(1)
        head += chunk
    length = struct.unpack("<i", head[:4])[0]
    rest = b""
    while len(rest) < length - 16:
        chunk = s.recv(length - 16 - len(rest))
        if not chunk:
            sys.exit(1)
        rest += chunk
# The reply document carries "ok" as a double 1.0 (or an int32 1).
ok = b"\x01ok\x00" + struct.pack("<d", 1.0) in rest or b"\x10ok\x00" + struct.pack("<i", 1) in rest
sys.exit(0 if ok else 1)
EOF
}

fdb_running_pid() {
    local pid
    [[ -r $FDB_PID ]] || return 1
    pid=$(cat "$FDB_PID")
    [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null && printf '%s\n' "$pid"
}

ferretdb_up() {
    if at_tcp_open "$HOST" "$MONGO_PORT"; then
        at_info "FerretDB: reusing the server already listening on $HOST:$MONGO_PORT"
    else
        ensure_ferretdb
        local bin
        bin=$(at_ferretdb_bin)
        mkdir -p "$FDB_DIR/data"
        at_info "FerretDB: starting $bin (log $FDB_LOG)"
        nohup "$bin" --handler=sqlite --sqlite-url="file:$FDB_DIR/data/" \
            --listen-addr="$HOST:$MONGO_PORT" --state-dir="$FDB_DIR" --telemetry=disable \
            --debug-addr=- --log-level=info </dev/null >"$FDB_LOG" 2>&1 &
        echo $! >"$FDB_PID"
        disown || true
    fi
    local start=$SECONDS
    until mongo_ping >/dev/null 2>&1; do
        if ! at_tcp_open "$HOST" "$MONGO_PORT" && [[ -e $FDB_PID ]] && ! fdb_running_pid >/dev/null; then
            at_tail_log "$FDB_LOG"
            rm -f "$FDB_PID"
            at_die "FerretDB exited during startup"
        fi
        if ((SECONDS - start >= TIMEOUT)); then
            at_tail_log "$FDB_LOG"
            at_die "FerretDB on $HOST:$MONGO_PORT did not answer a ping within ${TIMEOUT}s"
        fi
        sleep 1
    done
    at_info "FerretDB: up (mongodb://$HOST:$MONGO_PORT/)"
}

ferretdb_down() {
    local pid
    if ! pid=$(fdb_running_pid); then
        rm -f "$FDB_PID"
        if at_tcp_open "$HOST" "$MONGO_PORT"; then
            at_info "FerretDB: not started by services.sh; leaving it running"
        else
            at_info "FerretDB: not running"
        fi
        return 0
    fi
    at_info "FerretDB: stopping (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    if ! at_wait 30 "FerretDB (pid $pid) to exit" bash -c "! kill -0 $pid"; then
        at_warn "FerretDB (pid $pid) ignored SIGTERM; sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$FDB_PID"
    at_info "FerretDB: stopped"
}

ferretdb_status() {
    local state=down owner=""
    mongo_ping >/dev/null 2>&1 && state=up
    local pid
    pid=$(fdb_running_pid) && owner=" (started by services.sh, pid $pid)"
    printf 'ferretdb  mongodb %s:%s %s%s\n' "$HOST" "$MONGO_PORT" "$state" "$owner"
    [[ $state == up ]]
}

# --------------------------------------------------------------------------------------------------

case ${1:-} in
up)
    mkdir -p "$AT_SERVICES_DIR"
    rabbitmq_up
    ferretdb_up
    ;;
down)
    ferretdb_down
    rabbitmq_down
    ;;
status)
    rc=0
    rabbitmq_status || rc=1
    ferretdb_status || rc=1
    exit $rc
    ;;
*)
    echo "usage: $0 up|down|status" >&2
    exit 2
    ;;
esac
