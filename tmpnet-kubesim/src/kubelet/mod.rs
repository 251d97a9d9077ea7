//! The process kubelet: runs each pod's containers as local processes.
//!
//! - Images are not pulled: an image map (image name to a local executable)
//!   says what runs; an unmapped image leaves the pod Pending with
//!   `ErrImagePull`, then `ImagePullBackOff`, as on a real cluster.
//! - `command[0]`, when given, is used if it is an executable on this
//!   machine; otherwise the image's executable runs with `command[1..]` and
//!   `args`.
//! - Each pod gets its own loopback address (127.N.x.y) as its pod IP, so
//!   two pods can listen on the same port. A pod has no network namespace
//!   of its own, so a bind on all interfaces cannot be honoured: `0.0.0.0`
//!   in a container's command, args and env values is replaced by the pod
//!   IP (which is also where port-forward connects).
//! - Volumes are directories under the simulator's state dir (a PVC's
//!   directory outlives its pods). A container finds a mount by its path:
//!   every occurrence of a `mountPath` in its command, args and env values is
//!   replaced by the directory, and `KUBESIM_MOUNT_<VOLUME>` names it too.
//! - Each pod gets `KUBECONFIG` pointing at a kubeconfig for the simulator
//!   with a bearer token for its ServiceAccount (RBAC applies to it).
//! - Init containers run to completion, in order, before the containers.
//! - Readiness and liveness probes (httpGet, tcpSocket, exec) drive the
//!   pod's conditions; restartPolicy is honoured; exits keep their real exit
//!   codes; output goes to a log file per container, served by `pods/log`.
//! - A deleted pod's processes get SIGTERM, then SIGKILL after the grace
//!   period (`terminationGracePeriodSeconds`, at most 30 s); a new pod of the
//!   same name starts only once they are gone.

mod admit;
mod launch;
mod probes;
mod status;
mod stop;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::process::Child;

use crate::resources;
use crate::shared::Shared;

use self::launch::start;
use self::probes::probe_step;
use self::stop::{reap, stop_pod};

/// How often the kubelet looks at pods.
const TICK: Duration = Duration::from_millis(50);

/// The kubelet's settings.
#[derive(Debug, Clone, Default)]
pub struct KubeletConfig {
    /// Image name to local executable (for images that are not built).
    pub images: HashMap<String, PathBuf>,
    /// Images built for real, in an OCI layout; preferred to the map.
    pub store: Option<Arc<crate::images::ImageStore>>,
    /// Where pod directories, logs and volumes live.
    pub state_dir: PathBuf,
}

#[derive(Debug)]
struct Container {
    spec: Value,
    name: String,
    image: String,
    child: Option<Child>,
    pid: Option<u32>,
    started_at: Option<String>,
    /// (exit code, reason, finishedAt) of the last run.
    terminated: Option<(i32, &'static str, String)>,
    /// Why it is not running yet: (reason, message).
    waiting: Option<(&'static str, String)>,
    /// `imageID` of its status: the image's digest, when run from one.
    image_id: String,
    /// The tasks copying its output into its log.
    log_writers: Vec<tokio::task::JoinHandle<()>>,
    /// When its process exited, while its last output is still copied.
    exited: Option<(i32, Instant)>,
    /// Why its last start failed (the terminated state's message).
    start_error: Option<String>,
    restarts: u32,
    ready: bool,
    next_probe: Instant,
    next_liveness: Instant,
    /// A readiness or liveness check under way: (is liveness, result).
    probing: Option<tokio::task::JoinHandle<(bool, bool)>>,
    liveness_failures: u32,
    /// The process group of the last start (kept after the main process
    /// exits, so anything it left behind can be killed).
    group: Option<u32>,
    restart_at: Option<Instant>,
    log: PathBuf,
}

impl Container {
    fn new(spec: &Value, dir: &Path) -> Container {
        let name = str_at(spec, "/name").unwrap_or("main").to_owned();
        Container {
            spec: spec.clone(),
            image: str_at(spec, "/image").unwrap_or_default().to_owned(),
            log: dir.join(format!("{name}.log")),
            name,
            child: None,
            pid: None,
            started_at: None,
            terminated: None,
            waiting: None,
            image_id: String::new(),
            log_writers: Vec::new(),
            exited: None,
            start_error: None,
            restarts: 0,
            ready: false,
            next_probe: Instant::now(),
            next_liveness: Instant::now(),
            probing: None,
            liveness_failures: 0,
            group: None,
            restart_at: None,
        }
    }

    fn running(&self) -> bool {
        self.child.is_some()
    }
}

#[derive(Debug)]
struct PodRun {
    uid: String,
    namespace: String,
    name: String,
    ip: String,
    dir: PathBuf,
    grace: Duration,
    restart_policy: String,
    first_seen: Instant,
    init: Vec<Container>,
    containers: Vec<Container>,
    last_status: Value,
    mounts: BTreeMap<String, PathBuf>,
}

/// The kubelet: owns every pod process.
#[derive(Debug)]
pub struct Kubelet {
    shared: Arc<Shared>,
    config: KubeletConfig,
    pods: HashMap<String, PodRun>,
    /// Stops under way, by the stopped pod's `namespace/name`.
    stopping: Vec<(String, tokio::task::JoinHandle<()>)>,
}

fn pods_resource() -> &'static resources::Resource {
    resources::find("", "v1", "pods").unwrap_or(&resources::RESOURCES[1])
}

fn str_at<'a>(v: &'a Value, pointer: &str) -> Option<&'a str> {
    v.pointer(pointer).and_then(Value::as_str)
}

impl Kubelet {
    /// A kubelet for the simulator behind `shared`.
    pub fn new(shared: Arc<Shared>, config: KubeletConfig) -> Kubelet {
        Kubelet {
            shared,
            config,
            pods: HashMap::new(),
            stopping: Vec::new(),
        }
    }

    /// Runs until `stop` fires, then stops every pod process (all pods at
    /// once) and waits for the stops still under way.
    pub async fn run(mut self, mut stop: tokio::sync::oneshot::Receiver<()>) {
        let mut tick = tokio::time::interval(TICK);
        loop {
            tokio::select! {
                _ = &mut stop => break,
                _ = tick.tick() => self.reconcile().await,
            }
        }
        let groups = self.shared.groups.clone();
        for (_, run) in self.pods.drain() {
            let key = format!("{}/{}", run.namespace, run.name);
            self.stopping.push((
                key,
                tokio::spawn(stop_pod(run, Duration::from_secs(5), groups.clone())),
            ));
        }
        for (_, task) in self.stopping.drain(..) {
            let _ = task.await;
        }
    }

    /// A pod IP no other pod of this process has: one counter shared by
    /// every simulator in the process, in a 127.N.0.0/16 block chosen from
    /// the pid, so simulators in parallel test processes rarely meet.
    fn allocate_ip(&mut self) -> String {
        static NEXT: AtomicU32 = AtomicU32::new(2);
        let block = 10 + std::process::id() % 240;
        loop {
            let n = NEXT.fetch_add(1, Ordering::Relaxed) % 65_536;
            let (hi, lo) = (n / 256, n % 256);
            if lo != 0 && lo != 255 {
                return format!("127.{block}.{hi}.{lo}");
            }
        }
    }

    async fn reconcile(&mut self) {
        self.stopping.retain(|(_, t)| !t.is_finished());
        let (pods, _) = self.shared.store.list(pods_resource(), None, |_| true);
        let live: HashMap<String, Value> = pods
            .into_iter()
            .filter_map(|p| Some((str_at(&p, "/metadata/uid")?.to_owned(), p)))
            .collect();
        let gone: Vec<String> = self
            .pods
            .keys()
            .filter(|uid| !live.contains_key(*uid))
            .cloned()
            .collect();
        for uid in gone {
            if let Some(run) = self.pods.remove(&uid) {
                let grace = run.grace;
                let groups = self.shared.groups.clone();
                let key = format!("{}/{}", run.namespace, run.name);
                self.stopping
                    .push((key, tokio::spawn(stop_pod(run, grace, groups))));
            }
        }
        for (uid, pod) in live {
            if !self.pods.contains_key(&uid) {
                let phase = str_at(&pod, "/status/phase").unwrap_or("Pending");
                if phase == "Succeeded" || phase == "Failed" {
                    continue;
                }
                // A pod replacing one of the same name (a StatefulSet's)
                // starts only once the old one's processes are gone, as a
                // real kubelet and controller guarantee: at most one pod
                // per identity, e.g. per data volume lock.
                let key = format!(
                    "{}/{}",
                    str_at(&pod, "/metadata/namespace").unwrap_or("default"),
                    str_at(&pod, "/metadata/name").unwrap_or_default()
                );
                if self.stopping.iter().any(|(k, _)| *k == key) {
                    continue;
                }
                match self.admit(&uid, &pod) {
                    Ok(run) => {
                        self.pods.insert(uid.clone(), run);
                    }
                    Err(e) => {
                        tracing::warn!(pod = %uid, error = %e, "cannot set up a pod");
                        continue;
                    }
                }
            }
            if let Some(run) = self.pods.get_mut(&uid) {
                step(&self.shared, &self.config, run, &pod).await;
            }
        }
    }
}

/// Whether a container that exited with `code` is started again.
fn restarts(policy: &str, code: i32) -> bool {
    match policy {
        "Never" => false,
        "OnFailure" => code != 0,
        _ => true,
    }
}

/// Advances one pod: starts, reaps, restarts and probes its containers,
/// then writes its status when it changed.
async fn step(shared: &Arc<Shared>, config: &KubeletConfig, run: &mut PodRun, pod: &Value) {
    // Init containers, in order, each to completion.
    let mut failed_init = false;
    let init_pending = run
        .init
        .iter()
        .position(|c| c.terminated.as_ref().is_none_or(|t| t.0 != 0));
    if let Some(i) = init_pending {
        let policy = run.restart_policy.clone();
        let mut c = std::mem::replace(&mut run.init[i], Container::new(&Value::Null, &run.dir));
        reap(&mut c);
        match &c.terminated {
            Some((code, _, _))
                if *code != 0
                    && !restarts(
                        if policy == "Always" {
                            "OnFailure"
                        } else {
                            &policy
                        },
                        *code,
                    ) =>
            {
                failed_init = true;
            }
            Some((code, _, _)) if *code != 0 => {
                if c.restart_at.is_none() {
                    c.restart_at = Some(Instant::now() + backoff(c.restarts));
                }
                if c.restart_at.is_some_and(|t| Instant::now() >= t) {
                    c.restarts += 1;
                    c.terminated = None;
                    start(shared, config, run, pod, &mut c);
                }
            }
            Some(_) => {}
            None if !c.running() => start(shared, config, run, pod, &mut c),
            None => {}
        }
        run.init[i] = c;
    }
    let init_done = run
        .init
        .iter()
        .all(|c| c.terminated.as_ref().is_some_and(|t| t.0 == 0));
    if init_done && !failed_init {
        let policy = run.restart_policy.clone();
        let mut containers = std::mem::take(&mut run.containers);
        for c in &mut containers {
            reap(c);
            if let Some((code, _, _)) = &c.terminated {
                if !c.running() && restarts(&policy, *code) {
                    if c.restart_at.is_none() {
                        c.restart_at = Some(Instant::now() + backoff(c.restarts));
                    }
                    if c.restart_at.is_some_and(|t| Instant::now() >= t) {
                        c.restarts += 1;
                        start(shared, config, run, pod, c);
                    }
                }
            } else if !c.running() {
                start(shared, config, run, pod, c);
            }
            if c.running() {
                probe_step(c, &run.ip, &run.dir);
            }
        }
        run.containers = containers;
    }
    status::write(shared, run, failed_init);
}

fn backoff(restarts: u32) -> Duration {
    Duration::from_millis(200u64.saturating_mul(1 << restarts.min(6)).min(10_000))
}
