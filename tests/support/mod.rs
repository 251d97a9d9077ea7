//! Helpers shared by the acceptance tests: the built binaries, temporary
//! roots, running the CLI, and finding processes left behind.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The directory holding the workspace's built binaries (`target/<profile>`).
fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test> -> target/<profile>
    exe.parent()
        .and_then(Path::parent)
        .expect("test executable lives in target/<profile>/deps")
        .to_owned()
}

/// The path of a workspace binary. The binaries are brought up to date
/// once per test process (a no-op when they are fresh), so a test never runs
/// a stale build, whichever packages `cargo test` was asked for.
pub fn bin(name: &str) -> PathBuf {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let mut cmd = Command::new(env!("CARGO"));
        cmd.args([
            "build",
            "--quiet",
            "-p",
            "tmpnetctl",
            "-p",
            "tmpnet-refnode",
        ]);
        if !cfg!(debug_assertions) {
            cmd.arg("--release");
        }
        let status = cmd.status().expect("run cargo build");
        assert!(status.success(), "cargo build of the binaries failed");
    });
    let path = bin_dir().join(name);
    assert!(path.exists(), "{} was not built", path.display());
    path
}

/// The refnode binary.
pub fn refnode() -> PathBuf {
    bin("tmpnet-refnode")
}

/// Runs `tmpnetctl` with `args`, with `root` as its root directory and no
/// inherited network selection.
pub fn ctl(root: &Path, args: &[&str]) -> Output {
    ctl_cmd(root, args).output().expect("run tmpnetctl")
}

/// The `tmpnetctl` command, ready to run.
pub fn ctl_cmd(root: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(bin("tmpnetctl"));
    cmd.args(args)
        .env("TMPNET_ROOT_DIR", root)
        .env_remove("TMPNET_NETWORK_DIR")
        .env_remove("TMPNET_NODE_PATH")
        .env_remove("TMPNET_NODE_KIND")
        .env_remove("TMPNET_KIND_FILE")
        .env_remove("TMPNET_NODE_COUNT")
        .env("PATH", bin_dir());
    cmd
}

/// Standard output as text.
pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Standard error as text.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The network dir printed by `start-network`.
pub fn network_dir_of(out: &Output) -> PathBuf {
    let text = stdout(out);
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("export TMPNET_NETWORK_DIR="))
        .unwrap_or_else(|| panic!("no export line in: {text}\nstderr: {}", stderr(out)));
    PathBuf::from(shell_unquote(line))
}

/// The value of a single-quoted shell word (`'it'\''s'` is `it's`).
pub fn shell_unquote(word: &str) -> String {
    let inner = word
        .strip_prefix('\'')
        .and_then(|w| w.strip_suffix('\''))
        .unwrap_or_else(|| panic!("not single-quoted: {word}"));
    inner.replace(r"'\''", "'")
}

/// A scratch root for one test. Whatever way the test ends, a panic
/// included, dropping it kills every process whose command line mentions
/// the root (nodes the test started and did not stop), then removes it.
#[derive(Debug)]
pub struct TestRoot(tempfile::TempDir);

/// A fresh [`TestRoot`].
pub fn test_root() -> TestRoot {
    TestRoot(tempfile::tempdir().expect("create a scratch root"))
}

impl TestRoot {
    /// The root's path.
    pub fn path(&self) -> &Path {
        self.0.path()
    }
}

impl Drop for TestRoot {
    fn drop(&mut self) {
        for pid in live_processes_under(self.path()) {
            kill(pid, libc::SIGKILL);
        }
    }
}

/// Pids of live (non-zombie) processes whose command line mentions `dir`.
pub fn live_processes_under(dir: &Path) -> Vec<u32> {
    let needle = dir.to_string_lossy().into_owned();
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("read /proc").flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
            continue;
        };
        if !String::from_utf8_lossy(&cmdline).contains(&needle) {
            continue;
        }
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let state = stat
            .rsplit(')')
            .next()
            .and_then(|s| s.split_whitespace().next());
        if !matches!(state, Some("Z") | Some("X") | None) {
            pids.push(pid);
        }
    }
    pids
}

/// Asserts that no live process mentions `dir`, allowing a moment for
/// processes that are exiting.
pub fn assert_no_processes_under(dir: &Path) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let left = live_processes_under(dir);
        if left.is_empty() {
            return;
        }
        if Instant::now() > deadline {
            for pid in &left {
                // Clean up so one failure does not leak into other tests.
                let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            }
            panic!("processes left running under {}: {left:?}", dir.display());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The API URIs of a network's running nodes, from their `process.json`.
pub fn node_uris(network_dir: &Path) -> Vec<String> {
    let mut uris = Vec::new();
    for entry in std::fs::read_dir(network_dir)
        .expect("read network dir")
        .flatten()
    {
        let path = entry.path().join("process.json");
        if let Ok(bytes) = std::fs::read(&path) {
            let v: serde_json::Value = serde_json::from_slice(&bytes).expect("valid process.json");
            uris.push(v["uri"].as_str().expect("uri").to_owned());
        }
    }
    uris.sort();
    uris
}

/// The pids recorded in `launch.json` of each running node.
pub fn launched_pids(network_dir: &Path) -> Vec<u32> {
    let mut pids = Vec::new();
    for entry in std::fs::read_dir(network_dir)
        .expect("read network dir")
        .flatten()
    {
        if let Ok(bytes) = std::fs::read(entry.path().join("launch.json")) {
            let v: serde_json::Value = serde_json::from_slice(&bytes).expect("valid launch.json");
            pids.push(u32::try_from(v["pid"].as_u64().expect("pid")).expect("pid fits"));
        }
    }
    pids
}

/// Sends a signal to a pid.
pub fn kill(pid: u32, signal: i32) {
    // SAFETY: kill(2) has no memory-safety preconditions.
    unsafe {
        libc::kill(libc::pid_t::try_from(pid).expect("pid fits"), signal);
    }
}

/// A minimal HTTP/1.1 client for loopback URIs: (status, body).
pub fn http(method: &str, url: &str, body: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://").expect("http URL");
    let (host, path) = rest
        .split_once('/')
        .map_or((rest, "/".to_owned()), |(h, p)| (h, format!("/{p}")));
    let mut stream = std::net::TcpStream::connect(host).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .expect("send request");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read response");
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status code");
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// Polls `f` every 20 ms until it returns true or `timeout` passes.
pub fn eventually(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if f() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A tool the test needs, or a failure naming how to install it.
///
/// Tests that need a tool from outside the workspace carry
/// `#[ignore = "needs <tool>"]`: a plain `cargo test` lists them as ignored
/// with that reason (never `ok`), and the test command runs them with
/// `--include-ignored`, where a missing tool is a failure, not a skip.
fn required_tool(present: bool, message: &str) {
    assert!(present, "{message}");
}

/// The litecoind daemon (see [`required_tool`]).
pub fn litecoind() -> PathBuf {
    let path = PathBuf::from("/usr/lib/litecoin/litecoind");
    required_tool(
        path.exists(),
        "litecoind is not installed, so the real-daemon tests cannot run: \
         install it with `sudo apt-get install -y litecoind`",
    );
    path
}

/// avalanchego built by `scripts/avalanchego-build.sh`, named by
/// `TMPNET_AVALANCHEGO_PATH` (as `scripts/test.sh` sets it) (see
/// [`required_tool`]).
pub fn avalanchego() -> PathBuf {
    let path = std::env::var_os("TMPNET_AVALANCHEGO_PATH")
        .map(PathBuf::from)
        .unwrap_or_default();
    required_tool(
        path.is_file(),
        "avalanchego is not built, so its tests cannot run: build it with \
         `scripts/avalanchego-build.sh` and set TMPNET_AVALANCHEGO_PATH to \
         <printed dir>/avalanchego (scripts/test.sh does both)",
    );
    path
}

/// Prometheus, for the metrics collector's tests (see [`required_tool`]).
pub fn prometheus() -> PathBuf {
    let path = PathBuf::from("/usr/bin/prometheus");
    required_tool(
        path.exists(),
        "prometheus is not installed, so the metrics collector's tests cannot run: \
         install it with `sudo apt-get install -y prometheus`",
    );
    path
}

/// A third-party daemon for the own-daemon tests (see [`required_tool`]).
pub fn third_party_daemon(path: &str, package: &str) -> PathBuf {
    let path = PathBuf::from(path);
    required_tool(
        path.exists(),
        &format!(
            "{} is not installed, so its own-daemon tests cannot run: \
             install it with `sudo apt-get install -y {package}`",
            path.display()
        ),
    );
    path
}

/// Fails unless `cargo nextest` is installed (see [`required_tool`]).
pub fn require_nextest() {
    let present = Command::new(env!("CARGO"))
        .args(["nextest", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    required_tool(
        present,
        "cargo-nextest is not installed: `cargo install cargo-nextest --locked`",
    );
}

/// Runs `tmpnetctl start-network` with `extra` arguments, asserts it
/// succeeded, and returns the network directory it printed.
pub fn start_network(root: &Path, extra: &[&str]) -> PathBuf {
    let mut args = vec!["start-network"];
    args.extend_from_slice(extra);
    let out = ctl(root, &args);
    assert!(
        out.status.success(),
        "start-network {extra:?} failed: {}",
        stderr(&out)
    );
    network_dir_of(&out)
}

/// The reference node described by a kind file (as if it were a
/// third-party daemon), with allocated ports and its peers as
/// one joined list of `id@address`.
pub const REFNODE_KIND_FILE: &str = r#"
name = "refnode-by-file"
id_prefix = "rf"

[binary]
path = "@REFNODE@"
install_hint = "build it with `cargo build -p tmpnet-refnode`"

[launch]
flag_args = ["--flag", "{name}={value}"]
stop_signal = "SIGINT"

[ports]
api = "http"
p2p = "p2p"

[peers]
flag = "bootstrap-peers"
item = "{id}@{address}"
separator = ","

[health]
path = "/ext/health"
json_pointer = "/healthy"
json_equals = true

[flags]
log-level = "info"

[forced_flags]
node-id = "{node_id}"
db-dir = "{data_dir}"
process-context-file = "{node_dir}/reported.json"
http-host = "{bind}"
http-port = "{port.http}"
p2p-host = "{bind}"
p2p-port = "{port.p2p}"
"#;

/// A daemon written as a shell script: `script` (after `#!/bin/sh`) as the
/// executable `dir/name`, and a kind file `dir/name.toml` running it with
/// its allocated API port as `"$2"` (`--port <port>`), healthy once that
/// port accepts connections (unless `extra` has a `[health]`), with
/// `extra` appended in its `[ports]` table. Returns the kind file. A script that must serve ends
/// with `exec /usr/bin/python3 -m http.server --bind 127.0.0.1 "$2"`.
pub fn script_kind(dir: &Path, name: &str, script: &str, extra: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let daemon = dir.join(name);
    std::fs::write(&daemon, format!("#!/bin/sh\n{script}")).expect("write the daemon");
    std::fs::set_permissions(&daemon, std::fs::Permissions::from_mode(0o755))
        .expect("make it executable");
    // `extra` starts inside [ports] (e.g. `scheme = "redis"`), then may
    // open tables of its own.
    let text = format!(
        "name = {name:?}\n[binary]\npath = {:?}\n[launch]\nflag_args = [\"--{{name}}\", \"{{value}}\"]\n\
         [forced_flags]\nport = \"{{port.rpc}}\"\n[ports]\napi = \"rpc\"\n{extra}",
        daemon.display().to_string()
    );
    let extra_health = extra.contains("[health]");
    let text = if extra_health {
        text
    } else {
        format!("{text}\n[health]\ncheck = \"tcp\"\n")
    };
    write_kind(dir, &format!("{name}.toml"), &text)
}

/// The line that ends a script daemon serving on its port (see
/// [`script_kind`]).
pub const SERVE: &str =
    "exec /usr/bin/python3 -m http.server --bind 127.0.0.1 \"$2\" >/dev/null 2>&1\n";

/// Writes a kind file `name` in `dir` from `text`, with `@REFNODE@` as the
/// reference node's path.
pub fn write_kind(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    let text = text.replace("@REFNODE@", &refnode().display().to_string());
    std::fs::write(&path, text).expect("write a kind file");
    path
}

/// Real network directories under the root (links excluded), oldest
/// first.
pub fn network_dirs(root: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(root.join("networks")) else {
        return Vec::new();
    };
    let mut dirs: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| !p.is_symlink() && p.is_dir())
        .collect();
    dirs.sort();
    dirs
}

/// Asserts, from other `tmpnetctl` processes, that `status` lists `count`
/// healthy nodes and `check-health` passes.
pub fn assert_all_healthy(root: &Path, dir: &Path, count: usize) {
    let d = dir.to_str().expect("UTF-8 network dir");
    let status = ctl(root, &["status", "--network-dir", d]);
    assert!(status.status.success(), "{}", stderr(&status));
    let table = stdout(&status);
    assert_eq!(table.matches("healthy").count(), count, "{table}");
    let health = ctl(root, &["check-health", "--network-dir", d]);
    assert!(health.status.success(), "{}", stderr(&health));
}

/// Runs the harness suite binary `exe` with `args` in the root `root`
/// (no inherited network, not as a nextest run); returns its output.
pub fn run_suite(exe: &str, args: &[&std::ffi::OsStr], root: &Path) -> Output {
    Command::new(exe)
        .args(args)
        .env("TMPNET_ROOT_DIR", root)
        .env_remove("NEXTEST_RUN_ID")
        .env_remove("TMPNET_NETWORK_DIR")
        .output()
        .expect("run a suite binary")
}

/// Runs `cargo <args>` (a suite under the harness) with `root` as its root,
/// no inherited network selection or kind, and every network directory
/// kept for the test to inspect.
pub fn cargo_in_root(root: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO"))
        .args(args)
        .env("TMPNET_ROOT_DIR", root)
        .env("E2E_KEEP_NETWORKS", "1")
        .env_remove("NEXTEST_RUN_ID")
        .env_remove("TMPNET_NETWORK_DIR")
        .env_remove("E2E_NODE_KIND")
        .env_remove("E2E_KIND_FILE")
        .output()
        .expect("run cargo")
}

/// `count` distinct free loopback ports: all bound at once, then released.
pub fn free_ports(count: usize) -> Vec<u16> {
    let listeners: Vec<std::net::TcpListener> = (0..count)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port"))
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().expect("local addr").port())
        .collect()
}

/// The median of some measurements.
pub fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 {
        xs[n / 2]
    } else {
        (xs[n / 2 - 1] + xs[n / 2]) / 2.0
    }
}

/// Creates and starts a network for `spec`; returns it and the seconds from
/// create to all healthy.
pub async fn timed_start(spec: &tmpnet_fixture::NetworkSpec) -> (tmpnet_fixture::Network, f64) {
    let started = Instant::now();
    let network = tmpnet_fixture::Network::create(spec).expect("create");
    network
        .start(Duration::from_secs(120))
        .await
        .expect("start");
    (network, started.elapsed().as_secs_f64())
}

/// A benchmark's run count: its first numeric argument, else `default`.
pub fn bench_runs(default: usize) -> usize {
    std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(default)
}

/// The multi-threaded runtime benchmarks drive networks with.
pub fn bench_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// Starts `start-network` with slow nodes and waits until `spawned` nodes
/// have launch records; returns the child and the network dir.
pub fn start_slow_network(
    root: &std::path::Path,
    spawned: usize,
) -> (std::process::Child, std::path::PathBuf) {
    start_slow_network_beside(root, spawned, None)
}

/// [`start_slow_network`] in a root that already holds the network `other`.
pub fn start_slow_network_beside(
    root: &std::path::Path,
    spawned: usize,
    other: Option<&std::path::Path>,
) -> (std::process::Child, std::path::PathBuf) {
    let child = ctl_cmd(
        root,
        &[
            "start-network",
            "--node-count",
            "3",
            "--flag",
            "fault-start-delay-ms=700",
        ],
    )
    .stdout(std::process::Stdio::null())
    .stderr(std::process::Stdio::null())
    .spawn()
    .unwrap();
    let networks = root.join("networks");
    let mut dir = None;
    let ready = eventually(Duration::from_secs(10), || {
        // The new network's directory (not the `latest` link to it).
        dir = std::fs::read_dir(&networks).ok().and_then(|d| {
            d.flatten().map(|e| e.path()).find(|p| {
                p.symlink_metadata().is_ok_and(|m| m.is_dir())
                    && other.is_none_or(|o| std::fs::canonicalize(p).ok().as_deref() != Some(o))
            })
        });
        dir.as_ref()
            .is_some_and(|d| launched_pids(d).len() >= spawned)
    });
    assert!(ready, "the nodes were never spawned");
    (child, dir.unwrap())
}
