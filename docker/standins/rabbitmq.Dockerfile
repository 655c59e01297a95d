# Stand-in for the official rabbitmq:3-management image, for machines where no registry can be
# reached (scripts/compose-smoke.sh builds it; docker/compose.smoke.yml uses it). Debian's
# rabbitmq-server with the management plugin, keeping the contract docker-compose.yml relies on:
#   - RABBITMQ_DEFAULT_USER / RABBITMQ_DEFAULT_PASS create the first user (the server itself reads
#     them, as in the official image), and the guest user may log in from other hosts as there;
#   - AMQP on 5672, management UI and HTTP API on 15672, on every interface;
#   - data in /var/lib/rabbitmq (also HOME, where the Erlang cookie lives), logs on stdout;
#   - rabbitmq-diagnostics, rabbitmqctl and rabbitmq-plugins on PATH (the healthcheck uses
#     `rabbitmq-diagnostics -q check_port_connectivity`).
#
#   docker build -f docker/standins/rabbitmq.Dockerfile --build-arg BASE_IMAGE=<bookworm image> \
#       -t activity-tracker/rabbitmq-standin docker/standins
ARG BASE_IMAGE=debian:bookworm-slim
FROM ${BASE_IMAGE}
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends rabbitmq-server \
    && rm -rf /var/lib/apt/lists/* \
    && rabbitmq-plugins enable --offline rabbitmq_management \
    && printf '%s\n' \
        '# As the official image: guest may log in from other hosts, logs go to the console.' \
        'loopback_users.guest = false' \
        'log.console = true' \
        'log.console.level = info' \
        'log.console.use_colors = off' \
        'log.file = false' \
        'listeners.tcp.default = 5672' \
        'management.tcp.port = 15672' \
        >/etc/rabbitmq/rabbitmq.conf \
    && chown -R rabbitmq:rabbitmq /etc/rabbitmq /var/lib/rabbitmq
ENV HOME=/var/lib/rabbitmq LANG=C.UTF-8 LC_ALL=C.UTF-8
WORKDIR /var/lib/rabbitmq
USER rabbitmq
EXPOSE 5672 15672
HEALTHCHECK --interval=10s --timeout=10s --start-period=30s --retries=6 \
    CMD ["rabbitmq-diagnostics", "-q", "check_port_connectivity"]
# Debian's /usr/sbin/rabbitmq-server wrapper sends the output to a file; run the server itself.
ENTRYPOINT ["/usr/lib/rabbitmq/bin/rabbitmq-server"]
