//! Two commands on one network at once: each command that changes a
//! network holds its lock, so a second one waits (saying so) instead of
//! racing. After both, every node process is one the network tracks.

use std::process::{Output, Stdio};
use std::time::Duration;

use tmpnet_acceptance::*;

/// A stopped 3-node network whose nodes take 300 ms to bind (a wide race
/// window).
fn stopped_slow_network(root: &std::path::Path) -> std::path::PathBuf {
    let dir = start_network(
        root,
        &["--node-count", "3", "--flag", "fault-start-delay-ms=300"],
    );
    let out = ctl(root, &["stop-network"]);
    assert!(out.status.success(), "{}", stderr(&out));
    dir
}

/// Runs the commands at the same time; returns their outputs in order.
fn at_once(root: &std::path::Path, commands: &[&[&str]]) -> Vec<Output> {
    let children: Vec<_> = commands
        .iter()
        .map(|args| {
            ctl_cmd(root, args)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect()
}

/// Every live node process under `dir` is one a launch record names.
fn every_process_is_tracked(dir: &std::path::Path) {
    let mut live = live_processes_under(dir);
    let mut tracked = launched_pids(dir);
    live.sort();
    tracked.sort();
    tracked.retain(|p| live.contains(p));
    assert_eq!(live, tracked, "node processes the network does not track");
}

#[test]
fn two_starts_of_one_network_start_it_once() {
    let root = test_root();
    let dir = stopped_slow_network(root.path());
    let d = dir.to_str().unwrap();
    for _ in 0..3 {
        let outs = at_once(
            root.path(),
            &[
                &["start-network", "--network-dir", d],
                &["start-network", "--network-dir", d],
            ],
        );
        let ok = outs.iter().filter(|o| o.status.success()).count();
        assert_eq!(ok, 1, "exactly one start wins");
        let loser = outs.iter().find(|o| !o.status.success()).unwrap();
        let err = stderr(loser);
        assert_eq!(loser.status.code(), Some(1), "{err}");
        assert!(err.contains("already running"), "{err}");
        assert!(
            err.contains("waiting for it to finish"),
            "it said it waited: {err}"
        );
        assert_eq!(node_uris(&dir).len(), 3, "all three nodes run");
        every_process_is_tracked(&dir);
        let health = ctl(root.path(), &["check-health", "--network-dir", d]);
        assert!(health.status.success(), "{}", stdout(&health));
        let stop = ctl(root.path(), &["stop-network", "--network-dir", d]);
        assert!(stop.status.success(), "{}", stderr(&stop));
        assert_no_processes_under(&dir);
    }
}

#[test]
fn a_stop_during_a_start_leaves_nothing_untracked() {
    let root = test_root();
    let dir = stopped_slow_network(root.path());
    let d = dir.to_str().unwrap();
    let start = ctl_cmd(root.path(), &["start-network", "--network-dir", d])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The stop comes while the start holds the lock (its first node is
    // spawned and takes 300 ms to bind); it waits, then stops what the
    // start made.
    assert!(
        eventually(Duration::from_secs(10), || !launched_pids(&dir).is_empty()),
        "the start never spawned a node"
    );
    let stop = ctl(root.path(), &["stop-network", "--network-dir", d]);
    let start = start.wait_with_output().unwrap();
    assert!(start.status.success(), "{}", stderr(&start));
    assert!(stop.status.success(), "{}", stderr(&stop));
    assert!(
        stderr(&stop).contains("waiting for it to finish"),
        "{}",
        stderr(&stop)
    );
    assert!(node_uris(&dir).is_empty(), "the stop came last");
    assert_no_processes_under(&dir);
}

#[test]
fn a_restart_and_a_stop_at_once_end_consistent() {
    let root = test_root();
    let dir = start_network(
        root.path(),
        &["--node-count", "3", "--flag", "fault-start-delay-ms=200"],
    );
    let d = dir.to_str().unwrap();
    let outs = at_once(
        root.path(),
        &[
            &["restart-network", "--network-dir", d],
            &["stop-network", "--network-dir", d],
        ],
    );
    for out in &outs {
        assert!(out.status.success(), "{}", stderr(out));
    }
    // Whichever ran last, the network is either fully up or fully down,
    // and every node process is one it tracks.
    let running = node_uris(&dir).len();
    assert!(running == 0 || running == 3, "{running} of 3 running");
    every_process_is_tracked(&dir);
    let stop = ctl(root.path(), &["stop-network", "--network-dir", d]);
    assert!(stop.status.success(), "{}", stderr(&stop));
    assert_no_processes_under(&dir);
}
