//! avalanchego, the real node, checks the identities this library makes
//! for it: the NodeID it derives from a generated staking certificate, and
//! the BLS public key and proof of possession of a generated signer key, are
//! the ones the node itself reports (`info.getNodeID`); and networks of
//! the `avalanchego` kind: five validators connected and healthy, a C-Chain
//! transfer signed here seen by every node, kept across a restart and
//! synced by an ephemeral node, nothing left running after the stop.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tmpnet_acceptance::{assert_no_processes_under, avalanchego, test_root};
use tmpnet_fixture::kinds::avalanchego::cchain::{parse_address, Transfer};
use tmpnet_fixture::kinds::avalanchego::funded_keys;
use tmpnet_fixture::kinds::avalanchego::genesis;
use tmpnet_fixture::kinds::avalanchego::identity::{self, Identity};
use tmpnet_fixture::{Network, NetworkSpec};

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
    let mut child = tokio::process::Command::new(binary)
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
async fn a_genesis_made_here_starts_a_healthy_network_with_its_keys_funded() {
    let Some(binary) = avalanchego() else { return };
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
async fn the_node_reports_the_node_id_and_bls_key_derived_here() {
    let Some(binary) = avalanchego() else { return };
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

/// The sorted `nodeID`s of a reply's list.
fn sorted_ids(list: &serde_json::Value) -> Vec<String> {
    let mut ids: Vec<String> = list
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"))
        .iter()
        .map(|entry| entry["nodeID"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids
}

/// A quantity (`0x...`) of an Ethereum JSON-RPC reply.
fn quantity(value: &serde_json::Value) -> u128 {
    let text = value
        .as_str()
        .unwrap_or_else(|| panic!("not a quantity: {value}"));
    u128::from_str_radix(text.trim_start_matches("0x"), 16).unwrap()
}

/// Waits until every URI's C-Chain reports `balance` for `address`.
async fn wait_for_balance(uris: &[String], address: &str, balance: u128) {
    let deadline = Instant::now() + Duration::from_secs(60);
    for uri in uris {
        let rpc = format!("{uri}/ext/bc/C/rpc");
        loop {
            let seen = quantity(
                &call(
                    &rpc,
                    "eth_getBalance",
                    serde_json::json!([address, "latest"]),
                )
                .await,
            );
            if seen == balance {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{uri} still reports {seen} wei for {address}, not {balance}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

const NETWORK_TIMEOUT: Duration = Duration::from_secs(120);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_validators_agree_on_a_transfer_keep_it_across_restart_and_an_ephemeral_node_syncs_it()
{
    let Some(binary) = avalanchego() else { return };
    let root = test_root();
    let spec = NetworkSpec::new(root.path(), 5)
        .with_kind("avalanchego")
        .with_node_path(binary);
    let network = Network::create(&spec).unwrap();
    network.start(NETWORK_TIMEOUT).await.unwrap();
    let nodes = network.nodes();
    let ids: Vec<String> = nodes.iter().map(|n| n.id().to_owned()).collect();
    let uris = network.node_uris().await.unwrap();
    assert_eq!(uris.len(), 5);

    // Every node is connected to the four others, and all five validate.
    let mut all = ids.clone();
    all.sort();
    // node_uris is in bootstrap order, like ids.
    for (id, uri) in ids.iter().zip(&uris) {
        let info = format!("{uri}/ext/info");
        let others: Vec<String> = all.iter().filter(|other| *other != id).cloned().collect();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let peers = call(&info, "info.peers", serde_json::json!({})).await;
            let seen = sorted_ids(&peers["peers"]);
            if seen == others {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{uri} is connected to {seen:?}, not {others:?}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let validators = call(
            &format!("{uri}/ext/bc/P"),
            "platform.getCurrentValidators",
            serde_json::json!({}),
        )
        .await;
        let validating = sorted_ids(&validators["validators"]);
        assert_eq!(validating, all, "{uri} validators");
    }

    // A transfer signed here, sent to one node, reaches every node.
    let keys = funded_keys(network.dir()).unwrap();
    let (from, to) = (&keys[0], &keys[1]);
    let rpc0 = format!("{}/ext/bc/C/rpc", uris[0]);
    let before = quantity(
        &call(
            &rpc0,
            "eth_getBalance",
            serde_json::json!([to.c_address(), "latest"]),
        )
        .await,
    );
    let transfer = Transfer {
        chain_id: quantity(&call(&rpc0, "eth_chainId", serde_json::json!([])).await) as u64,
        nonce: quantity(
            &call(
                &rpc0,
                "eth_getTransactionCount",
                serde_json::json!([from.c_address(), "latest"]),
            )
            .await,
        ) as u64,
        gas_price: 2 * quantity(&call(&rpc0, "eth_gasPrice", serde_json::json!([])).await),
        to: parse_address(&to.c_address()).unwrap(),
        value: 123_456_789_000,
    };
    let raw = transfer.sign(from).unwrap();
    let rpc3 = format!("{}/ext/bc/C/rpc", uris[3]);
    call(&rpc3, "eth_sendRawTransaction", serde_json::json!([raw])).await;
    let after = before + transfer.value;
    wait_for_balance(&uris, &to.c_address(), after).await;

    // A restart keeps the chain.
    network.restart(NETWORK_TIMEOUT).await.unwrap();
    let uris = network.node_uris().await.unwrap();
    wait_for_balance(&uris, &to.c_address(), after).await;

    // An ephemeral node, not a validator, bootstraps the chain from them.
    let ephemeral = network.create_ephemeral_node().unwrap();
    network
        .start_ephemeral_node(&ephemeral, NETWORK_TIMEOUT)
        .await
        .unwrap();
    let ephemeral_uri = ephemeral
        .process_context()
        .unwrap()
        .expect("its process.json")
        .uri;
    wait_for_balance(std::slice::from_ref(&ephemeral_uri), &to.c_address(), after).await;
    let validators = call(
        &format!("{ephemeral_uri}/ext/bc/P"),
        "platform.getCurrentValidators",
        serde_json::json!({}),
    )
    .await;
    assert_eq!(
        sorted_ids(&validators["validators"]),
        all,
        "the ephemeral node is not one"
    );

    // Nothing is left running once the network stops.
    network.stop().await.unwrap();
    assert_no_processes_under(network.dir());
}
