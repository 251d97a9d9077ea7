//! avalanchego, the real node, checks the identities this library makes
//! for it: the NodeID it derives from a generated staking certificate, and
//! the BLS public key and proof of possession of a generated signer key, are
//! the ones the node itself reports (`info.getNodeID`); and networks of
//! the `avalanchego` kind: the avalanche suite (five validators connected
//! and validating, a C-Chain transfer signed here seen by every node, an
//! ephemeral node that syncs it, a restart that keeps it) on local
//! processes, and `tmpnetctl` running one with no key on any command line
//! or in any log, nothing left running after the stop.

use std::ffi::OsStr;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tmpnet_acceptance::{
    assert_all_healthy, assert_no_processes_under, avalanchego, ctl, launched_pids, run_suite,
    start_network, stderr, stdout, test_root,
};
use tmpnet_fixture::kinds::avalanchego::funded_keys;
use tmpnet_fixture::kinds::avalanchego::genesis;
use tmpnet_fixture::kinds::avalanchego::identity::{self, Identity};
use tmpnet_fixture::Network;

/// Starts avalanchego with the identity in `dir` on loopback, port 0, and
/// returns it with its API URI once it has written its process context.
async fn start_node(
    binary: &Path,
    dir: &Path,
    network: &[String],
) -> (tokio::process::Child, String) {
    let context = dir.join("process.json");
    let arg = |name: &str, value: &Path| format!("--{name}={}", value.display());
    let log = std::fs::File::create(dir.join("main.log")).unwrap();
    // Its temporary files (coreth's keystore) go with the test's directory.
    let tmp = dir.join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let mut child = tokio::process::Command::new(binary)
        .env("TMPDIR", &tmp)
        .args(network)
        .args([
            "--http-host=127.0.0.1",
            "--http-port=0",
            "--staking-host=127.0.0.1",
            "--staking-port=0",
            "--public-ip=127.0.0.1",
        ])
        .arg(format!(
            "--fd-limit={}",
            tmpnet_fixture::kinds::avalanchego::fd_limit()
        ))
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

/// Asks the node to stop and waits until it has.
async fn stop(child: &mut tokio::process::Child) {
    // SAFETY: kill(2) with a pid this test spawned and has not reaped.
    unsafe { libc::kill(child.id().unwrap() as i32, libc::SIGTERM) };
    tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("avalanchego did not stop within 30 s of SIGTERM")
        .unwrap();
}

/// A JSON-RPC call's result.
async fn call(url: &str, method: &str, params: serde_json::Value) -> serde_json::Value {
    let reply: serde_json::Value = reqwest::Client::new()
        .post(url)
        .json(&serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(reply.get("error").is_none(), "{method}: {reply}");
    reply["result"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs avalanchego (scripts/avalanchego-build.sh, TMPNET_AVALANCHEGO_PATH); scripts/test.sh runs it"]
async fn a_genesis_made_here_starts_a_healthy_network_with_its_keys_funded() {
    let binary = avalanchego();
    let dir = tempfile::tempdir().unwrap();
    let node = Identity::generate().unwrap();
    node.write_to(dir.path()).unwrap();
    let staker = genesis::Staker {
        node_id: node.node_id.clone(),
        signer: identity::proof_of_possession(&node.signer_key).unwrap(),
    };
    let keys = [
        genesis::FundedKey::generate().unwrap(),
        genesis::FundedKey::generate().unwrap(),
    ];
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let file = dir.path().join("genesis.json");
    let built = genesis::build(&[staker], &keys, now).unwrap();
    std::fs::write(&file, built.to_string()).unwrap();
    // One validator: nobody to connect to, so no sybil protection.
    let network = [
        format!("--network-id={}", genesis::NETWORK_ID),
        format!("--genesis-file={}", file.display()),
        "--sybil-protection-enabled=false".to_owned(),
        "--health-check-frequency=2s".to_owned(),
        // A test machine's disk may be nearly full: not the node's concern.
        "--system-tracker-disk-required-available-space-percentage=0".to_owned(),
        "--system-tracker-disk-warning-available-space-percentage=0".to_owned(),
    ];
    let (mut child, uri) = start_node(&binary, dir.path(), &network).await;
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut last = String::new();
    while Instant::now() < deadline {
        match client.get(format!("{uri}/ext/health")).send().await {
            Ok(r) if r.status().is_success() => break,
            Ok(r) => last = r.text().await.unwrap_or_default(),
            Err(e) => last = e.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(Instant::now() < deadline, "not healthy in 120 s: {last}");

    let info = call(
        &format!("{uri}/ext/info"),
        "info.getNetworkID",
        serde_json::json!({}),
    )
    .await;
    assert_eq!(info["networkID"], genesis::NETWORK_ID.to_string());
    let c_rpc = format!("{uri}/ext/bc/C/rpc");
    let chain = call(&c_rpc, "eth_chainId", serde_json::json!([])).await;
    assert_eq!(chain, format!("{:#x}", genesis::NETWORK_ID));
    for key in &keys {
        let balance = call(
            &c_rpc,
            "eth_getBalance",
            serde_json::json!([key.c_address(), "latest"]),
        )
        .await;
        assert_eq!(
            balance, "0xc9f2c9cd04674edea40000000",
            "C-Chain balance of {key:?}"
        );
        let x = call(
            &format!("{uri}/ext/bc/X"),
            "avm.getBalance",
            serde_json::json!({"address": key.x_address(), "assetID": "AVAX"}),
        )
        .await;
        assert_eq!(
            x["balance"], "30000000000000000",
            "X-Chain balance of {key:?}"
        );
    }
    let validators = call(
        &format!("{uri}/ext/bc/P"),
        "platform.getCurrentValidators",
        serde_json::json!({}),
    )
    .await;
    assert_eq!(
        validators["validators"][0]["nodeID"],
        node.node_id.as_str(),
        "{validators}"
    );
    stop(&mut child).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs avalanchego (scripts/avalanchego-build.sh, TMPNET_AVALANCHEGO_PATH); scripts/test.sh runs it"]
async fn the_node_reports_the_node_id_and_bls_key_derived_here() {
    let binary = avalanchego();
    let dir = tempfile::tempdir().unwrap();
    let generated = Identity::generate().unwrap();
    generated.write_to(dir.path()).unwrap();
    let pop = identity::proof_of_possession(&generated.signer_key).unwrap();

    let local = ["--network-id=local".to_owned()];
    let (mut child, uri) = start_node(&binary, dir.path(), &local).await;
    let result = call(
        &format!("{uri}/ext/info"),
        "info.getNodeID",
        serde_json::json!({}),
    )
    .await;
    stop(&mut child).await;

    assert_eq!(result["nodeID"], generated.node_id.as_str(), "{result}");
    assert_eq!(
        result["nodePOP"]["publicKey"],
        pop.public_key.as_str(),
        "{result}"
    );
    assert_eq!(
        result["nodePOP"]["proofOfPossession"],
        pop.proof_of_possession.as_str(),
        "{result}"
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

#[test]
#[ignore = "needs avalanchego (scripts/avalanchego-build.sh, TMPNET_AVALANCHEGO_PATH); scripts/test.sh runs it"]
fn the_avalanche_suite_passes_on_local_processes() {
    let binary = avalanchego();
    let root = test_root();
    let args = [
        "--node-kind",
        "avalanchego",
        "--node-count",
        "5",
        "--node-path",
    ];
    let mut args: Vec<&OsStr> = args.iter().map(OsStr::new).collect();
    args.push(binary.as_os_str());
    let out = run_suite(env!("CARGO_BIN_EXE_avalanche-suite"), &args, root.path());
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).contains("4 passed"), "{}", stdout(&out));
    assert_no_processes_under(root.path());
}

#[test]
#[ignore = "needs avalanchego (scripts/avalanchego-build.sh, TMPNET_AVALANCHEGO_PATH); scripts/test.sh runs it"]
fn tmpnetctl_runs_a_network_with_no_key_on_a_command_line_or_in_a_log() {
    let binary = avalanchego();
    let root = test_root();
    let path = binary.to_str().unwrap();
    let dir = start_network(
        root.path(),
        &[
            "--node-kind",
            "avalanchego",
            "--node-count",
            "3",
            "--node-path",
            path,
        ],
    );
    assert_all_healthy(root.path(), &dir, 3);
    let network = Network::load(&dir).unwrap();
    let mut secrets: Vec<String> = Vec::new();
    for node in network.nodes() {
        let key = std::fs::read_to_string(node.node().dir.join(identity::KEY_FILE)).unwrap();
        // The PEM body: the key's base64 lines.
        secrets.extend(
            key.lines()
                .filter(|l| !l.starts_with("-----"))
                .map(str::to_owned),
        );
        let signer = std::fs::read(node.node().dir.join(identity::SIGNER_FILE)).unwrap();
        secrets.push(hex(&signer));
    }
    for key in funded_keys(&dir).unwrap() {
        secrets.push(hex(&key.secret_bytes()));
    }
    let pids = launched_pids(&dir);
    assert_eq!(pids.len(), 3);
    for pid in pids {
        let argv = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
        let argv: Vec<String> = argv
            .split(|b| *b == 0)
            .filter(|a| !a.is_empty())
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        assert_eq!(argv.len(), 3, "only the config file's path: {argv:?}");
        assert_eq!(argv[1], "--config-file");
        let text = format!("{argv:?}{}", std::fs::read_to_string(&argv[2]).unwrap());
        for secret in &secrets {
            assert!(!text.contains(secret.as_str()), "a key in {argv:?}");
        }
    }
    let stop = ctl(
        root.path(),
        &["stop-network", "--network-dir", dir.to_str().unwrap()],
    );
    assert!(stop.status.success(), "{}", stderr(&stop));
    for node in network.nodes() {
        let log = std::fs::read_to_string(node.node().log_path()).unwrap_or_default();
        assert!(!log.is_empty(), "{} wrote no log", node.id());
        for secret in &secrets {
            assert!(
                !log.contains(secret.as_str()),
                "a key in {}'s log",
                node.id()
            );
        }
    }
    assert_no_processes_under(&dir);
}

/// Lower-case hex of some bytes.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
