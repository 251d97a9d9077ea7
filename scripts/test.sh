#!/usr/bin/env bash
# The whole test suite: formatting, lints, every test of the workspace
# (unit, contract, acceptance on real local networks and on the simulated
# cluster), then the example suite in kube mode on the simulator, then on a
# real Kubernetes built here (the local-cluster tier). CI runs exactly this.
#
# Usage: scripts/test.sh [--no-install]
#   First installs what the suite needs and is missing (scripts/setup-lib.sh:
#   Debian packages, as root or through sudo; Python packages; cargo-nextest),
#   naming each. --no-install, or TMPNET_NO_INSTALL=1, installs nothing: a
#   missing one is named, with the command that installs it, and nothing runs.
set -euo pipefail
usage="usage: scripts/test.sh [--no-install]"
install=1
case "${TMPNET_NO_INSTALL:-}" in
"" | 0) ;;
*) install=0 ;;
esac
for arg in "$@"; do
    case "$arg" in
    --no-install) install=0 ;;
    -h | --help)
        echo "$usage"
        exit 0
        ;;
    *)
        echo "scripts/test.sh: unknown argument '$arg'; $usage" >&2
        exit 1
        ;;
    esac
done
cd "$(dirname "$0")/.."

# shellcheck source=scripts/setup-lib.sh
. scripts/setup-lib.sh
setup_dependencies "$install"

# Tests that need a tool from outside the workspace (litecoind, monerod,
# etcd, prometheus, avalanchego, cargo-nextest, the Python client) are
# `#[ignore = "needs ..."]`: a plain `cargo test` lists them as ignored with
# that reason. Here they run (--include-ignored) and fail if their tool is
# missing. TMPNET_REQUIRE_REAL_NODES=0 leaves them ignored, and has the
# script tiers below say NOT RUN for what they cannot run.
export TMPNET_REQUIRE_REAL_NODES="${TMPNET_REQUIRE_REAL_NODES:-1}"
ignored=(--include-ignored)
if [ "$TMPNET_REQUIRE_REAL_NODES" = 0 ]; then
    ignored=()
fi

# Snapshot tests compare, never write: `cargo insta review` is for people.
export INSTA_UPDATE=no

# Networks made by the example suite go to a scratch root, not ~/.tmpnet.
if [ -z "${TMPNET_ROOT_DIR:-}" ]; then
    TMPNET_ROOT_DIR="$(mktemp -d)"
    export TMPNET_ROOT_DIR
    trap 'rm -rf "$TMPNET_ROOT_DIR"' EXIT
fi

# A missing rustup component cannot always be installed (no rustup
# network): say so loudly, run the tests anyway, and say again at the end
# which checks did not run, so the run never reads as a full pass.
missing=()
banner() {
    echo "################################################################" >&2
    echo "## NOT RUN: $1" >&2
    echo "################################################################" >&2
}

echo "== cargo fmt --check"
if cargo fmt --version >/dev/null 2>&1; then
    cargo fmt --all -- --check
else
    banner "cargo fmt is not installed (rustup component add rustfmt)"
    missing+=("cargo fmt")
fi

echo "== cargo clippy"
if cargo clippy --version >/dev/null 2>&1; then
    cargo clippy --workspace --all-targets --locked -- -D warnings
else
    banner "cargo clippy is not installed (rustup component add clippy)"
    missing+=("cargo clippy")
fi

echo "== the library's features: none, each alone (all together: the workspace above)"
if cargo clippy --version >/dev/null 2>&1; then
    # With its tests for none (the tests of what a build without Kubernetes
    # refuses); the library alone for each feature.
    echo "-- tmpnet-fixture, features: none"
    cargo clippy --locked -p tmpnet-fixture --all-targets --no-default-features -- -D warnings
    for features in embedded-refnode kube avalanchego; do
        echo "-- tmpnet-fixture, features: $features"
        K8S_OPENAPI_ENABLED_VERSION=1.33 cargo clippy --locked -p tmpnet-fixture --lib \
            --no-default-features --features "$features" -- -D warnings
    done
else
    banner "the feature matrix is linted with cargo clippy, which is not installed"
    missing+=("feature matrix")
fi
# Built without Kubernetes: what needs it is refused naming the feature.
cargo test --locked -q -p tmpnet-fixture --no-default-features --lib

echo "== shellcheck (scripts/ and .ci/run)"
if command -v shellcheck >/dev/null 2>&1; then
    shellcheck -x scripts/*.sh .ci/run
else
    banner "shellcheck is not installed (apt-get install shellcheck)"
    missing+=("shellcheck")
fi

echo "== docs: internal links and the book's table of contents"
python3 scripts/check-docs.py

echo "== the published crates package (library, macro, reference node, contract)"
cargo package --list --locked --allow-dirty -p tmpnet-fixture -p tmpnet-macros -p tmpnet-refnode -p tmpnet-contract >/dev/null

echo "== cargo doc (the library's public API, warnings are errors)"
# The library chooses no Kubernetes version; docs of it alone need one.
RUSTDOCFLAGS="-D warnings" K8S_OPENAPI_ENABLED_VERSION=1.33 \
    cargo doc --no-deps --locked -p tmpnet-fixture -p tmpnet-macros --features tmpnet-fixture/full
# Without features too: no link may point at what the build leaves out.
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --locked -p tmpnet-fixture --no-default-features

echo "== avalanchego (built from its Go modules, cached per go.sum)"
# Its tests fail rather than skip without it (the real-daemon rule above).
avalanchego_dir=$(scripts/avalanchego-build.sh)
export TMPNET_AVALANCHEGO_PATH="$avalanchego_dir/avalanchego"

echo "== cargo test"
# The own-daemon example suites (etcd, monerod) run inside the acceptance
# tests (tests/acceptance/own_daemons.rs), which apply the real-daemon rule above and
# check that nothing is left running; not a second time here.
cargo test --workspace --locked \
    --exclude tmpnet-example-etcd --exclude tmpnet-example-monerod \
    -- "${ignored[@]}"

echo "== simulated kube e2e"
scripts/e2e-kubesim.sh

echo "== local-cluster e2e (upstream Kubernetes built here)"
scripts/e2e-cluster.sh

if [ ${#missing[@]} -gt 0 ]; then
    banner "${missing[*]}: the tests passed, but these checks did not run"
fi
