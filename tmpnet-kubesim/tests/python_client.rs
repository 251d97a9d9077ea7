//! The official Python Kubernetes client (PyPI `kubernetes`) against the
//! simulator: a generic client, not kube-rs, creates a StatefulSet and reads
//! its pod's logs. Simulated, not a real cluster.

// Test code may unwrap: a panic is how a test fails.
#![allow(clippy::unwrap_used)]

use std::process::Command;

use tmpnet_kubesim::{Options, Simulator};

/// Fails unless the Python client is installed: the test is ignored by a
/// plain `cargo test` and run by the project's test command
/// (`--include-ignored`), where a missing client is a failure.
fn require_python_client() {
    let found = Command::new("python3")
        .args(["-c", "import kubernetes"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        found,
        "the Python Kubernetes client is not installed: python3 -m pip install kubernetes"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the Python kubernetes client (pip install kubernetes); scripts/test.sh runs it"]
async fn the_official_python_client_creates_a_statefulset_and_reads_logs() {
    require_python_client();
    let sim = Simulator::start_with(Options::default().image("busybox", "/bin/sh"))
        .await
        .unwrap();
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/python/statefulset_logs.py"
    );
    let kubeconfig = sim.kubeconfig_path().to_owned();
    let out = tokio::process::Command::new("python3")
        .arg(script)
        .arg(&kubeconfig)
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).trim() == "OK",
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
