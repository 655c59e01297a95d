# activity-consumer: built on Debian bookworm, run on bookworm-slim with only the runtime libraries.
#
#   docker build -f docker/consumer.Dockerfile -t activity-tracker/consumer .
#
# BUILD_IMAGE and RUNTIME_IMAGE name the base images (a registry-less machine passes local ones,
# see scripts/compose-smoke.sh). Configuration comes only from the environment (see README
# "Configuration"). The first stage is the same as docker/api.Dockerfile's, so the two builds
# share its layers.
ARG BUILD_IMAGE=debian:bookworm
ARG RUNTIME_IMAGE=debian:bookworm-slim

FROM ${BUILD_IMAGE} AS build
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        build-essential cmake pkg-config \
        libh2o-dev libuv1-dev libssl-dev librabbitmq-dev libmongoc-dev libbson-dev libjson-c-dev \
        check libsubunit-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# CMakeLists.txt names the unit tests and benchmark programs too: configuring needs their sources,
# though only the service is built.
COPY CMakeLists.txt ./
COPY src ./src
COPY tests/unit ./tests/unit
COPY bench ./bench
RUN cmake -S . -B /build -DCMAKE_BUILD_TYPE=Release \
    && cmake --build /build --target activity-consumer -j "$(nproc)" \
    && strip /build/src/consumer/activity-consumer

FROM ${RUNTIME_IMAGE}
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        libmongoc-1.0-0 libbson-1.0-0 librabbitmq4 libjson-c5 libh2o0.13 libuv1 \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 activity \
    && useradd --system --uid 10001 --gid activity --home-dir /nonexistent --no-create-home \
        --shell /usr/sbin/nologin activity
COPY --from=build /build/src/consumer/activity-consumer /usr/local/bin/activity-consumer
USER 10001:10001
# The workers touch this file while alive; `activity-consumer --health` checks that it is fresh.
ENV CONSUMER_HEALTH_FILE=/tmp/activity-consumer.health
HEALTHCHECK --interval=5s --timeout=3s --start-period=10s --retries=3 \
    CMD ["/usr/local/bin/activity-consumer", "--health"]
# Exec form: the consumer is PID 1 and gets SIGTERM itself (workers finish and ack their batch).
ENTRYPOINT ["/usr/local/bin/activity-consumer"]
