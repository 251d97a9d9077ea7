# The reference node image, tmpnet/refnode:latest.
#
# Build from the repository root (the whole workspace is the build context):
#   docker build -f docker/refnode.Dockerfile -t tmpnet/refnode:latest .
# and with kind, make it available to the cluster:
#   kind load docker-image tmpnet/refnode:latest --name <cluster>
#
# Pods pass the node's flags as container args (`--flag name=value`, repeated)
# and mount the node's data volume at /data.

# The builder uses the Debian release of the runtime stage: plain `rust:1`
# follows Debian's newest release and could link against a newer glibc than
# bookworm-slim ships.
FROM rust:1-bookworm AS build
WORKDIR /src
# The root .dockerignore keeps target/ and .git out of the context.
COPY . .
RUN cargo build --release -p tmpnet-refnode --locked \
    && install -D -m 0755 target/release/tmpnet-refnode /out/tmpnet-refnode

FROM debian:bookworm-slim
# A fixed numeric uid, so `runAsNonRoot: true` can be verified by the kubelet.
ARG NODE_UID=10001
RUN groupadd --system --gid "${NODE_UID}" tmpnet \
    && useradd --system --uid "${NODE_UID}" --gid tmpnet \
        --home-dir /data --no-create-home --shell /usr/sbin/nologin tmpnet \
    && install -d -m 0750 -o tmpnet -g tmpnet /data
COPY --from=build /out/tmpnet-refnode /usr/local/bin/tmpnet-refnode
USER ${NODE_UID}:${NODE_UID}
ENV HOME=/data
WORKDIR /data
VOLUME ["/data"]
EXPOSE 9650 9651
ENTRYPOINT ["/usr/local/bin/tmpnet-refnode"]
