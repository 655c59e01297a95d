#!/usr/bin/env bash
# A 3-node RabbitMQ cluster on loopback (Debian's rabbitmq-server, no Docker), for the failover
# integration tests:
#   node            AMQP                management (guest/guest)    Erlang distribution
#   rmq1@localhost  127.0.0.1:5681      http://127.0.0.1:15681      127.0.0.1:25681
#   rmq2@localhost  127.0.0.1:5682      http://127.0.0.1:15682      127.0.0.1:25682
#   rmq3@localhost  127.0.0.1:5683      http://127.0.0.1:15683      127.0.0.1:25683
# guest may log in (loopback_users = none); rmq2 and rmq3 are joined to rmq1 with join_cluster.
# It never touches scripts/services.sh's node (rabbit@<host>, 5672/15672/25672): it only shares
# the machine's epmd and Erlang cookie with it.
#
# Usage: scripts/cluster.sh up|down|status|urls|kill N|start N|leader QUEUE     (N is 1, 2 or 3)
#
#   up            start what is not running and join what is not clustered (running nodes are
#                 reused); with no node running it starts afresh from empty data directories.
#                 Waits until the three are clustered and answer AMQP and management; on RabbitMQ
#                 < 3.12 sets the lazy-classic-queues policy as scripts/services.sh does.
#   down          stop the three nodes (rabbitmqctl stop, then kill -9 of a node that ignores it)
#                 and delete their data: the next `up` starts afresh.
#   status        one line per node; exit status 0 only when the three run and are clustered.
#   urls          the RABBITMQ_URL list: amqp://guest:guest@127.0.0.1:5681/,...:5682/,...:5683/
#   kill N        kill -9 of node N's Erlang VM (the pid in its pid file): a crash.
#   start N       start node N again with the same environment; waits until it is back in the
#                 cluster.
#   leader QUEUE  the number (1..3) of the node holding quorum queue QUEUE's leader (vhost
#                 $AT_CLUSTER_VHOST, default /), asked of a running node.
#
# Environment: AT_SERVICES_DIR (default /tmp/activity-tracker-services): the nodes' data, logs and
# pid files are in $AT_SERVICES_DIR/cluster/rmqN; AT_CLUSTER_TIMEOUT (default 60) bounds each wait,
# in seconds. Needs root (the nodes run as the rabbitmq user, which must own their directories).
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
AT_PROG=cluster.sh

TIMEOUT=${AT_CLUSTER_TIMEOUT:-60}
VHOST=${AT_CLUSTER_VHOST:-/}
HOST=127.0.0.1
CLUSTER_DIR="$AT_SERVICES_DIR/cluster"
NODES=(1 2 3)
T0=$SECONDS

usage() {
    echo "usage: $0 up|down|status|urls|kill N|start N|leader QUEUE   (N in 1..3)" >&2
    exit 2
}

node_name() { printf 'rmq%s@localhost\n' "$1"; }
amqp_port() { printf '%s\n' $((5680 + $1)); }
mgmt_port() { printf '%s\n' $((15680 + $1)); }
dist_port() { printf '%s\n' $((25680 + $1)); }
node_dir() { printf '%s/rmq%s\n' "$CLUSTER_DIR" "$1"; }
node_log() { printf '%s/log/%s.log\n' "$(node_dir "$1")" "$(node_name "$1")"; }
node_pidfile() { printf '%s/rmq%s.pid\n' "$(node_dir "$1")" "$1"; }

elapsed() { printf '%s s' $((SECONDS - T0)); }

# ctl N ARGS...: rabbitmqctl against node N, bounded in time.
ctl() {
    local n=$1
    shift
    timeout "$TIMEOUT" rabbitmqctl -n "$(node_name "$n")" "$@"
}

# node_pid N: the pid of node N's Erlang VM when it runs.
node_pid() {
    at_pid_alive "$(node_pidfile "$1")" "RABBITMQ_NODENAME=$(node_name "$1")"
}

amqp_ok() { at_tcp_open "$HOST" "$(amqp_port "$1")"; }

mgmt_ok() {
    curl -fsS --max-time 3 -u guest:guest "http://$HOST:$(mgmt_port "$1")/api/overview" >/dev/null 2>&1
}

# show_logs N: the end of node N's logs, to explain a failure.
show_logs() {
    local d
    d=$(node_dir "$1")
    at_tail_log "$(node_log "$1")" 40
    [[ -s $d/log/startup.log ]] && at_tail_log "$d/log/startup.log" 20
    return 0
}

# prepare N: node N's directory, configuration and plugins file, owned by the rabbitmq user.
prepare() {
    local n=$1 d
    d=$(node_dir "$n")
    mkdir -p "$d/mnesia" "$d/log"
    cat >"$d/rabbitmq.conf" <<EOF
# Written by scripts/cluster.sh for $(node_name "$n").
listeners.tcp.default = $HOST:$(amqp_port "$n")
management.tcp.ip = $HOST
management.tcp.port = $(mgmt_port "$n")
loopback_users = none
log.file.level = info
EOF
    echo '[rabbitmq_management].' >"$d/enabled_plugins"
    chmod 755 "$AT_SERVICES_DIR" "$CLUSTER_DIR"
    # LIBRARY-NOTES §9: a node whose directories the rabbitmq user cannot write dies silently.
    chown -R rabbitmq:rabbitmq "$d"
}

# start_node N: rabbitmq-server -detached with node N's environment (returns at once).
start_node() {
    local n=$1 d port
    d=$(node_dir "$n")
    for port in "$(amqp_port "$n")" "$(mgmt_port "$n")" "$(dist_port "$n")"; do
        if at_tcp_open "$HOST" "$port"; then
            at_die "$(node_name "$n"): port $HOST:$port is taken by another program"
        fi
    done
    prepare "$n"
    (
        at_rmq_loopback_dist_env
        RABBITMQ_NODENAME=$(node_name "$n")
        RABBITMQ_NODE_PORT=$(amqp_port "$n")
        RABBITMQ_DIST_PORT=$(dist_port "$n")
        RABBITMQ_PID_FILE=$(node_pidfile "$n")
        export RABBITMQ_NODENAME RABBITMQ_NODE_PORT RABBITMQ_DIST_PORT RABBITMQ_PID_FILE
        export RABBITMQ_NODE_IP_ADDRESS=$HOST
        export RABBITMQ_BASE=$d
        export RABBITMQ_MNESIA_BASE="$d/mnesia"
        export RABBITMQ_LOG_BASE="$d/log"
        export RABBITMQ_CONFIG_FILE="$d/rabbitmq.conf"
        export RABBITMQ_ENABLED_PLUGINS_FILE="$d/enabled_plugins"
        exec rabbitmq-server -detached
    ) >"$d/log/startup.log" 2>&1 9>&- || {
        show_logs "$n"
        at_die "$(node_name "$n"): 'rabbitmq-server -detached' failed"
    }
}

# node_booted N: node N has started its application and its AMQP port accepts connections.
node_booted() {
    timeout 20 rabbitmqctl -n "$(node_name "$1")" await_startup --timeout 15 >/dev/null 2>&1 && amqp_ok "$1"
}

# await_node N: until node N has booted.
await_node() {
    local n=$1
    if ! at_wait "$TIMEOUT" "$(node_name "$n") to boot" node_booted "$n"; then
        show_logs "$n"
        at_warn "$(node_name "$n") did not start within ${TIMEOUT}s"
        return 1
    fi
}

# running_nodes N: the cluster's running nodes as node N sees them, one per line.
running_nodes() {
    ctl "$1" cluster_status --formatter json 2>/dev/null |
        python3 -c 'import json, sys; print("\n".join(json.load(sys.stdin).get("running_nodes", [])))'
}

# member_nodes N: the cluster's member nodes as node N sees them, one per line.
member_nodes() {
    ctl "$1" cluster_status --formatter json 2>/dev/null |
        python3 -c 'import json, sys; d = json.load(sys.stdin); print("\n".join(d.get("disk_nodes", []) + d.get("ram_nodes", [])))'
}

# lists LINES NAME: true when NAME is one of the lines of LINES. (Not `producer | grep -q`: grep
# exits at the first match, and under pipefail the producer's broken pipe would make it fail.)
lists() {
    grep -qxF -- "$2" <<<"$1"
}

# a_running_node [EXCEPT]: the number of a running node other than EXCEPT.
a_running_node() {
    local n
    for n in "${NODES[@]}"; do
        [[ $n != "${1:-}" ]] && node_pid "$n" >/dev/null && {
            echo "$n"
            return 0
        }
    done
    return 1
}

# ctl_each ACTION N...: `rabbitmqctl ACTION` on each node N at the same time (output in the node's
# log/ctl.log); 1 when one of them failed.
ctl_each() {
    local action=$1 n pids=() rc=0 p
    shift
    for n in "$@"; do
        ctl "$n" "$action" >>"$(node_dir "$n")/log/ctl.log" 2>&1 &
        pids+=($!)
    done
    for p in "${pids[@]}"; do
        wait "$p" || rc=1
    done
    return $rc
}

# join N...: make each node N a member of rmq1's cluster: stop_app on all of them at once,
# join_cluster one after the other (each changes the cluster's schema), start_app on all at once.
join() {
    local n
    at_info "${*/#/rmq}: stop_app, join_cluster $(node_name 1), start_app"
    ctl_each stop_app "$@" || {
        for n in "$@"; do at_tail_log "$(node_dir "$n")/log/ctl.log" 20; done
        at_die "stop_app failed"
    }
    for n in "$@"; do
        ctl "$n" join_cluster "$(node_name 1)" >>"$(node_dir "$n")/log/ctl.log" 2>&1 || {
            at_tail_log "$(node_dir "$n")/log/ctl.log" 20
            show_logs "$n"
            at_die "$(node_name "$n") could not join $(node_name 1)"
        }
    done
    ctl_each start_app "$@" || {
        for n in "$@"; do at_tail_log "$(node_dir "$n")/log/ctl.log" 20; done
        at_die "start_app failed"
    }
}

# in_cluster N: true when N is among the running nodes that another running node sees.
in_cluster() {
    local other nodes
    other=$(a_running_node "$1") || return 1
    nodes=$(running_nodes "$other") || return 1
    lists "$nodes" "$(node_name "$1")"
}

three_running() {
    local nodes
    nodes=$(running_nodes 1) || return 1
    [[ $(grep -c . <<<"$nodes") == 3 ]]
}

# stop_nodes N...: rabbitmqctl stop of each (at the same time), kill -9 of one that is still there.
stop_nodes() {
    local n pid pids=()
    for n in "$@"; do
        node_pid "$n" >/dev/null || continue
        at_info "$(node_name "$n"): rabbitmqctl stop"
        ctl "$n" stop >/dev/null 2>&1 &
        pids+=($!)
    done
    ((${#pids[@]} == 0)) || wait "${pids[@]}" || true
    for n in "$@"; do
        if pid=$(node_pid "$n") && ! at_wait 15 "$(node_name "$n") (pid $pid) to exit" bash -c "! kill -0 $pid"; then
            at_warn "$(node_name "$n") (pid $pid) is still running: kill -9"
            kill -KILL "$pid" 2>/dev/null || true
        fi
    done
}

# ---- commands ------------------------------------------------------------------------------------

# Nodes this `up` or `start` started, stopped again should it fail.
STARTED_NOW=()
on_failure() {
    local rc=$?
    trap - EXIT
    if ((rc != 0 && ${#STARTED_NOW[@]} > 0)); then
        at_warn "failed: stopping the node(s) started now: ${STARTED_NOW[*]/#/rmq}"
        stop_nodes "${STARTED_NOW[@]}"
    fi
    exit "$rc"
}

cmd_up() {
    local n running=() fresh=1 pids=() failed=0 members to_join
    command -v rabbitmq-server >/dev/null 2>&1 ||
        at_die "rabbitmq-server is not installed (scripts/test.sh installs it; or: apt-get install rabbitmq-server)"
    for n in "${NODES[@]}"; do
        if node_pid "$n" >/dev/null; then
            running+=("$n")
            fresh=0
        fi
    done
    if ((fresh)); then
        if [[ -d $CLUSTER_DIR ]]; then
            at_info "no node is running: starting afresh (removing $CLUSTER_DIR)"
            rm -rf "$CLUSTER_DIR"
        fi
    else
        at_info "reusing the running node(s): ${running[*]/#/rmq}"
    fi
    mkdir -p "$CLUSTER_DIR"
    trap on_failure EXIT
    # Start every missing node at once, then wait for all: a cold start costs one boot, not three.
    for n in "${NODES[@]}"; do
        node_pid "$n" >/dev/null && continue
        at_info "$(node_name "$n"): starting (AMQP $HOST:$(amqp_port "$n"), management :$(mgmt_port "$n"), log $(node_log "$n"))"
        start_node "$n"
        STARTED_NOW+=("$n")
    done
    for n in "${STARTED_NOW[@]}"; do
        await_node "$n" &
        pids+=($!)
    done
    for n in "${pids[@]}"; do
        wait "$n" || failed=1
    done
    ((failed == 0)) || at_die "a node did not start"
    ((${#STARTED_NOW[@]} == 0)) || at_info "node(s) ${STARTED_NOW[*]/#/rmq} booted ($(elapsed))"
    members=$(member_nodes 1) || at_die "$(node_name 1): cluster_status failed"
    to_join=()
    for n in 2 3; do
        lists "$members" "$(node_name "$n")" || to_join+=("$n")
    done
    ((${#to_join[@]} == 0)) || join "${to_join[@]}"
    at_wait "$TIMEOUT" "the three nodes to run clustered" three_running ||
        at_die "the cluster does not show three running nodes"
    for n in "${NODES[@]}"; do
        at_wait "$TIMEOUT" "the management API of $(node_name "$n")" mgmt_ok "$n" || {
            show_logs "$n"
            at_die "$(node_name "$n"): management API http://$HOST:$(mgmt_port "$n")/api/overview does not answer"
        }
    done
    # The policy is cluster-wide: once, on rmq1 (as services.sh, only on what this script runs).
    at_rmq_lazy_policy rabbitmqctl -n "$(node_name 1)" || true
    STARTED_NOW=()
    at_info "up in $(elapsed): RABBITMQ_URL=$(cmd_urls)"
}

cmd_down() {
    local running=() n
    for n in "${NODES[@]}"; do
        node_pid "$n" >/dev/null && running+=("$n")
    done
    if ((${#running[@]} == 0)); then
        at_info "no node of the cluster is running"
    else
        stop_nodes "${running[@]}"
    fi
    if [[ -d $CLUSTER_DIR ]]; then
        rm -rf "$CLUSTER_DIR"
        at_info "removed $CLUSTER_DIR"
    fi
    at_info "down ($(elapsed))"
}

cmd_status() {
    local n pid amqp mgmt rc=0 other seen
    for n in "${NODES[@]}"; do
        amqp=down mgmt=down
        if pid=$(node_pid "$n"); then
            amqp_ok "$n" && amqp=up
            mgmt_ok "$n" && mgmt=up
        else
            pid=-
            rc=1
        fi
        [[ $amqp == up && $mgmt == up ]] || rc=1
        printf '%s  pid %-7s amqp %s:%s %-4s management :%s %s\n' "$(node_name "$n")" "$pid" "$HOST" \
            "$(amqp_port "$n")" "$amqp" "$(mgmt_port "$n")" "$mgmt"
    done
    if other=$(a_running_node); then
        seen=$(running_nodes "$other" | tr '\n' ' ') || seen=
        printf 'running nodes seen by %s: %s\n' "$(node_name "$other")" "${seen:-?}"
        [[ $(wc -w <<<"$seen") == 3 ]] || rc=1
    fi
    return $rc
}

cmd_urls() {
    local n out=()
    for n in "${NODES[@]}"; do
        out+=("amqp://guest:guest@$HOST:$(amqp_port "$n")/")
    done
    (
        IFS=,
        echo "${out[*]}"
    )
}

cmd_kill() {
    local n=$1 pid
    pid=$(node_pid "$n") || at_die "$(node_name "$n") is not running"
    at_info "$(node_name "$n"): kill -9 $pid"
    kill -KILL "$pid"
    at_wait 10 "pid $pid to exit" bash -c "! kill -0 $pid" || at_die "pid $pid is still there"
    at_info "$(node_name "$n") killed"
}

cmd_start() {
    local n=$1 other members
    if node_pid "$n" >/dev/null; then
        at_info "$(node_name "$n") is already running"
    else
        trap on_failure EXIT
        at_info "$(node_name "$n"): starting"
        start_node "$n"
        STARTED_NOW+=("$n")
        await_node "$n" || at_die "$(node_name "$n") did not start"
    fi
    # rmq1 is the node the others join: it is a member of its own cluster whatever happened. A
    # node other than rmq1 that is no member any more (its data was wiped) joins again.
    if ((n != 1)); then
        other=$(a_running_node "$n") || at_die "no other node is running to rejoin"
        members=$(member_nodes "$other") || at_die "$(node_name "$other"): cluster_status failed"
        lists "$members" "$(node_name "$n")" || join "$n"
    fi
    at_wait "$TIMEOUT" "$(node_name "$n") to run in the cluster" in_cluster "$n" || {
        show_logs "$n"
        at_die "$(node_name "$n") is not back in the cluster"
    }
    at_wait "$TIMEOUT" "the management API of $(node_name "$n")" mgmt_ok "$n" ||
        at_die "$(node_name "$n"): management API does not answer"
    STARTED_NOW=()
    at_info "$(node_name "$n") is back in the cluster ($(elapsed))"
}

cmd_leader() {
    local queue=$1 n out leader
    for n in "${NODES[@]}"; do
        node_pid "$n" >/dev/null || continue
        out=$(ctl "$n" list_queues -p "$VHOST" -q --no-table-headers name type leader 2>/dev/null) || continue
        leader=$(awk -F'\t' -v q="$queue" '$1 == q { print $3 }' <<<"$out")
        [[ -n $leader ]] || at_die "no queue '$queue' in vhost $VHOST (asked $(node_name "$n"))"
        [[ $leader =~ ^rmq([1-3])@ ]] || at_die "queue '$queue' has no leader node ('$leader'): is it a quorum queue?"
        echo "${BASH_REMATCH[1]}"
        return 0
    done
    at_die "no running node answered list_queues"
}

# lock: one command that changes the cluster at a time (bounded wait).
lock() {
    mkdir -p "$AT_SERVICES_DIR"
    exec 9>"$AT_SERVICES_DIR/cluster.lock"
    flock -w "$TIMEOUT" 9 || at_die "another scripts/cluster.sh holds $AT_SERVICES_DIR/cluster.lock"
}

cmd=${1:-}
case $cmd in
up | down | status | urls) (($# == 1)) || usage ;;
kill | start) { (($# == 2)) && [[ $2 =~ ^[1-3]$ ]]; } || usage ;;
leader) { (($# == 2)) && [[ -n $2 ]]; } || usage ;;
*) usage ;;
esac
case $cmd in
up) lock && cmd_up ;;
down) lock && cmd_down ;;
status) cmd_status ;;
urls) cmd_urls ;;
kill) lock && cmd_kill "$2" ;;
start) lock && cmd_start "$2" ;;
leader) cmd_leader "$2" ;;
esac
