//! The test harness end to end: flags and env vars across runs, the shared
//! network under cargo test and nextest, failures, timeouts, serial tests,
//! stray `#[test]`s, and no node process surviving any ending.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use tmpnet_acceptance::*;

fn suite(root: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_fixture-suite"));
    cmd.args(args)
        .env("TMPNET_ROOT_DIR", root)
        .env("E2E_NODE_COUNT", "2")
        .env("E2E_NODE_PATH", refnode())
        // These tests inspect the directories runs leave; retention has
        // its own tests (tests/acceptance/retention.rs).
        .env("E2E_KEEP_NETWORKS", "1")
        .env_remove("TMPNET_NETWORK_DIR")
        .env_remove("NEXTEST_RUN_ID")
        .env_remove("NEXTEST_TEST_GLOBAL_SLOT");
    for var in [
        "E2E_REUSE_NETWORK",
        "E2E_RESTART_NETWORK",
        "E2E_STOP_NETWORK",
        "E2E_START_NETWORK",
        "E2E_USE_KUBERNETES",
        "E2E_NODE_KIND",
        "E2E_KIND_FILE",
    ] {
        cmd.env_remove(var);
    }
    cmd
}

fn run(root: &Path, args: &[&str]) -> Output {
    suite(root, args).output().unwrap()
}

/// Network dirs whose owner is `owner` (the suite's shared networks are
/// owned by the suite's crate name, private ones by their test).
fn owned_by(root: &Path, owner: &str) -> Vec<PathBuf> {
    network_dirs(root)
        .into_iter()
        .filter(|d| {
            let config: serde_json::Value =
                serde_json::from_slice(&std::fs::read(d.join("config.json")).unwrap()).unwrap();
            config["owner"] == owner
        })
        .collect()
}

fn lines(root: &Path, file: &str) -> Vec<String> {
    std::fs::read_to_string(root.join(file))
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn list_prints_only_names_and_starts_nothing() {
    let root = test_root();
    let out = run(root.path(), &["--list", "--format", "terse"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.lines().all(|l| l.ends_with(": test")), "{text}");
    assert!(
        text.contains("ok::passes: test") && text.contains("slow::hangs: test"),
        "{text}"
    );
    let ignored = stdout(&run(
        root.path(),
        &["--list", "--format", "terse", "--ignored"],
    ));
    assert_eq!(ignored.trim(), "ok::skipped: test");
    assert!(
        network_dirs(root.path()).is_empty(),
        "--list started a network"
    );
}

#[test]
fn cargo_test_mode_shares_one_network_and_stops_everything() {
    let root = test_root();
    let out = run(root.path(), &["ok::", "--test-threads", "4"]);
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("5 passed") && text.contains("1 ignored"),
        "{text}"
    );
    // One shared network; the private one of `ok::private` besides it.
    assert_eq!(owned_by(root.path(), "fixture_suite").len(), 1);
    assert_eq!(owned_by(root.path(), "ok::private").len(), 1);
    assert_eq!(network_dirs(root.path()).len(), 2);
    assert_no_processes_under(root.path());
    for dir in network_dirs(root.path()) {
        assert!(
            !dir.join("owner.json").exists(),
            "ownership released after the stop"
        );
        // The harness's networks have their metrics links too.
        let links = std::fs::read_to_string(dir.join("metrics.txt")).unwrap_or_default();
        assert!(
            links.contains("var-network_uuid="),
            "{}: {links}",
            dir.display()
        );
    }
    // The serial test overlapped no other test.
    let intervals: Vec<(String, u128, u128)> = lines(root.path(), "intervals.txt")
        .iter()
        .map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            (
                f[0].to_owned(),
                f[1].parse().unwrap(),
                f[2].parse().unwrap(),
            )
        })
        .collect();
    assert_eq!(intervals.len(), 3, "{intervals:?}");
    let serial = intervals.iter().find(|i| i.0 == "serial").unwrap();
    for other in intervals.iter().filter(|i| i.0 != "serial") {
        assert!(
            other.2 <= serial.1 || other.1 >= serial.2,
            "serial overlapped {other:?}"
        );
    }
}

#[test]
fn failing_and_panicking_tests_fail_the_run_report_and_leave_nothing() {
    let root = test_root();
    let out = run(root.path(), &["bad::"]);
    assert_eq!(out.status.code(), Some(101), "{}", stdout(&out));
    let (text, err) = (stdout(&out), stderr(&out));
    assert!(text.contains("3 failed"), "{text}");
    assert!(
        text.contains("deliberate failure") && text.contains("panicked: deliberate panic"),
        "{text}"
    );
    assert!(
        err.contains("network: ") && err.contains("artifacts: "),
        "{err}"
    );
    // Each failure names where the test is defined, and shows what the
    // nodes said last, merged, each line with its node.
    assert!(err.contains("fixture_suite/bad.rs:"), "{err}");
    assert!(
        err.contains("log lines of") && err.contains("(all nodes, in time order)"),
        "{err}"
    );
    assert!(
        err.lines()
            .any(|l| l.contains(" | ") && l.contains("serving")),
        "{err}"
    );
    // Log tails were copied into the failed tests' artifact dirs.
    let shared = &owned_by(root.path(), "fixture_suite")[0];
    let logs = shared.join("tests/bad__fails/logs");
    let copied = std::fs::read_dir(&logs).unwrap().count();
    assert_eq!(copied, 2, "one log tail per node in {}", logs.display());
    assert_eq!(lines(root.path(), "private-seen.txt").len(), 1);
    assert_no_processes_under(root.path());
}

#[test]
fn a_test_overrunning_its_timeout_fails_clearly() {
    let root = test_root();
    let out = run(root.path(), &["slow::overruns", "--exact"]);
    assert_eq!(out.status.code(), Some(101));
    assert!(
        stdout(&out).contains("timed out after 300ms"),
        "{}",
        stdout(&out)
    );
    assert_no_processes_under(root.path());
}

/// Starts `slow::hangs` and waits until it is inside the test.
fn hanging(root: &Path) -> std::process::Child {
    let child = suite(root, &["slow::hangs", "--exact"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = eventually(Duration::from_secs(20), || {
        !lines(root, "hang-started.txt").is_empty()
    });
    assert!(started, "the hanging test never started");
    assert_eq!(lines(root, "hang-started.txt"), ["true"]);
    child
}

#[test]
fn sigint_to_the_harness_stops_every_node() {
    let root = test_root();
    let child = hanging(root.path());
    assert!(!live_processes_under(root.path()).is_empty());
    kill(child.id(), libc::SIGINT);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130));
    assert_no_processes_under(root.path());
}

#[test]
fn sigkill_of_the_harness_is_reaped_by_the_next_run() {
    let root = test_root();
    let mut child = hanging(root.path());
    kill(child.id(), libc::SIGKILL);
    child.wait().unwrap();
    let left = live_processes_under(root.path());
    assert_eq!(
        left.len(),
        3,
        "shared (2) and private (1) nodes outlive a SIGKILL: {left:?}"
    );
    let out = run(root.path(), &["ok::passes", "--exact"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert_eq!(
        err.matches("left running by an earlier, killed run")
            .count(),
        2,
        "{err}"
    );
    assert_no_processes_under(root.path());
}

#[test]
fn reuse_restart_network_dir_and_stop_across_runs() {
    let root = test_root();
    let r = root.path();
    // First run creates the reusable network and leaves it running.
    let out = run(r, &["ok::passes", "--exact", "--reuse-network"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("network left running"),
        "{}",
        stderr(&out)
    );
    let dirs = network_dirs(r);
    assert_eq!(dirs.len(), 1);
    let pids = launched_pids(&dirs[0]);
    assert_eq!(pids.len(), 2);
    // Second run, by env var, reuses it as it is.
    let out = suite(r, &["ok::passes", "--exact"])
        .env("E2E_REUSE_NETWORK", "1")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(network_dirs(r), dirs);
    assert_eq!(launched_pids(&dirs[0]), pids, "reused without restarting");
    // Restart: same network, new processes.
    let out = suite(r, &["ok::passes", "--exact"])
        .env("E2E_RESTART_NETWORK", "yes")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(network_dirs(r), dirs);
    let restarted = launched_pids(&dirs[0]);
    assert!(
        restarted.iter().all(|p| !pids.contains(p)),
        "nodes were restarted"
    );
    // --network-dir names exactly that network (and leaves it running).
    let d = dirs[0].to_str().unwrap();
    let out = run(r, &["ok::passes", "--exact", "--network-dir", d]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(launched_pids(&dirs[0]), restarted);
    // ... and --restart-network restarts exactly that one.
    let out = run(
        r,
        &[
            "--restart-network",
            "--network-dir",
            d,
            "ok::passes",
            "--exact",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let again = launched_pids(&dirs[0]);
    assert!(
        again.iter().all(|p| !restarted.contains(p)),
        "--network-dir was restarted"
    );
    let seen = lines(r, "networks-seen.txt");
    assert_eq!(seen.len(), 5);
    assert!(seen.iter().all(|s| Path::new(s) == dirs[0]), "{seen:?}");
    // Stop it; a second stop finds nothing to stop.
    let out = suite(r, &[])
        .env("E2E_STOP_NETWORK", "true")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("stopped network"), "{}", stderr(&out));
    assert_no_processes_under(r);
    let out = run(r, &["--stop-network"]);
    assert!(
        stderr(&out).contains("no reusable network to stop"),
        "{}",
        stderr(&out)
    );
    // --start-network starts it and says how to target it; --network-dir
    // with --stop-network stops exactly that one.
    let out = run(r, &["--start-network"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let started = network_dir_of(&out);
    assert_eq!(launched_pids(&started).len(), 2);
    let out = run(
        r,
        &["--stop-network", "--network-dir", started.to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_no_processes_under(r);
    assert_eq!(
        lines(r, "networks-seen.txt").len(),
        5,
        "start and stop ran no test"
    );
}

#[test]
fn the_network_can_outlive_the_last_test_for_a_while() {
    let root = test_root();
    let started = std::time::Instant::now();
    let out = run(
        root.path(),
        &["ok::passes", "--exact", "--delay-network-shutdown", "1"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("stopping the network in 1s"),
        "{}",
        stderr(&out)
    );
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "the delay was skipped"
    );
    assert_no_processes_under(root.path());
}

#[test]
fn kube_mode_with_bad_settings_fails_naming_the_fix() {
    let root = test_root();
    let out = suite(root.path(), &["ok::passes"])
        .env("E2E_USE_KUBERNETES", "1")
        .env_remove("E2E_NODE_PATH")
        .env("TMPNET_KUBE_VOLUME_SIZE", "1")
        .output()
        .unwrap();
    assert_ne!(out.status.code(), Some(0));
    let all = format!("{}{}", stdout(&out), stderr(&out));
    assert!(
        all.contains("--kube-volume-size 1") && all.contains("minimum"),
        "{all}"
    );
    assert!(network_dirs(root.path()).is_empty());
    let out = run(
        root.path(),
        &["--runtime", "kube", "--node-path", "/bin/true"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("--kube-image"), "{}", stderr(&out));
}

#[test]
fn a_relaunch_that_cannot_work_is_refused_before_anything_starts() {
    let root = test_root();
    // Under nextest every test is a process: one Job per test. Refused.
    let out = suite(root.path(), &["ok::passes"])
        .env("E2E_USE_KUBERNETES", "1")
        .env_remove("E2E_NODE_PATH")
        .env("ENV_JOB_IMAGE", "tmpnet/runner:latest")
        .env("NEXTEST_RUN_ID", "relaunch-refused")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("error: ENV_JOB_IMAGE under nextest would start one runner Job per test"),
        "{err}"
    );
    // A runner image without kube mode.
    let out = suite(root.path(), &["ok::passes"])
        .env("ENV_JOB_IMAGE", "tmpnet/runner:latest")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("also set E2E_USE_KUBERNETES=true"),
        "{}",
        stderr(&out)
    );
    assert!(network_dirs(root.path()).is_empty(), "nothing was started");
    // An empty ENV_JOB_IMAGE is none: the tests run here.
    let out = suite(root.path(), &["ok::passes"])
        .env("ENV_JOB_IMAGE", "")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn a_stray_test_attribute_stops_the_harness_with_its_location() {
    let root = test_root();
    let out = Command::new(env!("CARGO_BIN_EXE_stray-suite"))
        .env("TMPNET_ROOT_DIR", root.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("stray_suite/main.rs:9: `#[test]` never runs"),
        "{err}"
    );
    assert!(network_dirs(root.path()).is_empty());
}

/// Runs the example suite with `cargo <args>` under a fresh root; returns
/// the root.
fn run_e2e_suite(args: &[&str]) -> TestRoot {
    let root = test_root();
    let out = cargo_in_root(root.path(), args);
    assert!(
        out.status.success(),
        "cargo {args:?} failed:\n{}\n{}",
        stdout(&out),
        stderr(&out)
    );
    root
}

#[test]
#[ignore = "needs cargo-nextest (cargo install cargo-nextest); scripts/test.sh runs it"]
fn cargo_test_and_nextest_both_run_the_suite_on_one_shared_network() {
    require_nextest();
    for args in [
        &["test", "-q", "-p", "e2e-suite", "--test", "e2e"][..],
        &["nextest", "run", "-p", "e2e-suite", "--test", "e2e"][..],
    ] {
        let root = run_e2e_suite(args);
        assert_eq!(
            owned_by(root.path(), "e2e").len(),
            1,
            "cargo {args:?}: one shared network"
        );
        // Under nextest the reaper stops the shared network after the run.
        let mut left = Vec::new();
        let stopped = eventually(Duration::from_secs(10), || {
            left = live_processes_under(root.path());
            left.is_empty()
        });
        assert!(stopped, "cargo {args:?} left {left:?} running");
    }
}

#[test]
#[ignore = "needs cargo-nextest (cargo install cargo-nextest); scripts/test.sh runs it"]
fn harness_flags_pass_through_cargo_test_and_env_vars_through_nextest() {
    require_nextest();
    let cargo = |args: &[&str], root: &Path, env: &[(&str, &str)]| {
        let mut cmd = Command::new(env!("CARGO"));
        cmd.args(args)
            .env("TMPNET_ROOT_DIR", root)
            .env_remove("NEXTEST_RUN_ID")
            .env_remove("TMPNET_NETWORK_DIR");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "cargo {args:?}:\n{}\n{}",
            stdout(&out),
            stderr(&out)
        );
    };
    let root = test_root();
    let r = root.path();
    cargo(
        &["test", "-q", "-p", "e2e-suite", "--", "--reuse-network"],
        r,
        &[],
    );
    let kept = owned_by(r, "e2e");
    assert_eq!(kept.len(), 1);
    assert!(
        !live_processes_under(&kept[0]).is_empty(),
        "--reuse-network kept it running"
    );
    cargo(
        &["nextest", "run", "-p", "e2e-suite"],
        r,
        &[("E2E_REUSE_NETWORK", "1")],
    );
    assert_eq!(owned_by(r, "e2e"), kept, "nextest reused the kept network");
    cargo(
        &["test", "-q", "-p", "e2e-suite", "--", "--stop-network"],
        r,
        &[],
    );
    assert_no_processes_under(r);
}

#[test]
fn a_kind_file_from_the_environment_is_the_kind_of_the_suites_networks() {
    let root = test_root();
    let kinds = tempfile::tempdir().unwrap();
    let kind_file = write_kind(kinds.path(), "refnode.toml", REFNODE_KIND_FILE);
    let out = suite(root.path(), &["ok::passes", "--exact"])
        .env("E2E_KIND_FILE", &kind_file)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let shared = owned_by(root.path(), "fixture_suite");
    assert_eq!(shared.len(), 1, "{:?}", network_dirs(root.path()));
    assert!(shared[0].join("kind.toml").is_file());
    let config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(shared[0].join("config.json")).unwrap()).unwrap();
    assert_eq!(config["nodeKind"], "refnode-by-file");
    assert_no_processes_under(root.path());

    // Both ways of choosing the kind at once: refused, naming both.
    let out = suite(root.path(), &["ok::passes", "--exact"])
        .env("E2E_KIND_FILE", &kind_file)
        .env("E2E_NODE_KIND", "refnode")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("--node-kind") && err.contains("--kind-file"),
        "{err}"
    );
}

/// The names `--list` gives the tests of `cases::` in the fixture suite.
const CASE_NAMES: &[&str] = &[
    "cases::filled::case_1",
    "cases::matrix::nodes_1_1::letter_1___a__",
    "cases::matrix::nodes_1_1::letter_2___b__",
    "cases::matrix::nodes_2_2::letter_1___a__",
    "cases::matrix::nodes_2_2::letter_2___b__",
    "cases::numbered::case_1",
    "cases::numbered::case_2_fails",
    "cases::numbered::case_3_third",
];

#[test]
fn every_case_is_listed_by_its_rstest_name() {
    let root = test_root();
    let out = run(root.path(), &["--list", "--format", "terse", "cases::"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let mut listed: Vec<String> = stdout(&out)
        .lines()
        .filter_map(|l| l.strip_suffix(": test"))
        .map(str::to_owned)
        .collect();
    listed.sort();
    assert_eq!(listed, CASE_NAMES);
    assert!(
        network_dirs(root.path()).is_empty(),
        "--list started a network"
    );
}

#[test]
fn a_filter_runs_one_case_with_its_values() {
    let root = test_root();
    let out = run(root.path(), &["cases::numbered::case_3_third", "--exact"]);
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).contains("1 passed"), "{}", stdout(&out));
    assert_eq!(
        lines(root.path(), "cases.txt"),
        ["cases::numbered::case_3_third 3 three"]
    );
    assert_no_processes_under(root.path());
}

#[test]
fn a_failing_case_fails_only_itself_and_each_case_gets_its_values_and_network() {
    let root = test_root();
    let out = run(root.path(), &["cases::", "--test-threads", "4"]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(101), "{text}\n{}", stderr(&out));
    assert!(
        text.contains("7 passed") && text.contains("1 failed"),
        "{text}"
    );
    assert!(
        text.contains("cases::numbered::case_2_fails")
            && text.contains("deliberate failure of case 2"),
        "{text}"
    );
    let mut seen = lines(root.path(), "cases.txt");
    seen.sort();
    assert_eq!(
        seen,
        [
            "cases::numbered::case_1 1 one",
            "cases::numbered::case_2_fails 2 two",
            "cases::numbered::case_3_third 3 three",
        ]
    );
    // The string case value was parsed (SocketAddr), the sync fixture made
    // once for its one test, the async one awaited.
    assert_eq!(
        lines(root.path(), "filled.txt"),
        ["cases::filled::case_1 80 1 hello"]
    );
    // Each pair of the matrix ran once, on a private network of `nodes`.
    let mut matrix: Vec<Vec<String>> = lines(root.path(), "matrix.txt")
        .iter()
        .map(|l| l.split(' ').map(str::to_owned).collect())
        .collect();
    matrix.sort();
    assert_eq!(matrix.len(), 4, "{matrix:?}");
    let names: Vec<&str> = matrix.iter().map(|m| m[0].as_str()).collect();
    assert_eq!(names, &CASE_NAMES[1..5]);
    for m in &matrix {
        assert_eq!(m[1], m[3], "{} ran on {} nodes, not {}", m[0], m[3], m[1]);
        assert_eq!(
            owned_by(root.path(), &m[0]),
            [PathBuf::from(&m[4])],
            "{} had a private network of its own",
            m[0]
        );
    }
    // The failed case's artifacts are its own.
    let shared = &owned_by(root.path(), "fixture_suite")[0];
    assert!(shared
        .join("tests/cases__numbered__case_2_fails/logs")
        .is_dir());
    assert!(!shared.join("tests/cases__numbered__case_1/logs").exists());
    assert_no_processes_under(root.path());
}

#[test]
#[ignore = "needs cargo-nextest (cargo install cargo-nextest); scripts/test.sh runs it"]
fn nextest_runs_each_case_of_the_example_suite_against_the_shared_network() {
    require_nextest();
    let root = run_e2e_suite(&[
        "nextest",
        "run",
        "-p",
        "e2e-suite",
        "--test",
        "e2e",
        "cases::",
    ]);
    let r = root.path();
    let shared = owned_by(r, "e2e");
    assert_eq!(shared.len(), 1, "one shared network for every process");
    let tests: Vec<String> = std::fs::read_dir(shared[0].join("tests"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    for key in ["plain", "with_dash", "UPPER_and_lower", "dots_in_it"] {
        assert!(
            tests.iter().any(
                |t| t.starts_with("cases__keys_of_every_shape_replicate__key_")
                    && t.ends_with(&format!("{key}__"))
            ),
            "no artifact dir of the {key} case on the shared network: {tests:?}"
        );
    }
    assert!(
        tests.contains(&"cases__fixtures_fill_the_test_data".to_owned()),
        "{tests:?}"
    );
    for (case, nodes) in [
        ("case_1_one_node", 1),
        ("case_2_three_nodes", 3),
        ("case_3_five_nodes", 5),
    ] {
        let owner = format!("cases::a_write_reaches_every_node::{case}");
        let private = owned_by(r, &owner);
        assert_eq!(private.len(), 1, "{owner}: one private network");
        let config: serde_json::Value =
            serde_json::from_slice(&std::fs::read(private[0].join("config.json")).unwrap())
                .unwrap();
        assert_eq!(config["nodeCount"], nodes, "{owner}: {config}");
    }
    let mut left = Vec::new();
    let stopped = eventually(Duration::from_secs(10), || {
        left = live_processes_under(r);
        left.is_empty()
    });
    assert!(stopped, "nextest left {left:?} running");
    // The reaper removes the run's lock and link once the network is down.
    let run_files = || -> Vec<std::path::PathBuf> {
        ["locks", "networks"]
            .iter()
            .filter_map(|d| std::fs::read_dir(r.join(d)).ok())
            .flatten()
            .map(|e| e.unwrap().path())
            .filter(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("nextest-"))
            })
            .collect()
    };
    let cleaned = eventually(Duration::from_secs(10), || run_files().is_empty());
    assert!(cleaned, "the run left {:?}", run_files());
}
