//! Benchmark: a litecoind regtest network from start to all nodes healthy
//! and peered, through the harness, against a plain baseline that spawns the
//! same daemon with the same flags and makes the same RPC calls (readiness,
//! peers, `addnode onetry` for a missing peer) at the same interval, with no
//! harness around it. Sizes 1, 3, 10 and 20 nodes; the
//! two are interleaved run by run so machine noise hits both alike.
//!
//! Run with `cargo bench -p tmpnet-acceptance --bench benches -- bitcoind_start`
//! (optionally `-- RUNS`, default 3). Needs `/usr/lib/litecoin/litecoind`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tmpnet_acceptance::median;
use tmpnet_fixture::kinds::bitcoind::Credentials;
use tmpnet_fixture::NetworkSpec;

const SIZES: &[usize] = &[1, 3, 10, 20];
const POLL: Duration = Duration::from_millis(20);

async fn harness(root: &Path, daemon: &Path, nodes: usize) -> f64 {
    let spec = NetworkSpec::new(root, nodes)
        .with_kind("bitcoind")
        .with_node_path(daemon);
    let (network, secs) = tmpnet_acceptance::timed_start(&spec).await;
    network.stop().await.expect("stop");
    secs
}

/// One baseline node: its process, RPC URL and the peers it must reach.
struct Plain {
    child: Child,
    rpc: String,
    connect: Vec<String>,
}

async fn rpc(
    http: &reqwest::Client,
    url: &str,
    creds: &Credentials,
    method: &str,
    params: Value,
) -> Option<Value> {
    let body = json!({"jsonrpc": "1.0", "id": "b", "method": method, "params": params});
    let resp = http
        .post(url)
        .basic_auth(&creds.user, Some(&creds.password))
        .header("connection", "close")
        .json(&body)
        .send()
        .await
        .ok()?;
    let v: Value = resp.json().await.ok()?;
    v.get("error").filter(|e| e.is_null())?;
    v.get("result").cloned()
}

async fn baseline(dir: &Path, daemon: &Path, nodes: usize) -> f64 {
    let http = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client");
    let started = Instant::now();
    std::fs::create_dir_all(dir).expect("dir");
    let creds = Credentials::create(dir).expect("credentials");
    let all = tmpnet_acceptance::free_ports(nodes * 3);
    let mut plain = Vec::new();
    for i in 0..nodes {
        let (rpc_port, p2p, onion) = (all[3 * i], all[3 * i + 1], all[3 * i + 2]);
        let data = dir.join(format!("n{i}"));
        std::fs::create_dir_all(&data).expect("datadir");
        let connect: Vec<String> = (0..i)
            .map(|j| format!("127.0.0.1:{}", all[3 * j + 1]))
            .collect();
        let mut args = vec![
            "-regtest=1".to_owned(),
            "-server=1".into(),
            "-listen=1".into(),
            "-discover=0".into(),
            "-dnsseed=0".into(),
            "-listenonion=0".into(),
            "-upnp=0".into(),
            "-whitelist=127.0.0.1".into(),
            "-printtoconsole=1".into(),
            "-debuglogfile=0".into(),
            "-fallbackfee=0.0001".into(),
            format!("-datadir={}", data.display()),
            format!("-port={p2p}"),
            format!("-bind=127.0.0.1:{p2p}"),
            format!("-bind=127.0.0.1:{onion}=onion"),
            "-rpcbind=127.0.0.1".into(),
            "-rpcallowip=127.0.0.1".into(),
            format!("-rpcport={rpc_port}"),
            format!("-rpcauth={}", creds.rpcauth),
        ];
        if connect.is_empty() {
            args.push("-connect=0".into());
        }
        args.extend(connect.iter().map(|c| format!("-connect={c}")));
        let log = std::fs::File::create(data.join("main.log")).expect("log");
        let child = Command::new(daemon)
            .args(&args)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("spawn");
        plain.push(Plain {
            child,
            rpc: format!("http://127.0.0.1:{rpc_port}"),
            connect,
        });
    }
    let mut ready = vec![false; nodes];
    let deadline = Instant::now() + Duration::from_secs(120);
    while ready.iter().any(|r| !r) {
        assert!(Instant::now() < deadline, "baseline never became healthy");
        for (i, node) in plain.iter().enumerate() {
            let call = |method, params| rpc(&http, &node.rpc, &creds, method, params);
            if ready[i] || call("getblockchaininfo", json!([])).await.is_none() {
                continue;
            }
            let Some(peers) = call("getpeerinfo", json!([])).await else {
                continue;
            };
            let peers = peers.as_array().cloned().unwrap_or_default();
            let missing: Vec<&String> = node
                .connect
                .iter()
                .filter(|target| {
                    !peers
                        .iter()
                        .any(|p| p["inbound"] == json!(false) && p["addr"] == json!(target))
                })
                .collect();
            for target in &missing {
                call("addnode", json!([target, "onetry"])).await;
            }
            ready[i] = missing.is_empty();
        }
        tokio::time::sleep(POLL).await;
    }
    let secs = started.elapsed().as_secs_f64();
    for node in &mut plain {
        // SAFETY: kill(2) has no memory-safety preconditions.
        unsafe { libc::kill(node.child.id() as libc::pid_t, libc::SIGTERM) };
    }
    for node in &mut plain {
        node.child.wait().expect("wait");
    }
    secs
}

pub fn bench() {
    let daemon = PathBuf::from("/usr/lib/litecoin/litecoind");
    assert!(
        daemon.exists(),
        "litecoind is not installed: apt-get install -y litecoind"
    );
    let runs = tmpnet_acceptance::bench_runs(3);
    let rt = tmpnet_acceptance::bench_runtime();
    let scratch = tmpnet_acceptance::test_root();
    rt.block_on(harness(scratch.path(), &daemon, 1));
    println!("litecoind start to all healthy and peered, {runs} runs each, medians");
    println!("| nodes | harness (s) | baseline (s) | harness / baseline |");
    println!("|---:|---:|---:|---:|");
    let mut counter = 0;
    for &nodes in SIZES {
        let (mut h, mut b) = (Vec::new(), Vec::new());
        for _ in 0..runs {
            counter += 1;
            let dir = scratch.path().join(format!("baseline-{counter}"));
            h.push(rt.block_on(harness(scratch.path(), &daemon, nodes)));
            b.push(rt.block_on(baseline(&dir, &daemon, nodes)));
        }
        let (h, b) = (median(h), median(b));
        println!("| {nodes} | {h:.3} | {b:.3} | {:.2} |", h / b);
    }
}
