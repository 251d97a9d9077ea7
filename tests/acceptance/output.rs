//! What `tmpnetctl` writes, wherever it goes: a reader that goes away, a
//! full disk, a shell that reads the export line or `network.env` back,
//! paths with spaces, quotes and `$(...)`, a root that is not UTF-8, and
//! log lines without colour codes when standard error is not a terminal.

use std::process::Stdio;

use tmpnet_acceptance::*;

/// Runs `tmpnetctl args` with its standard output already closed by the
/// reader (as `tmpnetctl status | head -0` would): every write fails with
/// EPIPE. Returns the exit code and standard error.
fn with_reader_gone(root: &std::path::Path, args: &[&str]) -> (Option<i32>, String) {
    let mut child = ctl_cmd(root, args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    (out.status.code(), stderr(&out))
}

#[test]
fn a_reader_that_goes_away_ends_the_output_quietly() {
    let root = test_root();
    let dir = start_network(root.path(), &["--node-count", "2"]);
    let dir_arg = dir.display().to_string();
    for args in [
        vec!["status", "--network-dir", &dir_arg],
        vec!["check-health", "--network-dir", &dir_arg],
        vec!["list"],
        vec!["render", "--runtime", "kube"],
    ] {
        let (code, err) = with_reader_gone(root.path(), &args);
        assert_eq!(code, Some(0), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
    // A closed pipe does not stop the command's work: the network stops.
    let (code, err) = with_reader_gone(root.path(), &["stop-network", "--network-dir", &dir_arg]);
    assert_eq!(code, Some(0), "{err}");
    assert!(node_uris(&dir).is_empty(), "stopped");
    assert_no_processes_under(root.path());
}

#[test]
fn output_that_cannot_be_written_is_one_error_line() {
    let root = test_root();
    let dir = start_network(root.path(), &["--node-count", "1"]);
    for args in [
        vec!["status", "--network-dir", dir.to_str().unwrap()],
        vec!["list"],
    ] {
        let full = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap();
        let out = ctl_cmd(root.path(), &args)
            .stdout(Stdio::from(full))
            .output()
            .unwrap();
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(
            err.starts_with("error: cannot write standard output")
                && err.contains("No space left")
                && err.lines().count() == 1,
            "{args:?}: {err}"
        );
    }
    ctl(
        root.path(),
        &["stop-network", "--network-dir", dir.to_str().unwrap()],
    );
    assert_no_processes_under(root.path());
}

#[test]
fn the_export_line_and_network_env_survive_hostile_paths() {
    let scratch = test_root();
    for name in ["with space", "it's", "$(touch pwned)`touch pwned2`"] {
        let root = scratch.path().join(name);
        let out = ctl(&root, &["start-network", "--node-count", "1"]);
        assert!(out.status.success(), "{name}: {}", stderr(&out));
        let dir = network_dir_of(&out);
        assert!(dir.starts_with(&root), "{name}: {}", dir.display());
        // What the shell makes of the printed line and of network.env.
        let line = stdout(&out)
            .lines()
            .find(|l| l.starts_with("export "))
            .unwrap()
            .to_owned();
        let env_file = dir.join("network.env");
        for script in [
            format!("{line}\nprintf %s \"$TMPNET_NETWORK_DIR\""),
            format!(
                ". '{}'\nprintf %s \"$TMPNET_NETWORK_DIR\"",
                env_file.display().to_string().replace('\'', r"'\''")
            ),
        ] {
            let shell = std::process::Command::new("sh")
                .args(["-c", &script])
                .current_dir(scratch.path())
                .output()
                .unwrap();
            assert_eq!(
                stdout(&shell),
                dir.display().to_string(),
                "{name}: {}",
                stderr(&shell)
            );
        }
        assert!(!scratch.path().join("pwned").exists(), "a command ran");
        assert!(!scratch.path().join("pwned2").exists(), "a command ran");
        let stop = ctl(&root, &["stop-network"]);
        assert!(stop.status.success(), "{name}: {}", stderr(&stop));
    }
    assert_no_processes_under(scratch.path());
}

#[test]
fn a_root_that_is_not_utf8_is_refused_before_anything_runs() {
    use std::os::unix::ffi::OsStrExt;
    let scratch = test_root();
    let root = scratch
        .path()
        .join(std::ffi::OsStr::from_bytes(b"bad\xffroot"));
    let out = ctl_cmd(&root, &["start-network", "--node-count", "1"])
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("not valid UTF-8") && err.contains("--root-dir") && err.lines().count() == 1,
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    assert!(!root
        .join("networks")
        .read_dir()
        .is_ok_and(|mut d| d.next().is_some()));
    assert_no_processes_under(scratch.path());
}

#[test]
fn log_lines_carry_no_colour_codes_off_a_terminal() {
    let root = test_root();
    let out = ctl_cmd(root.path(), &["start-network", "--node-count", "1"])
        .env("RUST_LOG", "debug")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("DEBUG"), "debug lines were logged: {err}");
    assert!(!err.contains('\u{1b}'), "colour codes in a pipe: {err:?}");
    ctl(root.path(), &["stop-network"]);
    assert_no_processes_under(root.path());
}
