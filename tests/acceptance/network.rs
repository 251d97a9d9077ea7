//! The library API on real refnode networks: what a test author or another
//! tool calls, and what any process can load from the network directory.

use std::time::Duration;

use tmpnet_acceptance::*;
use tmpnet_fixture::model::{Flags, NodeState};
use tmpnet_fixture::{Error, Network, NetworkSpec};

const TIMEOUT: Duration = Duration::from_secs(30);

fn spec(root: &std::path::Path, count: usize) -> NetworkSpec {
    NetworkSpec::new(root, count).with_node_path(refnode())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_failing_node_fails_the_start_and_nothing_is_left() {
    let root = test_root();
    let mut spec = spec(root.path(), 4);
    spec.node_flags = vec![(2, Flags::from([("fault-fatal".into(), "disk full".into())]))];
    let network = Network::create(&spec).unwrap();
    let failing = network.nodes()[2].id().to_owned();
    let err = network.start(TIMEOUT).await.unwrap_err();
    match &err {
        Error::StartFailed { node, log_tail, .. } => {
            assert_eq!(node, &failing);
            assert!(
                log_tail.iter().any(|l| l.contains("FATAL disk full")),
                "{log_tail:?}"
            );
        }
        other => panic!("unexpected error: {other}"),
    }
    assert!(network.running_nodes().await.unwrap().is_empty());
    assert_no_processes_under(network.dir());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_process_can_load_and_drive_a_running_network() {
    let root = test_root();
    let created = Network::create(&spec(root.path(), 3)).unwrap();
    created.start(TIMEOUT).await.unwrap();

    // A second handle, as another process would build it from the dir.
    let loaded = Network::load(created.dir()).unwrap();
    assert_eq!(loaded.config(), created.config());
    let records = |n: &Network| {
        n.nodes()
            .iter()
            .map(|h| h.node().clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(records(&loaded), records(&created));
    assert_eq!(loaded.node_uris().await.unwrap().len(), 3);
    // check_health and status give the same NodeStatus per node.
    let health = loaded.check_health().await.unwrap();
    assert!(health.iter().all(|s| s.is_healthy()), "{health:?}");
    let status = loaded.status().await.unwrap();
    let ids = |v: &[tmpnet_fixture::NodeStatus]| v.iter().map(|s| s.id.clone()).collect::<Vec<_>>();
    assert_eq!(ids(&health), ids(&status));
    assert!(health.iter().all(|s| s.uri().is_some()), "{health:?}");

    // A node id the network lacks is its own error, naming the ids it has.
    match loaded.node("no-such-node") {
        Err(Error::UnknownNode { node, known, .. }) => {
            assert_eq!(node, "no-such-node");
            assert_eq!(known, ids(&status));
        }
        other => panic!("not UnknownNode: {other:?}"),
    }

    // Bootstrap order: node 0 had no peers, the others were given node 0.
    let nodes = loaded.nodes();
    let flags_of = |i: usize| -> Flags {
        serde_json::from_str(&std::fs::read_to_string(nodes[i].node().flags_path()).unwrap())
            .unwrap()
    };
    let flags = flags_of(0);
    assert_eq!(flags["bootstrap-peers"], "");
    // The composed flags may hold secrets: the file is private.
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(nodes[0].node().flags_path())
            .unwrap()
            .permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);
    let flags = flags_of(2);
    assert!(flags["bootstrap-peers"].starts_with(loaded.nodes()[0].id()));

    // A killed node is stale, not running, and unhealthy.
    let victim = loaded.node(nodes[1].id()).unwrap();
    let record = victim.node().launch_record().unwrap().unwrap();
    kill(record.pid, libc::SIGKILL);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while victim.state().await.unwrap() != (NodeState::Stale { pid: record.pid }) {
        assert!(
            std::time::Instant::now() < deadline,
            "a dead node must be seen as stale"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let status = loaded.status().await.unwrap();
    assert_eq!(status[1].state, NodeState::Stale { pid: record.pid });
    assert!(!status[1].health.is_healthy());
    assert!(!victim.health().await.unwrap().is_healthy());

    // Stop handles the stale node and is idempotent.
    loaded.stop().await.unwrap();
    loaded.stop().await.unwrap();
    assert!(victim.node().launch_record().unwrap().is_none());
    assert_no_processes_under(loaded.dir());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_keeps_the_store_and_the_network_connected() {
    let root = test_root();
    let network = Network::create(&spec(root.path(), 3)).unwrap();
    network.start(TIMEOUT).await.unwrap();
    let uris = network.node_uris().await.unwrap();
    let put = format!("{}/ext/kv/height", uris[2]);
    tokio::task::spawn_blocking(move || assert_eq!(http("PUT", &put, "42").0, 200))
        .await
        .unwrap();
    network.restart(TIMEOUT).await.unwrap();
    let uris = network.node_uris().await.unwrap();
    tokio::task::spawn_blocking(move || {
        for uri in uris {
            let url = format!("{uri}/ext/kv/height");
            assert!(eventually(Duration::from_secs(1), || http("GET", &url, "")
                == (200, "42".into())));
        }
    })
    .await
    .unwrap();
    network.stop().await.unwrap();
    assert_no_processes_under(network.dir());
}

#[test]
fn node_keys_loosened_are_restored_and_files_holding_flags_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let root = test_root();
    // Created, not started: avalanchego nodes get their keys at creation.
    let spec = NetworkSpec::new(root.path(), 2)
        .with_kind("avalanchego")
        .with_node_path("/bin/true")
        .with_flag("some-password", "hunter2");
    let network = Network::create(&spec).unwrap();
    assert_eq!(
        mode(&network.dir().join("config.json")),
        0o600,
        "holds the network's flags"
    );
    let node = network.nodes()[0].node().clone();
    assert_eq!(mode(&node.config_path()), 0o600, "holds the node's flags");
    assert!(
        !node.config.secret_files.is_empty(),
        "avalanchego nodes have keys"
    );
    for name in &node.config.secret_files {
        let key = node.dir.join(name);
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    // Any process loading the network puts them back.
    Network::load(network.dir()).unwrap();
    for name in &node.config.secret_files {
        assert_eq!(mode(&node.dir.join(name)), 0o600, "{name}");
    }
}
