//! Real litecoind regtest networks through the `bitcoind` kind: blocks and
//! transactions propagate, restarts keep the chain, ports that turn out to
//! be taken are retried, failures are clear, nothing is left running.

// Each test runs on a runtime of its own; the std lock only orders whole
// tests on separate threads, so holding it across awaits cannot deadlock.
#![allow(clippy::await_holding_lock)]

use std::ffi::OsStr;
use std::time::Duration;

use serde_json::json;
use tmpnet_acceptance::*;
use tmpnet_fixture::helpers::bitcoind::{rpc, wait_for_same_tip};
use tmpnet_fixture::{Network, NetworkSpec, Progress};

/// One litecoind network at a time: on a 2-core machine, several starting
/// at once under CI load only measure contention.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|p| p.into_inner())
}

const TIMEOUT: Duration = Duration::from_secs(60);

fn spec(root: &std::path::Path, daemon: std::path::PathBuf, count: usize) -> NetworkSpec {
    NetworkSpec::new(root, count)
        .with_kind("bitcoind")
        .with_node_path(daemon)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs litecoind (apt-get install litecoind); scripts/test.sh runs it"]
async fn three_nodes_share_blocks_and_transactions_and_keep_the_chain_across_restart() {
    let _one_at_a_time = serial();
    let daemon = litecoind();
    let root = test_root();
    let network = Network::create(&spec(root.path(), daemon, 3)).unwrap();
    network.start(TIMEOUT).await.unwrap();
    let nodes = network.nodes();
    let rpc0 = rpc(&nodes[0]).await.unwrap();

    // Blocks mined on one node reach all others.
    let mined = rpc0.mine(10).await.unwrap();
    let (height, tip) = wait_for_same_tip(&network, Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(height, 10);
    assert_eq!(&tip, mined.last().unwrap());

    // A transaction sent on one node reaches every mempool.
    let rpc2 = rpc(&nodes[2]).await.unwrap();
    let _: serde_json::Value = rpc2.call("createwallet", &[json!("w")]).await.unwrap();
    let address: String = rpc2.call("getnewaddress", &[]).await.unwrap();
    rpc2.mine_to(101, &address).await.unwrap();
    wait_for_same_tip(&network, Duration::from_secs(30))
        .await
        .unwrap();
    let txid: String = rpc2
        .call("sendtoaddress", &[json!(address), json!(1.5)])
        .await
        .unwrap();
    for node in &nodes {
        let rpc = rpc(node).await.unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while !rpc.mempool().await.unwrap().contains(&txid) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{} never saw {txid}",
                node.id()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    // Restart keeps the chain (same ports, same data).
    let uris = network.node_uris().await.unwrap();
    network.restart(TIMEOUT).await.unwrap();
    assert_eq!(network.node_uris().await.unwrap(), uris, "ports are kept");
    let (height, tip_after) = wait_for_same_tip(&network, Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(height, 111);
    assert_ne!(tip_after, tip);
    // And the network still works after the restart.
    rpc(&nodes[1]).await.unwrap().mine(1).await.unwrap();
    assert_eq!(
        wait_for_same_tip(&network, Duration::from_secs(30))
            .await
            .unwrap()
            .0,
        112
    );

    network.stop().await.unwrap();
    assert_no_processes_under(network.dir());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs litecoind (apt-get install litecoind); scripts/test.sh runs it"]
async fn a_port_taken_before_the_daemon_binds_it_is_retried() {
    let _one_at_a_time = serial();
    let daemon = litecoind();
    let root = test_root();
    let network = Network::create(&spec(root.path(), daemon, 2)).unwrap();
    // Another program holds the port node 1 was given.
    let squatter = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = squatter.local_addr().unwrap().port();
    let node_dir = network.nodes()[1].node().dir.clone();
    let mut node = tmpnet_fixture::model::Node::load(&node_dir).unwrap();
    node.config.ports = [
        ("rpc".to_owned(), free_port()),
        ("p2p".to_owned(), taken),
        ("onion".to_owned(), free_port()),
    ]
    .into();
    node.save().unwrap();
    let network_reloaded = Network::load(network.dir()).unwrap();
    let retried = std::sync::atomic::AtomicBool::new(false);
    network_reloaded
        .start_with_progress(TIMEOUT, &|p| {
            if matches!(p, Progress::Retrying { .. }) {
                retried.store(true, std::sync::atomic::Ordering::SeqCst);
            }
        })
        .await
        .unwrap();
    assert!(retried.into_inner(), "the start was retried");
    let node = tmpnet_fixture::model::Node::load(&node_dir).unwrap();
    assert_ne!(
        node.config.ports["p2p"], taken,
        "fresh ports were allocated"
    );
    drop(squatter);
    network_reloaded.stop().await.unwrap();
    assert_no_processes_under(network.dir());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs litecoind (apt-get install litecoind); scripts/test.sh runs it"]
async fn a_port_taken_while_a_restart_rolls_is_retried_as_at_start() {
    let _one_at_a_time = serial();
    let daemon = litecoind();
    let root = test_root();
    let network = Network::create(&spec(root.path(), daemon, 2)).unwrap();
    network.start(TIMEOUT).await.unwrap();
    // Node 1 is down, and another program now holds the port it had.
    network.nodes()[1].stop().await.unwrap();
    let squatter = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = squatter.local_addr().unwrap().port();
    let node_dir = network.nodes()[1].node().dir.clone();
    let mut node = tmpnet_fixture::model::Node::load(&node_dir).unwrap();
    node.config.ports.insert("p2p".to_owned(), taken);
    node.save().unwrap();
    let reloaded = Network::load(network.dir()).unwrap();
    let retried = std::sync::Mutex::new(Vec::new());
    reloaded
        .restart_with_progress(TIMEOUT, &|p| {
            if let Progress::Retrying { reason } = p {
                retried.lock().unwrap().push(reason);
            }
        })
        .await
        .unwrap();
    let retried = retried.into_inner().unwrap();
    assert!(
        retried.iter().any(|r| r.contains(node.id())),
        "the restart of {} was retried: {retried:?}",
        node.id()
    );
    let node = tmpnet_fixture::model::Node::load(&node_dir).unwrap();
    assert_ne!(
        node.config.ports["p2p"], taken,
        "fresh ports were allocated"
    );
    drop(squatter);
    reloaded.stop().await.unwrap();
    assert_no_processes_under(network.dir());
}

fn free_port() -> u16 {
    free_ports(1)[0]
}

#[test]
#[ignore = "needs litecoind (apt-get install litecoind); scripts/test.sh runs it"]
fn cli_starts_checks_and_stops_a_litecoind_network() {
    let _one_at_a_time = serial();
    let daemon = litecoind();
    let root = test_root();
    let d = daemon.to_str().unwrap();
    let dir = start_network(
        root.path(),
        &[
            "--node-kind",
            "bitcoind",
            "--node-count",
            "3",
            "--node-path",
            d,
        ],
    );
    let creds = dir.join("rpc.json");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&creds).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let password = serde_json::from_slice::<serde_json::Value>(&std::fs::read(&creds).unwrap())
        .unwrap()["password"]
        .as_str()
        .unwrap()
        .to_owned();
    for pid in launched_pids(&dir) {
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
        assert!(
            !String::from_utf8_lossy(&cmdline).contains(&password),
            "password on a command line"
        );
    }
    let logs: String = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .filter_map(|e| std::fs::read_to_string(e.path().join("logs/main.log")).ok())
        .collect();
    assert!(!logs.contains(&password), "password in a log");
    assert!(ctl(root.path(), &["check-health"]).status.success());
    // A loosened secret file is made private again the next time the tool
    // touches the network, and it says so.
    std::fs::set_permissions(&creds, std::fs::Permissions::from_mode(0o644)).unwrap();
    let restart = ctl(root.path(), &["restart-network"]);
    assert!(restart.status.success(), "{}", stderr(&restart));
    assert_eq!(
        std::fs::metadata(&creds).unwrap().permissions().mode() & 0o777,
        0o600,
        "restored by restart"
    );
    let err = stderr(&restart);
    assert!(
        err.contains("secret file was readable by others") && err.contains("rpc.json"),
        "{err}"
    );
    assert!(!err.contains(&password) && !stdout(&restart).contains(&password));
    // A restart that could not start the nodes again (their credentials
    // gone) stops none of them, and names the missing file.
    let saved = std::fs::read(&creds).unwrap();
    std::fs::remove_file(&creds).unwrap();
    let pids = launched_pids(&dir);
    let restart = ctl(root.path(), &["restart-network"]);
    assert_eq!(restart.status.code(), Some(1), "{}", stderr(&restart));
    assert!(
        stderr(&restart).contains("rpc.json"),
        "{}",
        stderr(&restart)
    );
    assert_eq!(launched_pids(&dir), pids, "no node was stopped");
    // A health check without the credentials names the network's file
    // (there is no per-node one).
    let health = ctl(root.path(), &["check-health"]);
    assert_eq!(health.status.code(), Some(1));
    let said = format!("{}{}", stdout(&health), stderr(&health));
    assert!(said.contains(&creds.display().to_string()), "{said}");
    for node in std::fs::read_dir(&dir).unwrap().flatten() {
        let wrong = node.path().join("rpc.json").display().to_string();
        assert!(!said.contains(&wrong), "names {wrong}: {said}");
    }
    std::fs::write(&creds, saved).unwrap();
    std::fs::set_permissions(&creds, std::fs::Permissions::from_mode(0o600)).unwrap();
    assert!(ctl(root.path(), &["stop-network"]).status.success());
    assert_no_processes_under(&dir);
}

#[test]
#[ignore = "needs litecoind (apt-get install litecoind); scripts/test.sh runs it"]
fn a_daemon_exiting_during_start_and_a_wrong_path_are_clear_errors() {
    let _one_at_a_time = serial();
    let daemon = litecoind();
    let root = test_root();
    let d = daemon.to_str().unwrap();
    let out = ctl(
        root.path(),
        &[
            "start-network",
            "--node-kind",
            "bitcoind",
            "--node-count",
            "2",
            "--node-path",
            d,
            "--flag",
            "nosuchoption=1",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    let line = err.trim_end().lines().last().unwrap();
    // Whichever the runtime sees first: the exit, or the error line it logged.
    assert!(
        line.contains("exited during start") || line.contains("it logged \"Error:"),
        "{line}"
    );
    assert!(
        line.contains("Invalid parameter -nosuchoption"),
        "log tail missing: {line}"
    );
    let dir = std::fs::read_dir(root.path().join("networks"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    assert_no_processes_under(&dir);

    let out = ctl(
        root.path(),
        &[
            "start-network",
            "--node-kind",
            "bitcoind",
            "--node-path",
            "/usr/lib/litecoin/nope",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("/usr/lib/litecoin/nope: does not exist") && err.contains("--node-path"),
        "{err}"
    );
}

#[test]
#[ignore = "needs litecoind (apt-get install litecoind); scripts/test.sh runs it"]
fn the_harness_runs_tests_on_litecoind_networks() {
    let _one_at_a_time = serial();
    let daemon = litecoind();
    let root = test_root();
    let args = [
        "--node-kind",
        "bitcoind",
        "--node-count",
        "3",
        "--node-path",
    ];
    let mut args: Vec<&OsStr> = args.iter().map(OsStr::new).collect();
    args.push(daemon.as_os_str());
    let out = run_suite(env!("CARGO_BIN_EXE_chain-suite"), &args, root.path());
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).contains("3 passed"), "{}", stdout(&out));
    assert_no_processes_under(root.path());
}
