#!/usr/bin/env bash
# Runs activity-tracker on this machine without Docker: installs what is missing (as the test
# command does), starts the local RabbitMQ and FerretDB (scripts/services.sh up), builds a release
# build in build-release/, then runs activity-consumer in the background and activity-api in the
# foreground. Ctrl-C (or SIGTERM) drains and stops both.
#
# Configuration comes from the environment (see .env.example); a .env file in the repository root
# is read first when present, without overriding variables already set.
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
AT_PROG=run.sh
cd "$AT_ROOT"

if [[ -f .env ]]; then
    while IFS='=' read -r key value; do
        [[ $key =~ ^[A-Z_][A-Z0-9_]*$ ]] || continue
        [[ -n ${!key+x} ]] || export "$key=$value"
    done < <(grep -v '^[[:space:]]*#' .env)
fi
# The local services have no database credentials and listen on loopback.
export RABBITMQ_URL=${RABBITMQ_URL:-amqp://guest:guest@127.0.0.1:5672/}
export DATABASE_URL=${DATABASE_URL:-mongodb://127.0.0.1:27017/activity_db}

AT_NO_SERVICES=${AT_NO_SERVICES:-0}
bash scripts/test.sh install
if [[ $AT_NO_SERVICES != 1 ]]; then
    bash scripts/services.sh up
fi

at_section "build (release)"
cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build-release -j "${AT_JOBS:-2}" --target activity-api activity-consumer

consumer_pid=
stop() {
    [[ -n $consumer_pid ]] && kill -TERM "$consumer_pid" 2>/dev/null && wait "$consumer_pid" || true
}
trap stop EXIT

at_section "run"
./build-release/src/consumer/activity-consumer &
consumer_pid=$!
at_info "activity-consumer started (pid $consumer_pid); activity-api on port ${API_PORT:-3000}"
./build-release/activity-api &
api_pid=$!
# Ctrl-C in a terminal reaches the whole process group, the API included, by itself; a SIGTERM
# sent to this script alone is passed on. (A second signal would make the API exit at once.)
trap ':' INT
trap 'kill -TERM "$api_pid" 2>/dev/null' TERM
wait "$api_pid" || true
wait "$api_pid" 2>/dev/null || true
