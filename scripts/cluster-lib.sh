# shellcheck shell=bash
# Shared by cluster-up.sh, cluster-down.sh and e2e-cluster.sh: where the
# local cluster lives, and how to take it down. Sourced, not run.
#
# The cluster lives in network namespaces of its own: the control plane in
# one ($CONTROL_NETNS), each Kubernetes node in another (its containerd,
# kubelet and kube-proxy, whose iptables rules stay in that namespace), all
# joined by one bridge the cluster makes on the host ($CLUSTER_BRIDGE).
# What it makes on the host itself is recorded, each before it is made, in
# $CLUSTER_RUN/made (the bridge, the namespaces, one route per node's pod
# range), and taking it down removes exactly that: the host's iptables and
# other routes are never touched.
#
# cluster-up.sh creates its two directories (state, runtime) and first
# writes a marker file ($CLUSTER_MARKER) into each; cluster_down removes a
# directory, and kills the processes that name it, only when it holds
# that marker.

CLUSTER_DIR=${TMPNET_CLUSTER_DIR:-/var/lib/tmpnet-cluster}
CLUSTER_RUN=${TMPNET_CLUSTER_RUN:-/run/tmpnet-cluster}
CLUSTER_MARKER=.tmpnet-cluster
CLUSTER_BRIDGE=tmpnet0
CLUSTER_MADE=$CLUSTER_RUN/made
CONTROL_NETNS=tmpnet-control
# shellcheck disable=SC2034 # the settings of the scripts that source this file
{
    # The bridge's network: the host's end, the control plane (the API
    # server's address), and node I at .(10+I) (cluster_node_ip).
    CLUSTER_NET=10.245.0
    HOST_IP=10.245.0.1
    APISERVER_IP=10.245.0.2
    # Node I's pods get addresses in 10.244.I.0/24 (cluster_node_pods).
    POD_CIDR=10.244.0.0/16
    POD_PREFIX=10.244.
    SERVICE_CIDR=10.96.0.0/24
    KUBERNETES_SERVICE_IP=10.96.0.1
    APISERVER_PORT=6443
    ETCD_CLIENT_PORT=2379
    ETCD_PEER_PORT=2380
    # The label of every node: what --kube-exclusive-scheduling selects.
    NODE_POOL_LABEL=tmpnet.io/node-pool=tmpnet
}
# The cgroup (under each controller) that holds every pod of the cluster,
# node I's under $CLUSTER_CGROUP/node-I.
CLUSTER_CGROUP=tmpnet-cluster
# Stopped in this order (pid files, patterns): the nodes first, so nothing
# restarts pods.
COMPONENTS="local-provisioner network-policies-* kubelet-* containerd-* kube-proxy-* kube-scheduler kube-controller-manager kube-apiserver etcd"

# Node I (from 1): its name (also its network namespace's), its address on
# the bridge, its pod range, its containerd's socket.
cluster_node_name() { echo "tmpnet-node-$1"; }
cluster_node_ip() { echo "$CLUSTER_NET.$((10 + $1))"; }
cluster_node_pods() { echo "${POD_PREFIX}$1.0/24"; }
cluster_node_sock() { echo "$CLUSTER_RUN/node-$1/containerd/containerd.sock"; }
# The host's end of the veth pair of node I's namespace, and of the control
# plane's.
cluster_node_veth() { echo "tmpnet-n$1"; }
# shellcheck disable=SC2034 # used by cluster-up.sh
CONTROL_VETH=tmpnet-control

# The sockets of the running cluster's containerds, one a line.
cluster_sockets() {
    local sock
    for sock in "$CLUSTER_RUN"/node-*/containerd/containerd.sock; do
        if [ -S "$sock" ]; then echo "$sock"; fi
    done
}

# The kernel tunables every kubelet sets on its machine (not per network
# namespace); cluster-up.sh records their values first, cluster_down puts
# them back.
KUBELET_SYSCTLS="vm.overcommit_memory vm.panic_on_oom kernel.panic kernel.panic_on_oops kernel.keys.root_maxkeys kernel.keys.root_maxbytes"

# cluster_record WHAT...: notes in $CLUSTER_MADE something about to be made
# or changed on the host (netns NAME, link NAME, route DST GATEWAY, sysctl
# NAME VALUE-BEFORE).
cluster_record() {
    echo "$*" >>"$CLUSTER_MADE"
}

cluster_die() {
    echo "error: $*" >&2
    exit 1
}

# cluster_need COMMAND PACKAGE: one line naming the package when missing.
cluster_need() {
    command -v "$1" >/dev/null 2>&1 || [ -x "$1" ] ||
        cluster_die "$1 is missing; install it with \`apt-get install $2\`"
}

# cluster_sane_dir DIR: succeeds when DIR may be one of the cluster's
# directories: an absolute path, neither / nor $HOME (symbolic links
# resolved).
cluster_sane_dir() {
    local dir
    case "$1" in /*) ;; *) return 1 ;; esac
    dir=$(realpath -m -- "$1")
    [ "$dir" != / ] && [ "$dir" != "$(realpath -m -- "${HOME:-/}")" ]
}

# cluster_mark DIR: marks DIR, just created, as one of the cluster's.
cluster_mark() {
    echo "made by scripts/cluster-up.sh; scripts/cluster-down.sh removes this directory" >"$1/$CLUSTER_MARKER"
}

# cluster_sane_dirs [DIR...]: those of the DIRs (by default the cluster's
# two) that cluster_sane_dir accepts, one a line.
cluster_sane_dirs() {
    local dir
    [ $# -gt 0 ] || set -- "$CLUSTER_DIR" "$CLUSTER_RUN"
    for dir in "$@"; do
        if cluster_sane_dir "$dir"; then echo "$dir"; fi
    done
}

# cluster_pids [DIR...]: pids of processes whose command line names one of
# the DIRs (by default the cluster's directories; every component,
# containerd and its shims are started with paths in them), plus the pause
# and container processes in the cluster's cgroups.
cluster_pids() {
    local pid cmdline dir dirs
    mapfile -t dirs < <(cluster_sane_dirs "$@")
    for pid in /proc/[0-9]*; do
        pid=${pid#/proc/}
        [ "$pid" = $$ ] || [ "$pid" = "$BASHPID" ] && continue
        cmdline=$({ tr '\0' ' ' <"/proc/$pid/cmdline"; } 2>/dev/null) || continue
        for dir in "${dirs[@]}"; do
            case "$cmdline " in
            *"$dir/"* | *"$dir "*)
                echo "$pid"
                continue 2
                ;;
            esac
        done
        if grep -q ":/$CLUSTER_CGROUP/" "/proc/$pid/cgroup" 2>/dev/null; then
            echo "$pid"
        fi
    done
}

# cluster_mounts [DIR...]: mount points in or under the DIRs (by default
# the cluster's directories), deepest first.
cluster_mounts() {
    CLUSTER_MOUNT_DIRS=$(cluster_sane_dirs "$@") awk '
        BEGIN { n = split(ENVIRON["CLUSTER_MOUNT_DIRS"], dirs, "\n") }
        { for (i = 1; i <= n; i++) if ($5 == dirs[i] || index($5, dirs[i] "/") == 1) { print $5; next } }' \
        /proc/self/mountinfo | awk '{ print length($0) " " $0 }' | sort -rn | cut -d' ' -f2-
}

# Network namespaces containerd made for the cluster's pods: named cni-*,
# holding an address of the pod range.
cluster_netns() {
    local ns
    for ns in $(ip netns list 2>/dev/null | awk '$1 ~ /^cni-/ { print $1 }'); do
        if ip netns exec "$ns" ip -4 -o addr show 2>/dev/null | grep -q "inet ${POD_PREFIX//./\\.}"; then
            echo "$ns"
        fi
    done
}

# cluster_in NETNS COMMAND...: runs COMMAND in the named network namespace
# only (not `ip netns exec`, whose fresh /sys hides the cgroup mounts the
# kubelet needs).
cluster_in() {
    local ns=$1
    shift
    nsenter --net="/run/netns/$ns" "$@"
}

# cluster_host_view: the host's iptables (every table, without counters
# and dates) and routes; an up and down of the cluster leaves it as it was.
cluster_host_view() {
    local save
    for save in iptables-save ip6tables-save; do
        if command -v "$save" >/dev/null 2>&1; then
            echo "## $save"
            "$save" 2>/dev/null | sed -e '/^#/d' -e 's/\[[0-9]*:[0-9]*\]$/[]/'
        fi
    done
    echo "## the kubelet's kernel tunables"
    # shellcheck disable=SC2086 # a list of names
    sysctl $KUBELET_SYSCTLS
    echo "## ip route"
    ip route show table all
    echo "## ip -6 route"
    ip -6 route show table all
}

# Stops everything the cluster runs and removes what it made: processes,
# containers, mounts, the pods' network namespaces, then what
# $CLUSTER_MADE records (routes, the cluster's network namespaces with the
# iptables rules inside them, the bridge), the cgroups, the directories.
# Safe to run when nothing is up; that is how a killed run's leftovers are
# reaped. Does nothing when neither directory exists. Refuses (one line
# each, returning 1, touching nothing) when a directory exists without the
# marker cluster-up.sh writes, or is empty, relative, / or $HOME.
cluster_down() {
    local pid i var dir refused=0 name root id ns m what a b pidfile
    local -a dirs=() pids made=()
    for var in CLUSTER_DIR CLUSTER_RUN; do
        dir=${!var}
        if ! cluster_sane_dir "$dir"; then
            echo "refusing to remove '$dir' (TMPNET_$var): the cluster's directory is an absolute path, not / or \$HOME, marked with $CLUSTER_MARKER" >&2
            refused=1
        elif [ -f "$dir/$CLUSTER_MARKER" ]; then
            dirs+=("$dir")
        elif [ -e "$dir" ] || [ -L "$dir" ]; then
            echo "refusing to remove $dir: it has no $dir/$CLUSTER_MARKER, the marker cluster-up.sh writes into the directories it makes" >&2
            refused=1
        fi
    done
    [ "$refused" = 0 ] || return 1
    [ ${#dirs[@]} -gt 0 ] || return 0
    # Components first (SIGTERM, then SIGKILL), so nothing restarts pods.
    if [ -f "$CLUSTER_RUN/$CLUSTER_MARKER" ]; then
        for name in $COMPONENTS; do
            for pidfile in "$CLUSTER_RUN"/$name.pid; do
                [ -f "$pidfile" ] || continue
                pid=$(cat "$pidfile")
                case "$pid" in
                "" | *[!0-9]* | 0 | 1) ;;
                *) kill "$pid" 2>/dev/null || true ;;
                esac
            done
        done
    fi
    # Then whatever else runs in the cluster's name (shims, containers):
    # SIGTERM after 2 s, SIGKILL after 4 s.
    for i in $(seq 40); do
        mapfile -t pids < <(cluster_pids "${dirs[@]}")
        [ ${#pids[@]} = 0 ] && break
        if [ "$i" = 10 ]; then
            kill "${pids[@]}" 2>/dev/null || true
        elif [ "$i" -ge 20 ]; then
            kill -9 "${pids[@]}" 2>/dev/null || true
        fi
        sleep 0.2
    done
    mapfile -t pids < <(cluster_pids "${dirs[@]}")
    [ ${#pids[@]} = 0 ] || echo "warning: processes still running: ${pids[*]}" >&2
    if [ -f "$CLUSTER_RUN/$CLUSTER_MARKER" ]; then
        for root in "$CLUSTER_RUN"/node-*/runc/*; do
            [ -d "$root" ] || continue
            for id in $(runc --root "$root" list -q 2>/dev/null); do
                runc --root "$root" delete --force "$id" >/dev/null 2>&1 || true
            done
        done
    fi
    for ns in $(cluster_netns); do
        ip netns delete "$ns" 2>/dev/null || true
    done
    cluster_mounts "${dirs[@]}" | while read -r m; do
        umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
    done
    # What the record names, newest first: routes, then the namespaces
    # (their veth ends, addresses and iptables rules go with them), then
    # the bridge. A pod's veth pair went with its network namespace.
    if [ -f "$CLUSTER_RUN/$CLUSTER_MARKER" ] && [ -f "$CLUSTER_MADE" ]; then
        mapfile -t made < <(tac "$CLUSTER_MADE")
    fi
    for m in "${made[@]}"; do
        read -r what a b <<<"$m"
        case "$what" in
        route) ip route delete "$a" via "$b" 2>/dev/null || true ;;
        netns) ip netns delete "$a" 2>/dev/null || true ;;
        link) ip link delete "$a" 2>/dev/null || true ;;
        sysctl) sysctl -qw "$a=$b" 2>/dev/null || true ;;
        esac
    done
    # cgroups: deepest first, in every hierarchy.
    for root in /sys/fs/cgroup/*/"$CLUSTER_CGROUP" /sys/fs/cgroup/"$CLUSTER_CGROUP"; do
        [ -d "$root" ] || continue
        find "$root" -depth -type d -exec rmdir {} \; 2>/dev/null || true
    done
    rm -rf "${dirs[@]}"
}

# What cluster_down must leave: prints each leftover, returns 1 if any.
cluster_leftovers() {
    local left=0 what
    what=$(cluster_pids)
    [ -z "$what" ] || { echo "leftover processes: $what"; left=1; }
    what=$(cluster_mounts)
    [ -z "$what" ] || { echo "leftover mounts: $what"; left=1; }
    what=$(cluster_netns)
    [ -z "$what" ] || { echo "leftover pod network namespaces: $what"; left=1; }
    what=$(ip netns list 2>/dev/null | awk '$1 == "'"$CONTROL_NETNS"'" || $1 ~ /^tmpnet-node-[0-9]+$/ { print $1 }')
    [ -z "$what" ] || { echo "leftover network namespaces: $what"; left=1; }
    if ip link show "$CLUSTER_BRIDGE" >/dev/null 2>&1; then
        echo "leftover interface: $CLUSTER_BRIDGE"
        left=1
    fi
    what=$(ip -o link show type veth 2>/dev/null | awk -F': ' '$2 ~ /^(veth[0-9a-f]{8}|tmpnet-)/ { print $2 }')
    [ -z "$what" ] || { echo "leftover veth interfaces: $what"; left=1; }
    what=$(ls -d /sys/fs/cgroup/*/"$CLUSTER_CGROUP" 2>/dev/null || true)
    [ -z "$what" ] || { echo "leftover cgroups: $what"; left=1; }
    return $left
}

# cluster_name_by_digest SOCKET NAME: names the image NAME (e.g.
# docker.io/tmpnet/litecoind:latest) by its manifest digest too
# (docker.io/tmpnet/litecoind@sha256:...), as a registry pull would: a pod
# can then pin it by digest without a registry, and the kubelet reports
# that digest as the container's imageID.
cluster_name_by_digest() {
    local digest
    digest=$(ctr -a "$1" -n k8s.io images ls | awk -v n="$2" '$1 == n { print $3 }')
    [ -n "$digest" ] || { echo "error: containerd ($1) has no image $2 after loading it" >&2; return 1; }
    ctr -a "$1" -n k8s.io images tag --force "$2" "${2%:*}@$digest" >/dev/null
}

# cluster_import ARCHIVE NAME: loads an OCI archive holding image NAME into
# every node's containerd, at once, and names it by its digest there too.
cluster_import() {
    local sock rc=0
    local -a socks loads=()
    mapfile -t socks < <(cluster_sockets)
    [ ${#socks[@]} -gt 0 ] || { echo "error: no node of the local cluster runs (no $CLUSTER_RUN/node-*/containerd/containerd.sock); start one with scripts/cluster-up.sh" >&2; return 1; }
    for sock in "${socks[@]}"; do
        { ctr -a "$sock" -n k8s.io images import --no-unpack=false "$1" >/dev/null && cluster_name_by_digest "$sock" "$2"; } &
        loads+=($!)
    done
    for sock in "${loads[@]}"; do
        wait "$sock" || rc=1
    done
    return $rc
}
