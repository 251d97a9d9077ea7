//! The bootstrap monitor end to end on a real cluster (run by
//! scripts/e2e-cluster.sh on the local cluster):
//!
//! 1. litecoind: a "persistent" regtest network of 2 nodes with 300 blocks
//!    runs in the cluster; a monitor of the moving tag
//!    `tmpnet/litecoind:latest` resolves it to a digest, syncs all 300
//!    blocks and records success (duration, disk, version); the image is
//!    rebuilt (a new digest for the same tag) and the monitor starts a new
//!    test on its own, archiving the first; removed, it leaves nothing.
//! 2. refnode: the same flow with the replicated store (99 keys of 100);
//!    the pod is deleted mid-sync and the test resumes with its data (a
//!    marker file on the node's data survives) and the interruption
//!    recorded; the 100th key completes the sync.
//!
//! Environment: `KUBECONFIG` (the networks' account), `TMPNET_ROOT_DIR`,
//! `MONITOR_KUBECONFIG` (an account that may create Roles: deploys the
//! monitors, execs into their pods), `REBUILD_LITECOIND` (a shell command
//! that rebuilds `tmpnet/litecoind:latest` and loads it into the cluster),
//! `TMPNETCTL` (the tmpnetctl binary, for its `bootstrap-monitor` commands).

use std::future::Future;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Pod;
use kube::api::{AttachParams, DeleteParams};
use kube::{Api, Client};
use tmpnet_fixture::bootstrap_monitor::cluster::{Cluster, Results};
use tmpnet_fixture::bootstrap_monitor::deploy;
use tmpnet_fixture::bootstrap_monitor::manifests::MonitorSpec;
use tmpnet_fixture::bootstrap_monitor::record::{TestRecord, TestStatus};
use tmpnet_fixture::helpers::bitcoind::{rpc, wait_for_same_tip};
use tmpnet_fixture::model::KubeSettings;
use tmpnet_fixture::{Network, NetworkSpec};

type Outcome<T = ()> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

const NS: &str = "tmpnet";
const BLOCKS: u64 = 300;
const KEYS: usize = 100;

fn env(name: &str) -> Outcome<String> {
    std::env::var(name).map_err(|_| format!("{name} is not set").into())
}

/// Polls `probe` every second until it gives a value, failing after
/// `timeout` with `what` and the last state seen.
async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, mut probe: F) -> Outcome<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Outcome<Result<T, String>>>,
{
    let start = Instant::now();
    loop {
        let last = match probe().await? {
            Ok(value) => {
                println!("  {what}: after {:.0} s", start.elapsed().as_secs_f64());
                return Ok(value);
            }
            Err(last) => last,
        };
        if start.elapsed() > timeout {
            return Err(format!(
                "{what}: not within {}s; last seen: {last}",
                timeout.as_secs()
            )
            .into());
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

async fn network(kind: &str, image: &str) -> Outcome<Network> {
    let mut spec = NetworkSpec::new(PathBuf::from(env("TMPNET_ROOT_DIR")?), 2).with_kind(kind);
    spec.kube = Some(KubeSettings::new(NS, image));
    let network = Network::create(&spec)?;
    network.start(Duration::from_secs(180)).await?;
    Ok(network)
}

fn monitor_spec(
    name: &str,
    image: &str,
    synced: &str,
    version_args: &[&str],
) -> Outcome<MonitorSpec> {
    let mut spec = MonitorSpec::new(name, "tmpnet/bootstrap-monitor:latest");
    spec.node_image = Some(image.into());
    spec.synced = synced.parse()?;
    spec.version_args = version_args.iter().map(|a| (*a).to_owned()).collect();
    // No registry: the images are loaded into the cluster.
    spec.pull_policy = "IfNotPresent".into();
    spec.poll_secs = 3;
    Ok(spec)
}

async fn results(cluster: &Cluster, name: &str) -> Outcome<Option<Results>> {
    Ok(cluster.results(name).await?)
}

/// Waits for the current test to be of a pinned image and in `state`
/// (`syncing` or `synced`), and not of `not_image`.
async fn wait_test(
    cluster: &Cluster,
    name: &str,
    state: &str,
    not_image: Option<&str>,
    timeout: Duration,
) -> Outcome<Results> {
    wait_for(&format!("{name}: a test {state}"), timeout, || async {
        let found = results(cluster, name).await?;
        let Some(r) = found else {
            return Ok(Err("no results yet".into()));
        };
        let ok = r.current.as_ref().is_some_and(|c: &TestRecord| {
            c.image.contains("@sha256:")
                && c.status.word() == state
                && not_image.is_none_or(|n| c.image != n)
        });
        Ok(if ok {
            Ok(r)
        } else {
            Err(format!("{:?} (last error {:?})", r.current, r.last_error))
        })
    })
    .await
}

/// `tmpnetctl bootstrap-monitor status` (text and JSON) names both tests;
/// `render` prints the objects without the network's RPC password.
fn cli(network: &Network, name: &str, first_image: &str) -> Outcome {
    let ctl = env("TMPNETCTL")?;
    let admin = env("MONITOR_KUBECONFIG")?;
    let run = |args: &[&str]| -> Outcome<String> {
        let out = std::process::Command::new(&ctl).args(args).output()?;
        if !out.status.success() {
            return Err(format!(
                "tmpnetctl {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            )
            .into());
        }
        Ok(String::from_utf8(out.stdout)?)
    };
    let status = [
        "bootstrap-monitor",
        "status",
        "--name",
        name,
        "--kubeconfig",
        &admin,
        "--kube-namespace",
        NS,
    ];
    let text = run(&status)?;
    println!("{text}");
    assert!(text.contains(&format!("pod {name}-0 Running")), "{text}");
    assert!(
        text.contains("current test: tmpnet/litecoind:latest@sha256:")
            && text.contains("synced in"),
        "{text}"
    );
    assert!(
        text.contains(&format!("past test: {first_image}")),
        "{text}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&run(&[&status[..], &["--json"]].concat())?)?;
    assert_eq!(json["current"]["status"]["state"], "synced", "{json}");
    assert_eq!(json["history"][0]["image"], first_image, "{json}");
    let dir = network.dir().to_str().ok_or("network dir")?;
    let yaml = run(&[
        "bootstrap-monitor",
        "render",
        "--name",
        "rendered",
        "--network-dir",
        dir,
    ])?;
    for kind in [
        "ServiceAccount",
        "Role",
        "RoleBinding",
        "ConfigMap",
        "StatefulSet",
    ] {
        assert!(
            yaml.contains(&format!("kind: {kind}\n")),
            "{kind} not rendered"
        );
    }
    let credentials: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(network.dir().join("rpc.json"))?)?;
    let password = credentials["password"].as_str().ok_or("no password")?;
    assert!(
        !yaml.contains(password),
        "the RPC password is in the rendered manifests"
    );
    Ok(())
}

async fn exec(client: &Client, pod: &str, command: &[&str]) -> Outcome<bool> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), NS);
    let params = AttachParams::default()
        .container("monitor")
        .stdout(false)
        .stderr(true);
    let mut process = pods.exec(pod, command.to_vec(), &params).await?;
    let status = process.take_status().ok_or("no exec status")?.await;
    process.join().await?;
    Ok(status.is_some_and(|s| s.status.as_deref() == Some("Success")))
}

/// Runs `flow` on a new network of `kind`, then (whatever happened)
/// removes the monitor `name` and stops the network.
async fn with_network(
    admin: &Cluster,
    kind: &str,
    image: &str,
    name: &str,
    flow: impl AsyncFnOnce(&Network) -> Outcome,
) -> Outcome {
    let network = network(kind, image).await?;
    let result = flow(&network).await;
    let removed = deploy::remove(admin, name, Duration::from_secs(180)).await;
    let stopped = network.stop().await;
    result?;
    removed?;
    stopped?;
    assert!(
        deploy::status(admin, name).await.is_err(),
        "the monitor is gone"
    );
    Ok(())
}

async fn litecoind(admin: &Cluster) -> Outcome {
    println!("== litecoind: a persistent regtest network of {BLOCKS} blocks, a monitor of tmpnet/litecoind:latest");
    let name = "bootstrap-litecoind";
    with_network(admin, "bitcoind", "tmpnet/litecoind:latest", name, async |network| {
    let miner = rpc(&network.nodes()[0]).await?;
    miner.mine(BLOCKS).await?;
    let (height, _) = wait_for_same_tip(network, Duration::from_secs(60)).await?;
    assert_eq!(height, BLOCKS);
    let spec = monitor_spec(
        name,
        "tmpnet/litecoind:latest",
        &format!("getblockchaininfo:/initialblockdownload=false,/blocks=/headers,/headers={BLOCKS}"),
        &["-version"],
    )?;
    deploy::deploy(admin, network, &spec).await?;
    let first = wait_test(admin, name, "synced", None, Duration::from_secs(300)).await?;
    let test = first.current.clone().ok_or("no test")?;
    println!("  first test: {test:?}");
    assert!(test.version.as_deref().is_some_and(|v| v.contains("Litecoin")), "{test:?}");
    match test.status {
        TestStatus::Synced { disk_bytes, .. } => assert!(disk_bytes > 50_000, "{disk_bytes} bytes for {BLOCKS} blocks"),
        ref other => return Err(format!("{other:?}").into()),
    }
    assert!(first.history.is_empty());

    println!("== the image is rebuilt: a new digest of the same tag starts a new test on its own");
    let rebuild = env("REBUILD_LITECOIND")?;
    let status = std::process::Command::new("sh").arg("-c").arg(&rebuild).status()?;
    if !status.success() {
        return Err(format!("the rebuild command failed: {status}").into());
    }
    let second = wait_test(admin, name, "synced", Some(&test.image), Duration::from_secs(300)).await?;
    let past = second.history.last().ok_or("the first test is not in the history")?;
    assert_eq!(past.image, test.image);
    assert!(past.is_synced(), "{past:?}");
    println!("  second test: {:?}", second.current);
    cli(network, name, &test.image)?;
    Ok(())
    })
    .await
}

async fn refnode(admin: &Cluster, admin_client: &Client) -> Outcome {
    println!(
        "== refnode: the replicated store ({} of {KEYS} keys), the pod deleted mid-sync",
        KEYS - 1
    );
    let name = "bootstrap-refnode";
    with_network(
        admin,
        "refnode",
        "tmpnet/refnode:latest",
        name,
        async |network| {
            let uri = network
                .node_uris()
                .await?
                .into_iter()
                .next()
                .ok_or("no node URI")?;
            let http = reqwest::Client::builder().no_proxy().build()?;
            let put = |i: usize| {
                let (http, uri) = (http.clone(), uri.clone());
                async move {
                    http.put(format!("{uri}/ext/kv/key-{i}"))
                        .body(format!("value-{i}"))
                        .send()
                        .await?
                        .error_for_status()?;
                    Outcome::Ok(())
                }
            };
            for i in 1..KEYS {
                put(i).await?;
            }
            let spec = monitor_spec(
                name,
                "tmpnet/refnode:latest",
                &format!("/ext/info:/keys={KEYS}"),
                &["--version"],
            )?;
            deploy::deploy(admin, network, &spec).await?;
            let syncing = wait_test(admin, name, "syncing", None, Duration::from_secs(300)).await?;
            let test = syncing.current.ok_or("no test")?;
            let pod = format!("{name}-0");
            let pods: Api<Pod> = Api::namespaced(admin_client.clone(), NS);
            // The node's pod runs (the init container has finished): mark its data.
            wait_for(
                "the monitored pod runs",
                Duration::from_secs(120),
                || async {
                    let p = pods.get_opt(&pod).await?;
                    let phase = p
                        .and_then(|p| p.status)
                        .and_then(|s| s.phase)
                        .unwrap_or_default();
                    Ok(if phase == "Running" {
                        Ok(())
                    } else {
                        Err(phase)
                    })
                },
            )
            .await?;
            if !exec(admin_client, &pod, &["touch", "/volume/node/resume-marker"]).await? {
                return Err("cannot write the marker on the node's data".into());
            }
            let uid = pods.get(&pod).await?.metadata.uid;
            pods.delete(&pod, &DeleteParams::default()).await?;
            wait_for(
                "the pod is replaced and runs",
                Duration::from_secs(180),
                || async {
                    let p = pods.get_opt(&pod).await?;
                    let (new_uid, phase) = p.map_or((None, String::new()), |p| {
                        (
                            p.metadata.uid,
                            p.status.and_then(|s| s.phase).unwrap_or_default(),
                        )
                    });
                    Ok(if new_uid != uid && phase == "Running" {
                        Ok(())
                    } else {
                        Err(phase)
                    })
                },
            )
            .await?;
            let resumed = wait_for(
                "the test resumed with the interruption",
                Duration::from_secs(60),
                || async {
                    let r = results(admin, name).await?.and_then(|r| r.current);
                    Ok(match r {
                        Some(c) if !c.interruptions.is_empty() => Ok(c),
                        other => Err(format!("{other:?}")),
                    })
                },
            )
            .await?;
            assert_eq!(resumed.started_at, test.started_at, "the same test goes on");
            assert_eq!(resumed.image, test.image);
            assert!(
                resumed.interruptions[0].reason.contains("deleted"),
                "{:?}",
                resumed.interruptions
            );
            if !exec(
                admin_client,
                &pod,
                &["test", "-e", "/volume/node/resume-marker"],
            )
            .await?
            {
                return Err("the node's data was wiped on a resume".into());
            }
            put(KEYS).await?;
            let done = wait_test(admin, name, "synced", None, Duration::from_secs(120)).await?;
            let done = done.current.ok_or("no test")?;
            assert_eq!(done.started_at, test.started_at);
            assert_eq!(done.interruptions.len(), 1, "{:?}", done.interruptions);
            assert!(
                done.version
                    .as_deref()
                    .is_some_and(|v| v.contains("tmpnet-refnode")),
                "{done:?}"
            );
            println!("  refnode test: {done:?}");
            Ok(())
        },
    )
    .await
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let run = async {
        let mut settings = KubeSettings::new(NS, "");
        settings.kubeconfig = Some(PathBuf::from(env("MONITOR_KUBECONFIG")?));
        let admin = Cluster::connect(&settings).await?;
        let config = kube::Config::from_custom_kubeconfig(
            kube::config::Kubeconfig::read_from(env("MONITOR_KUBECONFIG")?)?,
            &kube::config::KubeConfigOptions::default(),
        )
        .await?;
        let admin_client = Client::try_from(config)?;
        litecoind(&admin).await?;
        refnode(&admin, &admin_client).await?;
        Outcome::Ok(())
    };
    match run.await {
        Ok(()) => {
            println!("bootstrap monitor e2e: passed");
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("bootstrap monitor e2e: FAILED: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
