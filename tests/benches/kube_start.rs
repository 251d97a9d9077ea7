//! Benchmark (kube): time from "start a network" to "all nodes healthy" for
//! refnode networks of 3 and 10 nodes as local processes, on tmpnet-kubesim
//! and, when one is up, on the local cluster of `scripts/cluster-up.sh`
//! (upstream's control plane and kubelet, containers from the real image),
//! side by side in one run; and the Kubernetes API requests each start and
//! stop makes per node. The simulator's pods are local processes, so its
//! figures show what the runtime adds (API calls, watches, port-forwards);
//! the cluster's add scheduling, containers and pod networking.
//!
//! Run with `cargo bench -p tmpnet-acceptance --bench benches -- kube_start`
//! (optionally `-- RUNS`, default 5). With `TMPNET_BENCH_CLUSTER_DIR` set to
//! the cluster's directory (`/var/lib/tmpnet-cluster`), the cluster is
//! measured too: its admin kubeconfig, and its audit log to count requests.

use std::path::{Path, PathBuf};
use std::time::Instant;

use tmpnet_acceptance::median;
use tmpnet_fixture::model::KubeSettings;
use tmpnet_fixture::NetworkSpec;
use tmpnet_kubesim::{Options, Simulator};

const SIZES: &[usize] = &[3, 10];

/// One start and stop on a cluster.
#[derive(Clone, Copy)]
struct Kube {
    start_secs: f64,
    stop_secs: f64,
    start_requests_per_node: f64,
    stop_requests_per_node: f64,
}

/// Where a network runs in kube mode, and how its API requests are counted.
enum Cluster<'a> {
    Simulated(&'a Simulator),
    /// The local cluster: the audit log has one line per request of the
    /// admin and of the tmpnet namespace's accounts.
    Local {
        kubeconfig: PathBuf,
        audit: PathBuf,
    },
}

impl Cluster<'_> {
    fn kubeconfig(&self) -> &Path {
        match self {
            Cluster::Simulated(sim) => sim.kubeconfig_path(),
            Cluster::Local { kubeconfig, .. } => kubeconfig,
        }
    }

    fn requests(&self) -> u64 {
        match self {
            Cluster::Simulated(sim) => sim.requests(),
            Cluster::Local { audit, .. } => std::fs::read(audit)
                .map(|log| log.iter().filter(|&&b| b == b'\n').count() as u64)
                .expect("read the cluster's audit log"),
        }
    }
}

async fn kube_run(cluster: &Cluster<'_>, root: &Path, nodes: usize) -> Kube {
    let mut settings = KubeSettings::new("tmpnet", "");
    settings.kubeconfig = Some(cluster.kubeconfig().to_owned());
    settings.ready_timeout_secs = 120;
    let spec = NetworkSpec::new(root, nodes).with_kube(settings);
    let before = cluster.requests();
    let (network, start_secs) = tmpnet_acceptance::timed_start(&spec).await;
    let started = cluster.requests();
    let stopping = Instant::now();
    network.stop().await.expect("stop");
    let stop_secs = stopping.elapsed().as_secs_f64();
    let stopped = cluster.requests();
    Kube {
        start_secs,
        stop_secs,
        start_requests_per_node: (started - before) as f64 / nodes as f64,
        stop_requests_per_node: (stopped - started) as f64 / nodes as f64,
    }
}

async fn process_run(root: &Path, nodes: usize) -> f64 {
    let process = NetworkSpec::new(root, nodes).with_node_path(tmpnet_acceptance::refnode());
    let (network, secs) = tmpnet_acceptance::timed_start(&process).await;
    network.stop().await.expect("stop");
    secs
}

pub fn bench() {
    let runs = tmpnet_acceptance::bench_runs(5);
    let rt = tmpnet_acceptance::bench_runtime();
    let root = tmpnet_acceptance::test_root();
    let sim = rt
        .block_on(Simulator::start_with(
            Options::default().image("tmpnet/refnode:latest", tmpnet_acceptance::refnode()),
        ))
        .expect("simulator");
    let mut clusters = vec![("simulator", Cluster::Simulated(&sim))];
    match std::env::var_os("TMPNET_BENCH_CLUSTER_DIR") {
        Some(dir) => {
            let dir = PathBuf::from(dir);
            clusters.push((
                "local cluster",
                Cluster::Local {
                    kubeconfig: dir.join("admin.kubeconfig"),
                    audit: dir.join("logs/audit.log"),
                },
            ));
        }
        None => println!(
            "local cluster: not measured (start it with scripts/cluster-up.sh and set TMPNET_BENCH_CLUSTER_DIR)"
        ),
    }
    // Warm up: page cache, binary loading, the clients' connections, images.
    for (_, cluster) in &clusters {
        rt.block_on(kube_run(cluster, root.path(), 2));
    }
    println!("kube mode: refnode start to all healthy, {runs} runs each, medians");
    println!("| nodes | where | start (s) | / process start | API requests per node: start | stop (all objects deleted) (s) | API requests per node: stop |");
    println!("|---:|---|---:|---:|---:|---:|---:|");
    for &nodes in SIZES {
        let mut process = Vec::new();
        let mut samples: Vec<Vec<Kube>> = vec![Vec::new(); clusters.len()];
        for _ in 0..runs {
            process.push(rt.block_on(process_run(root.path(), nodes)));
            for (i, (_, cluster)) in clusters.iter().enumerate() {
                samples[i].push(rt.block_on(kube_run(cluster, root.path(), nodes)));
            }
        }
        let process_secs = median(process);
        println!("| {nodes} | processes | {process_secs:.3} | 1.0x | | | |");
        for ((name, _), samples) in clusters.iter().zip(&samples) {
            let m = |f: fn(&Kube) -> f64| median(samples.iter().map(f).collect());
            let start_secs = m(|s| s.start_secs);
            println!(
                "| {nodes} | {name} | {start_secs:.3} | {:.1}x | {:.1} | {:.3} | {:.1} |",
                start_secs / process_secs,
                m(|s| s.start_requests_per_node),
                m(|s| s.stop_secs),
                m(|s| s.stop_requests_per_node),
            );
        }
    }
    rt.block_on(sim.shutdown());
}
