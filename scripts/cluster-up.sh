#!/usr/bin/env bash
# Starts a single-node Kubernetes cluster on this machine, from upstream's
# code built here (scripts/cluster-build.sh): etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler, kube-proxy and the kubelet, with
# Debian's containerd and runc running the pods, each pod in a network
# namespace of its own on a CNI bridge (10.244.0.0/24). The images of
# scripts/build-images.sh are loaded into containerd, with the pod
# sandbox's pause image. A volume provisioner gives claims of the default
# StorageClass `tmpnet-local` a directory each.
#
# Needs root. Whatever a killed earlier run left is removed first. Prints
# the line to use the cluster, export KUBECONFIG=... (the admin), and
# leaves upstream's kubectl in the cluster's directory. A failure, Ctrl-C
# or SIGTERM part-way tears down what it started (as cluster-down.sh does),
# keeping the components' logs in a temporary directory it names.
#
# Usage: scripts/cluster-up.sh [--no-images]
#   --no-images  do not load the repository's images (only pause)
#   TMPNET_CLUSTER_DIR, TMPNET_CLUSTER_RUN  state and runtime directories
#   (default /var/lib/tmpnet-cluster, /run/tmpnet-cluster), created here:
#   absent, or an earlier cluster's (with its .tmpnet-cluster marker)
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/cluster-lib.sh
. scripts/cluster-lib.sh
images=1
for arg in "$@"; do
    case "$arg" in
    --no-images) images=0 ;;
    *) cluster_die "unknown argument $arg; see the usage at the top of $0" ;;
    esac
done
[ "$(id -u)" = 0 ] || cluster_die "cluster-up.sh needs root (it runs containerd and the kubelet); run it with sudo"
cluster_need containerd containerd
cluster_need containerd-shim-runc-v2 containerd
cluster_need ctr containerd
cluster_need runc runc
cluster_need /usr/lib/cni/bridge containernetworking-plugins
cluster_need iptables iptables
cluster_need conntrack conntrack
cluster_need openssl openssl
cluster_need curl curl
cluster_need ip iproute2
cluster_need buildah buildah
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
started=$(now)

bin=$(scripts/cluster-build.sh)
cluster_down

# From here on, whatever fails tears down what this run started. ERR notes
# the failing line (inherited by functions, -E; in a subshell it only sets
# a variable of the subshell), INT and TERM the signal; the EXIT trap tears
# down (it also sees an exit on an unset variable).
set -E
failure=""
up_failed() {
    local rc=$? logs
    trap - ERR INT TERM EXIT
    echo "cluster-up ${failure:-failed (exit status $rc)}: tearing down what it started" >&2
    if [ -n "${pause_ctx:-}" ]; then rm -rf "$pause_ctx"; fi
    if [ -f "$CLUSTER_DIR/$CLUSTER_MARKER" ] && [ -d "$CLUSTER_DIR/logs" ] \
        && logs=$(mktemp -d "${TMPDIR:-/tmp}/tmpnet-cluster-logs.XXXXXX") \
        && cp -r "$CLUSTER_DIR/logs/." "$logs/"; then
        echo "cluster-up: the components' logs are kept in $logs" >&2
    fi
    cluster_down || true
    exit "$rc"
}
trap 'failure="failed at line $LINENO"; [ "${BASH_SOURCE[0]}" = "$0" ] || failure+=" of ${BASH_SOURCE[0]}"' ERR
trap 'failure="stopped by SIGINT"; exit 130' INT
trap 'failure="stopped by SIGTERM"; exit 143' TERM
trap up_failed EXIT

# Both directories are new, and marked as the cluster's before anything is
# written into them: cluster_down removes nothing else.
mkdir -p "$(dirname "$CLUSTER_DIR")" "$(dirname "$CLUSTER_RUN")"
mkdir "$CLUSTER_DIR" "$CLUSTER_RUN"
cluster_mark "$CLUSTER_DIR"
cluster_mark "$CLUSTER_RUN"
mkdir -p "$CLUSTER_DIR"/{pki,logs,etcd,kubelet,pod-logs,volumes,containerd,cni/net.d,cni/ipam} "$CLUSTER_RUN"/{containerd,runc}
chmod 700 "$CLUSTER_DIR/pki"
log=$CLUSTER_DIR/logs
k8s=$bin/tmpnet-k8s

# The node's address lives on the pods' bridge, made here (the CNI bridge
# plugin takes it over), so pods reach the API server and nothing listens
# beyond this machine.
ip link add "$CLUSTER_BRIDGE" type bridge
ip addr add "$NODE_IP/${POD_CIDR#*/}" dev "$CLUSTER_BRIDGE"
ip link set "$CLUSTER_BRIDGE" up

# ---- certificates (one CA; 0600 keys in a 0700 directory) -----------------
pki=$CLUSTER_DIR/pki
openssl_quiet() { openssl "$@" 2>/dev/null; }
openssl_quiet req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=tmpnet-cluster-ca" \
    -keyout "$pki/ca.key" -out "$pki/ca.crt"
# cert NAME SUBJECT USAGE [SANS]
cert() {
    local ext="extendedKeyUsage=$3"
    [ -n "${4:-}" ] && ext="$ext
subjectAltName=$4"
    openssl_quiet req -new -newkey rsa:2048 -nodes -subj "$2" -keyout "$pki/$1.key" -out "$pki/$1.csr"
    openssl_quiet x509 -req -in "$pki/$1.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial \
        -days 30 -out "$pki/$1.crt" -extfile <(echo "$ext")
    rm -f "$pki/$1.csr"
}
cert apiserver "/CN=kube-apiserver" serverAuth \
    "IP:$NODE_IP,IP:127.0.0.1,IP:$KUBERNETES_SERVICE_IP,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
cert kubelet "/CN=$CLUSTER_NODE" serverAuth "IP:$NODE_IP,DNS:$CLUSTER_NODE"
cert admin "/O=system:masters/CN=tmpnet-admin" clientAuth
cert apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client" clientAuth
cert controller-manager "/CN=system:kube-controller-manager" clientAuth
cert scheduler "/CN=system:kube-scheduler" clientAuth
cert kube-proxy "/CN=system:kube-proxy" clientAuth
cert node "/O=system:nodes/CN=system:node:$CLUSTER_NODE" clientAuth
# The provisioner's own identity; its rights come from RBAC below.
cert provisioner "/CN=tmpnet:local-provisioner" clientAuth
openssl_quiet genrsa -out "$pki/sa.key" 2048
openssl_quiet rsa -in "$pki/sa.key" -pubout -out "$pki/sa.pub"
chmod 600 "$pki"/*.key

server=https://$NODE_IP:$APISERVER_PORT
kubeconfig() { # NAME (cert NAME) -> $CLUSTER_DIR/NAME.kubeconfig
    cat >"$CLUSTER_DIR/$1.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: tmpnet
  cluster: {server: "$server", certificate-authority: "$pki/ca.crt"}
users:
- name: $1
  user: {client-certificate: "$pki/$1.crt", client-key: "$pki/$1.key"}
contexts:
- name: tmpnet
  context: {cluster: tmpnet, user: $1}
current-context: tmpnet
EOF
    chmod 600 "$CLUSTER_DIR/$1.kubeconfig"
}
for who in admin controller-manager scheduler kube-proxy node provisioner; do kubeconfig "$who"; done

# start NAME ARGS...: runs a component in its own session, logging to
# logs/NAME.log; its pid in the runtime directory.
start() {
    local name=$1
    shift
    setsid "$@" >"$log/$name.log" 2>&1 </dev/null &
    echo $! >"$CLUSTER_RUN/$name.pid"
}
# wait_for WHAT LOG SECONDS COMMAND...: polls until COMMAND succeeds; on
# timeout shows the end of logs/LOG.log.
wait_for() {
    local what=$1 name=$2 limit=$3 t0
    shift 3
    t0=$(now)
    for _ in $(seq $((limit * 5))); do
        if "$@" >/dev/null 2>&1; then
            echo "  $what: $(since "$t0") s"
            return 0
        fi
        sleep 0.2
    done
    echo "error: $what not ready after $limit s; last lines of its log:" >&2
    tail -n 20 "$log/$name.log" >&2 2>/dev/null || true
    return 1
}
alive() { kill -0 "$(cat "$CLUSTER_RUN/$1.pid")"; }
kubectl() { "$k8s" kubectl --kubeconfig "$CLUSTER_DIR/admin.kubeconfig" "$@"; }

echo "== control plane (Kubernetes $("$k8s" kubectl version --client -o yaml | sed -n 's/^  gitVersion: //p'))"
start etcd "$k8s" etcd --name tmpnet --data-dir "$CLUSTER_DIR/etcd" --unsafe-no-fsync --log-level error \
    --listen-client-urls "http://127.0.0.1:$ETCD_CLIENT_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_CLIENT_PORT" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster "tmpnet=http://127.0.0.1:$ETCD_PEER_PORT" --listen-metrics-urls ""
wait_for etcd etcd 30 curl -sf "http://127.0.0.1:$ETCD_CLIENT_PORT/health"

# Requests of people and tests (the admin and the tmpnet namespace's
# accounts), not of the cluster's own components, one line each: what the
# benchmarks count.
cat >"$CLUSTER_DIR/audit-policy.yaml" <<EOF
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived, ResponseStarted]
rules:
- level: Metadata
  userGroups: ["system:masters", "system:serviceaccounts:tmpnet"]
- level: None
EOF
start kube-apiserver "$k8s" kube-apiserver \
    --audit-policy-file "$CLUSTER_DIR/audit-policy.yaml" --audit-log-path "$log/audit.log" \
    --etcd-servers "http://127.0.0.1:$ETCD_CLIENT_PORT" \
    --bind-address "$NODE_IP" --advertise-address "$NODE_IP" --secure-port "$APISERVER_PORT" \
    --cert-dir "$CLUSTER_DIR/apiserver" \
    --tls-cert-file "$pki/apiserver.crt" --tls-private-key-file "$pki/apiserver.key" \
    --client-ca-file "$pki/ca.crt" \
    --kubelet-client-certificate "$pki/apiserver-kubelet-client.crt" --kubelet-client-key "$pki/apiserver-kubelet-client.key" \
    --kubelet-certificate-authority "$pki/ca.crt" --kubelet-preferred-address-types InternalIP \
    --service-account-issuer "https://kubernetes.default.svc.cluster.local" \
    --service-account-key-file "$pki/sa.pub" --service-account-signing-key-file "$pki/sa.key" \
    --service-cluster-ip-range "$SERVICE_CIDR" \
    --authorization-mode Node,RBAC --enable-admission-plugins NodeRestriction \
    --allow-privileged=true --profiling=false
wait_for kube-apiserver kube-apiserver 90 curl -sf --cacert "$pki/ca.crt" --cert "$pki/admin.crt" --key "$pki/admin.key" "$server/readyz"

start kube-controller-manager "$k8s" kube-controller-manager \
    --kubeconfig "$CLUSTER_DIR/controller-manager.kubeconfig" \
    --authentication-kubeconfig "$CLUSTER_DIR/controller-manager.kubeconfig" \
    --authorization-kubeconfig "$CLUSTER_DIR/controller-manager.kubeconfig" \
    --bind-address 127.0.0.1 --secure-port 10257 --leader-elect=false \
    --service-account-private-key-file "$pki/sa.key" --root-ca-file "$pki/ca.crt" \
    --use-service-account-credentials=true \
    --cluster-signing-cert-file "$pki/ca.crt" --cluster-signing-key-file "$pki/ca.key" \
    --kube-api-qps 100 --kube-api-burst 200
start kube-scheduler "$k8s" kube-scheduler \
    --kubeconfig "$CLUSTER_DIR/scheduler.kubeconfig" \
    --authentication-kubeconfig "$CLUSTER_DIR/scheduler.kubeconfig" \
    --authorization-kubeconfig "$CLUSTER_DIR/scheduler.kubeconfig" \
    --bind-address 127.0.0.1 --secure-port 10259 --leader-elect=false
wait_for kube-controller-manager kube-controller-manager 60 curl -skf https://127.0.0.1:10257/healthz
wait_for kube-scheduler kube-scheduler 60 curl -skf https://127.0.0.1:10259/healthz

cat >"$CLUSTER_DIR/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
clientConnection: {kubeconfig: "$CLUSTER_DIR/kube-proxy.kubeconfig"}
hostnameOverride: $CLUSTER_NODE
clusterCIDR: $POD_CIDR
bindAddress: $NODE_IP
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
conntrack: {maxPerCore: 0}
EOF
start kube-proxy "$k8s" kube-proxy --config "$CLUSTER_DIR/kube-proxy.yaml"

# ---- the node: containerd (CRI), the pause image, the kubelet -------------
echo "== node"
cat >"$CLUSTER_DIR/cni/net.d/10-tmpnet.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "tmpnet",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$CLUSTER_BRIDGE",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "dataDir": "$CLUSTER_DIR/cni/ipam",
        "ranges": [[{"subnet": "$POD_CIDR", "gateway": "$NODE_IP"}]],
        "routes": [{"dst": "0.0.0.0/0"}]
      }
    },
    {"type": "loopback"}
  ]
}
EOF
cat >"$CLUSTER_DIR/containerd.toml" <<EOF
version = 2
root = "$CLUSTER_DIR/containerd"
state = "$CLUSTER_RUN/containerd"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]
[grpc]
  address = "$CONTAINERD_SOCK"
[ttrpc]
  address = "$CLUSTER_RUN/containerd/containerd.sock.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "$CLUSTER_DIR/containerd/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "registry.k8s.io/pause:3.10"
  # Lowering a process's OOM score needs CAP_SYS_RESOURCE, which root may
  # lack (these machines' root does): runc would fail every pod sandbox
  # (the kubelet asks -998 for it). Scores below containerd's own are
  # raised to it instead.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$CLUSTER_DIR/cni/net.d"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "$CLUSTER_RUN/runc/k8s.io"
EOF
# No registry is contacted: every image is loaded here, and a pull of any
# other goes to a proxy on a closed loopback port, failing at once.
start containerd env HTTPS_PROXY=http://127.0.0.1:1 HTTP_PROXY=http://127.0.0.1:1 NO_PROXY= \
    containerd --config "$CLUSTER_DIR/containerd.toml"
wait_for containerd containerd 30 ctr -a "$CONTAINERD_SOCK" version
ctr_() { ctr -a "$CONTAINERD_SOCK" -n k8s.io "$@"; }

# load NAME IMAGE: a buildah image into containerd under its full name.
load() {
    local archive="$CLUSTER_DIR/$1.tar" t0
    t0=$(now)
    buildah push --quiet "$2" "oci-archive:$archive:$3" >/dev/null
    ctr_ images import --no-unpack=false "$archive" >/dev/null
    cluster_name_by_digest "$3"
    rm -f "$archive"
    echo "  image $3: $(since "$t0") s"
}
pause_ctx=$(mktemp -d)
cp "$bin/pause" "$pause_ctx/pause"
printf 'FROM scratch\nCOPY pause /pause\nUSER 65535:65535\nENTRYPOINT ["/pause"]\n' >"$pause_ctx/Dockerfile"
buildah bud --quiet --layers --pull=never --isolation chroot -t localhost/tmpnet-pause:cluster "$pause_ctx" >/dev/null
rm -rf "$pause_ctx"
load pause localhost/tmpnet-pause:cluster registry.k8s.io/pause:3.10
if [ "$images" = 1 ]; then
    for image in runner refnode litecoind avalanchego bootstrap-monitor; do
        if buildah inspect --type image "tmpnet/$image:latest" >/dev/null 2>&1; then
            load "$image" "tmpnet/$image:latest" "docker.io/tmpnet/$image:latest"
        else
            echo "  image tmpnet/$image:latest: not built (scripts/build-images.sh builds it)"
        fi
    done
fi

# The pods' cgroups live under one cgroup of each hierarchy, the cluster's.
for hierarchy in /sys/fs/cgroup/*/; do
    [ -f "$hierarchy/cgroup.procs" ] && mkdir -p "$hierarchy$CLUSTER_CGROUP"
done
cat >"$CLUSTER_DIR/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $NODE_IP
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
tlsCertFile: $pki/kubelet.crt
tlsPrivateKeyFile: $pki/kubelet.key
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $pki/ca.crt}
authorization: {mode: Webhook}
cgroupDriver: cgroupfs
cgroupRoot: /$CLUSTER_CGROUP
containerRuntimeEndpoint: unix://$CONTAINERD_SOCK
podLogsDir: $CLUSTER_DIR/pod-logs
failSwapOn: false
resolvConf: /etc/resolv.conf
# A test machine's disk may be fuller than a production node's thresholds.
evictionHard: {memory.available: "100Mi", nodefs.available: "1%", imagefs.available: "1%"}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
serializeImagePulls: false
EOF
start kubelet "$k8s" kubelet --config "$CLUSTER_DIR/kubelet.yaml" \
    --kubeconfig "$CLUSTER_DIR/node.kubeconfig" --root-dir "$CLUSTER_DIR/kubelet" \
    --hostname-override "$CLUSTER_NODE" --node-ip "$NODE_IP"
node_ready() {
    [ "$(kubectl get node "$CLUSTER_NODE" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}')" = True ]
}
wait_for "node $CLUSTER_NODE Ready" kubelet 120 node_ready

# ---- storage and the default namespace's account ---------------------------
kubectl apply -f - >/dev/null <<EOF
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: tmpnet-local
  annotations: {storageclass.kubernetes.io/is-default-class: "true"}
provisioner: tmpnet.local/hostpath
reclaimPolicy: Delete
volumeBindingMode: Immediate
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: "tmpnet:local-provisioner"}
rules:
- {apiGroups: [""], resources: [persistentvolumeclaims], verbs: [get, list, watch]}
- {apiGroups: [""], resources: [persistentvolumes], verbs: [get, list, watch, create, delete]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: "tmpnet:local-provisioner"}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "tmpnet:local-provisioner"}
subjects:
- {apiGroup: rbac.authorization.k8s.io, kind: User, name: "tmpnet:local-provisioner"}
EOF
start local-provisioner "$k8s" local-provisioner --kubeconfig "$CLUSTER_DIR/provisioner.kubeconfig" \
    --base-dir "$CLUSTER_DIR/volumes"
wait_for "default ServiceAccount" kube-controller-manager 60 kubectl get serviceaccount default
for name in $COMPONENTS; do
    alive "$name" || { echo "error: $name exited during start (see $name.log among its logs)" >&2; false; }
done
ln -s "$k8s" "$CLUSTER_DIR/kubectl"
trap - ERR INT TERM EXIT
echo "cluster up in $(since "$started") s (logs in $log; kubectl: $CLUSTER_DIR/kubectl)"
echo "export KUBECONFIG=$CLUSTER_DIR/admin.kubeconfig"
