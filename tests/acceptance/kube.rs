//! Simulated kube: the Kubernetes runtime against tmpnet-kubesim, acting as
//! the least-privilege ServiceAccount of `deploy/rbac.yaml`. Everything here
//! is proven on the simulator, not on a real cluster.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod, Service};
use kube::api::{Api, ListParams};
use tmpnet_acceptance::*;
use tmpnet_fixture::model::{KubeSettings, NodeState};
use tmpnet_fixture::{Network, NetworkSpec};
use tmpnet_kubesim::{Options, Simulator};

const NAMESPACE: &str = "tmpnet";
const IMAGE: &str = "tmpnet/refnode:latest";

struct Cluster {
    sim: Simulator,
    /// Kubeconfig of the `tmpnet` ServiceAccount (RBAC enforced).
    kubeconfig: PathBuf,
    _dir: tempfile::TempDir,
}

async fn cluster() -> Cluster {
    let sim = Simulator::start_with(Options::default().image(IMAGE, refnode()))
        .await
        .unwrap();
    let rbac =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/rbac.yaml"))
            .unwrap();
    assert_eq!(
        sim.apply(&rbac).unwrap(),
        4,
        "namespace, account, role, binding"
    );
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = sim
        .write_service_account_kubeconfig(NAMESPACE, "tmpnet", &dir.path().join("sa"))
        .unwrap();
    Cluster {
        sim,
        kubeconfig,
        _dir: dir,
    }
}

fn settings(cluster: &Cluster) -> KubeSettings {
    with_kubeconfig(base_settings(), &cluster.kubeconfig)
}

fn with_kubeconfig(mut settings: KubeSettings, kubeconfig: &Path) -> KubeSettings {
    settings.kubeconfig = Some(kubeconfig.to_owned());
    settings
}

/// Settings with no kubeconfig yet.
fn base_settings() -> KubeSettings {
    let mut settings = KubeSettings::new(NAMESPACE, "");
    settings.ready_timeout_secs = 30;
    settings.stop_grace_secs = 5;
    settings
}

fn spec(root: &Path, count: usize, kube: KubeSettings) -> NetworkSpec {
    NetworkSpec::new(root, count).with_kube(kube)
}

/// Every object of tmpnet's, whatever its network.
const MANAGED: &str = "app.kubernetes.io/managed-by=tmpnet";

/// The objects of network `uuid`.
fn of_network(uuid: &str) -> String {
    format!("tmpnet.io/network-uuid={uuid}")
}

/// Names (`Kind/name`) of the objects matching the label `selector` still
/// in the namespace, as the admin sees them.
async fn leftovers(sim: &Simulator, selector: &str) -> Vec<String> {
    let client = sim.client().unwrap();
    let lp = ListParams::default().labels(selector);
    let mut left = Vec::new();
    macro_rules! collect {
        ($t:ty) => {
            for o in Api::<$t>::namespaced(client.clone(), NAMESPACE)
                .list(&lp)
                .await
                .unwrap()
                .items
            {
                left.push(format!(
                    "{}/{}",
                    stringify!($t),
                    o.metadata.name.unwrap_or_default()
                ));
            }
        };
    }
    collect!(StatefulSet);
    collect!(Pod);
    collect!(Service);
    collect!(PersistentVolumeClaim);
    collect!(k8s_openapi::api::core::v1::ConfigMap);
    collect!(k8s_openapi::api::core::v1::Secret);
    collect!(k8s_openapi::api::core::v1::Endpoints);
    left
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_network_lives_restarts_and_leaves_nothing_behind() {
    let c = cluster().await;
    let root = test_root();
    let network = Network::create(&spec(root.path(), 3, settings(&c))).unwrap();
    let uuid = network.config().uuid.clone();
    let requests_before = c.sim.requests();
    network.start(Duration::from_secs(60)).await.unwrap();
    let requests = c.sim.requests() - requests_before;

    // The objects: a StatefulSet per node whose serviceName is a real
    // headless Service, owned by the state ConfigMap, with the labels.
    let admin = c.sim.client().unwrap();
    let sets = Api::<StatefulSet>::namespaced(admin.clone(), NAMESPACE)
        .list(&ListParams::default().labels(&of_network(&uuid)))
        .await
        .unwrap()
        .items;
    assert_eq!(sets.len(), 3);
    let services: Api<Service> = Api::namespaced(admin.clone(), NAMESPACE);
    for set in &sets {
        let spec = set.spec.as_ref().unwrap();
        let svc = services
            .get(spec.service_name.as_deref().unwrap())
            .await
            .expect("the serviceName's Service exists");
        assert_eq!(
            svc.spec.unwrap().cluster_ip.as_deref(),
            Some("None"),
            "headless"
        );
        let owners = set.metadata.owner_references.as_ref().unwrap();
        assert_eq!(owners[0].kind, "ConfigMap");
        let labels = set.metadata.labels.as_ref().unwrap();
        assert_eq!(labels["app.kubernetes.io/name"], "refnode");
        assert!(labels.contains_key("tmpnet.io/node-id"));
    }

    // Reachable through port-forward, and the nodes talk to each other.
    let uris = network.node_uris().await.unwrap();
    assert_eq!(uris.len(), 3);
    assert!(uris.iter().all(|u| u.starts_with("http://127.0.0.1:")));
    let (code, _) = http("PUT", &format!("{}/ext/kv/color", uris[0]), "blue");
    assert_eq!(code, 200);
    let replicated = eventually(Duration::from_secs(10), || {
        uris.iter()
            .all(|u| http("GET", &format!("{u}/ext/kv/color"), "").1 == "blue")
    });
    assert!(replicated, "a write on one node reaches the others");

    // Stopping a node scales it to zero; its data claim stays.
    let victim = network.nodes()[2].clone();
    victim.stop().await.unwrap();
    assert_eq!(victim.state().await.unwrap(), NodeState::Stopped);
    let claims = Api::<PersistentVolumeClaim>::namespaced(admin.clone(), NAMESPACE)
        .list(&ListParams::default().labels(&format!("tmpnet.io/node-id={}", victim.id())))
        .await
        .unwrap()
        .items;
    assert_eq!(claims.len(), 1, "the stopped node keeps its data");

    // Restart: the stopped node starts, the others get new pods; data kept.
    let pods: Api<Pod> = Api::namespaced(admin.clone(), NAMESPACE);
    let uid_of = |pods: Vec<Pod>| -> Vec<String> {
        let mut u: Vec<String> = pods.into_iter().filter_map(|p| p.metadata.uid).collect();
        u.sort();
        u
    };
    let lp = ListParams::default().labels(&of_network(&uuid));
    let before = uid_of(pods.list(&lp).await.unwrap().items);
    network.restart(Duration::from_secs(60)).await.unwrap();
    let after = uid_of(pods.list(&lp).await.unwrap().items);
    assert_eq!(after.len(), 3);
    assert!(
        after.iter().all(|u| !before.contains(u)),
        "every pod was replaced"
    );
    let uris = network.node_uris().await.unwrap();
    assert_eq!(
        http("GET", &format!("{}/ext/kv/color", uris[2]), "").1,
        "blue"
    );

    // Another process can attach by name and sees the same nodes.
    let other_root = test_root();
    let name = network.cluster_name().unwrap();
    assert_eq!(name, format!("tmpnet-{}", &uuid[..8]));
    let attached = Network::attach(&settings(&c), &name, other_root.path())
        .await
        .unwrap();
    assert_eq!(attached.config().uuid, uuid);
    assert_eq!(attached.running_nodes().await.unwrap().len(), 3);

    // Stopping the network deletes everything it made.
    network.stop().await.unwrap();
    assert_eq!(
        leftovers(&c.sim, &of_network(&uuid)).await,
        Vec::<String>::new()
    );
    println!(
        "simulated: {requests} API requests to start 3 nodes ({:.1} per node)",
        requests as f64 / 3.0
    );
    c.sim.shutdown().await;
}

/// Starts a one-node network expected to fail; returns the error text, the
/// time it took and what the network left in the namespace after the
/// failed start cleaned up.
async fn failed_start(
    kube: KubeSettings,
    flags: &[(&str, &str)],
) -> (String, Duration, Vec<String>) {
    let c = cluster().await;
    let kube = with_kubeconfig(kube, &c.kubeconfig);
    let root = test_root();
    let mut spec = spec(root.path(), 1, kube);
    spec.default_flags = flags
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let network = Network::create(&spec).unwrap();
    let started = Instant::now();
    let err = network.start(Duration::from_secs(60)).await.unwrap_err();
    let took = started.elapsed();
    let left = leftovers(&c.sim, &of_network(&network.config().uuid)).await;
    c.sim.shutdown().await;
    (err.to_string(), took, left)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_image_that_cannot_be_pulled_fails_at_once_naming_node_and_image() {
    let mut kube = base_settings();
    kube.image = "registry.invalid/nope:1".into();
    let (err, took, left) = failed_start(kube, &[]).await;
    assert!(err.contains("ErrImagePull"), "{err}");
    assert!(
        err.contains("registry.invalid/nope:1") && err.contains("--kube-image"),
        "{err}"
    );
    assert!(
        err.contains("failed to start") && err.contains("ref-"),
        "{err}"
    );
    assert!(
        took < Duration::from_secs(20),
        "no wait for the timeout: {took:?}"
    );
    assert_eq!(left, Vec::<String>::new(), "a failed start leaves nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pod_that_never_becomes_ready_times_out_with_its_reason() {
    let mut kube = base_settings();
    kube.ready_timeout_secs = 3;
    // The node waits 10 minutes before binding: its readiness probe fails.
    let (err, took, left) = failed_start(kube, &[("fault-start-delay-ms", "600000")]).await;
    assert!(err.contains("not ready after 3s"), "{err}");
    assert!(err.contains("ref-") && err.contains("pod tmpnet-"), "{err}");
    assert!(took < Duration::from_secs(15), "{took:?}");
    assert_eq!(left, Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_crashes_reports_its_exit_code_and_log() {
    let base = base_settings();
    let (err, took, left) = failed_start(base, &[("fault-exit-during-start", "3")]).await;
    assert!(err.contains("exited with code 3"), "{err}");
    assert!(
        err.contains("exiting during start"),
        "the log tail is quoted: {err}"
    );
    assert!(took < Duration::from_secs(20), "{took:?}");
    assert_eq!(left, Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_permissions_name_the_rbac_fix() {
    let c = cluster().await;
    let dir = tempfile::tempdir().unwrap();
    // An account with no Role bound.
    let kubeconfig = c
        .sim
        .write_service_account_kubeconfig(NAMESPACE, "nobody", &dir.path().join("k"))
        .unwrap();
    let root = test_root();
    let kube = with_kubeconfig(settings(&c), &kubeconfig);
    let network = Network::create(&spec(root.path(), 1, kube.clone())).unwrap();
    let err = network
        .start(Duration::from_secs(30))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("forbidden") || err.contains("Forbidden"),
        "{err}"
    );
    assert!(err.contains("deploy/rbac.yaml"), "{err}");

    // Asked before anything is made: the checked spec names every missing
    // grant, and tmpnetctl writes no network directory.
    let root = test_root();
    let err = spec(root.path(), 1, kube.clone())
        .check()
        .await
        .unwrap_err()
        .to_string();
    for grant in [
        "create configmaps",
        "create statefulsets.apps",
        "get pods/log",
        "create pods/portforward",
    ] {
        assert!(err.contains(grant), "{grant} missing from: {err}");
    }
    assert!(err.contains("deploy/rbac.yaml"), "{err}");
    let kubeconfig = kubeconfig.to_str().unwrap().to_owned();
    let cli_root = root.path().to_owned();
    let out = tokio::task::spawn_blocking(move || {
        ctl_cmd(
            &cli_root,
            &[
                "start-network",
                "--runtime",
                "kube",
                "--kubeconfig",
                &kubeconfig,
            ],
        )
        .output()
        .unwrap()
    })
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(err.contains("create statefulsets.apps"), "{err}");
    assert!(
        !root.path().join("networks").exists(),
        "nothing written: {:?}",
        network_dirs(root.path())
    );
    assert!(
        !err.contains("pods/exec"),
        "exec is asked only for a kind whose health command runs in its pods: {err}"
    );
    // The account of deploy/rbac.yaml passes the same check.
    spec(root.path(), 1, settings(&c)).check().await.unwrap();

    // A kind file whose health command runs in the node's pod needs exec
    // too; its program need not be on this machine (the image has it).
    let kind = dir.path().join("probed.toml");
    std::fs::write(
        &kind,
        "name = \"probed\"\n[binary]\nname = \"probed-daemon\"\n[ports]\napi = \"rpc\"\n\
         [health]\ncheck = \"command\"\ncommand = [\"probed-cli-nowhere-here\", \"{uri}\"]\n\
         [kubernetes]\nimage = \"me/probed:1\"\nports = { rpc = 9000 }\n",
    )
    .unwrap();
    let err = spec(root.path(), 1, kube)
        .with_kind_file(&kind)
        .check()
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("get pods/exec") && err.contains("create pods/exec"),
        "{err}"
    );
    spec(root.path(), 1, settings(&c))
        .with_kind_file(&kind)
        .check()
        .await
        .unwrap();
    c.sim.shutdown().await;
}

/// The fixture suite in kube mode against the simulator, as the RBAC
/// account.
fn kube_suite(c: &Cluster, root: &Path, args: &[&str]) -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_fixture-suite"));
    cmd.args(args)
        .env("TMPNET_ROOT_DIR", root)
        .env("E2E_USE_KUBERNETES", "1")
        .env("KUBECONFIG", &c.kubeconfig)
        .env("E2E_NODE_COUNT", "2");
    for var in [
        "E2E_NODE_PATH",
        "TMPNET_NETWORK_DIR",
        "NEXTEST_RUN_ID",
        "NEXTEST_TEST_GLOBAL_SLOT",
        "E2E_REUSE_NETWORK",
        "E2E_RESTART_NETWORK",
        "E2E_STOP_NETWORK",
        "E2E_START_NETWORK",
        "TMPNET_KUBE_NAMESPACE",
        "TMPNET_KUBE_IMAGE",
    ] {
        cmd.env_remove(var);
    }
    cmd
}

/// How many of tmpnet's pods run.
async fn tmpnet_pods(sim: &Simulator) -> usize {
    leftovers(sim, MANAGED)
        .await
        .iter()
        .filter(|o| o.starts_with("Pod/"))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_harness_run_is_reaped_by_the_next_run() {
    let c = cluster().await;
    let root = test_root();
    let started = root.path().join("hang-started.txt");
    let mut child = kube_suite(&c, root.path(), &["slow::hangs", "--exact"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::fs::read_to_string(&started).unwrap_or_default().trim() != "true" {
        assert!(Instant::now() < deadline, "the hanging test never started");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        tmpnet_pods(&c.sim).await,
        3,
        "shared (2) and private (1) nodes run"
    );
    kill(child.id(), libc::SIGKILL);
    child.wait().unwrap();
    assert_eq!(tmpnet_pods(&c.sim).await, 3, "nothing stopped them");

    let out = tokio::task::spawn_blocking({
        let mut cmd = kube_suite(&c, root.path(), &["ok::passes", "--exact"]);
        move || cmd.output().unwrap()
    })
    .await
    .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert_eq!(
        err.matches("left running by an earlier, killed run")
            .count(),
        2,
        "{err}"
    );
    assert_eq!(
        leftovers(&c.sim, MANAGED).await,
        Vec::<String>::new(),
        "every object of the killed run's networks is gone"
    );
    c.sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tmpnetctl_drives_a_kube_network_from_start_to_delete() {
    let c = cluster().await;
    let root = test_root();
    let kubeconfig = c.kubeconfig.to_str().unwrap().to_owned();
    let ctl_kube = move |root: PathBuf, args: Vec<String>| {
        tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            ctl_cmd(&root, &args)
                .env("KUBECONFIG", "/nonexistent")
                .output()
                .unwrap()
        })
    };
    let args = |a: &[&str]| a.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    let out = ctl_kube(
        root.path().to_owned(),
        args(&[
            "start-network",
            "--runtime",
            "kube",
            "--node-count",
            "2",
            "--kubeconfig",
            &kubeconfig,
        ]),
    )
    .await
    .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let name = text
        .split_whitespace()
        .find(|w| w.starts_with("tmpnet-") && w.len() == "tmpnet-".len() + 8)
        .unwrap_or_else(|| panic!("no network name in {text}"))
        .to_owned();
    assert!(text.contains("namespace tmpnet"), "{text}");
    // Later commands reach the cluster through the recorded kubeconfig,
    // not the environment (KUBECONFIG points nowhere).
    let out = ctl_kube(root.path().to_owned(), args(&["check-health"]))
        .await
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("all 2 nodes healthy"),
        "{}",
        stdout(&out)
    );
    // Both pods' logs, through the API, each line with its node.
    let out = ctl_kube(root.path().to_owned(), args(&["logs"]))
        .await
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let served: Vec<&str> = text
        .lines()
        .filter(|l| l.contains(" | ") && l.contains("serving"))
        .map(|l| l.split(" | ").next().unwrap_or_default().trim())
        .collect();
    assert_eq!(served.len(), 2, "{text}");
    assert_ne!(served[0], served[1]);
    // Another root attaches by name and sees the same network.
    let other = test_root();
    let out = ctl_kube(
        other.path().to_owned(),
        args(&[
            "attach",
            "--network-name",
            &name,
            "--kubeconfig",
            &kubeconfig,
        ]),
    )
    .await
    .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out).matches("http://127.0.0.1:").count(),
        2,
        "{}",
        stdout(&out)
    );
    let out = ctl_kube(root.path().to_owned(), args(&["stop-network"]))
        .await
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(leftovers(&c.sim, MANAGED).await, Vec::<String>::new());
    c.sim.shutdown().await;
}

/// The reference node described by a kind file with a `[kubernetes]`
/// section, as a user would describe their own daemon's image.
const KIND_FILE_IMAGE: &str = "example/refnode-by-file:1";
/// The reference node's kind file with a `[kubernetes]` section added.
const POD_SECTION: &str = r#"
[kubernetes]
image = "example/refnode-by-file:1"
probe_path = "/ext/health/liveness"

[kubernetes.ports]
http = 9650
p2p = 9651

[kubernetes.flags]
p2p-advertise-host = "{host}"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kind_file_runs_in_pods_and_travels_with_its_network() {
    let sim = Simulator::start_with(
        Options::default()
            .image(IMAGE, refnode())
            .image(KIND_FILE_IMAGE, refnode()),
    )
    .await
    .unwrap();
    let rbac =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/rbac.yaml"))
            .unwrap();
    sim.apply(&rbac).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = sim
        .write_service_account_kubeconfig(NAMESPACE, "tmpnet", &dir.path().join("sa"))
        .unwrap();
    let kind_file = write_kind(
        dir.path(),
        "refnode-in-pods.toml",
        &format!("{REFNODE_KIND_FILE}{POD_SECTION}"),
    );
    let root = test_root();
    let kube = with_kubeconfig(base_settings(), &kubeconfig);
    let network =
        Network::create(&spec(root.path(), 3, kube.clone()).with_kind_file(&kind_file)).unwrap();
    let uuid = network.config().uuid.clone();
    network.start(Duration::from_secs(60)).await.unwrap();

    // The pods run the kind file's image with its flags as arguments.
    let pods: Vec<Pod> = Api::namespaced(sim.client().unwrap(), NAMESPACE)
        .list(&ListParams::default().labels(&of_network(&uuid)))
        .await
        .unwrap()
        .items;
    assert_eq!(pods.len(), 3);
    for pod in &pods {
        let container = &pod.spec.as_ref().unwrap().containers[0];
        assert_eq!(container.image.as_deref(), Some(KIND_FILE_IMAGE));
        let args = container.args.clone().unwrap_or_default().join(" ");
        assert!(
            args.contains("http-port=9650") && args.contains("db-dir=/data"),
            "{args}"
        );
        assert!(args.contains("p2p-advertise-host=$(POD_IP)"), "{args}");
    }
    let uris = network.node_uris().await.unwrap();
    let (code, _) = http("PUT", &format!("{}/ext/kv/color", uris[0]), "green");
    assert_eq!(code, 200);
    assert!(
        eventually(Duration::from_secs(10), || uris.iter().all(|u| http(
            "GET",
            &format!("{u}/ext/kv/color"),
            ""
        )
        .1
            == "green")),
        "a write on one pod reaches the others"
    );

    // Attached from another root, with no kind file given: the kind comes
    // with the network's state.
    let other_root = test_root();
    let attached = Network::attach(&kube, &network.cluster_name().unwrap(), other_root.path())
        .await
        .unwrap();
    assert_eq!(attached.kind().name(), "refnode-by-file");
    assert!(attached.dir().join("kind.toml").is_file());
    let health = attached.check_health().await.unwrap();
    assert_eq!(health.len(), 3);
    assert!(health.iter().all(|s| s.is_healthy()), "{health:?}");

    attached.stop().await.unwrap();
    assert_eq!(
        leftovers(&sim, &of_network(&uuid)).await,
        Vec::<String>::new()
    );
    sim.shutdown().await;
}
