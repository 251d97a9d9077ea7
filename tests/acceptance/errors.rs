//! Bad input at the CLI: a one-line error naming the problem and the fix,
//! exit code 1, nothing left running, nothing on disk corrupted.

use std::path::Path;
use std::time::Duration;

use tmpnet_acceptance::*;

/// Asserts a failed run whose last stderr line is one `error:` line
/// containing every `needles` entry; returns that line.
fn assert_error(out: &std::process::Output, needles: &[&str]) -> String {
    assert_eq!(out.status.code(), Some(1), "stderr: {}", stderr(out));
    let err = stderr(out);
    let line = err.trim_end().lines().last().unwrap_or_default().to_owned();
    assert!(line.starts_with("error: "), "not an error line: {err}");
    for needle in needles {
        assert!(line.contains(needle), "{needle:?} not in {line:?}");
    }
    assert!(!err.contains("panicked"), "{err}");
    line
}

/// A node directory of the network in `dir`.
fn first_node_dir(dir: &Path) -> std::path::PathBuf {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.join("config.json").is_file())
        .unwrap()
}

/// Asserts bad input was rejected before anything was written.
fn assert_nothing_created(root: &Path) {
    let networks = root.join("networks");
    let count = std::fs::read_dir(&networks).map(|d| d.count()).unwrap_or(0);
    assert_eq!(count, 0, "a network dir was created for bad input");
}

#[test]
fn missing_or_non_executable_node_binary() {
    let root = test_root();
    let out = ctl(
        root.path(),
        &["start-network", "--node-path", "/nonexistent/refnode"],
    );
    assert_error(
        &out,
        &["/nonexistent/refnode", "does not exist", "--node-path"],
    );
    let plain = root.path().join("plain");
    std::fs::write(&plain, "#!/bin/sh\n").unwrap();
    let out = ctl(
        root.path(),
        &["start-network", "--node-path", plain.to_str().unwrap()],
    );
    assert_error(&out, &["not executable", "--node-path"]);
    assert_nothing_created(root.path());
    assert_nothing_created(root.path());
}

#[test]
fn node_count_out_of_range_unknown_kind_and_bad_flags() {
    let root = test_root();
    assert_error(
        &ctl(root.path(), &["start-network", "--node-count", "0"]),
        &["node count 0", "1 to 256"],
    );
    assert_error(
        &ctl(root.path(), &["start-network", "--node-count", "100000"]),
        &["100000", "1 to 256"],
    );
    assert_error(
        &ctl(root.path(), &["start-network", "--node-count", "many"]),
        &["many", "--help"],
    );
    assert_error(
        &ctl(root.path(), &["start-network", "--node-kind", "geth"]),
        &["geth", "refnode"],
    );
    assert_error(
        &ctl(root.path(), &["start-network", "--flag", "novalue"]),
        &["novalue", "KEY=VALUE"],
    );
    assert_error(
        &ctl(
            root.path(),
            &["start-network", "--start-timeout", "99999999999999999"],
        ),
        &["--start-timeout", "--help"],
    );
    assert_error(
        &ctl(
            root.path(),
            &[
                "start-network",
                "--network-dir",
                "/tmp",
                "--node-count",
                "3",
            ],
        ),
        &["only apply to a new network", "omit --network-dir"],
    );
    assert_nothing_created(root.path());
}

#[test]
fn network_dir_that_is_missing_or_not_a_network() {
    let root = test_root();
    assert_error(&ctl(root.path(), &["status"]), &["start-network"]);
    for cmd in ["status", "stop-network", "restart-network", "check-health"] {
        let out = ctl(root.path(), &[cmd, "--network-dir", "/nonexistent/net"]);
        assert_error(&out, &["/nonexistent/net", "not a network directory"]);
    }
    let empty = test_root();
    let out = ctl(
        root.path(),
        &["status", "--network-dir", empty.path().to_str().unwrap()],
    );
    assert_error(&out, &["not a network directory", "config.json"]);
}

#[test]
fn corrupt_config_is_named_and_left_untouched() {
    let root = test_root();
    let dir = start_network(root.path(), &["--node-count", "1"]);
    assert!(ctl(root.path(), &["stop-network"]).status.success());
    let config = dir.join("config.json");
    let full = std::fs::read(&config).unwrap();
    let half = &full[..full.len() / 2];
    std::fs::write(&config, half).unwrap();
    for cmd in [
        "status",
        "start-network",
        "restart-network",
        "stop-network",
        "check-health",
    ] {
        let out = ctl(root.path(), &[cmd, "--network-dir", dir.to_str().unwrap()]);
        assert_error(&out, &[config.to_str().unwrap(), "not valid"]);
        assert_eq!(
            std::fs::read(&config).unwrap(),
            half,
            "{cmd} changed the file"
        );
    }
    assert_no_processes_under(&dir);
    // A corrupt node config is named too.
    std::fs::write(&config, &full).unwrap();
    let node_config = first_node_dir(&dir).join("config.json");
    std::fs::write(&node_config, "{\"id\": ").unwrap();
    let out = ctl(
        root.path(),
        &["status", "--network-dir", dir.to_str().unwrap()],
    );
    assert_error(&out, &[node_config.to_str().unwrap()]);
}

#[test]
fn starting_a_running_network_is_refused() {
    let root = test_root();
    let dir = start_network(root.path(), &["--node-count", "2"]);
    let pids = launched_pids(&dir);
    let again = ctl(
        root.path(),
        &["start-network", "--network-dir", dir.to_str().unwrap()],
    );
    assert_error(&again, &["already running", "stop-network"]);
    assert_eq!(
        launched_pids(&dir),
        pids,
        "the running nodes were not touched"
    );
    assert!(ctl(root.path(), &["check-health"]).status.success());
    assert!(ctl(root.path(), &["stop-network"]).status.success());
    assert_no_processes_under(&dir);
}

#[test]
fn stale_state_after_kill_9_is_recognised_and_a_fresh_start_works() {
    let root = test_root();
    let dir = start_network(root.path(), &["--node-count", "2"]);
    for pid in launched_pids(&dir) {
        kill(pid, libc::SIGKILL);
    }
    assert_no_processes_under(&dir);
    assert_eq!(node_uris(&dir).len(), 2, "process.json files are stale now");
    let status = stdout(&ctl(root.path(), &["status"]));
    assert_eq!(status.matches("stale").count(), 2, "{status}");
    let health = ctl(root.path(), &["check-health"]);
    assert_error(
        &health,
        &["2 of 2 nodes unhealthy", "not running", "tmpnetctl status"],
    );
    let out = ctl(
        root.path(),
        &["start-network", "--network-dir", dir.to_str().unwrap()],
    );
    assert!(
        out.status.success(),
        "stale state blocked a start: {}",
        stderr(&out)
    );
    assert!(ctl(root.path(), &["check-health"]).status.success());
    assert!(ctl(root.path(), &["stop-network"]).status.success());
    assert_no_processes_under(&dir);
}

#[test]
fn bad_kubernetes_settings_are_refused_before_anything_is_written() {
    let root = test_root();
    let kube = |extra: &[&str]| {
        let mut args = vec!["start-network", "--runtime", "kube"];
        args.extend_from_slice(extra);
        ctl(root.path(), &args)
    };
    assert_error(
        &kube(&["--kube-volume-size", "1"]),
        &["--kube-volume-size 1", "minimum", "2"],
    );
    assert_error(
        &kube(&["--kube-namespace", "Bad_Name"]),
        &["Bad_Name", "namespace", "lower-case"],
    );
    assert_error(
        &kube(&["--kube-ingress-secret", "tls"]),
        &["--kube-ingress-secret", "--kube-ingress-host"],
    );
    assert_error(
        &kube(&["--node-path", "/bin/true"]),
        &["--node-path", "--kube-image"],
    );
    let missing = root.path().join("no-such-kubeconfig");
    let out = kube(&["--kubeconfig", missing.to_str().unwrap()]);
    assert_error(
        &out,
        &["no-such-kubeconfig", "does not exist", "--kubeconfig"],
    );
    // A cluster that cannot be used fails before a directory is made, in
    // one line and nothing else on stderr (no client log before it).
    let garbage = root.path().join("garbage-kubeconfig");
    std::fs::write(&garbage, "garbage: [\n").unwrap();
    let unreachable = root.path().join("unreachable-kubeconfig");
    std::fs::write(
        &unreachable,
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:1\ncontexts:\n- name: c\n  context: {cluster: c, user: u}\ncurrent-context: c\nusers:\n- name: u\n  user: {token: t}\n",
    )
    .unwrap();
    let cases: [(&[&str], &[&str]); 3] = [
        (
            &["--kubeconfig", garbage.to_str().unwrap()],
            &[
                "garbage-kubeconfig",
                "unclosed bracket",
                "check --kubeconfig",
            ],
        ),
        (
            &["--kubeconfig", unreachable.to_str().unwrap()],
            &[
                "reach the Kubernetes API server at https://127.0.0.1:1/",
                "is the cluster reachable?",
            ],
        ),
        (
            &[
                "--kubeconfig",
                unreachable.to_str().unwrap(),
                "--kube-context",
                "nope",
            ],
            &["nope", "--kube-context"],
        ),
    ];
    for (args, needles) in cases {
        let out = kube(args);
        assert_error(&out, needles);
        assert_eq!(
            stderr(&out).trim_end().lines().count(),
            1,
            "{}",
            stderr(&out)
        );
    }
    // A kubeconfig that is no regular file is refused before a byte of it
    // is read (/dev/zero once read until memory ran out, a FIFO hung),
    // whether named or found through KUBECONFIG.
    let fifo = root.path().join("fifo-kubeconfig");
    assert!(std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    for path in [Path::new("/dev/zero"), fifo.as_path(), root.path()] {
        let started = std::time::Instant::now();
        let named = kube(&["--kubeconfig", path.to_str().unwrap()]);
        let found = ctl_cmd(root.path(), &["start-network", "--runtime", "kube"])
            .env("KUBECONFIG", path)
            .output()
            .unwrap();
        for out in [named, found] {
            assert_error(&out, &[path.to_str().unwrap(), "not a regular file"]);
            assert_eq!(
                stderr(&out).trim_end().lines().count(),
                1,
                "{}",
                stderr(&out)
            );
        }
        assert!(started.elapsed() < Duration::from_secs(10), "{path:?}");
    }
    assert_error(
        &ctl(root.path(), &["render", "--node-count", "1"]),
        &["render needs --runtime kube"],
    );
    assert_nothing_created(root.path());
}

#[test]
fn render_prints_every_manifest_and_touches_nothing() {
    let root = test_root();
    let out = ctl(
        root.path(),
        &[
            "render",
            "--runtime",
            "kube",
            "--node-count",
            "3",
            "--kube-namespace",
            "e2e",
            "--kube-image",
            "example/node:1",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let yaml = stdout(&out);
    assert_eq!(yaml.matches("kind: StatefulSet").count(), 3, "{yaml}");
    assert_eq!(yaml.matches("kind: Service\n").count(), 3, "{yaml}");
    assert_eq!(yaml.matches("kind: ConfigMap").count(), 1, "{yaml}");
    assert!(yaml.contains("image: example/node:1") && yaml.contains("namespace: e2e"));
    assert_nothing_created(root.path());
}

#[test]
fn a_config_of_the_wrong_shape_or_a_node_dir_is_named_for_what_it_is() {
    let root = test_root();
    let dir = start_network(root.path(), &["--node-count", "1"]);
    assert!(ctl(root.path(), &["stop-network"]).status.success());
    let config = dir.join("config.json");
    let full = std::fs::read(&config).unwrap();
    for (text, shape) in [
        ("{}", "an empty object"),
        ("[]", "an array"),
        ("null", "null"),
    ] {
        std::fs::write(&config, text).unwrap();
        let out = ctl(
            root.path(),
            &["status", "--network-dir", dir.to_str().unwrap()],
        );
        let line = assert_error(
            &out,
            &["not a network directory", shape, "no schemaVersion"],
        );
        assert!(!line.contains("schema version 0"), "{line}");
        assert_eq!(
            std::fs::read(&config).unwrap(),
            text.as_bytes(),
            "left unchanged"
        );
    }
    std::fs::write(&config, &full).unwrap();
    // A node's directory given as the network's.
    let node_dir = first_node_dir(&dir);
    let out = ctl(
        root.path(),
        &["status", "--network-dir", node_dir.to_str().unwrap()],
    );
    assert_error(
        &out,
        &[
            "is a node directory",
            &format!("--network-dir {}", dir.display()),
        ],
    );
}

#[test]
fn file_errors_say_what_to_do() {
    let scratch = test_root();
    // A file where the root's directory should be.
    let file = scratch.path().join("not-a-dir");
    std::fs::write(&file, "x").unwrap();
    let root = file.join("root");
    let out = ctl_cmd(&root, &["start-network", "--node-count", "1"])
        .output()
        .unwrap();
    assert_error(
        &out,
        &["Not a directory", "a file is in the way", "--root-dir"],
    );
}

#[test]
fn starting_a_running_network_says_only_that() {
    let root = test_root();
    let dir = start_network(root.path(), &["--node-count", "1"]);
    let out = ctl(
        root.path(),
        &["start-network", "--network-dir", dir.to_str().unwrap()],
    );
    assert_error(&out, &["already running"]);
    assert_eq!(
        stderr(&out).trim_end().lines().count(),
        1,
        "{}",
        stderr(&out)
    );
    assert!(ctl(root.path(), &["stop-network"]).status.success());
    assert_no_processes_under(&dir);
}

#[test]
fn a_recorded_pid_now_owned_by_another_program_is_named_and_left_alone() {
    let root = test_root();
    let dir = start_network(root.path(), &["--node-count", "1"]);
    assert!(ctl(root.path(), &["stop-network"]).status.success());
    let node_dir = first_node_dir(&dir);
    // A live process of someone else's (this test) under the recorded pid.
    let me = std::process::id();
    std::fs::write(
        node_dir.join("launch.json"),
        format!("{{\"pid\": {me}, \"startTicks\": 1, \"logOffset\": 0}}"),
    )
    .unwrap();
    let out = ctl(
        root.path(),
        &["status", "--network-dir", dir.to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("the pid now belongs to another program"),
        "{}",
        stdout(&out)
    );
    let out = ctl(
        root.path(),
        &["stop-network", "--network-dir", dir.to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    // Still alive: this test, which was never signalled.
    assert!(
        !node_dir.join("launch.json").exists(),
        "the stale record is removed"
    );
}

/// Asserts that no line of `text` is printed twice.
fn no_line_twice(what: &str, text: &str) {
    let mut seen = std::collections::HashSet::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        // Log lines differ by their timestamp; compare what they say.
        let said = line.split_once("Z ").map_or(line, |(_, rest)| rest);
        assert!(
            seen.insert(said.to_owned()),
            "{what} printed twice: {said}\n{text}"
        );
    }
}

#[test]
fn no_failure_prints_the_same_thing_twice() {
    let root = test_root();
    let r = root.path();
    let dir = start_network(r, &["--node-count", "2"]);
    let d = dir.to_str().unwrap();
    let again = ctl(r, &["start-network", "--network-dir", d]);
    assert_eq!(again.status.code(), Some(1));
    no_line_twice("a start of a running network", &stderr(&again));
    // An unreadable process.json, read by status for its state and again
    // for its health.
    let node = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.join("process.json").is_file())
        .unwrap();
    std::fs::write(node.join("process.json"), "").unwrap();
    let status = ctl(r, &["status", "--network-dir", d]);
    no_line_twice("status", &stderr(&status));
    assert!(
        stderr(&status).contains("process.json"),
        "{}",
        stderr(&status)
    );
    let health = ctl(r, &["check-health", "--network-dir", d]);
    no_line_twice("check-health", &stderr(&health));
    assert!(ctl(r, &["stop-network", "--network-dir", d])
        .status
        .success());
    let fatal = ctl(
        r,
        &[
            "start-network",
            "--node-count",
            "2",
            "--flag",
            "fault-fatal=wedged",
        ],
    );
    assert_eq!(fatal.status.code(), Some(1));
    no_line_twice("a failed start", &stderr(&fatal));
    assert_no_processes_under(r);
}

#[test]
fn bootstrap_monitor_input_is_refused_in_one_line_before_any_cluster_is_touched() {
    let root = test_root();
    let dir = start_network(root.path(), &["--node-count", "1"]);
    let net = dir.to_str().unwrap();
    let monitor = |extra: &[&str]| {
        let mut args = vec!["bootstrap-monitor"];
        args.extend_from_slice(extra);
        ctl(root.path(), &args)
    };
    assert_error(
        &monitor(&["render", "--name", "Bad_Name", "--network-dir", net]),
        &["cannot name a monitor", "give --name"],
    );
    assert_error(
        &monitor(&[
            "deploy",
            "--name",
            "m",
            "--synced",
            "synced",
            "--network-dir",
            net,
        ]),
        &["is not a synced check", "give `health`"],
    );
    assert_error(
        &monitor(&[
            "deploy",
            "--name",
            "m",
            "--pull-policy",
            "Sometimes",
            "--network-dir",
            net,
        ]),
        &["--pull-policy Always, IfNotPresent or Never"],
    );
    for job in ["render", "deploy"] {
        assert_error(
            &monitor(&[job, "--name", "m", "--network-dir", net]),
            &["runs as local processes", "--use-kubernetes"],
        );
    }
    let missing = root.path().join("no-such-kubeconfig");
    assert_error(
        &monitor(&[
            "status",
            "--name",
            "m",
            "--kubeconfig",
            missing.to_str().unwrap(),
        ]),
        &["kubeconfig", "--kubeconfig"],
    );
    assert!(
        ctl(root.path(), &["check-health"]).status.success(),
        "the network was not touched"
    );
    assert!(ctl(root.path(), &["stop-network"]).status.success());
    assert_no_processes_under(&dir);
}

#[test]
fn command_line_mistakes_keep_what_clap_says_on_one_line_and_name_a_variable_at_fault() {
    let root = test_root();
    let run = |args: &[&str], env: &[(&str, &str)]| {
        let mut cmd = ctl_cmd(root.path(), args);
        cmd.envs(env.iter().copied());
        cmd.output().unwrap()
    };
    // What clap says after its first line stays: the tip, the values.
    assert_error(
        &run(&["statu"], &[]),
        &["similar subcommand", "'status'", "--help"],
    );
    assert_error(
        &run(&["start-network", "--runtime", "x"], &[]),
        &["possible values: process, kube"],
    );
    // A bad value from the environment names the variable, not the flag.
    assert_error(
        &run(&["start-network"], &[("TMPNET_NODE_COUNT", "abc")]),
        &["TMPNET_NODE_COUNT", "fix or unset TMPNET_NODE_COUNT"],
    );
    // An empty variable is an unset one.
    assert_error(
        &run(&["status"], &[("TMPNET_NETWORK_DIR", "")]),
        &["no network given"],
    );
    let out = run(
        &["list"],
        &[("TMPNET_NETWORK_DIR", ""), ("TMPNET_NODE_COUNT", "")],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    // An exported TMPNET_EMBEDDED_NODE does not turn the tool into a node.
    let out = run(&["list"], &[("TMPNET_EMBEDDED_NODE", "refnode")]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("no networks"), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("not started as an embedded node"),
        "{}",
        stderr(&out)
    );
    assert_nothing_created(root.path());
}
