# shellcheck shell=bash
# Helpers shared by scripts/compose-smoke.sh and scripts/cluster-smoke.sh, which prove a compose
# file on this machine's Docker engine without pulling any image. Source it after scripts/lib.sh;
# it defines functions only. They work on the caller's globals:
#   COMPOSE (array)        the compose command (pick_compose sets it)
#   ENV_FILE, PROJECT      the env file and the project name given to every compose call
#   COMPOSE_FILES (array)  -f FILE arguments
#   SERVICES (array)       the long-running services that must be healthy
#   TIMEOUT, BUILD_TIMEOUT bounds of a wait and of an image build, in seconds
#   PY, WORK, T0           python3, the scratch directory, the start time ($SECONDS)
#   STARTED, KEEP          1 once the stack was started / when --keep was given
#   SMOKE_NAME             how finish() names the test in its last line (default "compose smoke test")
#   BASE_IMAGE, SLIM_IMAGE the Debian bookworm base images (scripts/base-image.sh)

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
# The local services' ports, scripts/cluster.sh's and the compose files' defaults.
avoid = {3000, 5672, 15672, 25672, 27017, 4369, 8404, 15673, 15674,
         5681, 5682, 5683, 15681, 15682, 15683, 25681, 25682, 25683}
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
        at_info "${SMOKE_NAME:-compose smoke test} passed in $((SECONDS - T0)) s"
    else
        at_warn "${SMOKE_NAME:-compose smoke test} FAILED (exit status $rc) after $((SECONDS - T0)) s"
    fi
    exit "$rc"
}

# drop_compose_env FILE...: unset every variable that the compose files interpolate, so that only the
# env file (and what the caller exports afterwards) configures the stack.
drop_compose_env() {
    local v
    while read -r v; do
        unset "$v"
    done < <(grep -ohE '\$\{[A-Za-z_][A-Za-z0-9_]*' "$@" | cut -c3- | sort -u)
}

# check_docker: a Docker engine answers, COMPOSE is chosen, curl and pymongo are there.
check_docker() {
    local need=()
    command -v docker >/dev/null 2>&1 || at_die "docker is not installed"
    timeout 30 docker info >/dev/null 2>&1 || at_die "no Docker engine answers (docker info failed)"
    pick_compose
    command -v curl >/dev/null 2>&1 || need+=(curl)
    "$PY" -c 'import pymongo' 2>/dev/null || need+=(python3-pymongo)
    ((${#need[@]} == 0)) || install_packages "${need[@]}"
}

# build_base_images: BASE_IMAGE and SLIM_IMAGE, made by scripts/base-image.sh when they are its own
# (cached), else they must exist already.
build_base_images() {
    if [[ $BASE_IMAGE == activity-tracker/bookworm:* || $SLIM_IMAGE == activity-tracker/bookworm:* ]]; then
        AT_BASE_IMAGE=$BASE_IMAGE AT_SLIM_IMAGE=$SLIM_IMAGE bash "$AT_ROOT/scripts/base-image.sh"
    fi
    docker image inspect "$BASE_IMAGE" >/dev/null 2>&1 || at_die "base image $BASE_IMAGE does not exist"
    docker image inspect "$SLIM_IMAGE" >/dev/null 2>&1 || at_die "base image $SLIM_IMAGE does not exist"
}

# build_standin NAME TAG: docker/standins/NAME.Dockerfile built on SLIM_IMAGE as TAG (the layer
# cache makes a rebuild take seconds).
build_standin() {
    run_logged "build $2" "$WORK/$1-build.log" \
        timeout "$BUILD_TIMEOUT" docker build --build-arg "BASE_IMAGE=$SLIM_IMAGE" -t "$2" \
        -f "$AT_ROOT/docker/standins/$1.Dockerfile" "$AT_ROOT/docker/standins"
}

# build_ferretdb_standin TAG: the FerretDB stand-in for mongo:7, with the binary built on the host.
build_ferretdb_standin() {
    local ferretdb
    ensure_ferretdb
    ferretdb=$(at_ferretdb_bin)
    mkdir -p "$WORK/ferretdb"
    cp "$AT_ROOT/docker/standins/ferretdb.Dockerfile" "$AT_ROOT/docker/standins/ferretdb-entrypoint.sh" "$WORK/ferretdb/"
    cp "$ferretdb" "$WORK/ferretdb/ferretdb"
    run_logged "build $1" "$WORK/ferretdb-build.log" \
        timeout "$BUILD_TIMEOUT" docker build --build-arg "BASE_IMAGE=$SLIM_IMAGE" -t "$1" \
        -f "$WORK/ferretdb/ferretdb.Dockerfile" "$WORK/ferretdb"
}
