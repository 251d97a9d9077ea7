//! Benchmark: time from "start a network" to "all nodes healthy" for
//! refnode networks of 1, 5, 20 and 50 nodes, and resident memory per node.
//! Then the cost of a kind file: a 3-node monerod network described by
//! `examples/monerod/monerod.toml` started by the library, against the same
//! three daemons spawned directly with the very same arguments and polled
//! for the same health (the daemon's own start), on the same data.
//!
//! Run with `cargo bench -p tmpnet-acceptance --bench benches -- start_network`
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
        let record = node.node().launch_record().expect("read").expect("running");
        rss += rss_kib(record.pid).unwrap_or(0);
    }
    network.stop().await.expect("stop");
    Sample {
        seconds,
        rss_per_node_mib: rss as f64 / nodes as f64 / 1024.0,
    }
}

/// The library's start of a stopped network to all healthy, in seconds.
async fn library_restart(network: &tmpnet_fixture::Network) -> f64 {
    let started = std::time::Instant::now();
    network
        .start(std::time::Duration::from_secs(120))
        .await
        .expect("start");
    let seconds = started.elapsed().as_secs_f64();
    network.stop().await.expect("stop");
    seconds
}

/// The same nodes spawned directly with the arguments the library last
/// gave them (their `flags.json` through the kind's own rendering), polled
/// every 10 ms until `/get_info` says synchronized; then SIGTERM and wait.
async fn direct_start(network: &tmpnet_fixture::Network, binary: &std::path::Path) -> f64 {
    let local = network.kind().local().expect("local");
    let http = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client");
    let started = std::time::Instant::now();
    let mut children = Vec::new();
    let mut uris = Vec::new();
    for handle in network.nodes() {
        let node = handle.node();
        let flags: tmpnet_fixture::model::Flags =
            serde_json::from_slice(&std::fs::read(node.flags_path()).expect("flags.json"))
                .expect("flags");
        let child = tokio::process::Command::new(binary)
            .args(local.argv(&node.flags_path(), &flags))
            .current_dir(&node.dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn");
        children.push(child);
        uris.push(local.endpoint(node).expect("ports").uri);
    }
    for uri in &uris {
        loop {
            let synced = match http.get(format!("{uri}/get_info")).send().await {
                Ok(r) => r
                    .json::<serde_json::Value>()
                    .await
                    .is_ok_and(|v| v["synchronized"] == true),
                Err(_) => false,
            };
            if synced {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    for child in &children {
        if let Some(pid) = child.id() {
            tmpnet_acceptance::kill(pid, libc::SIGTERM);
        }
    }
    for mut child in children {
        let _ = child.wait().await;
    }
    seconds
}

/// The kind file's overhead over the daemon's own start.
fn kind_file_overhead(rt: &tokio::runtime::Runtime, root: &std::path::Path, runs: usize) {
    let binary = std::path::PathBuf::from("/usr/bin/monerod");
    if !binary.exists() {
        eprintln!("NOT RUN: the kind file's overhead needs monerod (apt-get install monero)");
        return;
    }
    let kind_file =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/monerod/monerod.toml");
    let spec = NetworkSpec::new(root, 3)
        .with_kind_file(kind_file)
        .with_node_path(&binary);
    let network = rt.block_on(async {
        let (network, _) = tmpnet_acceptance::timed_start(&spec).await;
        network.stop().await.expect("stop");
        network
    });
    // Alternate, so drift in the machine affects both alike.
    let (mut library, mut direct) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        library.push(rt.block_on(library_restart(&network)));
        direct.push(rt.block_on(direct_start(&network, &binary)));
    }
    let (library, direct) = (median(library), median(direct));
    println!();
    println!("kind file (monerod.toml), 3 nodes, start of a stopped network to all synchronized, {runs} runs, medians");
    println!("| started by | seconds | overhead |");
    println!("|---|---:|---:|");
    println!("| the daemons alone (same arguments) | {direct:.3} | |");
    println!(
        "| the library, from the kind file | {library:.3} | {:+.1}% |",
        (library / direct - 1.0) * 100.0
    );
}

pub fn bench() {
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
    kind_file_overhead(&rt, root.path(), runs);
}
