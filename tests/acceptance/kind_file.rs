//! Kinds described by a kind file, run by the stock `tmpnetctl`: the
//! reference node described as if it were a third-party daemon, with each
//! way of learning ports (allocated and substituted, found in the log,
//! found in a file the daemon writes) and each way of passing flags
//! (arguments, a config file), then every kind file mistake the checks
//! know, each one line naming the file, the field and the fix.

use std::path::Path;
use std::time::Duration;

use tmpnet_acceptance::*;

/// The same daemon binding port 0, its ports read from its log, its flags
/// in a JSON config file.
const LOGGED: &str = r#"
name = "refnode-logged"

[binary]
path = "@REFNODE@"

[launch]
args = ["--flags-file", "{config_file}"]
flags_via = "file"
config_file = "flags-for-the-daemon.json"
config_format = "json"

[ports]
api = "http"
p2p = "p2p"
discovery = "log"
api_flag = "http-port"

[ports.patterns]
http = "http_addr=127.0.0.1:{port}"
p2p = "p2p_addr=127.0.0.1:{port}"

[peers]
flag = "bootstrap-peers"
item = "{id}@{address}"
separator = ","

[health]
path = "/ext/health"

[flags]
http-port = "0"

[forced_flags]
node-id = "{node_id}"
db-dir = "{data_dir}"
process-context-file = "{node_dir}/reported.json"
p2p-port = "0"
"#;

/// Ports found in the file the daemon writes; health by TCP connect.
const FILED: &str = r#"
name = "refnode-filed"

[binary]
name = "tmpnet-refnode"

[launch]
flag_args = ["--flag", "{name}={value}"]

[ports]
api = "http"
p2p = "p2p"
discovery = "file"
file = "reported.json"

[ports.patterns]
http = '"uri":"http://127.0.0.1:{port}"'
p2p = '"p2pAddress":"127.0.0.1:{port}"'

[peers]
flag = "bootstrap-peers"
item = "{id}@{address}"
separator = ","

[health]
check = "tcp"

[forced_flags]
node-id = "{node_id}"
db-dir = "{data_dir}"
process-context-file = "{node_dir}/reported.json"
http-port = "0"
p2p-port = "0"
"#;

fn get_json(url: &str) -> serde_json::Value {
    let (status, body) = http("GET", url, "");
    assert_eq!(status, 200, "{url}: {body}");
    serde_json::from_str(&body).unwrap()
}

/// Start, status and check-health from other processes, connected peers,
/// a value that reaches every node, a restart that keeps it, a stop that
/// leaves nothing running.
fn full_cycle(kind_text: &str, file_name: &str, full_mesh: bool) {
    let root = test_root();
    let kinds = tempfile::tempdir().unwrap();
    let kind_file = write_kind(kinds.path(), file_name, kind_text);
    let dir = start_network(
        root.path(),
        &[
            "--kind-file",
            kind_file.to_str().unwrap(),
            "--node-count",
            "3",
        ],
    );
    // The network keeps the kind: later processes need not be told.
    assert!(dir.join("kind.toml").is_file());
    std::fs::remove_file(&kind_file).unwrap();
    let d = dir.to_str().unwrap();
    assert_all_healthy(root.path(), &dir, 3);

    let uris = node_uris(&dir);
    assert_eq!(uris.len(), 3, "{uris:?}");
    // With ports known up front every node is told of the ones before it
    // (a full mesh of 3); otherwise the first node starts alone and the
    // others are told of it (a star).
    let peer_counts = || -> Vec<usize> {
        uris.iter()
            .map(|u| {
                get_json(&format!("{u}/ext/info"))["peers"]
                    .as_array()
                    .map_or(0, Vec::len)
            })
            .collect()
    };
    assert!(
        eventually(Duration::from_secs(20), || {
            let counts = peer_counts();
            let hub = counts.iter().filter(|c| **c == 2).count();
            counts.iter().all(|c| *c >= 1) && hub >= if full_mesh { 3 } else { 1 }
        }),
        "peers: {:?}",
        peer_counts()
    );
    let (status, body) = http("PUT", &format!("{}/ext/kv/greeting", uris[0]), "hello");
    assert!(status < 300, "{status} {body}");
    let everywhere = |uris: &[String]| {
        eventually(Duration::from_secs(20), || {
            uris.iter().all(|u| {
                http("GET", &format!("{u}/ext/kv/greeting"), "")
                    .1
                    .contains("hello")
            })
        })
    };
    assert!(everywhere(&uris), "the value did not reach every node");

    let restart = ctl(root.path(), &["restart-network", "--network-dir", d]);
    assert!(restart.status.success(), "{}", stderr(&restart));
    let after = node_uris(&dir);
    assert_eq!(after.len(), 3);
    assert!(everywhere(&after), "the value did not survive the restart");

    let stop = ctl(root.path(), &["stop-network", "--network-dir", d]);
    assert!(stop.status.success(), "{}", stderr(&stop));
    assert_no_processes_under(&dir);
    assert!(launched_pids(&dir).is_empty());
}

#[test]
fn allocated_ports_and_a_joined_peer_list() {
    full_cycle(REFNODE_KIND_FILE, "refnode.toml", true);
}

#[test]
fn ports_from_the_log_and_flags_in_a_config_file() {
    full_cycle(LOGGED, "logged.toml", false);
}

#[test]
fn ports_from_a_file_the_daemon_writes() {
    full_cycle(FILED, "filed.toml", false);
}

#[test]
fn flags_reach_the_daemon_as_the_kind_file_says() {
    let root = test_root();
    let kinds = tempfile::tempdir().unwrap();
    let kind_file = write_kind(kinds.path(), "logged.toml", LOGGED);
    let dir = start_network(
        root.path(),
        &[
            "--kind-file",
            kind_file.to_str().unwrap(),
            "--node-count",
            "2",
        ],
    );
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap().flatten() {
        let config = entry.path().join("flags-for-the-daemon.json");
        if !config.exists() {
            continue;
        }
        seen += 1;
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&config).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "the config file may hold secrets");
        let flags: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&config).unwrap()).unwrap();
        let id = entry.file_name().to_string_lossy().into_owned();
        assert_eq!(flags["node-id"], id.as_str());
        assert_eq!(
            flags["db-dir"],
            entry.path().join("data").display().to_string().as_str()
        );
        // A default flag, not pinned: reuse of dynamic ports is off.
        assert_eq!(flags["http-port"], "0");
    }
    assert_eq!(seen, 2);
    let stop = ctl(
        root.path(),
        &["stop-network", "--network-dir", dir.to_str().unwrap()],
    );
    assert!(stop.status.success(), "{}", stderr(&stop));
    assert_no_processes_under(&dir);
}

#[test]
fn a_fatal_line_the_kind_file_names_fails_the_start_and_leaves_nothing() {
    let root = test_root();
    let kinds = tempfile::tempdir().unwrap();
    let text = format!("{REFNODE_KIND_FILE}\n[logs]\nfatal = [\"wedged for the test\"]\n");
    let kind_file = write_kind(kinds.path(), "fatal.toml", &text);
    start_fails_naming(
        root.path(),
        &kind_file,
        &["--flag", "fault-fatal=wedged for the test"],
        "wedged for the test",
    );
}

/// A one-node start of `kind_file` (with `extra` arguments) fails, its
/// error saying `says`, and leaves nothing running.
fn start_fails_naming(root: &Path, kind_file: &Path, extra: &[&str], says: &str) {
    let mut args = vec![
        "start-network",
        "--kind-file",
        kind_file.to_str().unwrap(),
        "--node-count",
        "1",
        "--start-timeout",
        "20",
    ];
    args.extend_from_slice(extra);
    let out = ctl(root, &args);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains(says), "{}", stderr(&out));
    assert_no_processes_under(root);
}

#[test]
fn a_fatal_last_line_without_its_newline_is_named_when_the_daemon_exits() {
    let root = test_root();
    let kinds = tempfile::tempdir().unwrap();
    // A daemon's last words, unended: written, then the exit.
    let kind_file = script_kind(
        kinds.path(),
        "dies",
        "sleep 0.5\nprintf 'FATAL: cannot open the wallet' >&2\nexit 3\n",
        "[logs]\nfatal = [\"FATAL\"]\n",
    );
    start_fails_naming(
        root.path(),
        &kind_file,
        &[],
        "it logged \"FATAL: cannot open the wallet\" and exited",
    );
}

#[test]
fn a_node_s_temporary_files_go_with_its_directory() {
    let root = test_root();
    let kinds = tempfile::tempdir().unwrap();
    let kind_file = script_kind(
        kinds.path(),
        "makes-temp-files",
        &format!("/bin/mktemp -d >\"$TMPNET_NODE_DIR/made\"\n{SERVE}"),
        "",
    );
    let dir = start_network(
        root.path(),
        &[
            "--kind-file",
            kind_file.to_str().unwrap(),
            "--node-count",
            "1",
        ],
    );
    let node_dir = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.join("made").exists())
        .expect("the daemon said where its temporary directory went");
    let made = std::fs::read_to_string(node_dir.join("made")).unwrap();
    assert!(
        Path::new(made.trim()).starts_with(node_dir.join("tmp")),
        "{made} is not below {}",
        node_dir.display()
    );
    let stop = ctl(
        root.path(),
        &["stop-network", "--network-dir", dir.to_str().unwrap()],
    );
    assert!(stop.status.success(), "{}", stderr(&stop));
}

/// A daemon that speaks no HTTP: its URI has its own scheme, its health is
/// a TCP connect, and a test reaches it by host and port.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daemon_speaking_no_http_has_its_own_scheme_and_an_address() {
    let root = test_root();
    let kinds = tempfile::tempdir().unwrap();
    let script = "exec /usr/bin/python3 -c 'import socket,sys\n\
         s=socket.create_server((\"127.0.0.1\", int(sys.argv[2])))\n\
         while True:\n    c,_=s.accept(); c.sendall(b\"+PONG\\r\\n\"); c.close()' \"$@\"\n";
    // The default HTTP check cannot reach a daemon that speaks no HTTP.
    let refused = script_kind(
        kinds.path(),
        "http-check",
        script,
        "scheme = \"redis\"\n[health]\ncheck = \"http\"\n",
    );
    let out = ctl(
        root.path(),
        &["start-network", "--kind-file", refused.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("health.check") && stderr(&out).contains("\"tcp\""),
        "{}",
        stderr(&out)
    );
    let kind_file = script_kind(kinds.path(), "line-server", script, "scheme = \"redis\"\n");
    let args = [
        "start-network",
        "--kind-file",
        kind_file.to_str().unwrap(),
        "--node-count",
        "1",
    ];
    let dir = start_network(root.path(), &args[1..]);
    let network = tmpnet_fixture::Network::load(&dir).unwrap();
    let node = &network.nodes()[0];
    let uri = node.uri().await.unwrap();
    assert!(uri.starts_with("redis://127.0.0.1:"), "{uri}");
    let (host, port) = node.address().await.unwrap();
    assert_eq!(port, node.node().config.ports["rpc"]);
    let mut reply = String::new();
    use std::io::Read;
    std::net::TcpStream::connect((host.as_str(), port))
        .unwrap()
        .read_to_string(&mut reply)
        .unwrap();
    assert_eq!(reply, "+PONG\r\n");
    network.stop().await.unwrap();
    assert_no_processes_under(&dir);
}

#[test]
fn a_network_of_a_kind_this_program_lacks_says_which_and_the_fix() {
    let root = test_root();
    let kinds = tempfile::tempdir().unwrap();
    let kind_file = write_kind(kinds.path(), "refnode.toml", REFNODE_KIND_FILE);
    let dir = start_network(
        root.path(),
        &[
            "--kind-file",
            kind_file.to_str().unwrap(),
            "--node-count",
            "1",
        ],
    );
    let stop = ctl(
        root.path(),
        &["stop-network", "--network-dir", dir.to_str().unwrap()],
    );
    assert!(stop.status.success());
    // As if made by a program that registered a Rust kind of that name.
    std::fs::remove_file(dir.join("kind.toml")).unwrap();
    let out = ctl(
        root.path(),
        &["status", "--network-dir", dir.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains("\"refnode-by-file\"")
            && err.contains("does not have")
            && err.contains("registers"),
        "{err}"
    );
}

/// Each mistake: the file's text, the field the error must name, and a
/// word of the problem or the fix.
const MISTAKES: &[(&str, &str, &str)] = &[
    ("name = \"x\"\n[binary\nname = \"x\"", "line 2", "[binary"),
    (
        "name = \"x\"\nbinery = { name = \"x\" }\n[ports]\napi = \"rpc\"",
        "line 2",
        "unknown field `binery`",
    ),
    ("[binary]\nname = \"x\"\n[ports]\napi = \"rpc\"", "top level", "missing field `name`"),
    (
        "name = \"x\"\n[binary]\nname = \"x\"\n[ports]\napi = \"rpc\"\n[[roles]]\nname = \"a\"\n[[roles]]\nname = \"b\"",
        "roles[0].nodes:",
        "say how many nodes the role takes",
    ),
    (
        "name = \"x\"\n[binary]\nname = \"x\"\n[ports]\napi = \"rpc\"\n[[roles]]\nname = \"a\"\npeers = \"primray\"",
        "roles[0].peers:",
        "or a role's name",
    ),
    (
        "name = \"x\"\n[binary]\nname = \"x\"\ninstall_hint = \"apt\\ninstall \\u001b[31mx\"\n[ports]\napi = \"rpc\"",
        "binary.install_hint:",
        "one line",
    ),
    (
        "name = \"x\"\n[binary]\nname = \"x\"\n[launch]\nflags_via = \"file\"\nconfig_file = \"db\"\n[ports]\napi = \"rpc\"",
        "launch.config_file:",
        "the node's db directory, a directory",
    ),
    (
        "name = \"x\"\n[binary]\nname = \"x\"\n[launch]\ndata_dir = \"a/b\"\n[ports]\napi = \"rpc\"\ndiscovery = \"file\"\nfile = \"a\"\n[ports.patterns]\nrpc = \"port={port}\"",
        "ports.file:",
        "launch.data_dir lies inside it",
    ),
    (
        "name = \"x\"\n[binary]\nname = \"x\"\n[launch]\nflags_via = \"file\"\nconfig_file = \"x/.\"\n[ports]\napi = \"rpc\"",
        "launch.config_file:",
        "names a directory, not a file",
    ),
    (
        "name = \"x\"\n[binary]\nname = \"x\"\n[ports]\napi = \"rpc\"\nscheme = \"Redis:\"\n[health]\ncheck = \"tcp\"",
        "ports.scheme:",
        "starting with a letter",
    ),
    ("name = \"My Node\"\n[binary]\nname = \"x\"\n[ports]\napi = \"rpc\"", "name:", "lowercase"),
    ("name = \"refnode\"\n[binary]\nname = \"x\"\n[ports]\napi = \"rpc\"", "name:", "built-in"),
    ("name = \"x\"\n[binary]\ninstall_hint = \"apt\"\n[ports]\napi = \"rpc\"", "binary:", "binary.name"),
    ("name = \"x\"\n[binary]\nname = \"/usr/bin/x\"\n[ports]\napi = \"rpc\"", "binary.name:", "binary.path"),
    (
        "name = \"x\"\n[binary]\nname = \"x\"\n[ports]\napi = \"rpc\"\ndiscovery = \"log\"",
        "ports.patterns.rpc:",
        "{port}",
    ),
    (
        "name = \"x\"\n[binary]\nname = \"x\"\n[ports]\napi = \"rpc\"\ndiscovery = \"log\"\npatterns = { rpc = \"listening on\" }",
        "ports.patterns.rpc:",
        "has no {port}",
    ),
    (
        "name = \"x\"\n[binary]\nname = \"x\"\n[ports]\napi = \"rpc\"\ndiscovery = \"file\"\npatterns = { rpc = \"port {port}\" }",
        "ports.file:",
        "discovery = \"file\"",
    ),
    (
        "name = \"x\"\n[binary]\nname = \"x\"\n[ports]\napi = \"rpc\"\n[forced_flags]\ndatadir = \"{data_dri}\"",
        "forced_flags.datadir:",
        "{data_dir}",
    ),
    (
        "name = \"x\"\n[binary]\nname = \"x\"\n[ports]\napi = \"rpc\"\n[forced_flags]\nport = \"{port.p2p}\"",
        "forced_flags.port:",
        "{port.rpc}",
    ),
    (
        "name = \"x\"\n[binary]\nname = \"x\"\n[ports]\napi = \"rpc\"\ndiscovery = \"log\"\npatterns = { rpc = \"on {port}\" }\n[forced_flags]\nport = \"{port.rpc}\"",
        "forced_flags.port:",
        "not known before the start",
    ),
    (
        "name = \"x\"\n[binary]\nname = \"x\"\n[ports]\napi = \"rpc\"\n[health]\ncheck = \"command\"",
        "health.command:",
        "is empty",
    ),
    (
        "name = \"x\"\n[binary]\nname = \"x\"\n[ports]\napi = \"rpc\"\n[health]\njson_equals = \"OK\"",
        "health.json_equals:",
        "json_pointer",
    ),
    (
        "name = \"x\"\n[binary]\nname = \"x\"\n[ports]\napi = \"rpc\"\n[health]\nstatus = 42",
        "health.status:",
        "100 to 599",
    ),
    (
        "name = \"x\"\n[binary]\nname = \"x\"\n[ports]\napi = \"rpc\"\n[launch]\nstop_signal = \"SIGSTOP\"",
        "line 7",
        "SIGTERM",
    ),
    (
        "name = \"x\"\n[binary]\nname = \"x\"\n[ports]\napi = \"rpc\"\n[launch]\ndata_dir = \"../elsewhere\"",
        "launch.data_dir:",
        "inside the node directory",
    ),
    // Paths a kind file names stay inside the node directory, clear of the
    // tool's own files.
    (
        "name = \"x\"\n[binary]\nname = \"x\"\n[ports]\napi = \"rpc\"\ndiscovery = \"file\"\nfile = \"../../../../x\"\npatterns = { rpc = \"port {port}\" }",
        "ports.file:",
        "inside the node directory",
    ),
    (
        "name = \"x\"\n[binary]\nname = \"x\"\n[ports]\napi = \"rpc\"\ndiscovery = \"file\"\nfile = \"/etc/x\"\npatterns = { rpc = \"port {port}\" }",
        "ports.file:",
        "inside the node directory",
    ),
    (
        "name = \"x\"\n[binary]\nname = \"x\"\n[ports]\napi = \"rpc\"\ndiscovery = \"file\"\nfile = \"launch.json\"\npatterns = { rpc = \"port {port}\" }",
        "ports.file:",
        "keeps in the node directory",
    ),
    (
        "name = \"x\"\n[binary]\nname = \"x\"\n[ports]\napi = \"rpc\"\n[launch]\nflags_via = \"file\"\nconfig_file = \"config.json\"",
        "launch.config_file:",
        "keeps in the node directory",
    ),
    (
        "name = \"x\"\n[binary]\nname = \"x\"\n[ports]\napi = \"rpc\"\n[launch]\nconfig_file = \"./logs/main.log\"",
        "launch.config_file:",
        "\"logs\"",
    ),
    (
        "name = \"x\"\n[binary]\nname = \"x\"\n[ports]\napi = \"rpc\"\n[launch]\ndata_dir = \".\"",
        "launch.data_dir:",
        "inside the node directory",
    ),
    (
        "name = \"x\"\n[binary]\nname = \"x\"\n[ports]\napi = \"rpc\"\n[launch]\ndata_dir = \"d\"\nconfig_file = \"./d\"",
        "launch.config_file:",
        "launch.data_dir",
    ),
    // Settings accepted that could never work.
    (
        "name = \"x\"\n[binary]\nname = \"x\"\n[ports]\napi = \"rpc\"\n[logs]\nfatal = [\"\"]",
        "logs.fatal:",
        "empty entry",
    ),
    (
        "name = \"x\"\n[binary]\nname = \"x\"\n[ports]\napi = \"rpc\"\n[logs]\nport_conflict = [\" \"]",
        "logs.port_conflict:",
        "empty entry",
    ),
    (
        "name = \"x\"\n[binary]\nname = \"x\"\n[ports]\napi = \"rpc\"\n[logs]\ntime_format = \"%Y-%m-%d %H:%M:%Q\"",
        "logs.time_format:",
        "%Q is not a directive",
    ),
    (
        "name = \"x\"\n[binary]\nname = \"x\"\n[ports]\napi = \"rpc\"\n[logs]\ntime_format = \"%H:%M:%S\"",
        "logs.time_format:",
        "names no whole time",
    ),
    (
        "name = \"x\"\n[binary]\nname = \"x\"\n[ports]\napi = \"rpc\"\n[flags]\n\"\" = \"1\"",
        "flags:",
        "is empty",
    ),
    (
        "name = \"x\"\n[binary]\nname = \"x\"\n[ports]\napi = \"rpc\"\n[forced_flags]\n\"a b\" = \"1\"",
        "forced_flags:",
        "space",
    ),
    (
        "name = \"x\"\n[binary]\nname = \"x\"\npath = \"/bin/true\"\n[ports]\napi = \"rpc\"",
        "binary:",
        "both",
    ),
    (
        "name = \"x\"\n[binary]\npath = \"/tmp\"\n[ports]\napi = \"rpc\"",
        "binary.path:",
        "is not a file",
    ),
    (
        "name = \"x\"\n[binary]\npath = \"/etc/passwd\"\n[ports]\napi = \"rpc\"",
        "binary.path:",
        "not executable",
    ),
    (
        "name = \"x\"\n[binary]\nname = \"x\"\n[ports]\napi = \"rpc\"\n[health]\ncheck = \"command\"\ncommand = [\"tmpnet-no-such-probe\", \"{uri}\"]",
        "health.command:",
        "not on PATH",
    ),
    (
        "name = \"x\"\n[binary]\nname = \"x\"\n[ports]\napi = \"rpc\"\ndiscovery = \"log\"\npatterns = { rpc = \"on {port}\" }\n[peers]\nflag = \"initial-cluster\"\nof = \"members\"",
        "peers.of:",
        "allocate",
    ),
    (
        "name = \"x\"\n[binary]\nname = \"x\"\n[ports]\napi = \"rpc\"\n[kubernetes]\nimage = \"x:1\"\nports = { p2p = 1 }",
        "kubernetes.ports:",
        "rpc",
    ),
    (
        "name = \"x\"\n[binary]\nname = \"x\"\n[ports]\napi = \"rpc\"\n[launch]\nflag_args = [\"--flag\"]",
        "launch.flag_args:",
        "{name}",
    ),
];

#[test]
fn every_kind_file_mistake_is_one_line_naming_the_file_and_the_field() {
    assert!(MISTAKES.len() >= 12);
    let root = test_root();
    let kinds = tempfile::tempdir().unwrap();
    for (i, (text, field, hint)) in MISTAKES.iter().enumerate() {
        let path = kinds.path().join(format!("bad-{i}.toml"));
        std::fs::write(&path, text).unwrap();
        let out = ctl(
            root.path(),
            &["start-network", "--kind-file", path.to_str().unwrap()],
        );
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "mistake {i}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "mistake {i}: {err}");
        assert!(
            err.contains(&format!("bad-{i}.toml")) && err.contains(field) && err.contains(hint),
            "mistake {i} should name {field:?} and {hint:?}: {err}"
        );
        assert!(!err.contains("panicked"), "{err}");
    }
    // Nothing was created for any of them.
    let networks = root.path().join("networks");
    let made = std::fs::read_dir(&networks)
        .map(|d| d.flatten().filter(|e| e.file_name() != "latest").count())
        .unwrap_or(0);
    assert_eq!(made, 0);
    // A kind file that is not there.
    let out = ctl(
        root.path(),
        &["start-network", "--kind-file", "/nonexistent/kind.toml"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("cannot be read"), "{}", stderr(&out));
}

#[test]
fn a_kind_file_that_is_no_file_or_too_big_is_refused_at_once_in_one_short_line() {
    let root = test_root();
    let kinds = tempfile::tempdir().unwrap();
    let fifo = kinds.path().join("fifo.toml");
    assert!(std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let huge = kinds.path().join("huge.toml");
    std::fs::write(&huge, vec![b'#'; 2 << 20]).unwrap();
    // A file under the limit whose one line is long: quoted, but cut.
    let long = kinds.path().join("long.toml");
    let name = "n".repeat(900_000);
    std::fs::write(
        &long,
        format!("name = \"{name}\"\n[binary]\nname = \"x\"\n[ports]\napi = \"rpc\"\n"),
    )
    .unwrap();
    let cases = [
        (fifo.as_path(), "not a regular file"),
        (Path::new("/dev/zero"), "not a regular file"),
        (kinds.path(), "not a regular file"),
        (huge.as_path(), "at most"),
        (long.as_path(), "bytes in all"),
    ];
    // Built before the clock starts (the first use builds it).
    bin("tmpnetctl");
    for (path, says) in cases {
        let started = std::time::Instant::now();
        let out = ctl(
            root.path(),
            &["start-network", "--kind-file", path.to_str().unwrap()],
        );
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{}: {err}", path.display());
        assert_eq!(err.trim().lines().count(), 1, "{}: {err}", path.display());
        assert!(err.contains(says), "{}: {err}", path.display());
        assert!(
            err.len() < 1000,
            "{}: {} bytes of error",
            path.display(),
            err.len()
        );
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{} took {:?}",
            path.display(),
            started.elapsed()
        );
    }
}

#[test]
fn a_missing_binary_names_it_and_the_install_hint() {
    let root = test_root();
    let kinds = tempfile::tempdir().unwrap();
    let path = write_kind(
        kinds.path(),
        "absent.toml",
        "name = \"absent\"\n[binary]\nname = \"tmpnet-no-such-daemon\"\ninstall_hint = \"apt-get install no-such-daemon\"\n[ports]\napi = \"rpc\"\n",
    );
    let out = ctl(
        root.path(),
        &["start-network", "--kind-file", path.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("tmpnet-no-such-daemon") && err.contains("apt-get install no-such-daemon"),
        "{err}"
    );
}

#[test]
fn a_network_directory_written_before_kind_files_still_loads_and_runs() {
    // config.json and a node's config.json exactly as earlier versions
    // wrote them: a built-in kind by name, no kind file.
    let root = test_root();
    let dir = root.path().join("networks").join("20260101-000000.000001");
    let node = dir.join("ref-0123456789ab");
    std::fs::create_dir_all(&node).unwrap();
    let config = format!(
        r#"{{
  "schemaVersion": 1,
  "uuid": "835b194d-8fa1-4e7d-bcce-9e0f4b93e7e9",
  "owner": "",
  "nodeKind": "refnode",
  "nodeCount": 1,
  "defaultFlags": {{}},
  "runtime": {{
    "process": {{
      "nodePath": "{}",
      "reuseDynamicPorts": false,
      "stopGraceSecs": 10,
      "initTimeoutSecs": 10
    }}
  }}
}}"#,
        refnode().display()
    );
    std::fs::write(dir.join("config.json"), config).unwrap();
    std::fs::write(
        node.join("config.json"),
        r#"{"id": "ref-0123456789ab", "index": 0, "flags": {}}"#,
    )
    .unwrap();
    let d = dir.to_str().unwrap();
    let start = ctl(root.path(), &["start-network", "--network-dir", d]);
    assert!(start.status.success(), "{}", stderr(&start));
    assert!(!dir.join("kind.toml").exists());
    let health = ctl(root.path(), &["check-health", "--network-dir", d]);
    assert!(health.status.success(), "{}", stderr(&health));
    let stop = ctl(root.path(), &["stop-network", "--network-dir", d]);
    assert!(stop.status.success(), "{}", stderr(&stop));
    assert_no_processes_under(&dir);
}

#[test]
fn the_stop_signal_and_a_health_command_come_from_the_kind_file() {
    let root = test_root();
    let kinds = tempfile::tempdir().unwrap();
    // Healthy once the daemon has written its own report; stopped by
    // SIGINT, which this node obeys while it ignores SIGTERM.
    let text = REFNODE_KIND_FILE.replace(
        "[health]\npath = \"/ext/health\"\njson_pointer = \"/healthy\"\njson_equals = true\n",
        "[health]\ncheck = \"command\"\ncommand = [\"/usr/bin/test\", \"-s\", \"{node_dir}/reported.json\"]\n",
    );
    assert!(text.contains("check = \"command\""));
    let kind_file = write_kind(kinds.path(), "sigint.toml", &text);
    let dir = start_network(
        root.path(),
        &[
            "--kind-file",
            kind_file.to_str().unwrap(),
            "--node-count",
            "2",
            "--flag",
            "fault-ignore-sigterm=true",
        ],
    );
    let d = dir.to_str().unwrap();
    let health = ctl(root.path(), &["check-health", "--network-dir", d]);
    assert!(health.status.success(), "{}", stderr(&health));
    let started = std::time::Instant::now();
    let stop = ctl(root.path(), &["stop-network", "--network-dir", d]);
    assert!(stop.status.success(), "{}", stderr(&stop));
    // The grace period is 10 s; SIGTERM alone would have needed SIGKILL.
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "stopped by SIGINT at once, not by SIGKILL after the grace period: {:?} {}",
        started.elapsed(),
        stderr(&stop)
    );
    assert_no_processes_under(&dir);

    // A health command that fails: the start fails naming it.
    let text = text.replace(
        "command = [\"/usr/bin/test\", \"-s\", \"{node_dir}/reported.json\"]",
        "command = [\"/usr/bin/test\", \"-s\", \"{node_dir}/never-written\"]",
    );
    let kind_file = write_kind(kinds.path(), "unhealthy.toml", &text);
    let out = ctl(
        root.path(),
        &[
            "start-network",
            "--kind-file",
            kind_file.to_str().unwrap(),
            "--node-count",
            "1",
            "--start-timeout",
            "3",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("test exited with"),
        "{}",
        stderr(&out)
    );
    assert_no_processes_under(root.path());
}
