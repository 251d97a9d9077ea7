#!/usr/bin/env bash
# Builds every image of the repository from this checkout:
#   tmpnet/runner:latest    Dockerfile.runner: the suite's compiled test binaries
#   tmpnet/refnode:latest   docker/refnode.Dockerfile: the reference node
#   tmpnet/bootstrap-monitor:latest docker/bootstrap-monitor.Dockerfile: the
#                           bootstrap monitor's init container and sidecar
#   tmpnet/litecoind:latest docker/litecoind.Dockerfile: Debian's litecoind
#   tmpnet/avalanchego:latest docker/avalanchego.Dockerfile: avalanchego, built
#                           from avalanchego/go.mod by scripts/avalanchego-build.sh
#                           (cached per go.sum; needs Go)
#
# The binaries are built here, on the host (where cargo's caches are), with
# the same profile and features as `cargo test`, so the runner image holds
# exactly the test binary a local `cargo test` runs; the images copy them in.
# The runner image is built by `tmpnetctl image suite`, as a user's own
# suite's is (docs/src/guide/in-cluster-runner.md).
#
# With `docker` (a daemon answering) it builds with docker; otherwise with
# buildah (Debian package `buildah`: overlay storage, chroot isolation, no
# daemon). Where `debian:bookworm-slim` cannot be pulled (no registry),
# tmpnetctl makes it from Debian's packages with debootstrap. With buildah,
# the images are also written to an OCI image layout (default
# target/images/oci) that tmpnet-kubesim runs containers from.
#
# Usage: scripts/build-images.sh [--package PKG]... [--out DIR] [--skip-litecoind]
#                               [--skip-avalanchego]
#   --package PKG     test binaries of this package go into the runner image
#                     (repeatable; default e2e-suite)
#   --out DIR         where the build contexts and the OCI layout go
#                     (default target/images)
#   --skip-litecoind  do not build the litecoind image
#   --skip-avalanchego  do not build the avalanchego image
# Prints each image's digest and build time; writes them to DIR/digests.txt.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=()
out=target/images
litecoind=1
avalanchego=1
while [ $# -gt 0 ]; do
    case "$1" in
    --package) packages+=("$2"); shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --skip-litecoind) litecoind=0; shift ;;
    --skip-avalanchego) avalanchego=0; shift ;;
    *) echo "error: unknown argument $1; see the usage at the top of $0" >&2; exit 1 ;;
    esac
done
[ ${#packages[@]} -gt 0 ] || packages=(e2e-suite)

die() { echo "error: $*" >&2; exit 1; }
need() { command -v "$1" >/dev/null 2>&1 || die "$1 is missing; install it with \`apt-get install $2\`"; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
    tool=docker
else
    need buildah buildah
    tool=buildah
fi
need objcopy binutils
mkdir -p "$out"
out="$(cd "$out" && pwd)"
: >"$out/digests.txt"
# The layout holds exactly the images of this build.
rm -rf "$out/oci"

echo "== binaries (host build, cargo test's profile)"
start=$(now)
cargo build --quiet --locked -p tmpnetctl -p tmpnet-refnode -p tmpnet-bootstrap-monitor
refnode_ctx="$out/refnode"
rm -rf "$refnode_ctx" && mkdir -p "$refnode_ctx"
objcopy --strip-debug target/debug/tmpnet-refnode "$refnode_ctx/tmpnet-refnode"
monitor_ctx="$out/bootstrap-monitor"
rm -rf "$monitor_ctx" && mkdir -p "$monitor_ctx"
objcopy --strip-debug target/debug/tmpnet-bootstrap-monitor "$monitor_ctx/tmpnet-bootstrap-monitor"
avalanchego_ctx="$out/avalanchego"
checked=("$refnode_ctx/tmpnet-refnode" "$monitor_ctx/tmpnet-bootstrap-monitor")
if [ "$avalanchego" = 1 ]; then
    rm -rf "$avalanchego_ctx" && mkdir -p "$avalanchego_ctx"
    avalanchego_dir="$(scripts/avalanchego-build.sh)"
    objcopy --strip-debug "$avalanchego_dir/avalanchego" "$avalanchego_ctx/avalanchego"
    cp docker/avalanchego-entrypoint.sh "$avalanchego_ctx/"
    checked+=("$avalanchego_ctx/avalanchego")
fi
# The images run them on Debian bookworm's C library: a newer host's
# binaries would fail there at start.
base_glibc=2.36
for f in "${checked[@]}"; do
    need_glibc="$(objdump -T "$f" | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -Vu | tail -1)"
    if [ -n "$need_glibc" ] && [ "$(printf '%s\n%s\n' "$need_glibc" "$base_glibc" | sort -V | tail -1)" != "$base_glibc" ]; then
        die "$(basename "$f") needs glibc $need_glibc, newer than Debian bookworm's $base_glibc (the images' base); build on a bookworm machine or in a rust:1-bookworm container"
    fi
done
echo "binaries: $(since "$start") s"

build() { # image dockerfile context
    local image="$1" file="$2" ctx="$3" start digest
    start=$(now)
    echo "== $image ($file)"
    if [ "$tool" = docker ]; then
        docker build --quiet -f "$file" -t "$image" "$ctx" >/dev/null
        digest="$(docker image inspect --format '{{.Id}}' "$image")"
    else
        buildah bud --quiet --layers --pull=never --isolation chroot -f "$file" -t "$image" "$ctx" >/dev/null
        mkdir -p "$out/oci"
        buildah push --quiet --disable-compression --digestfile "$out/digest" \
            "$image" "oci:$out/oci:$image" >/dev/null
        digest="$(cat "$out/digest")"
        rm -f "$out/digest"
    fi
    echo "$image $digest $(since "$start")" | tee -a "$out/digests.txt"
}

echo "== tmpnet/runner:latest (tmpnetctl image suite)"
start=$(now)
loads=()
[ "$tool" = docker ] || loads=(--load "oci=$out/oci")
suite_args=()
for p in "${packages[@]}"; do suite_args+=(--package "$p"); done
runner_id="$(target/debug/tmpnetctl image suite --locked "${suite_args[@]}" --tool "$tool" \
    --tag tmpnet/runner:latest "${loads[@]}" | awk '{ print $2 }')"
echo "tmpnet/runner:latest $runner_id $(since "$start")" | tee -a "$out/digests.txt"
build tmpnet/refnode:latest docker/refnode.Dockerfile "$refnode_ctx"
build tmpnet/bootstrap-monitor:latest docker/bootstrap-monitor.Dockerfile "$monitor_ctx"
if [ "$litecoind" = 1 ]; then
    build tmpnet/litecoind:latest docker/litecoind.Dockerfile docker
fi
if [ "$avalanchego" = 1 ]; then
    build tmpnet/avalanchego:latest docker/avalanchego.Dockerfile "$avalanchego_ctx"
fi
echo "images built with $tool; digests and build seconds in $out/digests.txt"
[ "$tool" = buildah ] && echo "OCI layout for tmpnet-kubesim --image-dir: $out/oci"
exit 0
