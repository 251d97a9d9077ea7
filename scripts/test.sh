#!/usr/bin/env bash
# The whole test suite: formatting, lints, every test of the workspace
# (unit, contract, acceptance on real local networks and on the simulated
# cluster), then the example suite in kube mode on the simulator. CI runs
# exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

# Real-daemon tests (litecoind) fail rather than skip when the daemon is
# missing; set TMPNET_REQUIRE_REAL_NODES=0 to have them skip, loudly.
export TMPNET_REQUIRE_REAL_NODES="${TMPNET_REQUIRE_REAL_NODES:-1}"

# Networks made by the example suite go to a scratch root, not ~/.tmpnet.
if [ -z "${TMPNET_ROOT_DIR:-}" ]; then
    TMPNET_ROOT_DIR="$(mktemp -d)"
    export TMPNET_ROOT_DIR
    trap 'rm -rf "$TMPNET_ROOT_DIR"' EXIT
fi

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== cargo test"
cargo test --workspace --locked

echo "== simulated kube e2e"
scripts/e2e-kubesim.sh
