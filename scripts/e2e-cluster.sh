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
#      cluster-up.sh, and cluster-down.sh leaves nothing behind: the host's
#      iptables and routes are as they were before the first cluster-up.sh.
# The cluster has TMPNET_CLUSTER_NODES nodes (default 3); with two or more,
# after the e2e suite: a network with exclusive scheduling gets one
# Kubernetes node per tmpnet node, its nodes reaching each other across
# Kubernetes nodes by pod IP, and a network larger than the nodes fails
# with the scheduler's reason in seconds.
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
for tool in containerd runc buildah iptables conntrack ipset; do
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
# What the host looks like without the cluster: an up and down (and a
# killed cluster reaped by the next up) leave it so.
cluster_down
cluster_host_view >"$work/host-before"
scripts/cluster-up.sh --nodes "${TMPNET_CLUSTER_NODES:-3}" | tee "$work/up.log"
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
  cluster: {server: "https://$APISERVER_IP:$APISERVER_PORT", certificate-authority: "$CLUSTER_DIR/pki/ca.crt"}
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

# policy_test HERE THERE: a refnode server on node HERE, a NetworkPolicy
# letting in only pods labelled access=allowed, and four refnode clients
# told of the server (the server is their bootstrap peer, so a client is
# healthy only while connected to it), allowed and denied, on HERE and on
# THERE: the allowed connect, the denied stay refused, and connect once
# the policy is deleted (so it was the policy that kept them out).
policy_test() {
    local here=$1 there=$2 ns=tmpnet-policy-test ip status i name node access
    echo "== NetworkPolicy: a deny enforced between pods of one node and across nodes"
    admin create namespace "$ns" >/dev/null
    # refnode NAME NODE ACCESS PEERS: a refnode pod pinned to NODE.
    refnode() {
        admin apply -n "$ns" -f - >/dev/null <<EOF
apiVersion: v1
kind: Pod
metadata: {name: $1, labels: {access: $3}}
spec:
  nodeName: $2
  containers:
  - name: refnode
    image: docker.io/tmpnet/refnode:latest
    imagePullPolicy: Never
    args: [--flag, node-id=$1, --flag, db-dir=/data/db, --flag, process-context-file=/data/process.json,
           --flag, http-host=0.0.0.0, --flag, http-port=9650, --flag, p2p-host=0.0.0.0, --flag, p2p-port=9651,
           --flag, "bootstrap-peers=$4"]
EOF
    }
    # health NAME: the HTTP status of the pod's health endpoint, from the host.
    health() {
        ip=$(admin get pod -n "$ns" "$1" -o jsonpath='{.status.podIP}')
        [ -n "$ip" ] || { echo none; return; }
        curl -s -o /dev/null -m 2 -w '%{http_code}' "http://$ip:9650/ext/health" || true
    }
    # until_health NAME STATUS SECONDS
    until_health() {
        for _ in $(seq $(($3 * 2))); do
            [ "$(health "$1")" = "$2" ] && return 0
            sleep 0.5
        done
        cluster_die "NetworkPolicy: pod $1 did not answer $2 within $3 s (last: $(health "$1"))"
    }
    refnode server "$here" server ""
    until_health server 200 60
    admin apply -n "$ns" -f - >/dev/null <<EOF
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: only-allowed}
spec:
  podSelector: {matchLabels: {access: server}}
  policyTypes: [Ingress]
  ingress:
  - from: [{podSelector: {matchLabels: {access: allowed}}}]
EOF
    # In force once the server's node has a chain for the policy.
    for i in $(seq 120); do
        cluster_in "$here" iptables-save -t filter | grep '^:KUBE-NWPLCY-' | grep -qv DEFAULT && break
        [ "$i" -lt 120 ] || cluster_die "NetworkPolicy: no policy chain on $here after 60 s"
        sleep 0.5
    done
    ip=$(admin get pod -n "$ns" server -o jsonpath='{.status.podIP}')
    for name in allowed-here denied-here allowed-there denied-there; do
        node=$here
        [ "${name#*-}" = here ] || node=$there
        access=${name%-*}
        refnode "$name" "$node" "$access" "server@$ip:9651"
    done
    until_health allowed-here 200 60
    until_health allowed-there 200 60
    until_health denied-here 503 60
    until_health denied-there 503 60
    # Refused for 10 s more, dialling every 2 s at most.
    for _ in $(seq 20); do
        for name in denied-here denied-there; do
            status=$(health "$name")
            [ "$status" = 503 ] || cluster_die "NetworkPolicy: pod $name, denied, answered $status (connected to the server?)"
        done
        sleep 0.5
    done
    admin delete networkpolicy -n "$ns" only-allowed >/dev/null
    until_health denied-here 200 60
    until_health denied-there 200 60
    admin delete namespace "$ns" --wait=true >/dev/null
    echo "  allowed pods on $here and $there connected; denied ones refused for 10 s, connected once the policy was deleted"
}

pool=$(admin get nodes -l "$NODE_POOL_LABEL" -o name | wc -l)
if [ "$pool" -ge 2 ]; then
    echo "== several nodes: one tmpnet node per Kubernetes node, traffic across nodes, a network too large"
    "$tmpnetctl" start-network --runtime kube --node-count "$pool" --kube-exclusive-scheduling >"$work/pool.log" 2>&1 \
        || { cat "$work/pool.log" >&2; cluster_die "a network of $pool nodes with exclusive scheduling did not start on $pool Kubernetes nodes"; }
    placed=$(admin get pods -n tmpnet -l app.kubernetes.io/managed-by=tmpnet \
        -o jsonpath='{range .items[*]}{.spec.nodeName} {.status.podIP}{"\n"}{end}')
    [ "$(awk '{ print $1 }' <<<"$placed" | sort -u | wc -l)" = "$pool" ] \
        || cluster_die "exclusive scheduling placed the network's pods as: $(tr '\n' ';' <<<"$placed")"
    # Healthy refnodes are connected to their bootstrap peers, here pods
    # on other Kubernetes nodes, in other nodes' pod ranges.
    [ "$(awk '{ split($2, a, "."); print a[3] }' <<<"$placed" | sort -u | wc -l)" = "$pool" ] \
        || cluster_die "the pods are not in $pool nodes' pod ranges: $(tr '\n' ';' <<<"$placed")"
    echo "  one pod per node, connected across nodes: $(tr '\n' ';' <<<"$placed")"
    "$tmpnetctl" stop-network >/dev/null
    check_empty
    t0=$(date +%s)
    if "$tmpnetctl" start-network --runtime kube --node-count $((pool + 1)) --kube-exclusive-scheduling >"$work/pool.log" 2>&1; then
        cluster_die "a network of $((pool + 1)) nodes with exclusive scheduling started on $pool Kubernetes nodes"
    fi
    took=$(($(date +%s) - t0))
    grep -q "not scheduled after [0-9]*s: .*didn't match pod anti-affinity rules" "$work/pool.log" \
        || { cat "$work/pool.log" >&2; cluster_die "a network too large for the nodes failed without the scheduler's reason"; }
    [ "$took" -lt 90 ] || cluster_die "a network too large for the nodes took $took s to fail"
    echo "  a network of $((pool + 1)) on $pool nodes failed in $took s: $(grep -m1 "anti-affinity" "$work/pool.log")"
    "$tmpnetctl" stop-network >/dev/null 2>&1 || true
    check_empty
    policy_test "$(cluster_node_name 1)" "$(cluster_node_name 2)"
fi

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
scripts/cluster-up.sh --nodes 1 --no-images >"$work/up2.log" 2>&1 || { cat "$work/up2.log" >&2; exit 1; }
left=$(cluster_netns | wc -l)
[ "$left" = 0 ] || cluster_die "the new cluster kept $left pod network namespaces of the killed one"
echo "reaped: $pods_before pod network namespaces of the killed cluster gone, a new cluster up"

echo "== cluster down leaves nothing, and the host as it was"
scripts/cluster-down.sh
cluster_host_view >"$work/host-after"
diff -u "$work/host-before" "$work/host-after" >&2 \
    || cluster_die "the host's iptables or routes differ from before cluster-up.sh (above, - before, + after)"
echo "the host's iptables and routes are as they were before the first cluster-up.sh"
trap - EXIT
rm -rf "$work"
echo "local-cluster e2e: passed"
