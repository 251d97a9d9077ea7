# The reference node image, tmpnet/refnode:latest.
#
# Build it with scripts/build-images.sh, which builds tmpnet-refnode on the
# host and uses a build context holding only that binary (so no Rust image has
# to be pulled); with kind, make it available to the cluster:
#   kind load docker-image tmpnet/refnode:latest --name <cluster>
#
# Pods pass the node's flags as container args (`--flag name=value`, repeated)
# and mount the node's data volume at /data.

FROM debian:bookworm-slim
# A fixed numeric uid, so `runAsNonRoot: true` can be verified by the kubelet.
ARG NODE_UID=10001
RUN groupadd --system --gid "${NODE_UID}" tmpnet \
    && useradd --system --uid "${NODE_UID}" --gid tmpnet \
        --home-dir /data --no-create-home --shell /usr/sbin/nologin tmpnet \
    && install -d -m 0750 -o tmpnet -g tmpnet /data
COPY tmpnet-refnode /usr/local/bin/tmpnet-refnode
USER ${NODE_UID}:${NODE_UID}
ENV HOME=/data
WORKDIR /data
VOLUME ["/data"]
EXPOSE 9650 9651
ENTRYPOINT ["/usr/local/bin/tmpnet-refnode"]
