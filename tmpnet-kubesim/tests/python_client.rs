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

/// The facts `same_view.py` prints, as a real cluster shows them
/// (`scripts/e2e-cluster.sh` runs the script on the local cluster and on the
/// simulator and compares the two).
const SAME_VIEW: &str = r#"{"container": {"name": "main", "ready": true, "restartCount": 0, "running": true}, "every pod listed had a status with a phase": true, "has a controller-revision-hash label": true, "owner": {"controller": true, "kind": "StatefulSet", "name": "same-view"}, "phases seen are Pending or Running": true, "pod conditions": {"ContainersReady": "True", "Initialized": "True", "PodScheduled": "True", "Ready": "True"}, "pod has an IP": true, "pod phase": "Running", "pod qosClass": "BestEffort", "pod-name label": "same-view-0", "set status": {"readyReplicas": 1, "replicas": 1}}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the Python kubernetes client (pip install kubernetes); scripts/test.sh runs it"]
async fn the_official_python_client_sees_a_statefulset_as_a_real_cluster_shows_it() {
    require_python_client();
    let sim = Simulator::start_with(Options::default().image("sleeper", "/bin/sleep"))
        .await
        .unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/same_view.py");
    let out = tokio::process::Command::new("python3")
        .arg(script)
        .arg(sim.kubeconfig_path())
        .args(["default", "sleeper"])
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seen: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let expected: serde_json::Value = serde_json::from_str(SAME_VIEW).unwrap();
    assert_eq!(seen, expected);
}
