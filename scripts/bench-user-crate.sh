#!/usr/bin/env bash
# What a user's crate pays for tmpnet-fixture: the cold debug build (empty
# target directory, `cargo test --no-run` of a one-test suite) and the
# crates it compiles, for a local-only crate and a Kubernetes one.
#
#   scripts/bench-user-crate.sh [--library DIR] [--no-features-era] [local|kube]...
#
# --library DIR     the tmpnet-fixture crate to depend on (default: this
#                   checkout's; give another checkout's to compare)
# --no-features-era the library has no Cargo features (before they came):
#                   both crates name k8s-openapi and ask for no feature
# Prints, per crate: wall seconds, CPU seconds (user + system) and the
# number of distinct crates (`cargo tree -e normal,build`). Run it on a
# quiet machine: a cold build is one sample, and wall time on a busy
# machine says little.
set -euo pipefail
cd "$(dirname "$0")/.."

library="$(pwd)/tmpnet-fixture"
era=features
kinds=()
while [ $# -gt 0 ]; do
    case "$1" in
        --library) library="$(cd "$2" && pwd)"; shift 2 ;;
        --no-features-era) era=none; shift ;;
        local|kube) kinds+=("$1"); shift ;;
        *) echo "error: unknown argument $1; usage: scripts/bench-user-crate.sh [--library DIR] [--no-features-era] [local|kube]..." >&2; exit 1 ;;
    esac
done
[ ${#kinds[@]} -gt 0 ] || kinds=(local kube)
[ -f "$library/Cargo.toml" ] || { echo "error: $library holds no crate; pass --library with a tmpnet-fixture directory" >&2; exit 1; }
command -v /usr/bin/time >/dev/null || { echo "error: /usr/bin/time is missing; install it with \`apt-get install time\`" >&2; exit 1; }

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

for kind in "${kinds[@]}"; do
    crate="$work/$kind"
    mkdir -p "$crate/src" "$crate/tests/suite"
    case "$era/$kind" in
        features/local) dep="tmpnet-fixture = { path = \"$library\" }" ;;
        features/kube) dep="tmpnet-fixture = { path = \"$library\", features = [\"kube\"] }
k8s-openapi = { version = \"0.29\", features = [\"v1_33\"] }" ;;
        none/*) dep="tmpnet-fixture = { path = \"$library\" }
k8s-openapi = { version = \"0.29\", features = [\"v1_33\"] }" ;;
    esac
    cat >"$crate/Cargo.toml" <<EOF
[package]
name = "user-$kind"
version = "0.0.0"
edition = "2021"
publish = false

[workspace]

[dependencies]
$dep

[[test]]
name = "suite"
path = "tests/suite/main.rs"
harness = false
EOF
    echo "//! A user's crate." >"$crate/src/lib.rs"
    cat >"$crate/tests/suite/main.rs" <<'EOF'
use tmpnet_fixture::{tmpnet_test, TestEnvironment, TestResult};

#[tmpnet_test]
async fn answers(env: &TestEnvironment) -> TestResult {
    env.random_node_uri().await?;
    Ok(())
}

tmpnet_fixture::main!();
EOF
    cp "$library/../Cargo.lock" "$crate/Cargo.lock"
    crates=$(cargo tree --quiet --manifest-path "$crate/Cargo.toml" -e normal,build --prefix none \
        | sed 's/ (\*)$//; s/ (proc-macro)$//' | awk '{print $1, $2}' | sort -u | wc -l)
    /usr/bin/time -f "%e %U %S" -o "$work/$kind.time" \
        cargo test --quiet --no-run --manifest-path "$crate/Cargo.toml" --target-dir "$work/target-$kind" 2>"$work/$kind.log" \
        || { cat "$work/$kind.log" >&2; echo "error: the $kind crate did not build" >&2; exit 1; }
    read -r wall user sys <"$work/$kind.time"
    cpu=$(python3 -c "print(round($user + $sys))")
    echo "$kind ($era): cold build ${wall%.*} s wall, $cpu s CPU; $crates crates"
    rm -rf "$work/target-$kind"
done
