#!/usr/bin/env bash
# Builds avalanchego (and, with --with-tmpnetctl, upstream's tmpnetctl, a
# benchmark baseline only) from the Go modules pinned by avalanchego/go.mod
# and go.sum, into a cache keyed on go.sum, go.mod and the Go version, so a
# machine builds each version once. Prints the directory.
#   TMPNET_AVALANCHEGO_CACHE  cache root (default ~/.cache/tmpnet-avalanchego)
set -euo pipefail
cd "$(dirname "$0")/../avalanchego"
command -v go >/dev/null || { echo "avalanchego-build: go is required (Go 1.25.8 or newer)" >&2; exit 1; }
tools=(avalanchego)
[ "${1:-}" = "--with-tmpnetctl" ] && tools+=(tmpnetctl)
# The flags upstream's own build uses: cgo on (blst, zstd, secp256k1 and the
# prebuilt Firewood library), blst's portable code (runs on any x86-64).
export GOTOOLCHAIN=local GOFLAGS=-mod=readonly CGO_ENABLED=1 CGO_CFLAGS="-O2 -D__BLST_PORTABLE__"
version=$(sed -n 's/^\s*github.com\/ava-labs\/avalanchego \(v[0-9.]*\)\( \/\/ indirect\)\?$/\1/p' go.mod | head -1)
key=$( (cat go.sum go.mod; go version) | sha256sum | cut -c1-16)
out=${TMPNET_AVALANCHEGO_CACHE:-$HOME/.cache/tmpnet-avalanchego}/$version-$key
declare -A package=(
    [avalanchego]=github.com/ava-labs/avalanchego/main
    [tmpnetctl]=github.com/ava-labs/avalanchego/tests/fixture/tmpnet/tmpnetctl
)
mkdir -p "$out"
for tool in "${tools[@]}"; do
    [ -x "$out/$tool" ] && continue
    start=$(date +%s)
    echo "avalanchego-build: building $tool $version from its Go modules (a first build takes minutes)" >&2
    go build -trimpath -ldflags "-X github.com/ava-labs/avalanchego/version.GitCommit=$version" \
        -o "$out/$tool.tmp" "${package[$tool]}"
    mv "$out/$tool.tmp" "$out/$tool"
    echo "avalanchego-build: $tool built in $(( $(date +%s) - start )) s" >&2
done
echo "$out"
