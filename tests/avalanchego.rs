//! avalanchego, the real node, checks the identities this library makes
//! for it: the NodeID it derives from a generated staking certificate, and
//! the BLS public key and proof of possession of a generated signer key, are
//! the ones the node itself reports (`info.getNodeID`).

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tmpnet_acceptance::avalanchego;
use tmpnet_fixture::kinds::avalanchego::identity::{self, Identity};

/// Starts avalanchego with the identity in `dir` on loopback, port 0, and
/// returns it with its API URI once it has written its process context.
async fn start_node(binary: &Path, dir: &Path) -> (tokio::process::Child, String) {
    let context = dir.join("process.json");
    let arg = |name: &str, value: &Path| format!("--{name}={}", value.display());
    let log = std::fs::File::create(dir.join("main.log")).unwrap();
    let mut child = tokio::process::Command::new(binary)
        .args([
            "--network-id=local",
            "--http-host=127.0.0.1",
            "--http-port=0",
            "--staking-host=127.0.0.1",
            "--staking-port=0",
            "--public-ip=127.0.0.1",
        ])
        .arg(format!("--fd-limit={}", fd_limit()))
        .arg(arg("data-dir", &dir.join("db")))
        .arg(arg("process-context-file", &context))
        .arg(arg("staking-tls-cert-file", &dir.join(identity::CERT_FILE)))
        .arg(arg("staking-tls-key-file", &dir.join(identity::KEY_FILE)))
        .arg(arg(
            "staking-signer-key-file",
            &dir.join(identity::SIGNER_FILE),
        ))
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(text) = std::fs::read_to_string(&context) {
            if let Ok(ctx) = serde_json::from_str::<serde_json::Value>(&text) {
                return (child, ctx["uri"].as_str().unwrap().to_owned());
            }
        }
        let exited = child.try_wait().unwrap();
        assert!(
            exited.is_none() && Instant::now() < deadline,
            "avalanchego wrote no process context (exit: {exited:?}); its log:\n{}",
            std::fs::read_to_string(dir.join("main.log")).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The open-files limit the node may ask for (it asks for 32768 unless
/// told, and fails where the hard limit is lower).
fn fd_limit() -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes only into the struct it is given.
    assert_eq!(
        unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) },
        0
    );
    limit.rlim_max.min(32768)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_node_reports_the_node_id_and_bls_key_derived_here() {
    let Some(binary) = avalanchego() else { return };
    let dir = tempfile::tempdir().unwrap();
    let generated = Identity::generate().unwrap();
    generated.write_to(dir.path()).unwrap();
    let pop = identity::proof_of_possession(&generated.signer_key).unwrap();

    let (mut child, uri) = start_node(&binary, dir.path()).await;
    let reply: serde_json::Value = reqwest::Client::new()
        .post(format!("{uri}/ext/info"))
        .json(&serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "info.getNodeID"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    // SAFETY: kill(2) with a pid this test spawned and has not reaped.
    unsafe { libc::kill(child.id().unwrap() as i32, libc::SIGTERM) };
    tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("avalanchego did not stop within 30 s of SIGTERM")
        .unwrap();

    let result = &reply["result"];
    assert_eq!(result["nodeID"], generated.node_id.as_str(), "{reply}");
    assert_eq!(
        result["nodePOP"]["publicKey"],
        pop.public_key.as_str(),
        "{reply}"
    );
    assert_eq!(
        result["nodePOP"]["proofOfPossession"],
        pop.proof_of_possession.as_str(),
        "{reply}"
    );
    // The files hold secrets: only the owner may read them.
    for file in [identity::KEY_FILE, identity::SIGNER_FILE] {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join(file))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{file}");
    }
}
