# Shared by cluster-up.sh, cluster-down.sh and e2e-cluster.sh: where the
# local cluster lives, and how to take it down. Sourced, not run.
#
# Everything the cluster makes is under two directories of its own
# (state, runtime), one bridge and one pod address range. The exception is
# iptables: taking it down removes every KUBE-* and CNI-* chain of the
# host, so the cluster is not for a machine that is itself a Kubernetes node.

CLUSTER_DIR=${TMPNET_CLUSTER_DIR:-/var/lib/tmpnet-cluster}
CLUSTER_RUN=${TMPNET_CLUSTER_RUN:-/run/tmpnet-cluster}
CLUSTER_BRIDGE=tmpnet0
CLUSTER_NODE=tmpnet-node
# Pods get addresses in POD_CIDR on the bridge; the bridge's own address is
# the node's: the API server, the kubelet and the pods' gateway use it.
POD_CIDR=10.244.0.0/24
NODE_IP=10.244.0.1
SERVICE_CIDR=10.96.0.0/24
KUBERNETES_SERVICE_IP=10.96.0.1
APISERVER_PORT=6443
ETCD_CLIENT_PORT=23379
ETCD_PEER_PORT=23380
# The cgroup (under each controller) that holds every pod of the cluster.
CLUSTER_CGROUP=tmpnet-cluster
CONTAINERD_SOCK=$CLUSTER_RUN/containerd/containerd.sock
# Stopped in this order: the node first, so nothing restarts pods.
COMPONENTS="local-provisioner kubelet containerd kube-proxy kube-scheduler kube-controller-manager kube-apiserver etcd"

cluster_die() {
    echo "error: $*" >&2
    exit 1
}

# cluster_need COMMAND PACKAGE: one line naming the package when missing.
cluster_need() {
    command -v "$1" >/dev/null 2>&1 || [ -x "$1" ] ||
        cluster_die "$1 is missing; install it with \`apt-get install $2\`"
}

# Pids of processes whose command line mentions the cluster's directories
# (every component, containerd and its shims are started with them), plus
# the pause and container processes in the cluster's cgroups.
cluster_pids() {
    local pid
    for pid in /proc/[0-9]*; do
        pid=${pid#/proc/}
        [ "$pid" = $$ ] && continue
        if { tr '\0' ' ' <"/proc/$pid/cmdline"; } 2>/dev/null | grep -qE "$CLUSTER_DIR|$CLUSTER_RUN"; then
            echo "$pid"
        elif grep -q ":/$CLUSTER_CGROUP/" "/proc/$pid/cgroup" 2>/dev/null; then
            echo "$pid"
        fi
    done
}

# Mount points under the cluster's directories, deepest first.
cluster_mounts() {
    awk -v a="$CLUSTER_DIR" -v b="$CLUSTER_RUN" \
        'index($5, a "/") == 1 || $5 == a || index($5, b "/") == 1 || $5 == b { print $5 }' \
        /proc/self/mountinfo | awk '{ print length($0) " " $0 }' | sort -rn | cut -d' ' -f2-
}

# Network namespaces made for the cluster's pods: those holding an address
# of the pod range.
cluster_netns() {
    local ns prefix=${POD_CIDR%.*}.
    for ns in $(ip netns list 2>/dev/null | awk '{ print $1 }'); do
        if ip netns exec "$ns" ip -4 -o addr show 2>/dev/null | grep -q "inet ${prefix//./\\.}"; then
            echo "$ns"
        fi
    done
}

# Stops everything the cluster runs and removes what it made: processes,
# containers, mounts, network namespaces, the bridge, the iptables chains
# of kube-proxy and the kubelet, the cgroups, the directories. Safe to run
# when nothing is up; that is how a killed run's leftovers are reaped.
cluster_down() {
    local pids pid i
    # Components first (SIGTERM, then SIGKILL), so nothing restarts pods.
    for name in $COMPONENTS; do
        if [ -f "$CLUSTER_RUN/$name.pid" ]; then
            kill "$(cat "$CLUSTER_RUN/$name.pid")" 2>/dev/null || true
        fi
    done
    # Then whatever else runs in the cluster's name (shims, containers):
    # SIGTERM after 2 s, SIGKILL after 4 s.
    for i in $(seq 40); do
        pids=$(cluster_pids)
        [ -z "$pids" ] && break
        if [ "$i" = 10 ]; then
            # shellcheck disable=SC2086
            kill $pids 2>/dev/null || true
        elif [ "$i" -ge 20 ]; then
            # shellcheck disable=SC2086
            kill -9 $pids 2>/dev/null || true
        fi
        sleep 0.2
    done
    pids=$(cluster_pids)
    [ -z "$pids" ] || echo "warning: processes still running: $pids" >&2
    if [ -d "$CLUSTER_RUN/runc" ]; then
        for root in "$CLUSTER_RUN"/runc/*; do
            for id in $(runc --root "$root" list -q 2>/dev/null); do
                runc --root "$root" delete --force "$id" >/dev/null 2>&1 || true
            done
        done
    fi
    for ns in $(cluster_netns); do
        ip netns delete "$ns" 2>/dev/null || true
    done
    for m in $(cluster_mounts); do
        umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
    done
    # A pod's veth pair goes with its network namespace.
    ip link delete "$CLUSTER_BRIDGE" 2>/dev/null || true
    if command -v iptables-save >/dev/null 2>&1; then
        for table in nat filter mangle; do
            for chain in $(iptables-save -t "$table" 2>/dev/null | sed -n 's/^:\(KUBE-[^ ]*\|CNI-[^ ]*\) .*/\1/p'); do
                iptables -t "$table" -F "$chain" 2>/dev/null || true
            done
            { iptables-save -t "$table" 2>/dev/null || true; } | { grep -E '^-A .* -j (KUBE|CNI)-' || true; } |
                sed 's/^-A/-D/' | while read -r rule; do
                    # The rule as iptables-save quotes it (comments have spaces).
                    eval "iptables -t $table $rule" 2>/dev/null || true
                done
            for chain in $(iptables-save -t "$table" 2>/dev/null | sed -n 's/^:\(KUBE-[^ ]*\|CNI-[^ ]*\) .*/\1/p'); do
                iptables -t "$table" -X "$chain" 2>/dev/null || true
            done
        done
    fi
    # cgroups: deepest first, in every hierarchy.
    for root in /sys/fs/cgroup/*/"$CLUSTER_CGROUP" /sys/fs/cgroup/"$CLUSTER_CGROUP"; do
        [ -d "$root" ] || continue
        find "$root" -depth -type d -exec rmdir {} \; 2>/dev/null || true
    done
    rm -rf "$CLUSTER_RUN" "$CLUSTER_DIR"
}

# What cluster_down must leave: prints each leftover, returns 1 if any.
cluster_leftovers() {
    local left=0 what
    what=$(cluster_pids)
    [ -z "$what" ] || { echo "leftover processes: $what"; left=1; }
    what=$(cluster_mounts)
    [ -z "$what" ] || { echo "leftover mounts: $what"; left=1; }
    what=$(cluster_netns)
    [ -z "$what" ] || { echo "leftover network namespaces: $what"; left=1; }
    if ip link show "$CLUSTER_BRIDGE" >/dev/null 2>&1; then
        echo "leftover interface: $CLUSTER_BRIDGE"
        left=1
    fi
    what=$(ip -o link show type veth 2>/dev/null | awk -F': ' '$2 ~ /^veth[0-9a-f]{8}@/ { print $2 }')
    [ -z "$what" ] || { echo "leftover veth interfaces: $what"; left=1; }
    what=$(ls -d /sys/fs/cgroup/*/"$CLUSTER_CGROUP" 2>/dev/null || true)
    [ -z "$what" ] || { echo "leftover cgroups: $what"; left=1; }
    what=$(iptables-save 2>/dev/null | grep -cE '^:(KUBE|CNI)-' || true)
    [ "${what:-0}" = 0 ] || { echo "leftover iptables chains: $what"; left=1; }
    return $left
}

# cluster_name_by_digest NAME: names the loaded image NAME (e.g.
# docker.io/tmpnet/litecoind:latest) by its manifest digest too
# (docker.io/tmpnet/litecoind@sha256:...), as a registry pull would: a pod
# can then pin it by digest without a registry, and the kubelet reports
# that digest as the container's imageID.
cluster_name_by_digest() {
    local digest
    digest=$(ctr -a "$CONTAINERD_SOCK" -n k8s.io images ls | awk -v n="$1" '$1 == n { print $3 }')
    [ -n "$digest" ] || cluster_die "containerd has no image $1 after loading it"
    ctr -a "$CONTAINERD_SOCK" -n k8s.io images tag --force "$1" "${1%:*}@$digest" >/dev/null
}
