//! Benchmark: time from "start a network" to "all nodes healthy" for
//! refnode networks of 1, 5, 20 and 50 nodes, and resident memory per node.
//!
//! Run with `cargo bench -p tmpnet-acceptance --bench start_network`
//! (optionally `-- RUNS`, default 5). Prints medians over the runs, the
//! cost per node, and each size's ratio to the 5-node median, measured in
//! the same run so machine noise affects all sizes alike.

use tmpnet_acceptance::median;
use tmpnet_fixture::NetworkSpec;

const SIZES: &[usize] = &[1, 5, 20, 50];

/// Resident set size of a pid in KiB, from /proc.
fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

struct Sample {
    seconds: f64,
    rss_per_node_mib: f64,
}

async fn one_run(root: &std::path::Path, nodes: usize) -> Sample {
    let spec = NetworkSpec::new(root, nodes).with_node_path(tmpnet_acceptance::refnode());
    let (network, seconds) = tmpnet_acceptance::timed_start(&spec).await;
    let mut rss = 0;
    for node in network.nodes() {
        let record = node.launch_record().expect("read").expect("running");
        rss += rss_kib(record.pid).unwrap_or(0);
    }
    network.stop().await.expect("stop");
    Sample {
        seconds,
        rss_per_node_mib: rss as f64 / nodes as f64 / 1024.0,
    }
}

fn main() {
    let runs = tmpnet_acceptance::bench_runs(5);
    let rt = tmpnet_acceptance::bench_runtime();
    let root = tmpnet_acceptance::test_root();
    // Warm up: page cache, binary loading.
    rt.block_on(one_run(root.path(), 2));
    let mut medians = Vec::new();
    for &nodes in SIZES {
        let samples: Vec<Sample> = (0..runs)
            .map(|_| rt.block_on(one_run(root.path(), nodes)))
            .collect();
        let secs = median(samples.iter().map(|s| s.seconds).collect());
        let rss = median(samples.iter().map(|s| s.rss_per_node_mib).collect());
        medians.push((nodes, secs, rss));
    }
    let base = medians
        .iter()
        .find(|(n, _, _)| *n == 5)
        .map(|(_, s, _)| *s)
        .unwrap_or(1.0);
    println!("refnode start to all healthy, {runs} runs each, medians");
    println!("| nodes | start to healthy (s) | per node (ms) | vs 5 nodes | RSS per node (MiB) |");
    println!("|---:|---:|---:|---:|---:|");
    for (nodes, secs, rss) in medians {
        println!(
            "| {nodes} | {secs:.3} | {:.1} | {:.2}x | {rss:.1} |",
            secs * 1000.0 / nodes as f64,
            secs / base
        );
    }
}
