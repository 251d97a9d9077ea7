# shellcheck shell=bash
# Shared by cluster-up.sh, cluster-down.sh and e2e-cluster.sh: where the
# local cluster lives, and how to take it down. Sourced, not run.
#
# Everything the cluster makes is under two directories of its own
# (state, runtime), one bridge and one pod address range. The exception is
# iptables: taking it down removes every KUBE-* and CNI-* chain of the
# host, so the cluster is not for a machine that is itself a Kubernetes node.
#
# cluster-up.sh creates both directories and first writes a marker file
# ($CLUSTER_MARKER) into each; cluster_down removes a directory, and
# kills the processes that name it, only when it holds that marker.

CLUSTER_DIR=${TMPNET_CLUSTER_DIR:-/var/lib/tmpnet-cluster}
CLUSTER_RUN=${TMPNET_CLUSTER_RUN:-/run/tmpnet-cluster}
CLUSTER_MARKER=.tmpnet-cluster
CLUSTER_BRIDGE=tmpnet0
# shellcheck disable=SC2034 # the settings of the scripts that source this file
{
    CLUSTER_NODE=tmpnet-node
    # Pods get addresses in POD_CIDR on the bridge; the bridge's own address
    # is the node's: the API server, the kubelet and the pods' gateway use it.
    POD_CIDR=10.244.0.0/24
    NODE_IP=10.244.0.1
    SERVICE_CIDR=10.96.0.0/24
    KUBERNETES_SERVICE_IP=10.96.0.1
    APISERVER_PORT=6443
    ETCD_CLIENT_PORT=23379
    ETCD_PEER_PORT=23380
}
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

# cluster_rule RULE: the arguments of an iptables-save line, into the array
# rule. The line is split into words; a string iptables-save quoted (a
# comment with spaces: "...", with \" and \\ inside) is one argument.
cluster_rule() {
    local word quoted="" open=0 tail unquoted
    local -a words
    read -ra words <<<"$1"
    rule=()
    for word in "${words[@]}"; do
        if [ "$open" = 1 ]; then
            quoted+=" $word"
        elif [ "${word:0:1}" = '"' ]; then
            quoted=$word
            open=1
        else
            rule+=("$word")
            continue
        fi
        # The string ends at a quote after an even number of backslashes.
        case "${quoted:1}" in
        *'"')
            tail=${quoted%'"'}
            tail=${tail##*[!\\]}
            [ $((${#tail} % 2)) = 0 ] || continue
            ;;
        *) continue ;;
        esac
        open=0
        quoted=${quoted:1:${#quoted}-2}
        unquoted=""
        while [ -n "$quoted" ]; do
            case "$quoted" in
            \\?*)
                unquoted+=${quoted:1:1}
                quoted=${quoted:2}
                ;;
            *)
                unquoted+=${quoted:0:1}
                quoted=${quoted:1}
                ;;
            esac
        done
        rule+=("$unquoted")
    done
    if [ "$open" = 1 ]; then rule+=("$quoted"); fi
}

# Stops everything the cluster runs and removes what it made: processes,
# containers, mounts, network namespaces, the bridge, the iptables chains
# of kube-proxy and the kubelet, the cgroups, the directories. Safe to run
# when nothing is up; that is how a killed run's leftovers are reaped.
# Does nothing when neither directory exists. Refuses (one line each,
# returning 1, touching nothing) when a directory exists without the marker
# cluster-up.sh writes, or is empty, relative, / or $HOME.
cluster_down() {
    local pid i var dir refused=0 name root id ns m table chain line rule
    local -a dirs=() pids
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
    for name in $COMPONENTS; do
        if [ -f "$CLUSTER_RUN/$CLUSTER_MARKER" ] && [ -f "$CLUSTER_RUN/$name.pid" ]; then
            pid=$(cat "$CLUSTER_RUN/$name.pid")
            case "$pid" in
            "" | *[!0-9]* | 0 | 1) ;;
            *) kill "$pid" 2>/dev/null || true ;;
            esac
        fi
    done
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
    if [ -f "$CLUSTER_RUN/$CLUSTER_MARKER" ] && [ -d "$CLUSTER_RUN/runc" ]; then
        for root in "$CLUSTER_RUN"/runc/*; do
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
    # A pod's veth pair goes with its network namespace.
    ip link delete "$CLUSTER_BRIDGE" 2>/dev/null || true
    if command -v iptables-save >/dev/null 2>&1; then
        for table in nat filter mangle; do
            for chain in $(iptables-save -t "$table" 2>/dev/null | sed -n 's/^:\(KUBE-[^ ]*\|CNI-[^ ]*\) .*/\1/p'); do
                iptables -t "$table" -F "$chain" 2>/dev/null || true
            done
            { iptables-save -t "$table" 2>/dev/null || true; } | { grep -E '^-A .* -j (KUBE|CNI)-' || true; } |
                while read -r line; do
                    cluster_rule "$line"
                    rule[0]=-D
                    iptables -t "$table" "${rule[@]}" 2>/dev/null || true
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
    [ -n "$digest" ] || { echo "error: containerd has no image $1 after loading it" >&2; return 1; }
    ctr -a "$CONTAINERD_SOCK" -n k8s.io images tag --force "$1" "${1%:*}@$digest" >/dev/null
}
