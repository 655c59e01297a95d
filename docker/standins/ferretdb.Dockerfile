# Stand-in for the official mongo:7 image, for machines where no registry can be reached
# (scripts/compose-smoke.sh builds it; docker/compose.smoke.yml uses it): FerretDB 1.24 (the
# MongoDB wire protocol) on its SQLite backend, keeping the contract docker-compose.yml relies on:
#   - MONGO_INITDB_ROOT_USERNAME / MONGO_INITDB_ROOT_PASSWORD create a user in the admin database
#     and turn authentication on (SCRAM-SHA-256), so the services' URL with credentials and
#     authSource=admin works unchanged (FerretDB's --test-enable-new-auth and --setup-* flags);
#   - port 27017 on every interface, data in /data/db.
# MONGO_INITDB_DATABASE needs nothing: databases come into being on first write, as in MongoDB.
# The healthcheck is `ferretdb-entrypoint ping` (FerretDB's own authenticated ping), since the
# image has no mongosh.
#
# The build context holds this file, ferretdb-entrypoint.sh and a static `ferretdb` binary
# (scripts/lib.sh ensure_ferretdb builds it):
#   docker build -f ferretdb.Dockerfile --build-arg BASE_IMAGE=<bookworm image> \
#       -t activity-tracker/ferretdb-standin <context>
ARG BASE_IMAGE=debian:bookworm-slim
FROM ${BASE_IMAGE}
RUN groupadd --system --gid 10002 ferretdb \
    && useradd --system --uid 10002 --gid ferretdb --home-dir /var/lib/ferretdb --no-create-home \
        --shell /usr/sbin/nologin ferretdb \
    && mkdir -p /data/db /var/lib/ferretdb \
    && chown ferretdb:ferretdb /data/db /var/lib/ferretdb
COPY ferretdb /usr/local/bin/ferretdb
COPY ferretdb-entrypoint.sh /usr/local/bin/ferretdb-entrypoint
USER ferretdb
ENV FERRETDB_HANDLER=sqlite \
    FERRETDB_SQLITE_URL=file:/data/db/ \
    FERRETDB_STATE_DIR=/var/lib/ferretdb \
    FERRETDB_LISTEN_ADDR=0.0.0.0:27017 \
    FERRETDB_TELEMETRY=disable \
    FERRETDB_DEBUG_ADDR=-
EXPOSE 27017
HEALTHCHECK --interval=5s --timeout=10s --start-period=10s --retries=6 \
    CMD ["/usr/local/bin/ferretdb-entrypoint", "ping"]
ENTRYPOINT ["/usr/local/bin/ferretdb-entrypoint"]
