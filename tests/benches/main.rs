//! The benchmarks, one program: `cargo bench -p tmpnet-acceptance --bench
//! benches -- <name> [runs]` runs one of them (each prints its medians and
//! ratios); without a name it lists them.

mod avalanchego_start;
mod bitcoind_start;
mod harness;
mod kube_start;
mod runner;
mod start_network;

use std::process::ExitCode;

/// Each benchmark by name, with what it measures.
const BENCHES: &[(&str, fn(), &str)] = &[
    (
        "start_network",
        start_network::bench,
        "refnode networks of 1 to 50 nodes started to healthy, and memory per node",
    ),
    (
        "bitcoind_start",
        bitcoind_start::bench,
        "litecoind networks through the harness against a plain baseline",
    ),
    (
        "avalanchego_start",
        avalanchego_start::bench,
        "5 avalanchego nodes through our tmpnetctl and Avalanche's",
    ),
    (
        "harness",
        harness::bench,
        "the harness itself: a 100-test suite, one test, listing, nextest attach",
    ),
    (
        "kube_start",
        kube_start::bench,
        "refnode networks on the simulator (and the local cluster) started to healthy",
    ),
    (
        "runner",
        runner::bench,
        "the remote runner's cost against the same suite run here",
    ),
];

fn main() -> ExitCode {
    // cargo bench passes `--bench`; a number is the runs (read by each).
    let name = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with("--") && a.parse::<usize>().is_err());
    match name.and_then(|n| BENCHES.iter().find(|(b, _, _)| *b == n).map(|b| (n, b))) {
        Some((_, (_, run, _))) => {
            run();
            ExitCode::SUCCESS
        }
        None => {
            eprintln!("usage: cargo bench -p tmpnet-acceptance --bench benches -- <name> [runs]; the benchmarks:");
            for (name, _, what) in BENCHES {
                eprintln!("  {name:<18} {what}");
            }
            ExitCode::FAILURE
        }
    }
}
