#!/usr/bin/env bash
# The kube benchmarks with the local cluster beside the simulator: brings
# the cluster up (scripts/cluster-up.sh, images from scripts/build-images.sh),
# applies deploy/rbac.yaml, runs the kube_start and runner benchmarks on it,
# and brings it down. Prints the cluster's start time first.
#   scripts/bench-cluster.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/cluster-lib.sh
. scripts/cluster-lib.sh
runs=${1:-5}
trap 'scripts/cluster-down.sh >/dev/null' EXIT
scripts/build-images.sh >/dev/null
scripts/cluster-up.sh
"$CLUSTER_DIR/kubectl" --kubeconfig "$CLUSTER_DIR/admin.kubeconfig" apply -f deploy/rbac.yaml >/dev/null
export TMPNET_BENCH_CLUSTER_DIR=$CLUSTER_DIR
cargo bench --locked -p tmpnet-acceptance --bench benches -- kube_start "$runs"
cargo bench --locked -p tmpnet-acceptance --bench benches -- runner "$((runs < 3 ? runs : 3))"
