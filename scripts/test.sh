#!/usr/bin/env bash
# The test command: installs what is missing, starts the local services, builds, runs the tests.
#
# Usage: scripts/test.sh [all|unit|integration|install]      (default: all)
#
#   all          unit and integration tests (ctest labels `unit` and `integration`)
#   unit         unit tests only; no services are needed or started
#   integration  integration tests only
#   install      only install what is missing (packages, FerretDB); used by scripts/run.sh
#
# The failover suite (test_cluster_failover.py) starts a 3-node RabbitMQ cluster on loopback
# (scripts/cluster.sh) and this script stops it after the tests.
#
# With CI=true it also builds build-asan (ASan+UBSan) and build-tsan (TSan) and runs the unit tests
# in each; in `all` mode the API's integration tests (test_api_*) run again against the ASan build.
#
# Environment:
#   RABBITMQ_URL       default amqp://guest:guest@127.0.0.1:5672/
#   RABBITMQ_MGMT_URL  default http://127.0.0.1:15672 (guest/guest)
#   DATABASE_URL       default mongodb://127.0.0.1:27017/activity_db
#   AT_RABBITMQCTL     how the outage tests run rabbitmqctl (default "rabbitmqctl"; with compose:
#                      "docker compose exec -T rabbitmq rabbitmqctl")
#   AT_LOCAL_SERVICES  0 = do not start the local services (the endpoints above point elsewhere)
#   AT_NO_INSTALL      1 = never install packages, only report what is missing
#   AT_JOBS            build parallelism (default 2)
#   CTEST_ARGS         extra arguments for every ctest run (e.g. "-R ratelimit")
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
AT_PROG=test.sh
cd "$AT_ROOT"

MODE=${1:-all}
case $MODE in
all) LABELS='^(unit|integration)$' ;;
unit) LABELS='^unit$' ;;
integration) LABELS='^integration$' ;;
install) LABELS= ;;
-h | --help)
    at_print_help
    exit 0
    ;;
*)
    echo "usage: $0 [all|unit|integration|install]" >&2
    exit 2
    ;;
esac
CI=${CI:-false}
JOBS=${AT_JOBS:-2}
read -r -a EXTRA_CTEST_ARGS <<<"${CTEST_ARGS:-}"

PACKAGES=(
    build-essential cmake pkg-config ca-certificates
    libh2o-dev libuv1-dev libssl-dev librabbitmq-dev libmongoc-dev libbson-dev libjson-c-dev
    check libsubunit-dev
    rabbitmq-server
    python3 python3-pika python3-pymongo python3-yaml python3-jsonschema
    curl wrk clang-format haproxy
)

export_endpoints() {
    export RABBITMQ_URL=${RABBITMQ_URL:-amqp://guest:guest@127.0.0.1:5672/}
    export RABBITMQ_MGMT_URL=${RABBITMQ_MGMT_URL:-http://127.0.0.1:15672}
    export DATABASE_URL=${DATABASE_URL:-mongodb://127.0.0.1:27017/activity_db}
    export AT_RABBITMQCTL=${AT_RABBITMQCTL:-rabbitmqctl}
    # The integration tests run from the source tree: keep __pycache__ out of it.
    export PYTHONDONTWRITEBYTECODE=1
}

# The integration tests need Debian's python3 (python3-pika, python3-pymongo), not another python3
# that happens to come first on PATH.
PYTHON_ARGS=()
if [[ -x /usr/bin/python3 ]]; then
    PYTHON_ARGS=(-DPython3_EXECUTABLE=/usr/bin/python3)
fi

# configure_and_build DIR [CMAKE ARGS...]
configure_and_build() {
    local dir=$1
    shift
    at_section "Configure $dir"
    cmake -S . -B "$dir" -DAT_WERROR=ON -DAT_ASSERTS=ON "${PYTHON_ARGS[@]}" "$@"
    at_section "Build $dir"
    cmake --build "$dir" -j "$JOBS"
}

# Suites run one after the other; a failing suite does not hide the others' results.
RESULTS=()
FAILED=0

# run_ctest NAME DIR LABEL_REGEX [CTEST ARGS...]
run_ctest() {
    local name=$1 dir=$2 labels=$3
    shift 3
    at_section "Tests: $name"
    if ctest --test-dir "$dir" --output-on-failure --no-tests=error -j "$JOBS" -L "$labels" \
        "$@" "${EXTRA_CTEST_ARGS[@]}"; then
        RESULTS+=("passed  $name")
    else
        RESULTS+=("FAILED  $name")
        FAILED=1
    fi
}

at_section "Dependencies"
at_apt_install "${PACKAGES[@]}"
if [[ $MODE != unit ]]; then
    ensure_ferretdb
fi
if [[ $MODE == install ]]; then
    exit 0
fi

if [[ $MODE != unit ]]; then
    export_endpoints
    if [[ ${AT_LOCAL_SERVICES:-1} != 0 ]]; then
        at_section "Services"
        "$AT_ROOT/scripts/services.sh" up
    else
        at_info "AT_LOCAL_SERVICES=0: using RABBITMQ_URL=${RABBITMQ_URL%%@*}@... and DATABASE_URL as given"
    fi
fi

configure_and_build build
run_ctest "build ($MODE)" build "$LABELS"
# test_cluster_failover brings up scripts/cluster.sh's 3-node RabbitMQ cluster on loopback; the
# single-node services stay for the sanitizer runs, the cluster is not needed any more.
if [[ -e $AT_SERVICES_DIR/cluster ]]; then
    at_section "Cluster"
    "$AT_ROOT/scripts/cluster.sh" down || at_warn "scripts/cluster.sh down failed"
fi

if [[ $CI == true && $MODE != integration ]]; then
    # Sanitizer runs: stop at the first report with a stack trace; LeakSanitizer stays on.
    export ASAN_OPTIONS=${ASAN_OPTIONS:-halt_on_error=1:abort_on_error=0:print_stacktrace=1:detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1:check_initialization_order=1}
    export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
    export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1:history_size=4}
    # Sanitized code runs several times slower: stretch Check's per-test timeouts to match.
    export CK_TIMEOUT_MULTIPLIER=${CK_TIMEOUT_MULTIPLIER:-4}
    configure_and_build build-asan -DAT_SANITIZE=address
    run_ctest "build-asan (unit, ASan+UBSan)" build-asan '^unit$'
    if [[ $MODE == all ]]; then
        # The API's integration tests again, against build-asan/activity-api (each test's
        # AT_BUILD_DIR is its build directory): a sanitizer report makes the API exit non-zero
        # and puts non-JSON lines in its log, which the harness fails on. libh2o's buffer
        # free-lists are not leaks (tests/lsan.supp).
        LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$AT_ROOT/tests/lsan.supp:print_suppressions=0} \
            run_ctest "build-asan (API integration, ASan+UBSan)" build-asan '^integration$' \
            -R '^integration_test_api_'
    fi
    configure_and_build build-tsan -DAT_SANITIZE=thread
    run_ctest "build-tsan (unit, TSan)" build-tsan '^unit$'
fi

if ((${#RESULTS[@]} > 1)); then
    at_section "Summary"
    printf '  %s\n' "${RESULTS[@]}"
fi
exit "$FAILED"
