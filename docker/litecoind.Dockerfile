# The litecoind image, tmpnet/litecoind:latest: Debian's litecoind package
# (a Bitcoin Core derivative) as the `bitcoind` node kind's daemon.
#
# Build (the context is unused; any directory will do):
#   docker build -f docker/litecoind.Dockerfile -t tmpnet/litecoind:latest docker
#
# Pods pass the daemon's options as container args (`-datadir=/data`, ...) and
# mount the node's data volume at /data.
FROM debian:bookworm-slim
ARG NODE_UID=10001
# Unpinned: bookworm's litecoind, with whatever security updates it has.
# hadolint ignore=DL3008
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends litecoind \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid "${NODE_UID}" tmpnet \
    && useradd --system --uid "${NODE_UID}" --gid tmpnet \
        --home-dir /data --no-create-home --shell /usr/sbin/nologin tmpnet \
    && install -d -m 0750 -o tmpnet -g tmpnet /data
USER ${NODE_UID}:${NODE_UID}
ENV HOME=/data
WORKDIR /data
VOLUME ["/data"]
# The daemon itself: /usr/bin/litecoind is a wrapper script that writes a
# config under ~/.litecoin before starting it.
ENTRYPOINT ["/usr/lib/litecoin/litecoind"]
