#!/usr/bin/env bash
# Builds the local cluster's binaries from the upstream Go modules pinned by
# cluster/go.mod and go.sum (Kubernetes control plane, kubelet, kube-proxy,
# kubectl and etcd in one binary, `tmpnet-k8s`, plus the pod sandbox's
# `pause`), into a cache keyed on the wrapper's sources, go.sum and the Go
# version, so a machine builds each version once; and kube-router (its
# NetworkPolicy controller is the cluster's) from cluster/netpol, a module
# of its own cached on its own key, linked into the same directory. Prints
# the directory.
#   TMPNET_CLUSTER_CACHE  cache root (default ~/.cache/tmpnet-cluster)
set -euo pipefail
cd "$(dirname "$0")/../cluster"
command -v go >/dev/null || { echo "cluster-build: go is required (install Go 1.24 or newer)" >&2; exit 1; }
export GOTOOLCHAIN=local GOFLAGS=-mod=readonly CGO_ENABLED=0
version=$(sed -n 's/^\s*k8s.io\/kubernetes \(v[0-9.]*\)$/\1/p' go.mod | head -1)
key=$( (cat go.sum go.mod ./*.go pause/*.go; go version) | sha256sum | cut -c1-16)
cache=${TMPNET_CLUSTER_CACHE:-$HOME/.cache/tmpnet-cluster}
out=$cache/$version-$key
router=github.com/cloudnativelabs/kube-router/v2
router_version=$(awk -v m="$router" '$1 == m { print $2 } $1 == "require" && $2 == m { print $3 }' netpol/go.mod | head -1)
netpol_key=$( (cat netpol/go.sum netpol/go.mod; go version) | sha256sum | cut -c1-16)
netpol=$cache/kube-router-$router_version-$netpol_key
if [ ! -x "$netpol/kube-router" ]; then
    echo "cluster-build: building kube-router $router_version from its Go modules" >&2
    mkdir -p "$netpol.tmp"
    (cd netpol && go build -trimpath -ldflags "-s -w" -o "$netpol.tmp/kube-router" "$router/cmd/kube-router")
    rm -rf "$netpol"
    mv "$netpol.tmp" "$netpol"
fi
if [ -x "$out/tmpnet-k8s" ] && [ -x "$out/pause" ]; then
    ln -sfn "$netpol/kube-router" "$out/kube-router"
    echo "$out"
    exit 0
fi
mkdir -p "$out.tmp"
minor=${version#v1.}; minor=${minor%%.*}
pkg=k8s.io/component-base/version
ldflags="-s -w -X $pkg.gitVersion=$version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
start=$(date +%s)
echo "cluster-build: building Kubernetes $version from its Go modules (a first build takes a while)" >&2
go build -p "$(nproc)" -trimpath -ldflags "$ldflags" -o "$out.tmp/tmpnet-k8s" .
go build -trimpath -ldflags "-s -w" -o "$out.tmp/pause" ./pause
for name in etcd kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl; do
    ln -sf tmpnet-k8s "$out.tmp/$name"
done
ln -sfn "$netpol/kube-router" "$out.tmp/kube-router"
rm -rf "$out"
mv "$out.tmp" "$out"
echo "cluster-build: built in $(( $(date +%s) - start )) s" >&2
echo "$out"
