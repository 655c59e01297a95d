# Stand-in for the official rabbitmq:3-management image, for machines where no registry can be
# reached (scripts/compose-smoke.sh and scripts/cluster-smoke.sh build it; docker/compose.smoke.yml
# and docker/compose.cluster-smoke.yml use it). Debian's rabbitmq-server with the management
# plugin, keeping the contract docker-compose.yml and docker-compose.cluster.yml rely on:
#   - RABBITMQ_DEFAULT_USER / RABBITMQ_DEFAULT_PASS create the first user (the server itself reads
#     them, as in the official image), and the guest user may log in from other hosts as there;
#   - AMQP on 5672, management UI and HTTP API on 15672, on every interface;
#   - the node is rabbit@<hostname>; data in /var/lib/rabbitmq, which is also HOME, so the Erlang
#     cookie is /var/lib/rabbitmq/.erlang.cookie as in the official image (a file written there
#     before the first start is the node's cookie; clustered nodes need the same one);
#   - configuration as in the official image: the defaults in /etc/rabbitmq/conf.d/10-defaults.conf,
#     and every other /etc/rabbitmq/conf.d/*.conf read after it (the cluster file mounts its
#     classic_config peer discovery there); logs on stdout;
#   - rabbitmq-diagnostics, rabbitmqctl, rabbitmq-plugins and rabbitmq-queues on PATH (the
#     healthcheck uses `rabbitmq-diagnostics -q check_port_connectivity`).
#
#   docker build -f docker/standins/rabbitmq.Dockerfile --build-arg BASE_IMAGE=<bookworm image> \
#       -t activity-tracker/rabbitmq-standin docker/standins
ARG BASE_IMAGE=debian:bookworm-slim
FROM ${BASE_IMAGE}
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends rabbitmq-server \
    && rm -rf /var/lib/apt/lists/* \
    && rabbitmq-plugins enable --offline rabbitmq_management \
    && rm -f /etc/rabbitmq/rabbitmq.conf /var/lib/rabbitmq/.erlang.cookie /root/.erlang.cookie \
    && mkdir -p /etc/rabbitmq/conf.d \
    && printf '%s\n' \
        '# As the official image: guest may log in from other hosts, logs go to the console.' \
        'loopback_users.guest = false' \
        'log.console = true' \
        'log.console.level = info' \
        'log.console.use_colors = off' \
        'log.file = false' \
        'listeners.tcp.default = 5672' \
        'management.tcp.port = 15672' \
        >/etc/rabbitmq/conf.d/10-defaults.conf \
    && chown -R rabbitmq:rabbitmq /etc/rabbitmq /var/lib/rabbitmq
ENV HOME=/var/lib/rabbitmq LANG=C.UTF-8 LC_ALL=C.UTF-8
WORKDIR /var/lib/rabbitmq
USER rabbitmq
EXPOSE 5672 15672 25672
HEALTHCHECK --interval=10s --timeout=10s --start-period=30s --retries=6 \
    CMD ["rabbitmq-diagnostics", "-q", "check_port_connectivity"]
# Debian's /usr/sbin/rabbitmq-server wrapper sends the output to a file; run the server itself.
ENTRYPOINT ["/usr/lib/rabbitmq/bin/rabbitmq-server"]
