#!/usr/bin/env bash
# The whole test suite: formatting, lints, then every test of the workspace
# (unit, acceptance on real local networks). CI runs exactly this.
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
