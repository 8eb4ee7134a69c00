# syntax=docker/dockerfile:1.7
# The floe image: one static-ish binary on a slim Debian, running as the
# non-root user 65532 (the Helm chart in charts/floe runs it with a read-only
# root filesystem and an emptyDir at /tmp).
#
#   docker build -t floe:0.1.0 .
#   docker run --rm floe:0.1.0 --help

ARG RUST_IMAGE=rust:1.95-trixie
ARG RUNTIME_IMAGE=debian:trixie-slim

FROM ${RUST_IMAGE} AS build
# build-essential and pkg-config for the crates that compile C (zstd, ring);
# protobuf-compiler for the gRPC code generated at build time. No OpenSSL:
# TLS is rustls.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential pkg-config protobuf-compiler \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# The registry, git checkouts and target directory are cache mounts, so a
# rebuild after a source change recompiles only what changed. The binary is
# copied out of the cached target directory, which the next stage cannot see.
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/usr/local/cargo/git,sharing=locked \
    --mount=type=cache,target=/src/target,sharing=locked \
    cargo build --release --locked -p floe \
    && install -D -m 0755 target/release/floe /out/floe

FROM ${RUNTIME_IMAGE}
# CA certificates for S3, the REST catalog and etcd over https.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 65532 floe \
    && useradd --system --uid 65532 --gid 65532 --home-dir /nonexistent --no-create-home \
        --shell /usr/sbin/nologin floe
COPY --from=build /out/floe /usr/local/bin/floe
# Temporary files go to $TMPDIR: mount a writable volume there when the root
# filesystem is read-only.
ENV TMPDIR=/tmp \
    KAFSCALE_METRICS_ADDR=:9093
USER 65532:65532
# 7600: workers (coordinator.listen), 7601: admin API (admin.listen),
# 9093: /metrics, /healthz, /readyz.
EXPOSE 7600 7601 9093
ENTRYPOINT ["/usr/local/bin/floe"]
CMD ["--help"]
