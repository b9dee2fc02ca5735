# syntax=docker/dockerfile:1
# The function binaries and avatar-local, statically linked (musl), in a
# distroless image that runs as non-root. One image for every function: the
# Knative Services (k8s-knative/) and docker-compose.yml pick the binary
# with `command`. On Lambda the same code is built by `cargo lambda build`
# (template.yaml), not from this file.
#
#   docker build -t avatars .                      # the functions (final stage)
#   docker build --target localstack -t avatars-localstack .
#
# Not built on the machine this was written on (no Docker engine); the
# static layout is checked offline by scripts/check_containers.py.

ARG RUST_VERSION=1.88

FROM rust:${RUST_VERSION}-bookworm AS build
# musl-tools: the C codecs (mozjpeg, libwebp) compile with musl-gcc;
# nasm: libjpeg-turbo's SIMD. `--no-default-features`: without HEIC and
# AVIF (Debian has no static libheif for a static binary; README, "HEIC and
# AVIF").
RUN apt-get update \
 && apt-get install -y --no-install-recommends musl-tools nasm \
 && rm -rf /var/lib/apt/lists/*
RUN rustup target add "$(uname -m)-unknown-linux-musl"
WORKDIR /src
COPY . .
RUN target="$(uname -m)-unknown-linux-musl" \
 && export "CC_$(echo "$target" | tr - _)=musl-gcc" \
 && cargo build --release --locked --target "$target" --no-default-features \
      -p avatar-upload -p avatar-get -p avatar-metadata -p avatar-delete \
      -p avatar-thumbnail -p avatar-purge -p avatar-local \
 && mkdir -p /out \
 && for bin in upload get metadata delete thumbnail purge avatar-local; do \
      cp "target/$target/release/$bin" /out/; \
    done

# LocalStack (S3 + SQS) with the project's bootstrap: docker-compose.yml's
# `localstack` service. localstack/init/ready.d/ runs `avatar-local
# bootstrap` once LocalStack is ready — the same code as `make run`.
FROM localstack/localstack:4 AS localstack
COPY --from=build /out/avatar-local /usr/local/bin/avatar-local
COPY web-static /opt/avatars/web-static
COPY --chmod=0755 localstack/init/ready.d/ /etc/localstack/init/ready.d/

# The functions. distroless/static: CA certificates and /etc/passwd with
# the nonroot user (65532), nothing else; the binaries are static.
FROM gcr.io/distroless/static-debian12:nonroot AS functions
COPY --from=build /out/ /usr/local/bin/
COPY web-static /usr/local/share/avatars/web-static
ENV WEB_STATIC_DIR=/usr/local/share/avatars/web-static \
    HOST=0.0.0.0 \
    PORT=8080
USER 65532:65532
EXPOSE 8080
# avatar-local serve: the whole API with its event source mappings in one
# process (what docker-compose.yml runs); a function runs with its own
# binary as the command (k8s-knative/service-*.yaml).
CMD ["/usr/local/bin/avatar-local", "serve"]
