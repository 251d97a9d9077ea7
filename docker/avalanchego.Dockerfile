# The avalanchego image, tmpnet/avalanchego:latest: the node built from the
# Go modules pinned by avalanchego/go.mod (scripts/avalanchego-build.sh).
#
# Build it with scripts/build-images.sh, which builds the binary on the host
# (cached per go.sum) and uses a build context holding only it and the
# entrypoint; with kind, make it available to the cluster:
#   kind load docker-image tmpnet/avalanchego:latest --name <cluster>
#
# Pods pass the node's flags as environment variables (AVAGO_<FLAG>), mount
# the node's data volume at /data and its key files from the network's
# Secret at /secrets (readable by this image's group, the pod's fsGroup).
FROM debian:bookworm-slim
# A fixed numeric uid, so `runAsNonRoot: true` can be verified by the kubelet.
ARG NODE_UID=10001
RUN groupadd --system --gid "${NODE_UID}" tmpnet \
    && useradd --system --uid "${NODE_UID}" --gid tmpnet \
        --home-dir /data --no-create-home --shell /usr/sbin/nologin tmpnet \
    && install -d -m 0750 -o tmpnet -g tmpnet /data
COPY avalanchego /usr/local/bin/avalanchego
COPY avalanchego-entrypoint.sh /usr/local/bin/avalanchego-entrypoint.sh
USER ${NODE_UID}:${NODE_UID}
ENV HOME=/data
WORKDIR /data
VOLUME ["/data"]
EXPOSE 9650 9651
ENTRYPOINT ["/usr/local/bin/avalanchego-entrypoint.sh"]
