//! `tmpnetctl logs`: every node's log merged in time order, with node
//! prefixes, its filters, and `--follow` through a restart.

use std::io::BufRead;
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tmpnet_acceptance::*;
use tmpnet_fixture::Network;

/// `logs` output as (node, text) pairs; asserts every line is prefixed.
fn logs(root: &Path, dir: &Path, extra: &[&str]) -> Vec<(String, String)> {
    let mut args = vec!["logs", "--network-dir", dir.to_str().unwrap()];
    args.extend_from_slice(extra);
    let out = ctl(root, &args);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        !text.contains('\x1b'),
        "piped output has no colour: {text:?}"
    );
    text.lines()
        .map(|l| {
            let (node, rest) = l
                .split_once(" | ")
                .unwrap_or_else(|| panic!("no prefix: {l}"));
            (node.trim().to_owned(), rest.to_owned())
        })
        .collect()
}

fn ids(dir: &Path) -> Vec<String> {
    Network::load(dir)
        .unwrap()
        .nodes()
        .iter()
        .map(|n| n.id().to_owned())
        .collect()
}

#[test]
fn logs_merge_every_node_in_time_order_and_filter() {
    let root = test_root();
    let r = root.path();
    let dir = start_network(r, &["--node-count", "3"]);
    let ids = ids(&dir);
    let all = logs(r, &dir, &[]);
    for id in &ids {
        assert!(
            all.iter().any(|(n, t)| n == id && t.contains("serving")),
            "{id} missing from {all:?}"
        );
    }
    // Time order across nodes: the leading timestamps never go back.
    let stamps: Vec<&str> = all
        .iter()
        .filter_map(|(_, t)| t.split_whitespace().next())
        .collect();
    let mut sorted = stamps.clone();
    sorted.sort();
    assert_eq!(stamps, sorted, "lines are merged in time order");
    let nodes_seen: Vec<&String> = all.iter().map(|(n, _)| n).collect();
    assert!(
        nodes_seen.windows(2).any(|w| w[0] != w[1]),
        "lines of different nodes are interleaved, not one node after another"
    );

    let two = logs(r, &dir, &["--node", &ids[0], "--node", &ids[2]]);
    assert!(!two.is_empty() && two.iter().all(|(n, _)| n == &ids[0] || n == &ids[2]));
    let tails = logs(r, &dir, &["--tail", "1"]);
    assert_eq!(tails.len(), 3, "one line per node: {tails:?}");
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        logs(r, &dir, &["--since", "1s"]).is_empty(),
        "nothing written in the last second"
    );
    assert_eq!(logs(r, &dir, &["--since", "1h"]).len(), all.len());

    let out = ctl(
        r,
        &[
            "logs",
            "--network-dir",
            dir.to_str().unwrap(),
            "--node",
            "nope",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("no node \"nope\"") && err.contains(&ids[0]),
        "{err}"
    );
    assert!(
        ctl(r, &["stop-network", "--network-dir", dir.to_str().unwrap()])
            .status
            .success()
    );
    assert_no_processes_under(r);
}

#[test]
fn follow_prints_what_nodes_write_through_a_restart() {
    let root = test_root();
    let r = root.path();
    let dir = start_network(r, &["--node-count", "2"]);
    let ids = ids(&dir);
    let mut child = ctl_cmd(
        r,
        &["logs", "--network-dir", dir.to_str().unwrap(), "--follow"],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    let seen = Arc::new(Mutex::new(Vec::<String>::new()));
    let reader = {
        let seen = seen.clone();
        let out = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
                seen.lock().unwrap().push(line);
            }
        })
    };
    let serving = |seen: &Arc<Mutex<Vec<String>>>, id: &str| {
        seen.lock()
            .unwrap()
            .iter()
            .filter(|l| l.starts_with(id) && l.contains("serving"))
            .count()
    };
    assert!(eventually(Duration::from_secs(10), || serving(
        &seen, &ids[0]
    ) == 1));
    let out = ctl(
        r,
        &["restart-network", "--network-dir", dir.to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let followed = eventually(Duration::from_secs(10), || {
        ids.iter().all(|id| serving(&seen, id) == 2)
    });
    assert!(
        followed,
        "the restarted nodes' new lines were not followed: {:?}",
        seen.lock().unwrap()
    );
    kill(child.id(), libc::SIGINT);
    let status = child.wait().unwrap();
    assert!(status.success(), "Ctrl-C ends a follow cleanly: {status}");
    reader.join().unwrap();
    assert!(
        ctl(r, &["stop-network", "--network-dir", dir.to_str().unwrap()])
            .status
            .success()
    );
    assert_no_processes_under(r);
}

/// A daemon stamping its lines as redis does (day month year, local time,
/// no zone), run on a machine five and a half hours ahead of UTC, then
/// serving on its port.
#[test]
fn since_reads_zone_less_times_as_the_machine_s_local_time() {
    const ZONE: &str = "XST-05:30";
    let root = test_root();
    let r = root.path();
    let kinds = tempfile::tempdir().unwrap();
    let kind_file = script_kind(
        kinds.path(),
        "local-times",
        &format!(
            "stamp() {{ LC_ALL=C /bin/date -d \"$1\" '+%d %b %Y %H:%M:%S.000'; }}\n\
             echo \"1:M $(stamp '-2 hours') * written two hours ago\"\n\
             echo \"1:M $(stamp now) * written now\"\n\
             echo 'a line with no time'\n{SERVE}"
        ),
        "",
    );
    let start = ctl_cmd(
        r,
        &[
            "start-network",
            "--kind-file",
            kind_file.to_str().unwrap(),
            "--node-count",
            "1",
        ],
    )
    .env("TZ", ZONE)
    .output()
    .unwrap();
    assert!(start.status.success(), "{}", stderr(&start));
    let dir = network_dirs(r).pop().unwrap();
    let since = |age: &str| {
        let out = ctl_cmd(
            r,
            &[
                "logs",
                "--network-dir",
                dir.to_str().unwrap(),
                "--since",
                age,
            ],
        )
        .env("TZ", ZONE)
        .output()
        .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        stdout(&out)
    };
    let recent = since("30m");
    assert!(recent.contains("written now"), "{recent}");
    assert!(
        !recent.contains("two hours ago"),
        "a local time read as UTC would be hours in the future: {recent}"
    );
    assert!(since("3h").contains("two hours ago"));
    let stop = ctl(r, &["stop-network", "--network-dir", dir.to_str().unwrap()]);
    assert!(stop.status.success(), "{}", stderr(&stop));
    assert_no_processes_under(r);
}

/// A daemon writing its times in a shape of its own, named in its kind
/// file (`logs.time_format`): two nodes' lines merge in time order and
/// `--since` places them; a line that starts with another shape of time
/// (a payload) is not read as its time.
#[test]
fn a_kind_file_names_its_daemon_s_own_time_format() {
    let root = test_root();
    let r = root.path();
    let kinds = tempfile::tempdir().unwrap();
    // Node 0 (its role's flag) writes its old line three hours back,
    // node 1 two.
    let kind_file = script_kind(
        kinds.path(),
        "own-times",
        "while [ $# -gt 1 ]; do case \"$1\" in --port) port=$2 ;; --age) h=$2 ;; esac; shift 2; done\n\
         stamp() { /bin/date -u -d \"$1\" '+<%d/%m/%Y|%H.%M.%S %z>'; }\n\
         echo \"$(stamp \"-$h hours\") old line, $h hours back\"\n\
         echo \"$(stamp now) recent line\"\n\
         echo '2001-01-01T00:00:00Z a payload line, written now'\n\
         exec /usr/bin/python3 -m http.server --bind 127.0.0.1 \"$port\" >/dev/null 2>&1\n",
        "[logs]\ntime_format = \"<%d/%m/%Y|%H.%M.%S %z>\"\n\
         [[roles]]\nname = \"older\"\nnodes = 1\n[roles.flags]\nage = \"3\"\n\
         [[roles]]\nname = \"younger\"\n[roles.flags]\nage = \"2\"\n",
    );
    let start = ctl(
        r,
        &[
            "start-network",
            "--kind-file",
            kind_file.to_str().unwrap(),
            "--node-count",
            "2",
        ],
    );
    assert!(start.status.success(), "{}", stderr(&start));
    let dir = network_dirs(r).pop().unwrap();
    let logs = |extra: &[&str]| {
        let mut args = vec!["logs", "--network-dir", dir.to_str().unwrap()];
        args.extend_from_slice(extra);
        let out = ctl(r, &args);
        assert!(out.status.success(), "{}", stderr(&out));
        stdout(&out)
    };
    let all = logs(&[]);
    let at = |text: &str| all.lines().position(|l| l.contains(text));
    assert!(
        at("3 hours back")
            .zip(at("2 hours back"))
            .is_some_and(|(three, two)| three < two),
        "not in time order: {all}"
    );
    let recent = logs(&["--since", "30m"]);
    let count = |text: &str| recent.lines().filter(|l| l.contains(text)).count();
    assert_eq!(count("recent line"), 2, "{recent}");
    assert_eq!(count("a payload line"), 2, "{recent}");
    assert_eq!(count("old line"), 0, "{recent}");
    let older = logs(&["--since", "150m"]);
    assert!(
        older.contains("2 hours back") && !older.contains("3 hours back"),
        "{older}"
    );
    let stop = ctl(r, &["stop-network", "--network-dir", dir.to_str().unwrap()]);
    assert!(stop.status.success(), "{}", stderr(&stop));
    assert_no_processes_under(r);
}
