#!/usr/bin/env bash
# Rebuilds an image of buildah's storage as a new build of the same tag (the
# same content plus a build-time label, so a new digest) and loads it into
# the running local cluster (scripts/cluster-up.sh), as a registry push of
# a new build would: a bootstrap monitor following that tag starts a new
# test on its own.
#
# Usage: scripts/cluster-rebuild-image.sh IMAGE    (e.g. tmpnet/litecoind:latest)
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/cluster-lib.sh
. scripts/cluster-lib.sh

[ $# = 1 ] || cluster_die "give the image to rebuild, e.g. $0 tmpnet/litecoind:latest"
image="$1"
buildah inspect --type image "$image" >/dev/null 2>&1 \
    || cluster_die "$image is not in buildah's storage; build it first (scripts/build-images.sh)"
[ -n "$(cluster_sockets)" ] || cluster_die "no local cluster runs (no $CLUSTER_RUN/node-*/containerd/containerd.sock); start one with scripts/cluster-up.sh"
ctx="$(mktemp -d)"
trap 'rm -rf "$ctx"' EXIT
printf 'FROM %s\nLABEL io.tmpnet.rebuilt="%s"\n' "$image" "$(date +%s%N)" >"$ctx/Dockerfile"
buildah bud --quiet --pull=never --isolation chroot -t "$image" "$ctx" >/dev/null
name="$image"
case "${image%%/*}" in *.*|*:*|localhost) ;; *) name="docker.io/$image" ;; esac
buildah push --quiet "$image" "oci-archive:$ctx/image.tar:$name" >/dev/null
cluster_import "$ctx/image.tar" "$name"
echo "rebuilt $image and loaded it into every node of the local cluster as $name"
