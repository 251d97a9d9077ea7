#!/usr/bin/env bash
# Kube mode end to end on a real Kubernetes built here (scripts/cluster-up.sh:
# upstream's control plane, kubelet and kube-proxy; Debian's containerd and
# runc; a CNI bridge), as the least-privilege account of deploy/rbac.yaml:
#   1. the example e2e suite in kube mode, reaching nodes through port-forward;
#   2. the runner cases of tests/runner_e2e, as on the simulator: the
#      suite inside the cluster as a Job from the real runner image (nodes
#      reached by pod IP), failing, detached with a forwarded secret,
#      Ctrl-C, kill -9, a missing image, a missing ServiceAccount, a
#      deadline, a detached Job deleted mid-run;
#   3. the bitcoind-family (litecoind) chain suite in kube mode;
#   4. the avalanchego suite in kube mode (five validators, a transfer, an
#      ephemeral node, a restart), the same suite the acceptance tests run
#      on local processes;
#   5. the bootstrap monitor (tests/bootstrap_monitor_e2e): a litecoind
#      regtest network of 300 blocks synced by a monitored node from its
#      moving tag, a rebuilt image starting a new test on its own; a
#      refnode store synced with the pod deleted mid-sync (resumed, not
#      wiped); each monitor removed;
#   6. after each, the namespace holds nothing of tmpnet;
#   0. first, the simulator against this cluster through independent
#      clients: the official Python client's view of a StatefulSet's life
#      (tmpnet-kubesim/tests/python/same_view.py) compared whole, and
#      kubectl finding each resource the simulator serves by the names and
#      short names the cluster gives it;
#   7. a cluster whose processes were killed is reaped by the next
#      cluster-up.sh, and cluster-down.sh leaves nothing behind.
# The images come from scripts/build-images.sh (run by the simulated tier
# before this one; run here when missing).
#
# Needs root, Go and the Debian packages cluster-up.sh names. Where they are
# missing this fails, or with TMPNET_REQUIRE_REAL_NODES=0 says NOT RUN.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/cluster-lib.sh
. scripts/cluster-lib.sh

not_run() {
    if [ "${TMPNET_REQUIRE_REAL_NODES:-1}" = 1 ]; then
        cluster_die "$1 (or set TMPNET_REQUIRE_REAL_NODES=0 to skip the local-cluster tier)"
    fi
    echo "################################################################" >&2
    echo "## NOT RUN: the local-cluster tier: $1" >&2
    echo "################################################################" >&2
    exit 0
}
[ "$(id -u)" = 0 ] || not_run "it needs root (containerd and the kubelet)"
command -v go >/dev/null || not_run "go is missing (install Go 1.24 or newer)"
for tool in containerd runc buildah iptables conntrack; do
    command -v "$tool" >/dev/null || not_run "$tool is missing; install it with \`apt-get install $tool\`"
done
[ -x /usr/lib/cni/bridge ] || not_run "the CNI plugins are missing; install them with \`apt-get install containernetworking-plugins\`"

work="$(mktemp -d)"
cleanup() {
    rc=$?
    [ -z "${sim_pid:-}" ] || kill "$sim_pid" 2>/dev/null || true
    if [ "$rc" != 0 ] && [ -d "$CLUSTER_DIR/logs" ]; then
        # The cluster's own logs outlive it when something failed.
        rm -rf target/cluster-logs
        mkdir -p target
        cp -r "$CLUSTER_DIR/logs" target/cluster-logs
        echo "the cluster's logs (each component's, the audit log) are in target/cluster-logs" >&2
    fi
    if ! cluster_down; then
        [ "$rc" != 0 ] || rc=1
    fi
    rm -rf "$work"
    exit $rc
}
trap cleanup EXIT

if ! buildah inspect --type image tmpnet/runner:latest >/dev/null 2>&1 \
    || [ ! -f target/images/oci/index.json ]; then
    scripts/build-images.sh
fi
cargo build --quiet --locked -p tmpnetctl
tmpnetctl="$(pwd)/target/debug/tmpnetctl"

echo "== cluster up"
scripts/cluster-up.sh | tee "$work/up.log"
admin_kubeconfig="$CLUSTER_DIR/admin.kubeconfig"
admin() { "$CLUSTER_DIR/kubectl" --kubeconfig "$admin_kubeconfig" "$@"; }

echo "== deploy/rbac.yaml, and a kubeconfig for its ServiceAccount"
admin apply -f deploy/rbac.yaml >/dev/null
sa_kubeconfig="$work/tmpnet.kubeconfig"
token="$(admin create token tmpnet -n tmpnet --duration=2h)"
cat >"$sa_kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: tmpnet
  cluster: {server: "https://$NODE_IP:$APISERVER_PORT", certificate-authority: "$CLUSTER_DIR/pki/ca.crt"}
users:
- name: tmpnet
  user: {token: "$token"}
contexts:
- name: tmpnet
  context: {cluster: tmpnet, user: tmpnet, namespace: tmpnet}
current-context: tmpnet
EOF
chmod 600 "$sa_kubeconfig"
unset token
sa() { "$CLUSTER_DIR/kubectl" --kubeconfig "$sa_kubeconfig" "$@"; }
sa auth can-i create statefulsets.apps -n tmpnet >/dev/null \
    || cluster_die "ServiceAccount tmpnet cannot create statefulsets in tmpnet; check deploy/rbac.yaml"
if sa auth can-i create namespaces >/dev/null 2>&1; then
    cluster_die "ServiceAccount tmpnet can create namespaces; deploy/rbac.yaml is not least-privilege"
fi

echo "== the simulator against this cluster, through clients of their own (the Python client, kubectl)"
# The same script of the official Python client on both: a StatefulSet's
# pods read from the moment the set exists, its facts compared whole.
python3 -c 'import kubernetes' 2>/dev/null \
    || not_run "the Python kubernetes client is missing; install it with \`python3 -m pip install kubernetes\`"
cargo build --quiet --locked -p tmpnet-kubesim
target/debug/tmpnet-kubesim serve --kubeconfig-out "$work/sim.kubeconfig" \
    --image-dir target/images/oci 2>"$work/sim.log" &
sim_pid=$!
for _ in $(seq 1 100); do
    [ -s "$work/sim.kubeconfig" ] && break
    kill -0 "$sim_pid" 2>/dev/null || { cat "$work/sim.log" >&2; cluster_die "the simulator did not start"; }
    sleep 0.1
done
[ -s "$work/sim.kubeconfig" ] || cluster_die "the simulator did not start"
real_view=$(python3 tmpnet-kubesim/tests/python/same_view.py "$admin_kubeconfig" default tmpnet/refnode:latest)
sim_view=$(python3 tmpnet-kubesim/tests/python/same_view.py "$work/sim.kubeconfig" default tmpnet/refnode:latest)
[ "$real_view" = "$sim_view" ] \
    || cluster_die "the Python client sees the simulator otherwise: cluster $real_view; simulator $sim_view"
echo "the Python client sees a StatefulSet's life alike on both: $real_view"
# kubectl finds every resource the simulator serves by the names and short
# names the cluster gives it, and lists them.
sim_kubectl() { "$CLUSTER_DIR/kubectl" --kubeconfig "$work/sim.kubeconfig" "$@"; }
for names in ns po,svc,cm,sts,sa,ep,ev,pvc all jobs,ing,roles,rolebindings,secrets; do
    sim_kubectl get "$names" -n default -o name >/dev/null \
        || cluster_die "kubectl get $names fails on the simulator"
done
sim_kubectl api-resources --no-headers | tr -s ' ' >"$work/sim-resources"
admin api-resources --no-headers | tr -s ' ' >"$work/real-resources"
[ -s "$work/sim-resources" ] || cluster_die "kubectl api-resources lists nothing on the simulator"
while read -r line; do
    grep -qxF "$line" "$work/real-resources" \
        || cluster_die "kubectl api-resources on the simulator: '$line'; the cluster: '$(grep "^${line%% *} " "$work/real-resources")'"
done <"$work/sim-resources"
echo "kubectl: $(wc -l <"$work/sim-resources") resources the simulator serves, named as the cluster names them"
kill "$sim_pid"
wait "$sim_pid" 2>/dev/null || true
unset sim_pid

# The namespace holds no object of tmpnet, and no volume is left (dependents
# go with their owners through garbage collection, and a released volume
# with its provisioner: eventual, allowed 60 s).
check_empty() {
    local left
    for _ in $(seq 120); do
        left=$(admin get pods,services,endpoints,configmaps,secrets,persistentvolumeclaims,statefulsets,jobs,ingresses,serviceaccounts,roles,rolebindings \
            -n tmpnet -l app.kubernetes.io/managed-by=tmpnet -o name)
        left="$left $(admin get persistentvolumes -o custom-columns=NAME:.metadata.name,PHASE:.status.phase --no-headers)"
        [ -z "${left// /}" ] && break
        sleep 0.5
    done
    [ -z "${left// /}" ] || cluster_die "left in the cluster after 60 s: $(tr -s '[:space:]' ' ' <<<"$left")"
    echo "namespace tmpnet is empty of tmpnet objects, and no volume is left"
}

export E2E_USE_KUBERNETES=true KUBECONFIG="$sa_kubeconfig" TMPNET_KUBE_NAMESPACE=tmpnet \
    TMPNET_ROOT_DIR="$work/root"

echo "== e2e suite in kube mode (local cluster, port-forward), as the tmpnet ServiceAccount"
cargo test --locked -p e2e-suite
check_empty

echo "== the runner cases (tests/runner_e2e), as on the simulator"
kubectl_admin="$CLUSTER_DIR/kubectl --kubeconfig $admin_kubeconfig"
ADMIN_KUBECONFIG="$admin_kubeconfig" TMPNETCTL="$tmpnetctl" RUNNER_E2E_WORK="$work" \
    RUNNER_E2E_SECRET_SCAN="$CLUSTER_DIR/logs" RUNNER_E2E_LOAD=local-cluster \
    RUNNER_E2E_DIAGNOSE="$kubectl_admin get pods,jobs,statefulsets,pvc -n tmpnet -o wide; $kubectl_admin get events -n tmpnet --sort-by=.lastTimestamp | tail -n 30" \
    cargo run --quiet --locked -p tmpnet-acceptance --bin runner-e2e

echo "== bitcoind-family (litecoind) chain suite in kube mode (local cluster)"
E2E_NODE_KIND=bitcoind E2E_NODE_COUNT=3 cargo run --quiet --locked -p tmpnet-acceptance --bin chain-suite
check_empty

echo "== avalanchego suite in kube mode (local cluster)"
E2E_NODE_KIND=avalanchego E2E_NODE_COUNT=5 cargo run --quiet --locked -p tmpnet-acceptance --bin avalanche-suite
check_empty

echo "== bootstrap monitor on the local cluster (monitors deployed by the cluster's admin)"
TMPNETCTL="$tmpnetctl" MONITOR_KUBECONFIG="$admin_kubeconfig" REBUILD_LITECOIND="scripts/cluster-rebuild-image.sh tmpnet/litecoind:latest" \
    cargo run --quiet --locked -p tmpnet-acceptance --bin bootstrap-monitor-e2e
check_empty

echo "== a cluster killed with kill -9 is reaped by the next cluster-up.sh"
"$tmpnetctl" start-network --runtime kube --node-count 2 >"$work/left.log" 2>&1 \
    || { cat "$work/left.log" >&2; exit 1; }
pods_before=$(cluster_netns | wc -l)
[ "$pods_before" -ge 2 ] || cluster_die "expected the network's pods in their own namespaces, found $pods_before"
mapfile -t pids < <(cluster_pids)
kill -9 "${pids[@]}" 2>/dev/null || true
unset E2E_USE_KUBERNETES KUBECONFIG
scripts/cluster-up.sh --no-images >"$work/up2.log" 2>&1 || { cat "$work/up2.log" >&2; exit 1; }
left=$(cluster_netns | wc -l)
[ "$left" = 0 ] || cluster_die "the new cluster kept $left pod network namespaces of the killed one"
echo "reaped: $pods_before pod network namespaces of the killed cluster gone, a new cluster up"

echo "== cluster down leaves nothing"
scripts/cluster-down.sh
trap - EXIT
rm -rf "$work"
echo "local-cluster e2e: passed"
