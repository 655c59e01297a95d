#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Helpers shared by bench/run.sh and bench/consumer.sh; sourced, not run. The sourcing script
# sets PIDS=() (processes to stop on exit), and for wait_quiet TICK, QUIET_WAIT, QUIET_CORES
# and the associative array QUIET.

say() { printf 'bench: %s\n' "$*" >&2; }
die() {
    printf 'bench: error: %s\n' "$*" >&2
    exit 1
}

# stop_pid PID [GRACE_S]: SIGTERM, up to GRACE_S (default 10) seconds of grace, then SIGKILL.
# Waits on that PID only.
stop_pid() {
    local pid=$1 grace=${2:-10} i
    kill -0 "$pid" 2>/dev/null || {
        wait "$pid" 2>/dev/null || true
        return 0
    }
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < grace * 10; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        say "pid $pid did not stop within $grace s; killing it"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}

# forget_pid PID: drop PID from the cleanup list once it has been stopped.
forget_pid() {
    local keep=() p
    for p in "${PIDS[@]}"; do
        [[ $p == "$1" ]] || keep+=("$p")
    done
    PIDS=("${keep[@]+"${keep[@]}"}")
}

cpu_busy() { # ticks all cores spent neither idle nor waiting for I/O, from /proc/stat
    awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9; exit }' /proc/stat
}

cpu_user_sys() { # "utime stime" of PID in clock ticks (fields 14 and 15 of /proc/PID/stat)
    [[ -r /proc/$1/stat ]] || return 0
    sed 's/^.*) //' "/proc/$1/stat" | awk '{ print $12, $13 }'
}

cpu_ticks() { # utime + stime of PID in clock ticks; 0 when there is no such process
    local t
    t=$(cpu_user_sys "$1")
    awk -v t="${t:-0 0}" 'BEGIN { split(t, f, " "); print f[1] + f[2] }'
}

broker_ticks() { # utime + stime of every RabbitMQ node (beam.smp of the rabbitmq user), summed
    local pid total=0
    for pid in $(pgrep -u rabbitmq beam.smp 2>/dev/null); do
        total=$((total + $(cpu_ticks "$pid")))
    done
    echo "$total"
}

# wait_quiet KEY: waits (up to QUIET_WAIT s) until other processes use at most QUIET_CORES
# cores, since anything else running skews every figure; notes in QUIET[KEY] what it found.
wait_quiet() {
    local key=$1 start=$SECONDS b0 b1 busy
    ((QUIET_WAIT > 0)) || return 0
    while :; do
        b0=$(cpu_busy)
        sleep 2
        b1=$(cpu_busy)
        busy=$(awk -v d=$((b1 - b0)) -v hz="$TICK" 'BEGIN { printf "%.2f", d / hz / 2 }')
        awk -v b="$busy" -v q="$QUIET_CORES" 'BEGIN { exit !(b <= q) }' && return 0
        if ((SECONDS - start >= QUIET_WAIT)); then
            say "($key) the machine is still busy ($busy cores) after ${QUIET_WAIT} s; measuring anyway"
            # shellcheck disable=SC2034  # QUIET belongs to the sourcing script
            QUIET[$key]="started while $busy cores were busy"
            return 0
        fi
        say "($key) waiting for a quiet machine: $busy cores busy"
        sleep 3
    done
}

verdict() { # verdict VALUE OP LIMIT: PASS or FAIL, or "not measured" for an empty or n/a VALUE
    [[ -n ${1:-} && $1 != n/a ]] || {
        printf 'not measured'
        return
    }
    awk -v v="$1" -v op="$2" -v l="$3" \
        'BEGIN { ok = (op == ">=") ? v >= l : v <= l; printf ok ? "PASS" : "FAIL" }'
}

# broker_description: "RabbitMQ <version>; policies: <name> <pattern> <definition>, ..." of the
# local node through rabbitmqctl, or "unknown" when rabbitmqctl cannot tell (a remote broker).
broker_description() {
    local version policies
    version=$(timeout 30 rabbitmqctl version 2>/dev/null) || {
        printf 'unknown'
        return 0
    }
    policies=$(timeout 30 rabbitmqctl -q list_policies 2>/dev/null |
        awk -F'\t' 'NR > 1 { printf "%s%s %s %s", sep, $2, $3, $5; sep = ", " }')
    printf 'RabbitMQ %s; policies: %s' "$version" "${policies:-none}"
}
