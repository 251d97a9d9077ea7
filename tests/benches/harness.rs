//! Benchmark of the test harness itself, with `bench-suite` (100 trivial
//! tests on the shared network of 5 refnodes):
//!
//! - `cargo test` style: the whole 100-test run against a run of one test
//!   (which pays the same network start): the difference is what the other
//!   99 tests cost;
//! - nextest style: one process per test attaching to the run's shared
//!   network (as under nextest, keyed by `NEXTEST_RUN_ID`), against a
//!   process that selects no test, so the difference is the attach cost;
//! - `--list` of the 100 tests.
//!
//! Run with `cargo bench -p tmpnet-acceptance --bench benches -- harness` (optionally
//! `-- RUNS`, default 7). Prints medians.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use tmpnet_acceptance::median;

fn suite(root: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(tmpnet_acceptance::bin("bench-suite"));
    cmd.args(args)
        .env("TMPNET_ROOT_DIR", root)
        .env("E2E_NODE_PATH", tmpnet_acceptance::refnode())
        .env_remove("NEXTEST_RUN_ID")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    cmd
}

/// Seconds one run of the suite takes; panics if it fails.
fn timed(mut cmd: Command) -> f64 {
    let started = Instant::now();
    let status = cmd.status().expect("run bench-suite");
    assert!(status.success(), "bench-suite failed");
    started.elapsed().as_secs_f64()
}

pub fn bench() {
    let runs = tmpnet_acceptance::bench_runs(7);
    let scratch = tmpnet_acceptance::test_root();
    let root = scratch.path();
    timed(suite(root, &["t00", "--exact"]));

    // Interleaved, so machine noise hits both alike.
    let (mut all, mut one) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        all.push(timed(suite(root, &[])));
        one.push(timed(suite(root, &["t00", "--exact"])));
    }
    let list: Vec<f64> = (0..runs).map(|_| timed(suite(root, &["--list"]))).collect();

    // Nextest style: the first process creates the run's network; later
    // processes attach. A process selecting no test is the baseline.
    let run_id = format!("bench-{}", std::process::id());
    let nextest = |args: &[&str]| {
        let mut cmd = suite(root, args);
        cmd.env("NEXTEST_RUN_ID", &run_id);
        cmd
    };
    timed(nextest(&["t00", "--exact"]));
    let attach: Vec<f64> = (0..runs * 3)
        .map(|i| timed(nextest(&[&format!("t{:02}", i % 100), "--exact"])))
        .collect();
    let idle: Vec<f64> = (0..runs * 3)
        .map(|_| timed(nextest(&["no-such-test", "--exact"])))
        .collect();

    // The reaper would stop the run's network once this process ends, but
    // the scratch root is deleted first: stop it here.
    let link = root.join("networks").join(format!("nextest-{run_id}"));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let network = tmpnet_fixture::Network::load(&link).expect("the run's network");
    rt.block_on(network.stop()).expect("stop");

    let (all, one, list) = (median(all), median(one), median(list));
    let (attach, idle) = (median(attach), median(idle));
    println!(
        "harness figures, medians of {runs} runs ({} for nextest style)",
        runs * 3
    );
    println!("| measure | median |");
    println!("|---|---:|");
    println!(
        "| cargo test: 1 test (network start included) | {:.3} s |",
        one
    );
    println!(
        "| cargo test: 100 tests on one shared network | {:.3} s |",
        all
    );
    println!("| cost of the other 99 tests | {:.3} s |", all - one);
    println!(
        "| nextest style: process running one test, attaching | {:.1} ms |",
        attach * 1e3
    );
    println!(
        "| nextest style: process selecting no test | {:.1} ms |",
        idle * 1e3
    );
    println!(
        "| attach cost per test process | {:.1} ms |",
        (attach - idle) * 1e3
    );
    println!("| --list of 100 tests | {:.1} ms |", list * 1e3);
}
