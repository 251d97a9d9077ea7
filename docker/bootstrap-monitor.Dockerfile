# The bootstrap monitor image, tmpnet/bootstrap-monitor:latest: the
# `tmpnet-bootstrap-monitor` binary, run as the init container (`init`) and
# the sidecar (`wait-for-completion`) of a monitor's pod.
#
# Build it with scripts/build-images.sh, which builds the binary on the host
# and uses a build context holding only that binary.
#
# It runs as the node's user (the pod's runAsUser, 10001 for the project's
# images), so it can wipe what the node wrote on the shared volume.
FROM debian:bookworm-slim
ARG MONITOR_UID=10001
COPY tmpnet-bootstrap-monitor /usr/local/bin/tmpnet-bootstrap-monitor
USER ${MONITOR_UID}:${MONITOR_UID}
ENTRYPOINT ["/usr/local/bin/tmpnet-bootstrap-monitor"]
