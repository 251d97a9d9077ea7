//! The official Python Kubernetes client (PyPI `kubernetes`) against the
//! simulator: a generic client, not kube-rs, creates a StatefulSet and reads
//! its pod's logs. Simulated, not a real cluster.

// Test code may unwrap: a panic is how a test fails.
#![allow(clippy::unwrap_used)]

use std::process::Command;

use tmpnet_kubesim::{Options, Simulator};

/// Whether the Python client is installed; fails instead of skipping when
/// `TMPNET_REQUIRE_REAL_NODES` is set (as the project's test script and CI
/// set it).
fn python_client_available() -> bool {
    let found = Command::new("python3")
        .args(["-c", "import kubernetes"])
        .status()
        .is_ok_and(|s| s.success());
    if found {
        return true;
    }
    let message =
        "the Python Kubernetes client is not installed: python3 -m pip install kubernetes";
    if std::env::var("TMPNET_REQUIRE_REAL_NODES").is_ok_and(|v| v != "0" && !v.is_empty()) {
        panic!("{message} (TMPNET_REQUIRE_REAL_NODES is set)");
    }
    eprintln!("\n!!!!!!!!!!\n!!! NOT RUN: {message}\n!!!!!!!!!!\n");
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_python_client_creates_a_statefulset_and_reads_logs() {
    if !python_client_available() {
        return;
    }
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
