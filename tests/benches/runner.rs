//! Benchmark (kube): the remote runner's cost. The example suite runs in
//! kube mode on tmpnet-kubesim (or, with `TMPNET_BENCH_CLUSTER_DIR` set to
//! its directory, on the local cluster of `scripts/cluster-up.sh`, with
//! `deploy/rbac.yaml` applied) twice per round: from here (nodes
//! reached through port-forwards), and relaunched as a runner Job from the
//! real `tmpnet/runner:latest` image (nodes reached by pod IP). Prints the
//! medians of the time from the start of the test binary to the tests
//! starting in the Job (`running N tests`: the network is made, the Job
//! created, its pod started), to the first test result, and to the end,
//! and the ratios. (Run here, libtest starts before the network is made,
//! so only the first result compares.)
//! Every container, nodes and runner, runs from the images of
//! `scripts/build-images.sh`, which must have been run first.
//!
//! Run with `cargo bench -p tmpnet-acceptance --bench benches -- runner`
//! (optionally `-- RUNS`, default 3); `scripts/bench-cluster.sh` runs it on
//! the local cluster.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use tmpnet_acceptance::median;
use tmpnet_kubesim::{Options, Simulator};

/// The images and the test binary they hold.
fn built() -> (PathBuf, PathBuf) {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace");
    let images = workspace.join("target/images");
    // `tmpnetctl image suite` (run by scripts/build-images.sh) builds the
    // runner image from this context.
    let context =
        tmpnet_fixture::images::context_dir(&workspace.join("target"), "tmpnet/runner:latest");
    let binary = std::fs::read_dir(context.join("bin"))
        .ok()
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .find(|n| n.starts_with("e2e-"))
        .expect("no runner image build found; run scripts/build-images.sh first");
    (
        images.join("oci"),
        workspace.join("target/debug/deps").join(binary),
    )
}

/// Seconds to the tests starting, to the first result, and in all.
fn run(binary: &Path, kubeconfig: &Path, root: &Path, image: Option<&str>) -> (f64, f64, f64) {
    let started = Instant::now();
    let mut command = Command::new(binary);
    command
        .env("E2E_USE_KUBERNETES", "true")
        .env("KUBECONFIG", kubeconfig)
        .env("TMPNET_ROOT_DIR", root)
        .env_remove("ENV_JOB_IMAGE")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(image) = image {
        command.env("ENV_JOB_IMAGE", image);
    }
    let mut child = command.spawn().expect("start the suite");
    let mut stderr = child.stderr.take().expect("stderr");
    let errors = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = std::io::Read::read_to_string(&mut stderr, &mut text);
        text
    });
    let (mut begun, mut first) = (None, None);
    for line in BufReader::new(child.stdout.take().expect("stdout")).lines() {
        let line = line.expect("read the suite's output");
        if begun.is_none() && line.starts_with("running ") && line.ends_with(" tests") {
            begun = Some(started.elapsed().as_secs_f64());
        }
        if first.is_none() && line.starts_with("test ") && line.contains(" ... ") {
            first = Some(started.elapsed().as_secs_f64());
        }
    }
    let status = child.wait().expect("wait");
    let errors = errors.join().unwrap_or_default();
    assert!(status.success(), "the suite failed: {errors}");
    (
        begun.expect("the suite started no test"),
        first.expect("the suite reported no test"),
        started.elapsed().as_secs_f64(),
    )
}

pub fn bench() {
    let runs = tmpnet_acceptance::bench_runs(3);
    let (layout, binary) = built();
    let rt = tmpnet_acceptance::bench_runtime();
    let (sim, kubeconfig, place) = match std::env::var_os("TMPNET_BENCH_CLUSTER_DIR") {
        Some(dir) => (
            None,
            PathBuf::from(dir).join("admin.kubeconfig"),
            "the local cluster",
        ),
        None => {
            let sim = rt
                .block_on(Simulator::start_with(Options {
                    image_dir: Some(layout),
                    ..Options::default()
                }))
                .expect("start the simulator");
            // The runner's ServiceAccount and Role.
            let rbac = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/rbac.yaml");
            sim.apply(&std::fs::read_to_string(rbac).expect("read deploy/rbac.yaml"))
                .expect("apply deploy/rbac.yaml");
            let kubeconfig = sim.kubeconfig_path().to_owned();
            (Some(sim), kubeconfig, "the simulator")
        }
    };
    let root = tmpnet_acceptance::test_root();
    let (mut local_first, mut local_all) = (vec![], vec![]);
    let (mut job_begun, mut job_first, mut job_all) = (vec![], vec![], vec![]);
    for round in 1..=runs {
        let (_, first, all) = run(&binary, &kubeconfig, root.path(), None);
        local_first.push(first);
        local_all.push(all);
        let (begun, first_job, all_job) = run(
            &binary,
            &kubeconfig,
            root.path(),
            Some("tmpnet/runner:latest"),
        );
        job_begun.push(begun);
        job_first.push(first_job);
        job_all.push(all_job);
        eprintln!("round {round}: here first result {first:.2} s, all {all:.2} s; in a Job tests start {begun:.2} s, first result {first_job:.2} s, all {all_job:.2} s");
    }
    let (lf, la) = (median(local_first), median(local_all));
    let (jb, jf, ja) = (median(job_begun), median(job_first), median(job_all));
    println!("the example suite in kube mode on {place}, median of {runs} runs, seconds from the test binary's start:");
    println!("  in a Job:  tests start in the Job {jb:.2}, first result {jf:.2}, end {ja:.2}");
    println!("  from here: first result {lf:.2}, end {la:.2}");
    println!(
        "  Job/here:  first result x{:.2}, end x{:.2} (overhead {:+.2} s)",
        jf / lf,
        ja / la,
        ja - la
    );
    if let Some(sim) = sim {
        rt.block_on(sim.shutdown());
    }
}
