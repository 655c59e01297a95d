# Stand-in for the official haproxy LTS image, for machines where no registry can be reached
# (scripts/cluster-smoke.sh builds it; docker/compose.cluster-smoke.yml uses it): Debian 12's
# haproxy (2.6, itself an LTS branch), keeping the contract docker-compose.cluster.yml relies on:
#   - the configuration is /usr/local/etc/haproxy/haproxy.cfg (the compose file mounts it);
#   - `haproxy -W -db -f <that file>` runs in the foreground as the unprivileged user haproxy,
#     logs to stdout, and stops gracefully on SIGUSR1 (the image's stop signal);
#   - bash is there (the compose healthcheck uses it).
#
#   docker build -f docker/standins/haproxy.Dockerfile --build-arg BASE_IMAGE=<bookworm image> \
#       -t activity-tracker/haproxy-standin docker/standins
ARG BASE_IMAGE=debian:bookworm-slim
FROM ${BASE_IMAGE}
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends haproxy \
    && rm -rf /var/lib/apt/lists/* \
    && mkdir -p /usr/local/etc/haproxy /var/lib/haproxy \
    && chown haproxy:haproxy /var/lib/haproxy
WORKDIR /var/lib/haproxy
USER haproxy
STOPSIGNAL SIGUSR1
ENTRYPOINT ["haproxy", "-W", "-db"]
CMD ["-f", "/usr/local/etc/haproxy/haproxy.cfg"]
