//! Disk over time: a run's network directories go when its tests pass; the
//! directories of failed tests stay for diagnosis, the newest 10; `tmpnetctl
//! prune` cleans by hand and never touches a running, kept or fresh
//! network; `list` shows what each directory takes.

use std::path::{Path, PathBuf};
use std::process::Output;

use tmpnet_acceptance::*;

fn suite(root: &Path, args: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_fixture-suite"))
        .args(args)
        .env("TMPNET_ROOT_DIR", root)
        .env("E2E_NODE_COUNT", "2")
        .env("E2E_NODE_PATH", refnode())
        .env_remove("E2E_KEEP_NETWORKS")
        .env_remove("TMPNET_NETWORK_DIR")
        .env_remove("NEXTEST_RUN_ID")
        .env_remove("E2E_REUSE_NETWORK")
        .output()
        .unwrap()
}

#[test]
fn passing_runs_leave_no_directory_and_failed_ones_keep_the_newest_ten() {
    let root = test_root();
    // A shared network and a private one, both passing: both removed.
    let out = suite(root.path(), &["ok::p"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(network_dirs(root.path()), Vec::<PathBuf>::new());

    // A failed test's network stays, marked, with its artifacts.
    let out = suite(root.path(), &["bad::fails", "--exact"]);
    assert_eq!(out.status.code(), Some(101), "{}", stderr(&out));
    let kept = network_dirs(root.path());
    assert_eq!(kept.len(), 1);
    assert!(kept[0].join("failed.json").is_file());
    assert!(kept[0].join("tests").join("bad__fails").is_dir());
    assert_no_processes_under(root.path());

    // Twelve failed runs: the ten newest stay.
    for _ in 0..11 {
        let out = suite(root.path(), &["bad::fails", "--exact"]);
        assert_eq!(out.status.code(), Some(101));
    }
    let after = network_dirs(root.path());
    assert_eq!(after.len(), 10, "{after:?}");
    assert!(
        !after.contains(&kept[0]),
        "the oldest failed run went first"
    );

    // --keep-networks keeps a passing run's directory too.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_fixture-suite"))
        .args(["ok::passes", "--exact", "--keep-networks"])
        .env("TMPNET_ROOT_DIR", root.path())
        .env("E2E_NODE_COUNT", "2")
        .env("E2E_NODE_PATH", refnode())
        .env_remove("NEXTEST_RUN_ID")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(network_dirs(root.path()).len(), 11);
}

#[test]
fn prune_removes_only_stopped_networks_it_may_and_says_what_it_kept() {
    let root = test_root();
    let r = root.path();
    let stopped = start_network(r, &["--node-count", "1"]);
    assert!(ctl(r, &["stop-network"]).status.success());
    let failed_old = start_network(r, &["--node-count", "1"]);
    assert!(ctl(r, &["stop-network"]).status.success());
    std::fs::write(failed_old.join("failed.json"), "{}").unwrap();
    let failed_new = start_network(r, &["--node-count", "1"]);
    assert!(ctl(r, &["stop-network"]).status.success());
    std::fs::write(failed_new.join("failed.json"), "{}").unwrap();
    let running = start_network(r, &["--node-count", "1"]);
    let latest = start_network(r, &["--node-count", "1"]);
    assert!(ctl(r, &["stop-network"]).status.success());

    // `list` says what each takes on disk.
    let list = stdout(&ctl(r, &["list"]));
    assert!(list.lines().next().unwrap().ends_with("DISK"), "{list}");
    assert!(list.contains("KiB"), "{list}");

    // Fresh networks are left alone by default (another program may be
    // creating one); a dry run removes nothing.
    let out = ctl(r, &["prune"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(network_dirs(r).len(), 5, "{}", stdout(&out));
    let out = ctl(
        r,
        &[
            "prune",
            "--older-than",
            "0s",
            "--dry-run",
            "--keep-failed",
            "1",
        ],
    );
    assert!(
        stdout(&out).contains("would remove 2 network(s)"),
        "{}",
        stdout(&out)
    );
    assert_eq!(network_dirs(r).len(), 5);

    let out = ctl(r, &["prune", "--older-than", "0s", "--keep-failed", "1"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let left = network_dirs(r);
    assert_eq!(
        left,
        vec![failed_new.clone(), running.clone(), latest.clone()],
        "{}",
        stderr(&out)
    );
    assert!(!stopped.exists() && !failed_old.exists());
    let err = stderr(&out);
    assert!(
        err.contains("1 node(s) running") && err.contains("kept (latest"),
        "{err}"
    );
    // The running network still runs.
    let health = ctl(
        r,
        &["check-health", "--network-dir", running.to_str().unwrap()],
    );
    assert!(health.status.success(), "{}", stderr(&health));
    assert!(ctl(
        r,
        &["stop-network", "--network-dir", running.to_str().unwrap()]
    )
    .status
    .success());
    assert_no_processes_under(r);
}

#[test]
fn prune_leaves_a_network_another_command_holds() {
    let root = test_root();
    let r = root.path();
    let dir = start_network(r, &["--node-count", "1"]);
    assert!(ctl(r, &["stop-network"]).status.success());
    // Not the latest any more.
    let other = start_network(r, &["--node-count", "1"]);
    assert!(ctl(r, &["stop-network"]).status.success());
    let lock = std::fs::File::open(dir.join("lock")).unwrap();
    lock.lock().unwrap();
    let out = ctl(r, &["prune", "--older-than", "0s"]);
    assert!(
        stderr(&out).contains("in use by another command"),
        "{}",
        stderr(&out)
    );
    assert!(dir.exists() && other.exists());
    drop(lock);
    let out = ctl(r, &["prune", "--older-than", "0s"]);
    assert!(out.status.success());
    assert!(!dir.exists() && other.exists());
}

#[test]
fn prune_removes_what_an_interrupted_start_or_removal_left_unless_a_node_of_it_runs() {
    let root = test_root();
    let r = root.path();
    let networks = r.join("networks");
    // What a start cut off before its config.json, or a removal cut off
    // after it, leaves: node directories and no config.json.
    let leftover = networks.join("20261207-000000.000001");
    std::fs::create_dir_all(leftover.join("ref-1/logs")).unwrap();
    std::fs::write(leftover.join("ref-1/logs/main.log"), "x\n").unwrap();
    // Another one of whose nodes a process still runs.
    let live = networks.join("20261207-000000.000002");
    std::fs::create_dir_all(live.join("ref-2")).unwrap();
    std::fs::write(
        live.join("ref-2/config.json"),
        r#"{"id": "ref-2", "index": 0}"#,
    )
    .unwrap();
    // It is also `latest`, which keeps a network but not what is left of one.
    std::os::unix::fs::symlink("20261207-000000.000002", networks.join("latest")).unwrap();
    let mut node = std::process::Command::new("sleep")
        .arg("30")
        .env("TMPNET_NODE_DIR", live.join("ref-2"))
        .spawn()
        .unwrap();
    // A directory the tool did not make is never its to remove.
    let foreign = networks.join("my-notes");
    std::fs::create_dir_all(&foreign).unwrap();
    let out = ctl(r, &["prune"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(leftover.exists(), "a fresh one is left alone");
    let out = ctl(r, &["prune", "--older-than", "0s"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!leftover.exists(), "{}", stderr(&out));
    assert!(foreign.exists(), "{}", stderr(&out));
    assert!(live.exists());
    assert!(
        stderr(&out).contains("1 process(es) run from it"),
        "{}",
        stderr(&out)
    );
    // stop-network stops it, and prune then takes it.
    let out = ctl(
        r,
        &["stop-network", "--network-dir", live.to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    node.wait().unwrap();
    let out = ctl(r, &["prune", "--older-than", "0s"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!live.exists(), "{}", stderr(&out));
    assert!(
        networks.join("latest").symlink_metadata().is_err(),
        "the link to it went too"
    );
}

#[test]
fn prune_removes_the_locks_of_nextest_runs_that_are_over() {
    let root = test_root();
    let r = root.path();
    let locks = r.join("locks");
    std::fs::create_dir_all(&locks).unwrap();
    std::fs::create_dir_all(r.join("networks")).unwrap();
    for name in [
        "nextest-over",
        "nextest-linked",
        "nextest-held",
        "reuse-e2e",
        "e2e.serial",
    ] {
        std::fs::write(locks.join(format!("{name}.lock")), "").unwrap();
    }
    // A run still going: its link is there, or a process holds its lock.
    let running = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(running.path(), r.join("networks/nextest-linked")).unwrap();
    let held = std::fs::File::open(locks.join("nextest-held.lock")).unwrap();
    held.lock().unwrap();
    // The lock files a prune leaves.
    let pruned = || {
        let out = ctl(r, &["prune", "--older-than", "0s"]);
        assert!(out.status.success(), "{}", stderr(&out));
        let mut left: Vec<String> = std::fs::read_dir(&locks)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        left
    };
    assert_eq!(
        pruned(),
        [
            "e2e.serial.lock",
            "nextest-held.lock",
            "nextest-linked.lock",
            "reuse-e2e.lock"
        ]
    );
    drop(held);
    assert_eq!(
        pruned(),
        ["e2e.serial.lock", "nextest-linked.lock", "reuse-e2e.lock"]
    );
}
