#!/bin/bash
# Entry point of the FerretDB stand-in for mongo:7 (docker/standins/ferretdb.Dockerfile).
#
# Usage: ferretdb-entrypoint [FERRETDB FLAGS...]   run FerretDB (as PID 1, through exec)
#        ferretdb-entrypoint ping                  healthcheck: connect and ping over the MongoDB
#                                                  protocol as the root user (exit 0 when it answers)
#
# Maps the official image's MONGO_INITDB_ROOT_USERNAME / MONGO_INITDB_ROOT_PASSWORD to FerretDB's
# environment: authentication on, that user created in the admin database on the first start
# (kept in /data/db afterwards). Without them, FerretDB runs without authentication.
set -euo pipefail

user=${MONGO_INITDB_ROOT_USERNAME:-}
pass=${MONGO_INITDB_ROOT_PASSWORD:-}
if [[ -n $user || -n $pass ]]; then
    if [[ -z $user || -z $pass ]]; then
        echo "ferretdb-entrypoint: error: set both MONGO_INITDB_ROOT_USERNAME and MONGO_INITDB_ROOT_PASSWORD, or neither" >&2
        exit 1
    fi
    export FERRETDB_TEST_ENABLE_NEW_AUTH=true FERRETDB_SETUP_DATABASE=admin
    export FERRETDB_SETUP_USERNAME=$user FERRETDB_SETUP_PASSWORD=$pass
fi

if [[ ${1:-} == ping ]]; then
    if [[ -z $user ]]; then
        # `ferretdb ping` needs the setup user; without one, settle for the port accepting.
        exec timeout 5 bash -c 'exec 3<>/dev/tcp/127.0.0.1/27017'
    fi
    FERRETDB_SETUP_TIMEOUT=5s exec /usr/local/bin/ferretdb ping
fi
exec /usr/local/bin/ferretdb "$@"
