//! Benchmark (simulated kube): time from "start a network" to "all nodes
//! healthy" for refnode networks of 3 and 10 nodes on tmpnet-kubesim, the
//! Kubernetes API requests each start and stop makes per node, and the
//! ratio to the same network as local processes, measured in the same run.
//! The simulator's pods are local processes, so the figures show what the
//! runtime adds (API calls, watches, port-forwards), not a cluster's
//! scheduling or image pulls.
//!
//! Run with `cargo bench -p tmpnet-acceptance --bench kube_start`
//! (optionally `-- RUNS`, default 5).

use std::time::Instant;

use tmpnet_acceptance::median;
use tmpnet_fixture::model::KubeSettings;
use tmpnet_fixture::NetworkSpec;
use tmpnet_kubesim::{Options, Simulator};

const SIZES: &[usize] = &[3, 10];

struct Sample {
    kube_secs: f64,
    stop_secs: f64,
    start_requests_per_node: f64,
    stop_requests_per_node: f64,
    process_secs: f64,
}

fn kube(kubeconfig: &std::path::Path) -> KubeSettings {
    let mut settings = KubeSettings::new("tmpnet", "");
    settings.kubeconfig = Some(kubeconfig.to_owned());
    settings.ready_timeout_secs = 60;
    settings
}

async fn one_run(sim: &Simulator, root: &std::path::Path, nodes: usize) -> Sample {
    let spec = NetworkSpec::new(root, nodes).with_kube(kube(sim.kubeconfig_path()));
    let before = sim.requests();
    let (network, kube_secs) = tmpnet_acceptance::timed_start(&spec).await;
    let started = sim.requests();
    let stopping = Instant::now();
    network.stop().await.expect("stop");
    let stop_secs = stopping.elapsed().as_secs_f64();
    let stopped = sim.requests();
    let process = NetworkSpec::new(root, nodes).with_node_path(tmpnet_acceptance::refnode());
    let (network, process_secs) = tmpnet_acceptance::timed_start(&process).await;
    network.stop().await.expect("stop");
    Sample {
        kube_secs,
        stop_secs,
        start_requests_per_node: (started - before) as f64 / nodes as f64,
        stop_requests_per_node: (stopped - started) as f64 / nodes as f64,
        process_secs,
    }
}

fn main() {
    let runs = tmpnet_acceptance::bench_runs(5);
    let rt = tmpnet_acceptance::bench_runtime();
    let root = tmpnet_acceptance::test_root();
    let sim = rt
        .block_on(Simulator::start_with(
            Options::default().image("tmpnet/refnode:latest", tmpnet_acceptance::refnode()),
        ))
        .expect("simulator");
    // Warm up: page cache, binary loading, the client's connection.
    rt.block_on(one_run(&sim, root.path(), 2));
    println!("simulated kube: refnode start to all healthy, {runs} runs each, medians");
    println!("| nodes | kube start (s) | process start (s) | kube / process | API requests per node: start | stop (all objects deleted) (s) | API requests per node: stop |");
    println!("|---:|---:|---:|---:|---:|---:|---:|");
    for &nodes in SIZES {
        let samples: Vec<Sample> = (0..runs)
            .map(|_| rt.block_on(one_run(&sim, root.path(), nodes)))
            .collect();
        let m = |f: fn(&Sample) -> f64| median(samples.iter().map(f).collect());
        let (kube_secs, process_secs) = (m(|s| s.kube_secs), m(|s| s.process_secs));
        println!(
            "| {nodes} | {kube_secs:.3} | {process_secs:.3} | {:.1}x | {:.1} | {:.3} | {:.1} |",
            kube_secs / process_secs,
            m(|s| s.start_requests_per_node),
            m(|s| s.stop_secs),
            m(|s| s.stop_requests_per_node),
        );
    }
    rt.block_on(sim.shutdown());
}
