#!/usr/bin/env bash
# The whole test suite: formatting, lints, then every test of the workspace
# (unit, acceptance on real local networks). CI runs exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== cargo test"
cargo test --workspace --locked
