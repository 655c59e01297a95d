# activity-api: built on Debian bookworm, run on bookworm-slim with only the runtime libraries.
#
#   docker build -f docker/api.Dockerfile -t activity-tracker/api .
#
# BUILD_IMAGE and RUNTIME_IMAGE name the base images (a registry-less machine passes local ones,
# see scripts/compose-smoke.sh). Configuration comes only from the environment
# (`activity-api --help` lists it); API_HOST must stay 0.0.0.0 for a published port to reach it.
# The first stage is the same as docker/consumer.Dockerfile's, so the two builds share its layers.
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
    && cmake --build /build --target activity-api -j "$(nproc)" \
    && strip /build/activity-api

FROM ${RUNTIME_IMAGE}
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        libh2o0.13 libuv1 librabbitmq4 libjson-c5 libssl3 zlib1g \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 activity \
    && useradd --system --uid 10001 --gid activity --home-dir /nonexistent --no-create-home \
        --shell /usr/sbin/nologin activity
COPY --from=build /build/activity-api /usr/local/bin/activity-api
USER 10001:10001
ENV API_HOST=0.0.0.0 API_PORT=3000
EXPOSE 3000
# GET /health with bash's /dev/tcp (no HTTP client in the image): healthy on a 200 status line.
HEALTHCHECK --interval=5s --timeout=3s --start-period=10s --retries=3 \
    CMD ["/bin/bash", "-c", "exec 3<>\"/dev/tcp/127.0.0.1/${API_PORT:-3000}\" && printf 'GET /health HTTP/1.1\\r\\nHost: localhost\\r\\nConnection: close\\r\\n\\r\\n' >&3 && timeout 2 head -n 1 <&3 | grep -q '^HTTP/1\\.[01] 200 '"]
# Exec form: the server is PID 1 and gets SIGTERM itself (it drains, then exits 0).
ENTRYPOINT ["/usr/local/bin/activity-api"]
