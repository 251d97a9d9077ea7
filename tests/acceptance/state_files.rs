//! A running node is never taken for a stopped one, whatever state file is
//! missing, empty or corrupt: every node process carries a mark
//! (`TMPNET_NODE_MARK=<network uuid>/<node id>`) by which the tool finds it
//! when the files say nothing, and a network counts its nodes from its own
//! record, so a node whose directory vanished is named. After each case,
//! `stop-network` leaves nothing running.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tmpnet_acceptance::*;

/// A running 3-node network: its directory and its node directories.
fn running_network(root: &Path) -> (PathBuf, Vec<PathBuf>) {
    let dir = start_network(root, &["--node-count", "3"]);
    let mut nodes: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("launch.json").is_file())
        .collect();
    nodes.sort();
    assert_eq!(nodes.len(), 3);
    (dir, nodes)
}

fn id_of(node: &Path) -> String {
    node.file_name().unwrap().to_string_lossy().into_owned()
}

/// `stop-network` succeeds, quickly (no node waits out the 10 s grace
/// period), and leaves nothing running.
fn stop_leaves_nothing(root: &Path, dir: &Path) {
    let started = Instant::now();
    let out = ctl(
        root,
        &["stop-network", "--network-dir", dir.to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "stop took {:?}: {}",
        started.elapsed(),
        stderr(&out)
    );
    assert_no_processes_under(dir);
}

#[test]
fn a_node_whose_launch_record_was_removed_still_counts_as_running() {
    let root = test_root();
    let (dir, nodes) = running_network(root.path());
    std::fs::remove_file(nodes[0].join("launch.json")).unwrap();
    let d = dir.to_str().unwrap();
    let status = ctl(root.path(), &["status", "--network-dir", d]);
    let table = stdout(&status);
    let row = table
        .lines()
        .find(|l| l.starts_with(&id_of(&nodes[0])))
        .unwrap();
    assert!(row.contains("running untracked"), "{table}");
    // No second process on the same database.
    let again = ctl(root.path(), &["start-network", "--network-dir", d]);
    assert_eq!(again.status.code(), Some(1));
    assert!(
        stderr(&again).contains("already running"),
        "{}",
        stderr(&again)
    );
    stop_leaves_nothing(root.path(), &dir);
}

#[test]
fn a_corrupt_launch_record_does_not_keep_a_node_from_being_stopped() {
    let root = test_root();
    let (dir, nodes) = running_network(root.path());
    std::fs::write(nodes[1].join("launch.json"), "{ not json").unwrap();
    // The file is named when read ...
    let status = ctl(
        root.path(),
        &["status", "--network-dir", dir.to_str().unwrap()],
    );
    assert_eq!(status.status.code(), Some(1));
    assert!(
        stderr(&status).contains("launch.json"),
        "{}",
        stderr(&status)
    );
    // ... and the stop finds the node by its mark.
    stop_leaves_nothing(root.path(), &dir);
}

#[test]
fn an_emptied_process_record_does_not_slow_or_fail_the_stop() {
    let root = test_root();
    let (dir, nodes) = running_network(root.path());
    std::fs::write(nodes[2].join("process.json"), "").unwrap();
    stop_leaves_nothing(root.path(), &dir);
}

#[test]
fn a_node_whose_directory_vanished_is_named_and_still_stopped() {
    let root = test_root();
    let (dir, nodes) = running_network(root.path());
    std::fs::remove_dir_all(&nodes[1]).unwrap();
    let d = dir.to_str().unwrap();
    for command in ["check-health", "status"] {
        let out = ctl(root.path(), &[command, "--network-dir", d]);
        assert_eq!(out.status.code(), Some(1), "{command}: {}", stdout(&out));
        let err = stderr(&out);
        assert!(
            err.contains(&id_of(&nodes[1])) && err.contains("directories are gone"),
            "{command}: {err}"
        );
        assert!(!stdout(&out).contains("all 2 nodes healthy"));
    }
    stop_leaves_nothing(root.path(), &dir);
}

#[test]
fn a_network_with_every_node_directory_gone_is_still_stopped() {
    let root = test_root();
    let (dir, nodes) = running_network(root.path());
    for node in &nodes {
        std::fs::remove_dir_all(node).unwrap();
    }
    stop_leaves_nothing(root.path(), &dir);
}
