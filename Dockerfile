# syntax=docker/dockerfile:1.7
#
# The single-window server: a Rust binary (glibc, libgcc_s) on distroless (no shell, no package manager),
# running as the distroless "nonroot" user (65532).
#
#   DOCKER_BUILDKIT=1 docker build -t single-window:dev .
#   docker run --rm -p 50051:50051 -p 8081:8081 single-window:dev
#
# BuildKit is required (cache mounts). The build needs no protoc and no database: the protos are
# compiled by build.rs (protox) and the SQL migrations and catalogue data are embedded at compile time.

ARG RUST_VERSION=1.95

FROM rust:${RUST_VERSION}-bookworm AS builder
WORKDIR /build
ENV CARGO_TERM_COLOR=never \
    CARGO_INCREMENTAL=0

# Everything the release binary is built from: the manifest (its [[bench]] targets must exist for
# Cargo to read it), build.rs and the protos it compiles, the sources, and what they embed
# (sqlx::migrate! reads migrations/, include_bytes!/include_str! read data/).
COPY Cargo.toml Cargo.lock build.rs ./
COPY proto/ proto/
COPY migrations/ migrations/
COPY data/ data/
COPY benches/ benches/
COPY src/ src/
# The portal's built files, which build.rs embeds (portal/dist is committed; no npm in the image).
COPY portal/dist/ portal/dist/

# The registry and the target directory live in cache mounts, so the binary is copied out of the
# cache within the same step.
RUN --mount=type=cache,id=single-window-cargo-registry,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,id=single-window-cargo-git,target=/usr/local/cargo/git,sharing=locked \
    --mount=type=cache,id=single-window-target,target=/build/target,sharing=locked \
    cargo build --release --locked --bin single-window \
    && install -D -m 0755 target/release/single-window /out/single-window

FROM gcr.io/distroless/cc-debian12:nonroot

ARG VERSION=0.11.0
LABEL org.opencontainers.image.title="single-window" \
      org.opencontainers.image.description="No-wrong-door gRPC service through which government agencies share a catalogue, citizen records read under consent, routing and handoffs" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}"

COPY --from=builder /out/single-window /usr/local/bin/single-window

# A container is reached from outside its network namespace: listen on every address (the demo
# principals are then refused; give a principals file). The health port serves only the plaintext
# grpc.health.v1 service, for probes. The default SQLite file goes in the working directory, which
# the nonroot user owns.
ENV SINGLE_WINDOW_LISTEN=0.0.0.0:50051 \
    SINGLE_WINDOW_HEALTH_LISTEN=0.0.0.0:8081 \
    SINGLE_WINDOW_LOG_FORMAT=json
WORKDIR /home/nonroot
USER 65532:65532
EXPOSE 50051 8081

ENTRYPOINT ["/usr/local/bin/single-window"]
CMD ["serve"]
