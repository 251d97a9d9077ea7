#!/usr/bin/env bash
# Starts a Kubernetes cluster of several nodes on this machine, from
# upstream's code built here (scripts/cluster-build.sh), in network
# namespaces of its own: the control plane (etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler) in one, each node (Debian's
# containerd and runc, the kubelet, kube-proxy) in another, all on one
# bridge the cluster makes (tmpnet0, 10.245.0.0/24: the host's end .1, the
# API server .2, node I .(10+I)). Node I's pods get 10.244.I.0/24, each pod
# a network namespace of its own on the node's CNI bridge; one route per
# node range joins them. kube-proxy's and the CNI plugins' iptables rules
# stay in the node's namespace: the host's tables are not touched, and the
# host gets only the bridge, its two veth ends per namespace and one route
# per pod range, each recorded before it is made (cluster-down.sh removes
# exactly these). Every node is labelled tmpnet.io/node-pool=tmpnet. The
# images of scripts/build-images.sh are loaded into every node, with the
# pod sandbox's pause image. A volume provisioner gives claims of the
# default StorageClass `tmpnet-local` a directory each.
#
# Needs root. Whatever a killed earlier run left is removed first. Prints
# the line to use the cluster, export KUBECONFIG=... (the admin), and
# leaves upstream's kubectl in the cluster's directory. A failure, Ctrl-C
# or SIGTERM part-way tears down what it started (as cluster-down.sh does),
# keeping the components' logs in a temporary directory it names.
#
# Usage: scripts/cluster-up.sh [--nodes N] [--no-images]
#   --nodes N    Kubernetes nodes (default 3, at most 50; each costs about
#                150 MB of memory and a copy of every image)
#   --no-images  do not load the repository's images (only pause)
#   TMPNET_CLUSTER_DIR, TMPNET_CLUSTER_RUN  state and runtime directories
#   (default /var/lib/tmpnet-cluster, /run/tmpnet-cluster), created here:
#   absent, or an earlier cluster's (with its .tmpnet-cluster marker)
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/cluster-lib.sh
. scripts/cluster-lib.sh
images=1
nodes=3
while [ $# -gt 0 ]; do
    case "$1" in
    --no-images) images=0 ;;
    --nodes)
        [ $# -ge 2 ] || cluster_die "--nodes needs a number, e.g. --nodes 3"
        nodes=$2
        shift
        ;;
    --nodes=*) nodes=${1#--nodes=} ;;
    *) cluster_die "unknown argument $1; see the usage at the top of $0" ;;
    esac
    shift
done
case "$nodes" in
"" | *[!0-9]* | 0*) cluster_die "--nodes takes a whole number from 1 to 50, not '$nodes'" ;;
esac
[ "$nodes" -le 50 ] || cluster_die "--nodes takes a whole number from 1 to 50, not '$nodes'"
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
cluster_need nsenter util-linux
cluster_need ipset ipset
cluster_need buildah buildah
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
started=$(now)

bin=$(scripts/cluster-build.sh)
cluster_down
# Names the cluster makes on the host must be free: what is there now was
# not made by this cluster (not in its record), so it is not removed.
for name in "$CLUSTER_BRIDGE" "$CONTROL_VETH" $(for i in $(seq "$nodes"); do cluster_node_veth "$i"; done); do
    if ip link show "$name" >/dev/null 2>&1; then
        cluster_die "an interface $name exists that this cluster did not make (an older cluster-up.sh's?); look at it with \`ip link show $name\`, remove it with \`ip link delete $name\`, then run again"
    fi
done
for name in "$CONTROL_NETNS" $(for i in $(seq "$nodes"); do cluster_node_name "$i"; done); do
    if [ -e "/run/netns/$name" ]; then
        cluster_die "a network namespace $name exists that this cluster did not make; remove it with \`ip netns delete $name\`, then run again"
    fi
done

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
mkdir -p "$CLUSTER_DIR"/{pki,logs,etcd,volumes}
chmod 700 "$CLUSTER_DIR/pki"
log=$CLUSTER_DIR/logs
k8s=$bin/tmpnet-k8s

# ---- the network: a bridge, a namespace per member, routes ---------------
# Each is recorded before it is made, so a run killed part-way is reaped.
cluster_record link "$CLUSTER_BRIDGE"
ip link add "$CLUSTER_BRIDGE" type bridge
ip addr add "$HOST_IP/24" dev "$CLUSTER_BRIDGE"
ip link set "$CLUSTER_BRIDGE" up
# join NETNS VETH ADDRESS: a new network namespace on the bridge, its end
# of the pair named eth0 with ADDRESS, its loopback up.
join() {
    cluster_record netns "$1"
    ip netns add "$1"
    cluster_record link "$2"
    ip link add "$2" type veth peer name eth0 netns "$1"
    ip link set "$2" master "$CLUSTER_BRIDGE" up
    cluster_in "$1" ip addr add "$3/24" dev eth0
    cluster_in "$1" ip link set eth0 up
    cluster_in "$1" ip link set lo up
}
join "$CONTROL_NETNS" "$CONTROL_VETH" "$APISERVER_IP"
for i in $(seq "$nodes"); do
    join "$(cluster_node_name "$i")" "$(cluster_node_veth "$i")" "$(cluster_node_ip "$i")"
    # A node forwards its pods' packets (a new namespace does not).
    cluster_in "$(cluster_node_name "$i")" sysctl -qw net.ipv4.ip_forward=1
done
# Every member reaches every node's pods through that node; the host too.
for i in $(seq "$nodes"); do
    range=$(cluster_node_pods "$i")
    via=$(cluster_node_ip "$i")
    for j in $(seq "$nodes"); do
        [ "$j" = "$i" ] || cluster_in "$(cluster_node_name "$j")" ip route add "$range" via "$via"
    done
    cluster_in "$CONTROL_NETNS" ip route add "$range" via "$via"
    cluster_record route "$range" "$via"
    ip route add "$range" via "$via"
done
# No default route anywhere: a pod's packet to an address no node knows is
# refused at once (no route to host) instead of leaving the machine. That
# includes a Service address that node's kube-proxy has not written yet:
# the client's next try, a moment later, gets through, where a SYN sent off
# through a default route and dropped is retried on the same connection
# for minutes.

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
    "IP:$APISERVER_IP,IP:127.0.0.1,IP:$KUBERNETES_SERVICE_IP,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
cert admin "/O=system:masters/CN=tmpnet-admin" clientAuth
cert apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client" clientAuth
cert controller-manager "/CN=system:kube-controller-manager" clientAuth
cert scheduler "/CN=system:kube-scheduler" clientAuth
cert kube-proxy "/CN=system:kube-proxy" clientAuth
# Each node serves its kubelet's API on its own address, and signs in as
# itself (system:node:NAME, what NodeRestriction holds it to).
for i in $(seq "$nodes"); do
    name=$(cluster_node_name "$i")
    cert "kubelet-$i" "/CN=$name" serverAuth "IP:$(cluster_node_ip "$i"),DNS:$name"
    cert "node-$i" "/O=system:nodes/CN=system:node:$name" clientAuth
done
# The provisioner's and the policy controllers' own identities; their rights
# come from RBAC below.
cert provisioner "/CN=tmpnet:local-provisioner" clientAuth
cert network-policies "/CN=tmpnet:network-policies" clientAuth
openssl_quiet genrsa -out "$pki/sa.key" 2048
openssl_quiet rsa -in "$pki/sa.key" -pubout -out "$pki/sa.pub"
chmod 600 "$pki"/*.key

server=https://$APISERVER_IP:$APISERVER_PORT
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
for who in admin controller-manager scheduler kube-proxy provisioner network-policies; do kubeconfig "$who"; done
for i in $(seq "$nodes"); do kubeconfig "node-$i"; done

# start NETNS NAME ARGS...: runs a component in the network namespace
# NETNS, in its own session, logging to logs/NAME.log; its pid in the
# runtime directory.
start() {
    local ns=$1 name=$2
    shift 2
    setsid nsenter --net="/run/netns/$ns" "$@" >"$log/$name.log" 2>&1 </dev/null &
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
kubectl() { "$k8s" kubectl --kubeconfig "$CLUSTER_DIR/admin.kubeconfig" "$@"; }
control() { cluster_in "$CONTROL_NETNS" "$@"; }

echo "== control plane (Kubernetes $("$k8s" kubectl version --client -o yaml | sed -n 's/^  gitVersion: //p'), in network namespace $CONTROL_NETNS)"
start "$CONTROL_NETNS" etcd "$k8s" etcd --name tmpnet --data-dir "$CLUSTER_DIR/etcd" --unsafe-no-fsync --log-level error \
    --listen-client-urls "http://127.0.0.1:$ETCD_CLIENT_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_CLIENT_PORT" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster "tmpnet=http://127.0.0.1:$ETCD_PEER_PORT" --listen-metrics-urls ""
wait_for etcd etcd 30 control curl -sf "http://127.0.0.1:$ETCD_CLIENT_PORT/health"

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
start "$CONTROL_NETNS" kube-apiserver "$k8s" kube-apiserver \
    --audit-policy-file "$CLUSTER_DIR/audit-policy.yaml" --audit-log-path "$log/audit.log" \
    --etcd-servers "http://127.0.0.1:$ETCD_CLIENT_PORT" \
    --bind-address "$APISERVER_IP" --advertise-address "$APISERVER_IP" --secure-port "$APISERVER_PORT" \
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

start "$CONTROL_NETNS" kube-controller-manager "$k8s" kube-controller-manager \
    --kubeconfig "$CLUSTER_DIR/controller-manager.kubeconfig" \
    --authentication-kubeconfig "$CLUSTER_DIR/controller-manager.kubeconfig" \
    --authorization-kubeconfig "$CLUSTER_DIR/controller-manager.kubeconfig" \
    --bind-address 127.0.0.1 --secure-port 10257 --leader-elect=false \
    --service-account-private-key-file "$pki/sa.key" --root-ca-file "$pki/ca.crt" \
    --use-service-account-credentials=true \
    --cluster-signing-cert-file "$pki/ca.crt" --cluster-signing-key-file "$pki/ca.key" \
    --kube-api-qps 100 --kube-api-burst 200
start "$CONTROL_NETNS" kube-scheduler "$k8s" kube-scheduler \
    --kubeconfig "$CLUSTER_DIR/scheduler.kubeconfig" \
    --authentication-kubeconfig "$CLUSTER_DIR/scheduler.kubeconfig" \
    --authorization-kubeconfig "$CLUSTER_DIR/scheduler.kubeconfig" \
    --bind-address 127.0.0.1 --secure-port 10259 --leader-elect=false
wait_for kube-controller-manager kube-controller-manager 60 control curl -skf https://127.0.0.1:10257/healthz
wait_for kube-scheduler kube-scheduler 60 control curl -skf https://127.0.0.1:10259/healthz

# ---- the nodes: containerd (CRI), the images, kube-proxy, the kubelet -----
echo "== $nodes node(s)"
# No registry is contacted: every image is loaded here, and a pull of any
# other goes to a proxy on a closed loopback port, failing at once.
for i in $(seq "$nodes"); do
    name=$(cluster_node_name "$i")
    dir=$CLUSTER_DIR/node-$i
    run=$CLUSTER_RUN/node-$i
    mkdir -p "$dir"/{kubelet,pod-logs,containerd,cni/net.d,cni/ipam} "$run"/{containerd,runc}
    range=$(cluster_node_pods "$i")
    cat >"$dir/cni/net.d/10-tmpnet.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "tmpnet",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "cni0",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "dataDir": "$dir/cni/ipam",
        "ranges": [[{"subnet": "$range", "gateway": "${range%.0/24}.1"}]],
        "routes": [{"dst": "0.0.0.0/0"}]
      }
    },
    {"type": "loopback"}
  ]
}
EOF
    cat >"$dir/containerd.toml" <<EOF
version = 2
root = "$dir/containerd"
state = "$run/containerd"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]
[grpc]
  address = "$(cluster_node_sock "$i")"
[ttrpc]
  address = "$run/containerd/containerd.sock.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "$dir/containerd/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "registry.k8s.io/pause:3.10"
  # Lowering a process's OOM score needs CAP_SYS_RESOURCE, which root may
  # lack (these machines' root does): runc would fail every pod sandbox
  # (the kubelet asks -998 for it). Scores below containerd's own are
  # raised to it instead.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$dir/cni/net.d"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "$run/runc/k8s.io"
EOF
    start "$name" "containerd-$i" env HTTPS_PROXY=http://127.0.0.1:1 HTTP_PROXY=http://127.0.0.1:1 NO_PROXY= \
        containerd --config "$dir/containerd.toml"
    cat >"$dir/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
clientConnection: {kubeconfig: "$CLUSTER_DIR/kube-proxy.kubeconfig"}
hostnameOverride: $name
clusterCIDR: $POD_CIDR
bindAddress: $(cluster_node_ip "$i")
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
conntrack: {maxPerCore: 0}
EOF
    start "$name" "kube-proxy-$i" "$k8s" kube-proxy --config "$dir/kube-proxy.yaml"
done
for i in $(seq "$nodes"); do
    wait_for "containerd of $(cluster_node_name "$i")" "containerd-$i" 30 ctr -a "$(cluster_node_sock "$i")" version
done

# load NAME IMAGE FULL: a buildah image into every node's containerd under
# its full name.
load() {
    local archive="$CLUSTER_DIR/$1.tar" t0
    t0=$(now)
    buildah push --quiet "$2" "oci-archive:$archive:$3" >/dev/null
    cluster_import "$archive" "$3"
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

# The kubelet sets these for the whole machine: their values before it, to
# put back.
for name in $KUBELET_SYSCTLS; do
    cluster_record sysctl "$name" "$(sysctl -n "$name")"
done
for i in $(seq "$nodes"); do
    name=$(cluster_node_name "$i")
    dir=$CLUSTER_DIR/node-$i
    # The node's pods live under a cgroup of its own, in the cluster's.
    for hierarchy in /sys/fs/cgroup/*/; do
        [ -f "$hierarchy/cgroup.procs" ] && mkdir -p "$hierarchy$CLUSTER_CGROUP/node-$i"
    done
    cat >"$dir/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $(cluster_node_ip "$i")
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
tlsCertFile: $pki/kubelet-$i.crt
tlsPrivateKeyFile: $pki/kubelet-$i.key
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $pki/ca.crt}
authorization: {mode: Webhook}
cgroupDriver: cgroupfs
cgroupRoot: /$CLUSTER_CGROUP/node-$i
containerRuntimeEndpoint: unix://$(cluster_node_sock "$i")
podLogsDir: $dir/pod-logs
failSwapOn: false
resolvConf: /etc/resolv.conf
# A test machine's disk may be fuller than a production node's thresholds.
evictionHard: {memory.available: "100Mi", nodefs.available: "1%", imagefs.available: "1%"}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
serializeImagePulls: false
EOF
    start "$name" "kubelet-$i" "$k8s" kubelet --config "$dir/kubelet.yaml" \
        --kubeconfig "$CLUSTER_DIR/node-$i.kubeconfig" --root-dir "$dir/kubelet" \
        --hostname-override "$name" --node-ip "$(cluster_node_ip "$i")" --node-labels "$NODE_POOL_LABEL"
done
node_ready() {
    [ "$(kubectl get node "$1" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}')" = True ]
}
for i in $(seq "$nodes"); do
    wait_for "node $(cluster_node_name "$i") Ready" "kubelet-$i" 120 node_ready "$(cluster_node_name "$i")"
done

# ---- storage and the default namespace's account ---------------------------
# binding NAME: the ClusterRoleBinding of ClusterRole NAME to the user NAME
# (a component's certificate), as YAML.
binding() {
    cat <<EOF
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: "$1"}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "$1"}
subjects:
- {apiGroup: rbac.authorization.k8s.io, kind: User, name: "$1"}
EOF
}
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
$(binding tmpnet:local-provisioner)
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: "tmpnet:network-policies"}
rules:
- {apiGroups: [""], resources: [namespaces, pods, services, endpoints, nodes], verbs: [get, list, watch]}
- {apiGroups: [networking.k8s.io], resources: [networkpolicies], verbs: [get, list, watch]}
- {apiGroups: [discovery.k8s.io], resources: [endpointslices], verbs: [get, list, watch]}
$(binding tmpnet:network-policies)
EOF
# The volumes are directories of this machine: every node reaches them.
start "$CONTROL_NETNS" local-provisioner "$k8s" local-provisioner --kubeconfig "$CLUSTER_DIR/provisioner.kubeconfig" \
    --base-dir "$CLUSTER_DIR/volumes"
wait_for "default ServiceAccount" kube-controller-manager 60 kubectl get serviceaccount default

# ---- NetworkPolicy: kube-router's policy controller alone, on each node ---
# It filters in the node's namespace (iptables, ipsets): across nodes on
# the routed path, and between pods of one node on its CNI bridge, whose
# frames pass iptables with bridge-nf-call-iptables on in that namespace.
for i in $(seq "$nodes"); do
    name=$(cluster_node_name "$i")
    cluster_in "$name" sysctl -qw net.bridge.bridge-nf-call-iptables=1
    start "$name" "network-policies-$i" env NODE_NAME="$name" "$bin/kube-router" \
        --run-firewall=true --run-router=false --run-service-proxy=false --run-loadbalancer=false \
        --kubeconfig "$CLUSTER_DIR/network-policies.kubeconfig" --hostname-override "$name" \
        --service-cluster-ip-range "$SERVICE_CIDR" --enable-ipv6=false \
        --health-port 20244 --metrics-port 0
done
for i in $(seq "$nodes"); do
    wait_for "NetworkPolicy on $(cluster_node_name "$i")" "network-policies-$i" 60 \
        cluster_in "$(cluster_node_name "$i")" curl -sf http://127.0.0.1:20244/healthz
done
for pidfile in "$CLUSTER_RUN"/*.pid; do
    name=$(basename "$pidfile" .pid)
    kill -0 "$(cat "$pidfile")" || { echo "error: $name exited during start (see $name.log among its logs)" >&2; false; }
done
ln -s "$k8s" "$CLUSTER_DIR/kubectl"
trap - ERR INT TERM EXIT
echo "cluster up in $(since "$started") s: $nodes node(s) (logs in $log; kubectl: $CLUSTER_DIR/kubectl)"
echo "export KUBECONFIG=$CLUSTER_DIR/admin.kubeconfig"
