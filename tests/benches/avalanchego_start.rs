//! Benchmark: a 5-node avalanchego network from `start-network` to all
//! nodes healthy, through our `tmpnetctl` and through Avalanche's own
//! `tmpnetctl` (built from the same pinned module by
//! `scripts/avalanchego-build.sh --with-tmpnetctl`; a baseline only, never
//! shipped), running the same avalanchego binary, interleaved run by run so
//! machine noise hits both alike. Prints, per tool, the median seconds to
//! all healthy and the median resident memory per node once healthy, and
//! the ratio of the times.
//!
//! Run with `cargo bench -p tmpnet-acceptance --bench benches -- avalanchego_start`
//! (optionally `-- RUNS`, default 5), with `TMPNET_AVALANCHEGO_PATH` set to
//! the built node; upstream's `tmpnetctl` is taken from the same directory.
//!
//! Upstream's tmpnet does not pass `--fd-limit`, and avalanchego exits at
//! start where the open-files hard limit is below the 32768 it asks for, so
//! upstream's nodes get the value ours pass (`fd_limit()`: at most the hard
//! limit) through the environment (`AVAGO_FD_LIMIT`, which its node
//! processes inherit).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use tmpnet_acceptance::{bench_runs, bin, launched_pids, median, network_dir_of};
use tmpnet_fixture::kinds::avalanchego::fd_limit;

const NODES: usize = 5;

/// Resident memory of `pid` in MiB.
fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .unwrap_or(f64::NAN)
        / 1024.0
}

/// Runs a command to completion, failing the benchmark with its output.
fn run(cmd: &mut Command) -> std::process::Output {
    let out = cmd.output().expect("run");
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Ours: seconds to all healthy and MiB per node.
fn ours(root: &Path, avalanchego: &Path) -> (f64, f64) {
    let ctl = bin("tmpnetctl");
    let started = Instant::now();
    let out = run(Command::new(&ctl)
        .args(["start-network", "--node-kind", "avalanchego"])
        .args(["--node-count", &NODES.to_string()])
        .arg("--node-path")
        .arg(avalanchego)
        .env("TMPNET_ROOT_DIR", root)
        .env_remove("TMPNET_NETWORK_DIR"));
    let secs = started.elapsed().as_secs_f64();
    let dir = network_dir_of(&out);
    let pids = launched_pids(&dir);
    assert_eq!(pids.len(), NODES);
    let mib = pids.iter().map(|p| rss_mib(*p)).sum::<f64>() / NODES as f64;
    run(Command::new(&ctl)
        .args(["stop-network", "--network-dir"])
        .arg(&dir)
        .env("TMPNET_ROOT_DIR", root));
    (secs, mib)
}

/// Upstream's: seconds to all healthy and MiB per node.
fn upstream(root: &Path, ctl: &Path, avalanchego: &Path) -> (f64, f64) {
    let started = Instant::now();
    run(Command::new(ctl)
        .args(["start-network", "--node-count", &NODES.to_string()])
        .arg("--avalanchego-path")
        .arg(avalanchego)
        .arg("--root-network-dir")
        .arg(root)
        .env("AVAGO_FD_LIMIT", fd_limit().to_string())
        .env_remove("TMPNET_NETWORK_DIR"));
    let secs = started.elapsed().as_secs_f64();
    let dir = root.join("latest");
    let mut pids = Vec::new();
    for entry in std::fs::read_dir(&dir)
        .expect("upstream's network dir")
        .flatten()
    {
        let context = entry.path().join("process.json");
        if let Ok(text) = std::fs::read_to_string(context) {
            let v: serde_json::Value = serde_json::from_str(&text).expect("process.json");
            pids.push(v["pid"].as_u64().expect("pid") as u32);
        }
    }
    assert_eq!(pids.len(), NODES, "upstream's nodes");
    let mib = pids.iter().map(|p| rss_mib(*p)).sum::<f64>() / NODES as f64;
    run(Command::new(ctl)
        .args(["stop-network", "--network-dir"])
        .arg(&dir));
    (secs, mib)
}

pub fn bench() {
    let runs = bench_runs(5);
    let avalanchego = PathBuf::from(std::env::var_os("TMPNET_AVALANCHEGO_PATH").expect(
        "set TMPNET_AVALANCHEGO_PATH to the avalanchego built by scripts/avalanchego-build.sh",
    ));
    let upstream_ctl = avalanchego.with_file_name("tmpnetctl");
    assert!(
        upstream_ctl.is_file(),
        "{} is missing: run scripts/avalanchego-build.sh --with-tmpnetctl",
        upstream_ctl.display()
    );
    let (mut ours_s, mut ours_m, mut up_s, mut up_m) = (vec![], vec![], vec![], vec![]);
    for run in 0..runs {
        let root = tempfile::tempdir().expect("scratch root");
        let (s, m) = ours(&root.path().join("ours"), &avalanchego);
        let (us, um) = upstream(&root.path().join("upstream"), &upstream_ctl, &avalanchego);
        println!(
            "run {}: ours {s:.2} s, {m:.0} MiB/node; upstream {us:.2} s, {um:.0} MiB/node",
            run + 1
        );
        ours_s.push(s);
        ours_m.push(m);
        up_s.push(us);
        up_m.push(um);
    }
    let (os, us) = (median(ours_s), median(up_s));
    println!("{NODES} avalanchego nodes, start to all healthy, median of {runs} runs:");
    println!(
        "  ours (tmpnetctl):     {os:.2} s, {:.0} MiB/node",
        median(ours_m)
    );
    println!(
        "  upstream (tmpnetctl): {us:.2} s, {:.0} MiB/node",
        median(up_m)
    );
    println!("  ratio upstream/ours:  {:.2}x", us / os);
}
