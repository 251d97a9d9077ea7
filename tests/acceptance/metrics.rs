//! Metrics: Prometheus discovery entries that follow the nodes (ephemeral
//! ones, a killed CLI, a killed node, test code's own targets), a real
//! Prometheus scraping every node, `check-metrics`, the links of
//! `metrics.txt`, and the shipped Grafana dashboard.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use tmpnet_acceptance::*;
use tmpnet_fixture::Network;

/// The discovery entries under `root`, as (file name, labels).
fn entries(root: &Path) -> Vec<(String, BTreeMap<String, String>)> {
    let dir = root.join("prometheus/file_sd_configs");
    let mut out: Vec<(String, BTreeMap<String, String>)> = std::fs::read_dir(&dir)
        .map(|d| {
            d.flatten()
                .map(|e| {
                    let groups: serde_json::Value =
                        serde_json::from_slice(&std::fs::read(e.path()).unwrap()).unwrap();
                    let labels = groups[0]["labels"]
                        .as_object()
                        .unwrap()
                        .iter()
                        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
                        .collect();
                    (e.file_name().to_string_lossy().into_owned(), labels)
                })
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

fn node_ids(root: &Path) -> Vec<String> {
    entries(root)
        .into_iter()
        .map(|(_, l)| l["node_id"].clone())
        .collect()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn discovery_entries_appear_and_disappear_with_the_nodes() {
    let root = test_root();
    let r = root.path();
    let refnode = refnode();
    let dir = start_network(
        r,
        &[
            "--node-count",
            "2",
            "--node-path",
            refnode.to_str().unwrap(),
            "--owner",
            "metrics-test",
        ],
    );
    let network = Network::load(&dir).unwrap();
    let uuid = network.config().uuid.clone();
    let mut ids: Vec<String> = network.nodes().iter().map(|n| n.id().to_owned()).collect();
    ids.sort();
    assert_eq!(node_ids(r), ids);
    let (file, labels) = &entries(r)[0];
    assert_eq!(file, &format!("{uuid}-{}.json", ids[0]));
    assert_eq!(labels["network_uuid"], uuid);
    assert_eq!(labels["network_owner"], "metrics-test");
    assert_eq!(labels["node_kind"], "refnode");
    assert_eq!(labels["is_ephemeral_node"], "false");
    assert_eq!(
        labels["instance"], ids[0],
        "instance is the node id, not the port"
    );
    assert_eq!(labels["__metrics_path__"], "/ext/metrics");

    // An ephemeral node, and test code's own target.
    let rt = runtime();
    let ephemeral = network.create_ephemeral_node().unwrap();
    rt.block_on(network.start_ephemeral_node(&ephemeral, Duration::from_secs(30)))
        .unwrap();
    network
        .register_metrics_target("load-generator", "127.0.0.1:1", "/metrics")
        .unwrap();
    let all = entries(r);
    assert_eq!(all.len(), 4, "{all:?}");
    let eph = all
        .iter()
        .find(|(_, l)| l["node_id"] == ephemeral.id())
        .unwrap();
    assert_eq!(eph.1["is_ephemeral_node"], "true");
    let extra = all
        .iter()
        .find(|(_, l)| l["node_id"] == "load-generator")
        .unwrap();
    assert_eq!(extra.1["network_uuid"], uuid);
    rt.block_on(ephemeral.stop()).unwrap();
    assert!(
        !node_ids(r).contains(&ephemeral.id().to_owned()),
        "a stopped ephemeral node keeps no entry"
    );
    assert!(node_ids(r).contains(&"load-generator".to_owned()));

    // A node killed behind the tool's back loses its entry at the next command.
    let pids = launched_pids(&dir);
    kill(pids[0], libc::SIGKILL);
    let out = ctl(r, &["status", "--network-dir", dir.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(entries(r).len(), 2, "one node and the extra target left");

    let out = ctl(r, &["stop-network", "--network-dir", dir.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(entries(r).is_empty(), "{:?}", entries(r));
    assert_no_processes_under(r);
}

#[test]
fn entries_a_killed_cli_did_not_write_are_written_by_the_next_command() {
    let root = test_root();
    let r = root.path();
    let (mut child, dir) = start_slow_network(r, 3);
    kill(child.id(), libc::SIGKILL);
    child.wait().unwrap();
    assert!(entries(r).is_empty(), "the killed start wrote no entry");
    // Once the nodes run, the next command writes their entries.
    let d = dir.to_str().unwrap();
    let written = eventually(Duration::from_secs(20), || {
        ctl(r, &["status", "--network-dir", d]);
        entries(r).len() == 3
    });
    assert!(written, "{:?}", entries(r));
    let out = ctl(r, &["stop-network", "--network-dir", d]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(entries(r).is_empty());
    assert_no_processes_under(r);
}

/// Runs `check-metrics` on `dir` with a timeout.
fn check_metrics(root: &Path, dir: &Path, timeout: &str) -> std::process::Output {
    ctl(
        root,
        &[
            "check-metrics",
            "--network-dir",
            dir.to_str().unwrap(),
            "--timeout",
            timeout,
        ],
    )
}

#[test]
#[ignore = "needs prometheus (apt-get install prometheus); scripts/test.sh runs it"]
fn a_real_prometheus_scrapes_every_node_and_check_metrics_names_a_killed_one() {
    let prometheus = prometheus();
    let root = test_root();
    // Characters a glob reads as patterns, in the root Prometheus is given.
    let odd = root.path().join("odd[x]?");
    std::fs::create_dir(&odd).unwrap();
    let r = odd.as_path();
    let p = prometheus.to_str().unwrap();
    // A '*' Prometheus refuses in the path: refused here, in one line.
    let star = root.path().join("star*");
    std::fs::create_dir(&star).unwrap();
    let out = ctl(&star, &["start-metrics-collector", "--prometheus-path", p]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("choose another --root-dir"),
        "{}",
        stderr(&out)
    );
    let out = ctl(r, &["start-metrics-collector", "--prometheus-path", p]);
    assert!(out.status.success(), "{}", stderr(&out));
    let again = ctl(r, &["start-metrics-collector", "--prometheus-path", p]);
    assert!(
        stderr(&again).contains("already running"),
        "{}",
        stderr(&again)
    );
    let refnode = refnode();
    let out = ctl(
        r,
        &[
            "start-network",
            "--node-count",
            "5",
            "--node-path",
            refnode.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let dir = network_dir_of(&out);
    let text = stdout(&out);
    assert!(
        text.contains("metrics: http") && text.contains("collector: http://127.0.0.1:"),
        "a running collector's links are printed: {text}"
    );
    let links = std::fs::read_to_string(dir.join("metrics.txt")).unwrap();
    let uuid = Network::load(&dir).unwrap().config().uuid.clone();
    assert!(
        links.contains(&format!("var-network_uuid={uuid}")) && links.contains("/graph?g0.expr=up"),
        "{links}"
    );
    // Scraped within the collector's first scrape intervals.
    let out = check_metrics(r, &dir, "30s");
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));

    let network = Network::load(&dir).unwrap();
    let victim = network.nodes()[2].id().to_owned();
    let launch: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join(&victim).join("launch.json")).unwrap())
            .unwrap();
    kill(
        u32::try_from(launch["pid"].as_u64().unwrap()).unwrap(),
        libc::SIGKILL,
    );
    let out = check_metrics(r, &dir, "1s");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("1 node(s) not scraped") && err.contains(&victim),
        "{err}"
    );
    assert!(
        ctl(r, &["stop-network", "--network-dir", dir.to_str().unwrap()])
            .status
            .success()
    );
    let out = ctl(r, &["stop-metrics-collector"]);
    assert!(stderr(&out).contains("stopped"), "{}", stderr(&out));
    let out = check_metrics(r, &dir, "1s");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("start-metrics-collector"),
        "{}",
        stderr(&out)
    );
    assert_no_processes_under(r);
}

#[test]
#[ignore = "needs prometheus and litecoind (apt-get install prometheus litecoind); scripts/test.sh runs it"]
fn a_kind_without_metrics_says_so() {
    let prometheus = prometheus();
    let daemon = litecoind();
    let root = test_root();
    let r = root.path();
    let out = ctl(
        r,
        &[
            "start-metrics-collector",
            "--prometheus-path",
            prometheus.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let dir = start_network(
        r,
        &[
            "--node-kind",
            "bitcoind",
            "--node-count",
            "3",
            "--node-path",
            daemon.to_str().unwrap(),
        ],
    );
    assert!(
        entries(r).is_empty(),
        "no entry for a daemon without metrics"
    );
    let out = check_metrics(r, &dir, "1s");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("exports no metrics over HTTP"),
        "{}",
        stderr(&out)
    );
    assert!(
        ctl(r, &["stop-network", "--network-dir", dir.to_str().unwrap()])
            .status
            .success()
    );
    assert!(ctl(r, &["stop-metrics-collector"]).status.success());
    assert_no_processes_under(r);
}

#[test]
fn the_dashboard_queries_only_labels_and_metrics_that_exist() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/grafana/tmpnet-network.json");
    let dashboard: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(dashboard["uid"], "tmpnet-network");
    let mut exprs = Vec::new();
    collect_exprs(&dashboard, &mut exprs);
    assert!(exprs.len() >= 4, "{exprs:?}");
    // What a running refnode exports.
    let root = test_root();
    let r = root.path();
    let refnode = refnode();
    let dir = start_network(
        r,
        &[
            "--node-count",
            "1",
            "--node-path",
            refnode.to_str().unwrap(),
        ],
    );
    let (status, body) = http("GET", &format!("{}/ext/metrics", node_uris(&dir)[0]), "");
    assert_eq!(status, 200);
    let exported: Vec<&str> = body
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split([' ', '{']).next())
        .collect();
    let labels = entries(r)[0].1.clone();
    for expr in &exprs {
        for word in expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
            if word.starts_with("refnode_") {
                assert!(
                    exported.contains(&word),
                    "{word} in {expr:?} is not exported: {exported:?}"
                );
            }
        }
        for selector in expr.split('{').skip(1) {
            let inside = selector.split('}').next().unwrap_or_default();
            for matcher in inside.split(',').filter(|m| !m.trim().is_empty()) {
                let label = matcher.split(['=', '!', '~']).next().unwrap().trim();
                assert!(
                    labels.contains_key(label),
                    "label {label} in {expr:?} is not written"
                );
            }
        }
    }
    assert!(
        ctl(r, &["stop-network", "--network-dir", dir.to_str().unwrap()])
            .status
            .success()
    );
}

/// Every `expr` and variable `query` in a dashboard.
fn collect_exprs(value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("expr", serde_json::Value::String(s)) => out.push(s.clone()),
                    ("query", serde_json::Value::String(s)) if s.contains('(') => {
                        out.push(s.clone())
                    }
                    _ => collect_exprs(v, out),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| collect_exprs(v, out)),
        _ => {}
    }
}
