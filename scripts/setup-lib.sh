# shellcheck shell=bash
# What the test suite needs besides Rust and Go, how to tell it is there,
# and how to install it; used by scripts/test.sh. Sourced, not run.
#
# The real-daemon tests run Debian's litecoind (a Bitcoin Core derivative);
# the own-daemon tests run etcd and monerod, which the project does not ship.
# The images are built with buildah (no Docker daemon), on a base made with
# debootstrap where no registry answers; objcopy (binutils) strips the
# binaries copied into them. The local cluster (scripts/cluster-up.sh) runs
# its pods with containerd and runc on a CNI bridge; kube-proxy needs
# iptables and conntrack. The metrics tests run Debian's prometheus (the
# collector). shellcheck checks the scripts. The Kubernetes simulator is
# also checked with the official Python client, and rendered manifests
# against the official schemas (kubernetes-validate). The harness is also
# tested under nextest.
#
# One entry a line: HOW NAME CHECK. HOW is apt (a Debian package), pip (a
# Python package of PyPI, for the machine's python3) or cargo (a crate's
# binaries, built with the machine's cargo). CHECK tells it is installed:
# an absolute path that must be executable, import:MODULE (python3 imports
# it), cargo:COMMAND (cargo runs it) or a command on PATH.
SETUP_NEEDS=(
    "apt litecoind /usr/lib/litecoin/litecoind"
    "apt etcd-server /usr/bin/etcd"
    "apt monero /usr/bin/monerod"
    "apt redis-server /usr/bin/redis-server"
    "apt buildah buildah"
    "apt debootstrap debootstrap"
    "apt binutils objcopy"
    "apt containerd containerd"
    "apt runc runc"
    "apt containernetworking-plugins /usr/lib/cni/bridge"
    "apt iptables iptables"
    "apt conntrack conntrack"
    "apt ipset ipset"
    "apt prometheus prometheus"
    "apt shellcheck shellcheck"
    "pip kubernetes import:kubernetes"
    "pip kubernetes-validate kubernetes-validate"
    "cargo cargo-nextest cargo:nextest"
)

# setup_present CHECK: succeeds when CHECK (as in SETUP_NEEDS) holds.
setup_present() {
    case "$1" in
    /*) [ -x "$1" ] ;;
    import:*) python3 -c "import ${1#import:}" >/dev/null 2>&1 ;;
    cargo:*) cargo "${1#cargo:}" --version >/dev/null 2>&1 ;;
    *) command -v "$1" >/dev/null 2>&1 ;;
    esac
}

# setup_command HOW NAME: the command that installs NAME.
setup_command() {
    case "$1" in
    apt) echo "apt-get install $2" ;;
    pip) echo "python3 -m pip install $2" ;;
    cargo) echo "cargo install --locked --debug $2" ;;
    esac
}

# setup_scan [OPTIONAL...]: the entries of SETUP_NEEDS not installed, into
# the array setup_missing ("HOW NAME CHECK" each), leaving out the names
# given (checks that say NOT RUN rather than fail when their tool is
# missing).
setup_scan() {
    local entry name optional
    setup_missing=()
    for entry in "${SETUP_NEEDS[@]}"; do
        name=${entry#* }
        name=${name%% *}
        for optional in "$@"; do
            [ "$name" = "$optional" ] && continue 2
        done
        setup_present "${entry##* }" || setup_missing+=("$entry")
    done
}

# setup_report: one line on stderr for each entry of setup_missing, naming
# it and the command that installs it.
setup_report() {
    local entry how name check
    for entry in "${setup_missing[@]}"; do
        read -r how name check <<<"$entry"
        case "$check" in
        import:*) check="python3 cannot import ${check#import:}" ;;
        cargo:*) check="no \`cargo ${check#cargo:}\`" ;;
        /*) check="no $check" ;;
        *) check="no $check on PATH" ;;
        esac
        echo "missing: $name ($check); install it with \`$(setup_command "$how" "$name")\`" >&2
    done
}

# setup_as_root COMMAND...: runs COMMAND as root, through sudo when this is
# not root.
setup_as_root() {
    if [ "$(id -u)" = 0 ]; then
        "$@"
    else
        sudo "$@"
    fi
}

# setup_can_root: succeeds when setup_as_root can run a command: this is
# root, or sudo works without a password, or asks for one on a terminal.
setup_can_root() {
    [ "$(id -u)" = 0 ] && return 0
    command -v sudo >/dev/null 2>&1 || return 1
    sudo -n true 2>/dev/null || [ -t 0 ]
}

# setup_pip_as_root: succeeds when python3's packages are installed as root
# (its site-packages directory is not writable here, as for the system's
# Python); a virtual environment's or pyenv's python3 installs as the user.
setup_pip_as_root() {
    [ "$(id -u)" != 0 ] || return 1
    ! python3 -c 'import os, sys, sysconfig; sys.exit(0 if os.access(sysconfig.get_paths()["purelib"], os.W_OK) else 1)' 2>/dev/null
}

# setup_apt_install PACKAGE...: installs Debian packages as root.
setup_apt_install() {
    local held="" rc=0
    setup_as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq || return 1
    # Packages with a service (prometheus, containerd) would start it on
    # install; nothing runs here but what the tests start, so services are
    # held off while installing (policy-rc.d), unless the machine has its
    # own policy.
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' | setup_as_root tee /usr/sbin/policy-rc.d >/dev/null || return 1
        held=1
        setup_as_root chmod +x /usr/sbin/policy-rc.d || rc=$?
    fi
    if [ "$rc" = 0 ]; then
        setup_as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" || rc=$?
    fi
    if [ -n "$held" ]; then setup_as_root rm -f /usr/sbin/policy-rc.d; fi
    return "$rc"
}

# setup_dependencies INSTALL: checks what SETUP_NEEDS lists. With INSTALL=1,
# installs what is missing (Debian and Python packages as root, or through
# sudo; crates as the user), naming each first. With INSTALL=0, shellcheck
# may be missing (scripts/test.sh then says its check did NOT RUN); anything
# else missing is named, one line each, with the command that installs it.
# Returns 1 when something is missing and is not installed.
setup_dependencies() {
    local entry how name check apt=() pip=() cargo=() python3
    if [ "$1" != 1 ]; then
        setup_scan shellcheck
        [ ${#setup_missing[@]} = 0 ] && return 0
        setup_report
        return 1
    fi
    setup_scan
    [ ${#setup_missing[@]} = 0 ] && return 0
    command -v cargo >/dev/null 2>&1 \
        || { echo "error: cargo is required (install Rust with rustup)" >&2; return 1; }
    for entry in "${setup_missing[@]}"; do
        read -r how name check <<<"$entry"
        case "$how" in
        apt) apt+=("$name") ;;
        pip) pip+=("$name") ;;
        cargo) cargo+=("$name") ;;
        esac
    done
    if { [ ${#apt[@]} -gt 0 ] || { [ ${#pip[@]} -gt 0 ] && setup_pip_as_root; }; } && ! setup_can_root; then
        echo "scripts/test.sh: cannot install what is missing: this is not root, and sudo is missing or needs a password with no terminal to ask it on" >&2
        setup_report
        return 1
    fi
    for name in "${apt[@]}"; do
        echo "== installing $name (apt-get install $name)"
    done
    if [ ${#apt[@]} -gt 0 ]; then setup_apt_install "${apt[@]}" || return 1; fi
    python3=$(command -v python3 || echo python3)
    for name in "${pip[@]}"; do
        echo "== installing $name (python3 -m pip install $name)"
        if setup_pip_as_root; then
            setup_as_root "$python3" -m pip install --quiet "$name" || return 1
        else
            python3 -m pip install --quiet "$name" || return 1
        fi
    done
    # Built without optimisation (--debug): a test runner's own speed does
    # not matter here, and its optimised build is the longest single step of
    # a fresh machine's run.
    for name in "${cargo[@]}"; do
        echo "== installing $name (cargo install --locked --debug $name)"
        cargo install --locked --debug "$name" || return 1
    done
    setup_scan
    [ ${#setup_missing[@]} = 0 ] && return 0
    echo "error: still missing after installing:" >&2
    setup_report
    return 1
}
