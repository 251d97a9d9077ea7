#!/usr/bin/env bash
# Stops the local cluster of scripts/cluster-up.sh and removes everything it
# made: processes, containers, mounts, network namespaces (with the iptables
# rules inside them), the bridge, the routes, cgroups and directories, and
# puts back the kernel tunables the kubelets set; only what cluster-up.sh
# recorded is touched on the host. Safe to run when nothing is up.
# Exits 1, naming each leftover, if anything remains. Refuses, touching
# nothing, when a directory of the cluster exists without the marker
# cluster-up.sh writes into it (.tmpnet-cluster).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/cluster-lib.sh
. scripts/cluster-lib.sh
[ "$(id -u)" = 0 ] || cluster_die "cluster-down.sh needs root; run it with sudo"
cluster_down
if ! cluster_leftovers >&2; then
    cluster_die "the cluster left the above behind"
fi
echo "cluster down: no process, mount, network namespace, interface or cgroup left; the host as it was"
