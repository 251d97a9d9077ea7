//! `tmpnetctl` end to end on real refnode networks: start, inspect, write
//! and read through the nodes, restart, stop; nothing left running.

use std::time::Duration;

use tmpnet_acceptance::*;

#[test]
fn start_check_restart_stop_a_real_network() {
    let root = test_root();
    let out = ctl(root.path(), &["start-network", "--node-count", "3"]);
    assert!(out.status.success(), "start failed: {}", stderr(&out));
    let dir = network_dir_of(&out);
    let text = stdout(&out);
    assert!(
        text.contains(&format!("network dir: {}", dir.display())),
        "{text}"
    );
    for name in ["config.json", "network.env"] {
        assert!(dir.join(name).is_file(), "{name} missing");
    }
    let env = std::fs::read_to_string(dir.join("network.env")).unwrap();
    assert_eq!(
        env,
        format!("export TMPNET_NETWORK_DIR='{}'\n", dir.display())
    );
    let latest = std::fs::read_link(root.path().join("networks/latest")).unwrap();
    assert!(latest.is_relative());
    assert_eq!(dir.file_name().unwrap(), latest.as_os_str());
    assert!(
        stderr(&out).contains("healthy"),
        "progress is reported on stderr"
    );

    // Every node is listed with its URI on stdout.
    let uris = node_uris(&dir);
    assert_eq!(uris.len(), 3);
    for uri in &uris {
        assert!(text.contains(uri.as_str()), "{uri} not printed: {text}");
    }

    let health = ctl(root.path(), &["check-health"]);
    assert!(health.status.success(), "{}", stderr(&health));
    let status = stdout(&ctl(root.path(), &["status"]));
    assert_eq!(status.matches("healthy").count(), 3, "{status}");

    // A value written on one node is read on all.
    let (code, _) = http("PUT", &format!("{}/ext/kv/color", uris[0]), "blue");
    assert_eq!(code, 200);
    for uri in &uris {
        let url = format!("{uri}/ext/kv/color");
        assert!(
            eventually(Duration::from_secs(1), || http("GET", &url, "")
                == (200, "blue".into())),
            "{uri} never saw the value"
        );
    }

    // Restart: new processes, state kept.
    let before = launched_pids(&dir);
    let out = ctl(
        root.path(),
        &["restart-network", "--network-dir", dir.to_str().unwrap()],
    );
    assert!(out.status.success(), "restart failed: {}", stderr(&out));
    let after = launched_pids(&dir);
    assert_eq!(after.len(), 3);
    assert!(
        before.iter().all(|p| !after.contains(p)),
        "every node restarted"
    );
    for uri in node_uris(&dir) {
        assert_eq!(
            http("GET", &format!("{uri}/ext/kv/color"), ""),
            (200, "blue".into())
        );
    }

    let out = ctl(root.path(), &["stop-network"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_no_processes_under(&dir);
    assert!(
        node_uris(&dir).is_empty(),
        "process.json removed on clean exit"
    );
    assert!(
        launched_pids(&dir).is_empty(),
        "launch records removed after stop"
    );
    let list = stdout(&ctl(root.path(), &["list"]));
    let row = list
        .lines()
        .find(|l| l.contains("(latest)"))
        .unwrap_or_default();
    assert!(row.contains(" 0/3 ") && row.contains("KiB"), "{list}");
}

#[test]
fn env_var_selects_the_network_and_a_stopped_network_can_be_started_again() {
    let root = test_root();
    let dir = start_network(root.path(), &["--node-count", "1"]);
    let stop = ctl_cmd(root.path(), &["stop-network"])
        .env("TMPNET_NETWORK_DIR", &dir)
        .output()
        .unwrap();
    assert!(stop.status.success(), "{}", stderr(&stop));
    assert_no_processes_under(&dir);
    let again = ctl(
        root.path(),
        &["start-network", "--network-dir", dir.to_str().unwrap()],
    );
    assert!(again.status.success(), "{}", stderr(&again));
    assert_eq!(network_dir_of(&again), dir);
    assert!(ctl(root.path(), &["stop-network"]).status.success());
    assert_no_processes_under(&dir);
}

#[test]
fn reuse_dynamic_ports_keeps_api_ports_across_restart() {
    let root = test_root();
    let dir = start_network(root.path(), &["--node-count", "2", "--reuse-dynamic-ports"]);
    let before = node_uris(&dir);
    let out = ctl(root.path(), &["restart-network"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(node_uris(&dir), before);
    assert!(ctl(root.path(), &["stop-network"]).status.success());
    assert_no_processes_under(&dir);
}

#[test]
fn two_networks_started_at_once_in_one_root_never_collide() {
    use std::process::Stdio;
    let root = test_root();
    let spawn = || {
        ctl_cmd(root.path(), &["start-network", "--node-count", "3"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(), spawn());
    let outs = [a.wait_with_output().unwrap(), b.wait_with_output().unwrap()];
    for out in &outs {
        assert!(out.status.success(), "{}", stderr(out));
    }
    let dirs = [network_dir_of(&outs[0]), network_dir_of(&outs[1])];
    assert_ne!(dirs[0], dirs[1]);
    let mut uris: Vec<String> = dirs.iter().flat_map(|d| node_uris(d)).collect();
    assert_eq!(uris.len(), 6);
    uris.sort();
    uris.dedup();
    assert_eq!(uris.len(), 6, "two nodes share an address");
    for dir in &dirs {
        let d = dir.to_str().unwrap();
        let out = ctl(root.path(), &["check-health", "--network-dir", d]);
        assert!(out.status.success(), "{}", stderr(&out));
        assert!(ctl(root.path(), &["stop-network", "--network-dir", d])
            .status
            .success());
        assert_no_processes_under(dir);
    }
}

#[test]
fn tmpnetctl_embeds_the_reference_node() {
    // A tmpnetctl alone: no tmpnet-refnode beside it or on PATH.
    let root = test_root();
    let lonely = root.path().join("bin");
    std::fs::create_dir(&lonely).unwrap();
    let exe = lonely.join("tmpnetctl");
    std::fs::copy(bin("tmpnetctl"), &exe).unwrap();
    let run = |args: &[&str]| {
        std::process::Command::new(&exe)
            .args(args)
            .env("TMPNET_ROOT_DIR", root.path())
            .env("PATH", "/nonexistent")
            .env_remove("TMPNET_NETWORK_DIR")
            .output()
            .unwrap()
    };
    let out = run(&["start-network", "--node-count", "2"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let dir = network_dir_of(&out);
    for pid in launched_pids(&dir) {
        let exe_of_node = std::fs::read_link(format!("/proc/{pid}/exe")).unwrap();
        assert_eq!(exe_of_node, exe, "the node is the embedding tmpnetctl");
    }
    assert!(run(&["check-health"]).status.success());
    assert!(run(&["restart-network"]).status.success());
    assert!(run(&["stop-network"]).status.success());
    assert_no_processes_under(&dir);
}

#[test]
fn reuse_dynamic_ports_keeps_api_ports_across_stop_and_start() {
    let root = test_root();
    let dir = start_network(root.path(), &["--node-count", "2", "--reuse-dynamic-ports"]);
    let before = node_uris(&dir);
    assert!(ctl(root.path(), &["stop-network"]).status.success());
    let again = start_network(root.path(), &["--network-dir", dir.to_str().unwrap()]);
    assert_eq!(again, dir);
    assert_eq!(
        node_uris(&dir),
        before,
        "the same ports after stop and start"
    );
    assert!(ctl(root.path(), &["stop-network"]).status.success());
    assert_no_processes_under(&dir);
}

#[test]
fn exported_defaults_for_new_networks_do_not_block_starting_an_existing_one() {
    let root = test_root();
    let dir = start_network(root.path(), &["--node-count", "1"]);
    assert!(ctl(root.path(), &["stop-network"]).status.success());
    let d = dir.to_str().unwrap();
    let out = ctl_cmd(root.path(), &["start-network", "--network-dir", d])
        .env("TMPNET_NODE_COUNT", "3")
        .env("TMPNET_NODE_KIND", "refnode")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(node_uris(&dir).len(), 1, "the network keeps its own size");
    assert!(ctl(root.path(), &["stop-network"]).status.success());
    // Given on the command line, they are still refused, by name.
    let out = ctl(
        root.path(),
        &["start-network", "--network-dir", d, "--node-count", "3"],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("--node-count only apply to a new network"),
        "{err}"
    );
    assert!(
        !err.contains("--node-kind"),
        "only what was given is named: {err}"
    );
    assert_no_processes_under(&dir);
}

#[test]
fn a_restart_that_cannot_start_a_node_stops_none() {
    use std::os::unix::fs::PermissionsExt;
    let root = test_root();
    // The network runs a copy of the node binary that the test then breaks.
    let binary = root.path().join("my-node");
    std::fs::copy(refnode(), &binary).unwrap();
    let dir = start_network(
        root.path(),
        &["--node-count", "2", "--node-path", binary.to_str().unwrap()],
    );
    let pids = launched_pids(&dir);
    for (breakage, problem) in [("chmod", "is not executable"), ("rm", "does not exist")] {
        match breakage {
            "chmod" => {
                std::fs::set_permissions(&binary, std::fs::Permissions::from_mode(0o644)).unwrap()
            }
            _ => std::fs::remove_file(&binary).unwrap(),
        }
        let out = ctl(root.path(), &["restart-network"]);
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
        let err = stderr(&out);
        assert!(
            err.contains(problem)
                && err.contains("runtime.process.nodePath")
                && !err.contains("--node-path"),
            "{err}"
        );
        assert_eq!(
            launched_pids(&dir),
            pids,
            "no node was stopped ({breakage})"
        );
        assert!(ctl(root.path(), &["check-health"]).status.success());
    }
    assert!(ctl(root.path(), &["stop-network"]).status.success());
    assert_no_processes_under(&dir);
}
