//! Failure paths: crashed nodes, nodes that fail during start, hung nodes,
//! an interrupted or killed CLI. After each, nothing is left running.

use std::time::{Duration, Instant};

use tmpnet_acceptance::*;

#[test]
fn a_node_killed_with_sigkill_is_reported_unhealthy() {
    let root = test_root();
    let dir = start_network(root.path(), &["--node-count", "3"]);
    let victim = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.join("launch.json").is_file())
        .unwrap();
    let record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(victim.join("launch.json")).unwrap()).unwrap();
    kill(
        u32::try_from(record["pid"].as_u64().unwrap()).unwrap(),
        libc::SIGKILL,
    );
    let id = victim.file_name().unwrap().to_str().unwrap().to_owned();
    let mut last = String::new();
    let reported = eventually(Duration::from_secs(5), || {
        let out = ctl(root.path(), &["check-health"]);
        last = stderr(&out);
        out.status.code() == Some(1) && last.contains(&format!("{id} (unhealthy: not running"))
    });
    assert!(
        reported,
        "check-health did not name the killed node: {last}"
    );
    assert!(ctl(root.path(), &["stop-network"]).status.success());
    assert_no_processes_under(&dir);
}

/// Starts a network that must fail; returns (last stderr line, network dir).
fn failing_start(root: &std::path::Path, extra: &[&str]) -> (String, std::path::PathBuf) {
    let mut args = vec!["start-network", "--node-count", "3"];
    args.extend_from_slice(extra);
    let out = ctl(root, &args);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    let dir = err
        .lines()
        .find_map(|l| l.strip_prefix("starting 3 refnode nodes in "))
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| panic!("no network dir in {err}"));
    let last = err.trim_end().lines().last().unwrap().to_owned();
    (last, dir)
}

#[test]
fn a_node_exiting_during_start_fails_the_start_with_its_log_tail() {
    let root = test_root();
    let (line, dir) = failing_start(root.path(), &["--flag", "fault-exit-during-start=3"]);
    assert!(
        line.contains("exited during start (exit status: 3)"),
        "{line}"
    );
    assert!(
        line.contains("last log lines: exiting during start with code 3"),
        "{line}"
    );
    assert_no_processes_under(&dir);
}

#[test]
fn a_fatal_log_line_fails_the_start_fast() {
    let root = test_root();
    // The binaries are brought up to date first: a rebuild is not the
    // start's time.
    bin("tmpnetctl");
    let started = Instant::now();
    let (line, dir) = failing_start(
        root.path(),
        &["--flag", "fault-fatal=cannot open the ledger"],
    );
    assert!(line.contains("FATAL cannot open the ledger"), "{line}");
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "a FATAL line must not wait for the 10 s port timeout"
    );
    assert_no_processes_under(&dir);
}

#[test]
fn nodes_that_never_become_healthy_are_named_and_stopped() {
    let root = test_root();
    let (line, dir) = failing_start(
        root.path(),
        &["--flag", "fault-unhealthy=true", "--start-timeout", "1"],
    );
    assert!(line.contains("3 of 3 nodes not healthy after 1s"), "{line}");
    assert!(line.contains("fault-unhealthy"), "{line}");
    assert_no_processes_under(&dir);
}

/// Starts two nodes that ignore SIGTERM, with a stop grace period of
/// `grace_secs` set in the network's config (the directory is the source
/// of truth for every process).
fn start_ignoring_sigterm(root: &std::path::Path, grace_secs: u64) -> std::path::PathBuf {
    let dir = start_network(
        root,
        &["--node-count", "2", "--flag", "fault-ignore-sigterm=true"],
    );
    let config_path = dir.join("config.json");
    let mut config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&config_path).unwrap()).unwrap();
    config["runtime"]["process"]["stopGraceSecs"] = grace_secs.into();
    std::fs::write(&config_path, serde_json::to_vec(&config).unwrap()).unwrap();
    dir
}

#[test]
fn a_node_ignoring_sigterm_is_killed_after_the_grace_period() {
    let root = test_root();
    let dir = start_ignoring_sigterm(root.path(), 1);
    let started = Instant::now();
    let out = ctl(root.path(), &["stop-network"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(1),
        "stopped before the grace period: {took:?}"
    );
    assert_no_processes_under(&dir);
    let log = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .filter_map(|e| std::fs::read_to_string(e.path().join("logs/main.log")).ok())
        .collect::<String>();
    assert!(
        log.contains("ignoring SIGTERM"),
        "SIGTERM was sent first: {log}"
    );
}

#[test]
fn stop_network_after_the_cli_was_killed_mid_start() {
    let root = test_root();
    let (mut child, dir) = start_slow_network(root.path(), 3);
    kill(child.id(), libc::SIGKILL);
    child.wait().unwrap();
    assert_eq!(
        live_processes_under(&dir).len(),
        3,
        "nodes outlive a killed CLI"
    );
    let out = ctl(
        root.path(),
        &["stop-network", "--network-dir", dir.to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_no_processes_under(&dir);
}

#[test]
fn after_a_killed_start_plain_commands_act_on_the_new_network() {
    let root = test_root();
    let old = start_network(root.path(), &["--node-count", "1"]);
    let (mut child, new) = start_slow_network_beside(root.path(), 3, Some(&old));
    kill(child.id(), libc::SIGKILL);
    child.wait().unwrap();
    assert_eq!(
        live_processes_under(&new).len(),
        3,
        "nodes outlive a killed CLI"
    );
    // No --network-dir: the default selection is the network just made.
    let out = ctl(root.path(), &["stop-network"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_no_processes_under(&new);
    assert_eq!(node_uris(&old).len(), 1, "the older network is untouched");
    let out = ctl(
        root.path(),
        &["stop-network", "--network-dir", old.to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_no_processes_under(root.path());
}

#[test]
fn ctrl_c_sigterm_or_a_closed_terminal_during_start_stops_every_node_started() {
    // Each ends the command with 128 + the signal, as the harness does.
    for (signal, code) in [
        (libc::SIGINT, 130),
        (libc::SIGTERM, 143),
        (libc::SIGHUP, 129),
    ] {
        let root = test_root();
        let (child, dir) = start_slow_network(root.path(), 1);
        kill(child.id(), signal);
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(code), "signal {signal}");
        assert_no_processes_under(&dir);
    }
}

#[test]
fn ctrl_c_during_stop_lets_the_stop_finish_and_says_so() {
    let root = test_root();
    let dir = start_ignoring_sigterm(root.path(), 2);
    let child = ctl_cmd(root.path(), &["stop-network"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // In the grace period: the nodes ignore SIGTERM for 2 s.
    std::thread::sleep(Duration::from_millis(700));
    kill(child.id(), libc::SIGINT);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    assert!(stderr(&out).contains("runs to its end"), "{}", stderr(&out));
    assert_no_processes_under(&dir);
}

#[test]
fn a_daemon_under_a_wrapper_script_is_stopped_with_it() {
    use std::os::unix::fs::PermissionsExt;
    let root = test_root();
    // No `exec`: the shell stays the spawned process, the node its child.
    let wrapper = root.path().join("wrapper.sh");
    std::fs::write(
        &wrapper,
        format!("#!/bin/sh\n{} \"$@\"\n", refnode().display()),
    )
    .unwrap();
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let dir = start_network(
        root.path(),
        &[
            "--node-count",
            "2",
            "--node-path",
            wrapper.to_str().unwrap(),
        ],
    );
    assert_eq!(
        live_processes_under(&dir).len(),
        4,
        "two shells and two nodes"
    );
    assert!(ctl(root.path(), &["check-health"]).status.success());
    assert!(ctl(root.path(), &["stop-network"]).status.success());
    assert_no_processes_under(&dir);
}

#[test]
fn a_test_root_kills_what_a_failed_test_left_running() {
    let root = test_root();
    let dir = start_network(root.path(), &["--node-count", "2"]);
    assert_eq!(live_processes_under(&dir).len(), 2);
    // As when a test panics before stopping its network.
    drop(root);
    assert!(
        live_processes_under(&dir).is_empty(),
        "the nodes outlived the test root"
    );
}

/// The environment entry `name=...` of process `pid`.
fn environ_entry(pid: u32, name: &str) -> String {
    let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
    environ
        .split(|b| *b == 0)
        .map(|e| String::from_utf8_lossy(e).into_owned())
        .find(|e| e.starts_with(&format!("{name}=")))
        .unwrap_or_else(|| panic!("process {pid} carries no {name}"))
}

#[test]
fn following_the_advice_for_a_broken_record_never_loses_a_running_node() {
    let root = test_root();
    let stop = |dir: &std::path::Path| {
        ctl(
            root.path(),
            &["stop-network", "--network-dir", dir.to_str().unwrap()],
        )
    };
    // The network's config.json corrupt, then (as the advice allows)
    // deleted; a node's config.json corrupt: stop-network still finds every
    // process by the node directory it carries, says why it had to, and
    // succeeds.
    type Break = fn(&std::path::Path);
    let breaks: [(&str, Break); 3] = [
        ("corrupt", |dir| {
            std::fs::write(dir.join("config.json"), "{bad").unwrap()
        }),
        ("deleted", |dir| {
            std::fs::remove_file(dir.join("config.json")).unwrap()
        }),
        ("a node's corrupt", |dir| {
            let node = std::fs::read_dir(dir)
                .unwrap()
                .flatten()
                .map(|e| e.path())
                .find(|p| p.join("flags.json").is_file())
                .unwrap();
            std::fs::write(node.join("config.json"), "[").unwrap()
        }),
    ];
    for (what, break_it) in breaks {
        let dir = start_network(root.path(), &["--node-count", "2"]);
        assert!(!live_processes_under(&dir).is_empty());
        break_it(&dir);
        if what == "deleted" {
            // What reads the network says what still works.
            let status = ctl(
                root.path(),
                &["status", "--network-dir", dir.to_str().unwrap()],
            );
            assert!(
                stderr(&status).contains("no config.json")
                    && stderr(&status).contains("tmpnetctl stop-network --network-dir"),
                "{}",
                stderr(&status)
            );
        }
        let out = stop(&dir);
        assert!(out.status.success(), "{what}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(
            err.contains("warning: ") && err.contains("config.json"),
            "{what}: {err}"
        );
        assert!(err.contains("stopped 2 process(es)"), "{what}: {err}");
        assert_no_processes_under(&dir);
        // Nothing runs now: the record's problem is the error again.
        let out = stop(&dir);
        assert_eq!(out.status.code(), Some(1), "{what}: {}", stderr(&out));
    }
    // The networks directory itself is no network, nor one whose records
    // are gone: nothing is stopped, nothing written into it.
    let networks = root.path().join("networks");
    let out = stop(&networks);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("is not a network directory"),
        "{}",
        stderr(&out)
    );
    assert!(!networks.join("lock").exists());
}

#[test]
fn stop_network_from_a_shell_carrying_a_node_mark_spares_that_shell() {
    let root = test_root();
    let dir = start_network(root.path(), &["--node-count", "2"]);
    let pid = live_processes_under(&dir)[0];
    // A shell that inherited a node's variables (as one started from a
    // node's hook does) runs stop-network and goes on after it.
    let base = ctl_cmd(root.path(), &[]);
    let script = format!(
        "{} stop-network --network-dir '{}'; echo \"after $?\"",
        bin("tmpnetctl").display(),
        dir.display()
    );
    let shell = std::process::Command::new("/bin/sh")
        .args(["-c", &script])
        .envs(base.get_envs().filter_map(|(k, v)| Some((k, v?))))
        .env_remove("TMPNET_NETWORK_DIR")
        .env(
            "TMPNET_NODE_MARK",
            environ_entry(pid, "TMPNET_NODE_MARK")
                .split_once('=')
                .unwrap()
                .1,
        )
        .env(
            "TMPNET_NODE_DIR",
            environ_entry(pid, "TMPNET_NODE_DIR")
                .split_once('=')
                .unwrap()
                .1,
        )
        .output()
        .unwrap();
    assert!(
        stdout(&shell).contains("after 0"),
        "the shell was signalled: {:?} {}",
        shell.status,
        stderr(&shell)
    );
    assert_no_processes_under(&dir);
}

/// A node's own script runs `stop-network` (inside the node's process
/// group, carrying its mark): the command stops every node, itself spared,
/// and exits 0.
#[test]
fn stop_network_run_by_a_node_itself_stops_the_network_and_survives() {
    let root = test_root();
    let kinds = tempfile::tempdir().unwrap();
    let trigger = kinds.path().join("trigger");
    let report = kinds.path().join("report");
    let kind_file = script_kind(
        kinds.path(),
        "stops-its-network",
        &format!(
            "/usr/bin/python3 -m http.server --bind 127.0.0.1 \"$2\" >/dev/null 2>&1 &\n\
             if /bin/mkdir \"{trigger}.taken\" 2>/dev/null; then\n\
               ( while [ ! -e \"{trigger}\" ]; do /bin/sleep 0.1; done\n\
                 {ctl} stop-network --network-dir \"$(/usr/bin/dirname \"$TMPNET_NODE_DIR\")\" >\"{report}.out\" 2>&1 ) &\n\
             fi\n\
             wait\n",
            trigger = trigger.display(),
            report = report.display(),
            ctl = bin("tmpnetctl").display(),
        ),
        "",
    );
    let dir = start_network(
        root.path(),
        &[
            "--kind-file",
            kind_file.to_str().unwrap(),
            "--node-count",
            "2",
        ],
    );
    std::fs::write(&trigger, "").unwrap();
    // The subshell that ran it is a node process and is stopped too; the
    // command's last line says it lived to the end.
    let out = || std::fs::read_to_string(kinds.path().join("report.out")).unwrap_or_default();
    let done = eventually(Duration::from_secs(30), || {
        out().contains("stopped network")
    });
    assert!(done, "stop-network did not live to its end: {}", out());
    assert!(!out().contains("SIGKILL"), "{}", out());
    assert_no_processes_under(&dir);
}

/// Under `umask 000` no directory or file the tool makes is writable by
/// other users (who could otherwise swap a node's kind file or binary).
#[test]
fn nothing_made_is_writable_by_others_whatever_the_umask() {
    use std::os::unix::fs::PermissionsExt;
    let root = test_root();
    let kinds = tempfile::tempdir().unwrap();
    let kind_file = write_kind(kinds.path(), "refnode.toml", REFNODE_KIND_FILE);
    let ctl_path = bin("tmpnetctl");
    // tmpnetctl's usual environment, started by a shell that sets the umask.
    let base = ctl_cmd(root.path(), &[]);
    let envs: Vec<_> = base
        .get_envs()
        .filter_map(|(k, v)| Some((k.to_owned(), v?.to_owned())))
        .collect();
    let out = std::process::Command::new("/bin/sh")
        .arg("-c")
        .arg(format!(
            "umask 000; exec '{}' start-network --node-count 2 --kind-file '{}'",
            ctl_path.display(),
            kind_file.display()
        ))
        .envs(envs)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let dir = network_dir_of(&out);
    let mut writable = Vec::new();
    let mut stack = vec![root.path().to_owned()];
    while let Some(path) = stack.pop() {
        let meta = std::fs::symlink_metadata(&path).unwrap();
        if meta.file_type().is_symlink() {
            continue;
        }
        if meta.permissions().mode() & 0o022 != 0 {
            writable.push(format!(
                "{} {:o}",
                path.display(),
                meta.permissions().mode()
            ));
        }
        if meta.is_dir() {
            stack.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
        }
    }
    let stop = ctl(
        root.path(),
        &["stop-network", "--network-dir", dir.to_str().unwrap()],
    );
    assert!(stop.status.success(), "{}", stderr(&stop));
    // The root itself is the test's temporary directory (0700).
    assert!(writable.is_empty(), "writable by others: {writable:#?}");
}

#[test]
fn a_restart_whose_links_file_cannot_be_written_still_succeeds_and_says_so() {
    let root = test_root();
    let dir = start_network(root.path(), &["--node-count", "2"]);
    // metrics.txt cannot be replaced (a directory stands in its place), as
    // on a full disk: the nodes restart all the same.
    std::fs::remove_file(dir.join("metrics.txt")).ok();
    std::fs::create_dir(dir.join("metrics.txt")).unwrap();
    let out = ctl(
        root.path(),
        &["restart-network", "--network-dir", dir.to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("warning: the network runs, but its metrics links were not written"),
        "{}",
        stderr(&out)
    );
    assert_eq!(node_uris(&dir).len(), 2);
    let out = ctl(
        root.path(),
        &["stop-network", "--network-dir", dir.to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_no_processes_under(&dir);
}
