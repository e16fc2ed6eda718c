# syntax=docker/dockerfile:1
# Alastor, a self-hosted Discord radio bot. Multi-stage: a Debian builder with the Rust toolchain and cmake
# (libopus is built from source by the opus crate), then a slim Debian runtime with only the binary.
#
#   docker build -t alastor .
#   docker run -d --name alastor --env-file ./alastor.env -v alastor-data:/data -v ./stations:/stations:ro alastor
#
# The token is passed at run time (`--env-file` with DISCORD_TOKEN=...), never baked into the image.

# The toolchain CI tests with; edition 2024 let-chains need at least 1.88.
ARG RUST_VERSION=1.95
ARG DEBIAN_RELEASE=trixie

FROM rust:${RUST_VERSION}-slim-${DEBIAN_RELEASE} AS builder
RUN apt-get update \
    && apt-get install -y --no-install-recommends cmake pkg-config \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin alastor \
    && cp target/release/alastor /usr/local/bin/alastor

FROM debian:${DEBIAN_RELEASE}-slim AS runtime
# ca-certificates only: TLS roots for https streams (reqwest uses rustls with the system roots as fallback).
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 alastor \
    && useradd --system --uid 10001 --gid alastor --home-dir /data --shell /usr/sbin/nologin alastor \
    && mkdir -p /data /stations \
    && chown alastor:alastor /data
COPY --from=builder /usr/local/bin/alastor /usr/local/bin/alastor
COPY stations/ /stations/

ENV ALASTOR_DATA_DIR=/data \
    ALASTOR_STATIONS_DIR=/stations \
    ALASTOR_LOG__FORMAT=plain
VOLUME ["/data", "/stations"]
WORKDIR /data
USER alastor:alastor

# `doctor --quick`: config, token format, store and packs load; no network, so a Discord outage is not
# reported as a broken container.
HEALTHCHECK --interval=60s --timeout=10s --start-period=30s --retries=3 \
    CMD ["/usr/local/bin/alastor", "doctor", "--quick"]
# SIGTERM: the bot writes resume state and leaves voice before exiting; give it time (`docker stop -t 20`).
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/alastor"]
CMD ["run"]
