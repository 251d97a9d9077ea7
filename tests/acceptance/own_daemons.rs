//! Daemons this project does not ship, brought in the way a user would:
//! monerod through a kind file run by the stock `tmpnetctl` and by the
//! harness (`examples/monerod`), redis as a primary and replicas from a kind
//! file alone (`examples/redis`), and etcd as a kind written in Rust in a
//! crate outside the library (`examples/etcd-kind`), under `cargo test`
//! and `cargo nextest`. Each run must leave nothing running.
//!
//! They are ignored by a plain `cargo test` (with the daemon they need as
//! the reason); the test command runs them, and fails without the daemons.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tmpnet_acceptance::*;

fn monerod_kind_file() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/monerod/monerod.toml")
}

fn get_info(uri: &str) -> serde_json::Value {
    let (status, body) = http("GET", &format!("{uri}/get_info"), "");
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

fn tops(dir: &Path) -> Vec<String> {
    node_uris(dir)
        .iter()
        .map(|u| get_info(u)["top_block_hash"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
#[ignore = "needs monerod (apt-get install monero); scripts/test.sh runs it"]
fn monerod_from_its_kind_file_with_the_stock_tmpnetctl() {
    third_party_daemon("/usr/bin/monerod", "monero");
    let root = test_root();
    let kind = monerod_kind_file();
    // As a user runs it: monerod found on PATH.
    let tools = bin("tmpnetctl").parent().unwrap().to_owned();
    let path = std::env::join_paths([tools, PathBuf::from("/usr/bin")]).unwrap();
    let out = ctl_cmd(
        root.path(),
        &[
            "start-network",
            "--kind-file",
            kind.to_str().unwrap(),
            "--node-count",
            "3",
        ],
    )
    .env("PATH", path)
    .output()
    .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let dir = network_dir_of(&out);
    let d = dir.to_str().unwrap();
    assert_all_healthy(root.path(), &dir, 3);

    let uris = node_uris(&dir);
    let connected = eventually(Duration::from_secs(30), || {
        uris.iter().all(|u| {
            let info = get_info(u);
            info["incoming_connections_count"].as_u64().unwrap_or(0)
                + info["outgoing_connections_count"].as_u64().unwrap_or(0)
                >= 1
        })
    });
    assert!(connected, "every node has a peer");
    let body = format!(
        r#"{{"jsonrpc":"2.0","id":"0","method":"generateblocks","params":{{"amount_of_blocks":1,"wallet_address":"{}"}}}}"#,
        "42ey1afDFnn4886T7196doS9GPMzexD9gXpsZJDwVjeRVdFCSoHnv7KPbBeGpzJBzHRCAs9UxqeoyFQMYbqSWYTfJJQAWDm"
    );
    let (code, answer) = http("POST", &format!("{}/json_rpc", uris[0]), &body);
    assert!(code == 200 && answer.contains("\"OK\""), "{code} {answer}");
    assert!(
        eventually(Duration::from_secs(30), || {
            let t = tops(&dir);
            t.len() == 3 && t.iter().all(|h| *h == t[0])
        }),
        "the block reached every node: {:?}",
        tops(&dir)
    );
    let mined = tops(&dir)[0].clone();

    let restart = ctl(root.path(), &["restart-network", "--network-dir", d]);
    assert!(restart.status.success(), "{}", stderr(&restart));
    assert_eq!(
        tops(&dir),
        vec![mined.clone(); 3],
        "the chain survived the restart"
    );

    let stop = ctl(root.path(), &["stop-network", "--network-dir", d]);
    assert!(stop.status.success(), "{}", stderr(&stop));
    assert_no_processes_under(&dir);
}

/// Runs `cargo <args>` with a fresh root; asserts it passed `tests` tests
/// and left nothing running.
fn run_suite(args: &[&str], tests: usize) {
    let root = test_root();
    let out = cargo_in_root(root.path(), args);
    let text = format!("{}{}", stdout(&out), stderr(&out));
    assert!(out.status.success(), "cargo {args:?} failed:\n{text}");
    let passed = text.matches(" ok\n").count() + text.matches("PASS [").count();
    assert_eq!(passed, tests, "cargo {args:?} ran {passed} tests:\n{text}");
    let mut left = Vec::new();
    let stopped = eventually(Duration::from_secs(15), || {
        left = live_processes_under(root.path());
        left.is_empty()
    });
    assert!(stopped, "cargo {args:?} left {left:?} running");
}

#[test]
#[ignore = "needs monerod (apt-get install monero); scripts/test.sh runs it"]
fn monerod_from_its_kind_file_under_the_harness() {
    third_party_daemon("/usr/bin/monerod", "monero");
    run_suite(
        &[
            "test",
            "-q",
            "-p",
            "tmpnet-example-monerod",
            "--test",
            "monerod",
        ],
        2,
    );
}

#[test]
#[ignore = "needs etcd and cargo-nextest (apt-get install etcd-server; cargo install cargo-nextest); scripts/test.sh runs it"]
fn etcd_as_a_rust_kind_outside_the_library_under_cargo_test_and_nextest() {
    third_party_daemon("/usr/bin/etcd", "etcd-server");
    require_nextest();
    run_suite(
        &["test", "-q", "-p", "tmpnet-example-etcd", "--test", "etcd"],
        2,
    );
    // Each nextest test process loads its network with the kind again.
    run_suite(
        &[
            "nextest",
            "run",
            "-p",
            "tmpnet-example-etcd",
            "--test",
            "etcd",
        ],
        2,
    );
}

/// `redis-cli -u <uri> <args>`'s answer.
fn redis_cli(uri: &str, args: &[&str]) -> String {
    let out = std::process::Command::new("/usr/bin/redis-cli")
        .arg("-u")
        .arg(uri)
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    stdout(&out).trim().to_owned()
}

/// Each node's URI and its `INFO replication` role, in node order.
async fn roles(dir: &Path) -> Vec<(String, String)> {
    let network = tmpnet_fixture::Network::load(dir).unwrap();
    let mut nodes = network.nodes();
    nodes.sort_by_key(|n| n.node().config.index);
    let mut out = Vec::new();
    for node in nodes {
        let uri = node.uri().await.unwrap();
        let info = redis_cli(&uri, &["INFO", "replication"]);
        let role = info
            .lines()
            .find_map(|l| l.trim().strip_prefix("role:"))
            .unwrap_or_default()
            .to_owned();
        out.push((uri, role));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs redis-server (apt-get install redis-server); scripts/test.sh runs it"]
async fn redis_primary_and_replicas_from_a_kind_file_alone() {
    third_party_daemon("/usr/bin/redis-server", "redis-server");
    let root = test_root();
    let kind = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/redis/redis.toml");
    // As a user runs it: redis-server and redis-cli found on PATH.
    let tools = bin("tmpnetctl").parent().unwrap().to_owned();
    let path = std::env::join_paths([tools, PathBuf::from("/usr/bin")]).unwrap();
    let ctl_with_path = |args: &[&str]| {
        ctl_cmd(root.path(), args)
            .env("PATH", &path)
            .output()
            .unwrap()
    };
    let out = ctl_with_path(&[
        "start-network",
        "--kind-file",
        kind.to_str().unwrap(),
        "--node-count",
        "3",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let dir = network_dir_of(&out);
    let d = dir.to_str().unwrap().to_owned();
    let replicated = |key: &str, value: &str, nodes: &[(String, String)]| {
        eventually(Duration::from_secs(20), || {
            nodes[1..]
                .iter()
                .all(|(uri, _)| redis_cli(uri, &["GET", key]) == value)
        })
    };
    // Node 0 the primary, the others its replicas, a write on the primary
    // read on every replica; a replica refuses writes.
    for round in ["first start", "after a restart"] {
        let nodes = roles(&dir).await;
        let names: Vec<&str> = nodes.iter().map(|(_, r)| r.as_str()).collect();
        assert_eq!(names, ["master", "slave", "slave"], "{round}");
        let value = format!("written {round}");
        assert_eq!(redis_cli(&nodes[0].0, &["SET", "greeting", &value]), "OK");
        assert!(
            replicated("greeting", &value, &nodes),
            "{round}: not replicated"
        );
        assert!(
            redis_cli(&nodes[1].0, &["SET", "greeting", "x"]).contains("READONLY"),
            "{round}"
        );
        if round == "first start" {
            let out = ctl_with_path(&["restart-network", "--network-dir", &d]);
            assert!(out.status.success(), "{}", stderr(&out));
        }
    }
    // Its log, every node's lines merged in time order by redis's own
    // timestamps (`1:M 07 Dec 2026 18:55:41.123 * ...`), recent by --since.
    let out = ctl_with_path(&["logs", "--network-dir", &d, "--since", "30m"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let mut keys = Vec::new();
    let mut nodes = std::collections::BTreeSet::new();
    for line in text.lines() {
        let (node, rest) = line.split_once(" | ").expect("a node prefix");
        nodes.insert(node.trim().to_owned());
        let w: Vec<&str> = rest.split_whitespace().collect();
        if let [_, day, month, year, time, ..] = w[..] {
            if let Some(m) = MONTHS.iter().position(|x| *x == month) {
                keys.push((
                    year.to_owned(),
                    m,
                    day.parse::<u8>().unwrap(),
                    time.to_owned(),
                ));
            }
        }
    }
    assert_eq!(nodes.len(), 3, "every node's lines: {text}");
    assert!(keys.len() > 10, "{text}");
    assert!(
        keys.windows(2).all(|w| w[0] <= w[1]),
        "not in time order: {text}"
    );
    let out = ctl_with_path(&["stop-network", "--network-dir", &d]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_no_processes_under(&dir);
}

/// The seed-and-followers example (`examples/seeded/seeded.toml`, the
/// reference node, `peers.of = "first"`): every follower is told of the
/// seed alone and the seed of no one, on the first start and after a
/// restart, and a key written on the last follower reaches every node
/// through the seed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seed_and_its_followers_from_a_kind_file_alone() {
    let root = test_root();
    let kind = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/seeded/seeded.toml");
    // As a user runs it: tmpnet-refnode found next to tmpnetctl.
    let out = ctl(
        root.path(),
        &[
            "start-network",
            "--kind-file",
            kind.to_str().unwrap(),
            "--node-count",
            "4",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let dir = network_dir_of(&out);
    let d = dir.to_str().unwrap().to_owned();
    let http = reqwest::Client::new();
    for round in ["first-start", "after-a-restart"] {
        let network = tmpnet_fixture::Network::load(&dir).unwrap();
        let nodes = network.nodes();
        let peers_of = |i: usize| {
            let flags: serde_json::Value = serde_json::from_str(
                &std::fs::read_to_string(dir.join(nodes[i].id()).join("flags.json")).unwrap(),
            )
            .unwrap();
            flags["bootstrap-peers"].as_str().map(str::to_owned)
        };
        assert_eq!(peers_of(0), None, "{round}: the seed is told of no one");
        for i in 1..nodes.len() {
            let peers = peers_of(i).unwrap_or_default();
            assert!(
                peers.starts_with(&format!("{}@127.0.0.1:", nodes[0].id())) && !peers.contains(','),
                "{round}: node {i} is told {peers:?}, not the seed alone"
            );
        }
        let uris = network.node_uris().await.unwrap();
        let last = uris.last().unwrap();
        let put = http
            .put(format!("{last}/ext/kv/{round}"))
            .body(round)
            .send()
            .await
            .unwrap();
        assert!(put.status().is_success(), "{round}: {put:?}");
        for (id, uri) in nodes.iter().map(|n| n.id()).zip(&uris) {
            let mut got = String::new();
            for _ in 0..100 {
                got = match http.get(format!("{uri}/ext/kv/{round}")).send().await {
                    Ok(r) => r.text().await.unwrap_or_default(),
                    Err(_) => String::new(),
                };
                if got == round {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            assert_eq!(got, round, "{round}: {id} did not learn the key");
        }
        if round == "first-start" {
            let out = ctl(root.path(), &["restart-network", "--network-dir", &d]);
            assert!(out.status.success(), "{}", stderr(&out));
        }
    }
    let out = ctl(root.path(), &["stop-network", "--network-dir", &d]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_no_processes_under(root.path());
}
