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

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{json, Value};
use tokio::process::{Child, Command};

use crate::logs;
use crate::paths::{mount_env, pod_dir};
use crate::resources;
use crate::shared::Shared;
use crate::store::now_rfc3339;

/// How often the kubelet looks at pods.
const TICK: Duration = Duration::from_millis(50);
/// The longest grace period it grants.
const MAX_GRACE: Duration = Duration::from_secs(30);
/// How long after an unmapped image the reason turns to ImagePullBackOff.
const PULL_BACKOFF_AFTER: Duration = Duration::from_secs(1);

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

fn grace_of(pod: &Value) -> Duration {
    pod.pointer("/spec/terminationGracePeriodSeconds")
        .and_then(Value::as_u64)
        .map_or(MAX_GRACE, |s| Duration::from_secs(s).min(MAX_GRACE))
}

/// Decodes standard base64 (Secret data, which may be wrapped); `None`
/// if malformed.
fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    STANDARD.decode(compact).ok()
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

    fn admit(&mut self, uid: &str, pod: &Value) -> std::io::Result<PodRun> {
        let namespace = str_at(pod, "/metadata/namespace")
            .unwrap_or("default")
            .to_owned();
        let name = str_at(pod, "/metadata/name").unwrap_or_default().to_owned();
        let dir = pod_dir(&self.config.state_dir, &namespace, &name, uid);
        std::fs::create_dir_all(&dir)?;
        let mut mounts = BTreeMap::new();
        for volume in pod
            .pointer("/spec/volumes")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let vname = str_at(volume, "/name").unwrap_or_default().to_owned();
            let path = match str_at(volume, "/persistentVolumeClaim/claimName") {
                Some(claim) => self
                    .config
                    .state_dir
                    .join("pvcs")
                    .join(&namespace)
                    .join(claim),
                None => dir.join("volumes").join(&vname),
            };
            std::fs::create_dir_all(&path)?;
            // Writable by any container user, as emptyDir and the local
            // volume provisioners make them.
            std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o777))?;
            self.fill_volume(volume, &namespace, &path)?;
            mounts.insert(vname, path);
        }
        // The pod's ServiceAccount token, in a kubeconfig of its own.
        let account = str_at(pod, "/spec/serviceAccountName").unwrap_or("default");
        let token = self.shared.rbac.issue(&namespace, account);
        let kubeconfig = crate::kubeconfig::render_with_token(
            &format!("http://{}", self.shared.address),
            &namespace,
            Some(&token),
        );
        std::fs::write(dir.join("kubeconfig"), kubeconfig)?;
        let specs = |key: &str| -> Vec<Container> {
            pod.pointer(&format!("/spec/{key}"))
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(|c| Container::new(c, &dir))
                .collect()
        };
        Ok(PodRun {
            uid: uid.to_owned(),
            ip: self.allocate_ip(),
            grace: grace_of(pod),
            restart_policy: str_at(pod, "/spec/restartPolicy")
                .unwrap_or("Always")
                .to_owned(),
            first_seen: Instant::now(),
            init: specs("initContainers"),
            containers: specs("containers"),
            last_status: Value::Null,
            namespace,
            name,
            dir,
            mounts,
        })
    }

    /// Writes a configMap or secret volume's keys as files.
    fn fill_volume(&self, volume: &Value, namespace: &str, path: &Path) -> std::io::Result<()> {
        let source = if let Some(name) = str_at(volume, "/configMap/name") {
            resources::find("", "v1", "configmaps").map(|r| (r, name, false))
        } else if let Some(name) = str_at(volume, "/secret/secretName") {
            resources::find("", "v1", "secrets").map(|r| (r, name, true))
        } else {
            None
        };
        let Some((res, name, secret)) = source else {
            return Ok(());
        };
        let Ok(object) = self.shared.store.get(res, Some(namespace), name) else {
            return Ok(());
        };
        for (key, value) in object
            .get("data")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            let text = value.as_str().unwrap_or_default();
            let bytes = if secret {
                base64_decode(text).unwrap_or_default()
            } else {
                text.as_bytes().to_vec()
            };
            std::fs::write(path.join(key), bytes)?;
        }
        Ok(())
    }
}

/// Looks up `key` in a ConfigMap's data or a Secret's (decoded) data.
fn lookup(shared: &Shared, ns: &str, plural: &str, name: &str, key: &str) -> Option<String> {
    let res = resources::find("", "v1", plural)?;
    let object = shared.store.get(res, Some(ns), name).ok()?;
    let raw = object.get("data")?.get(key)?.as_str()?;
    if plural == "secrets" {
        String::from_utf8(base64_decode(raw)?).ok()
    } else {
        Some(raw.to_owned())
    }
}

/// A container's environment, resolved: (name, value, whether it is a
/// literal `env[].value`, the only kind Kubernetes expands `$(VAR)` in).
fn environment(
    shared: &Shared,
    run: &PodRun,
    pod: &Value,
    spec: &Value,
) -> Vec<(String, String, bool)> {
    let mut env = Vec::new();
    let ns = run.namespace.as_str();
    for from in spec
        .get("envFrom")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let prefix = str_at(from, "/prefix").unwrap_or_default();
        let (plural, name) = match (
            str_at(from, "/configMapRef/name"),
            str_at(from, "/secretRef/name"),
        ) {
            (Some(n), _) => ("configmaps", n),
            (_, Some(n)) => ("secrets", n),
            _ => continue,
        };
        let Some(res) = resources::find("", "v1", plural) else {
            continue;
        };
        let Ok(object) = shared.store.get(res, Some(ns), name) else {
            continue;
        };
        for key in object
            .get("data")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .map(|(k, _)| k)
        {
            if let Some(value) = lookup(shared, ns, plural, name, key) {
                env.push((format!("{prefix}{key}"), value, false));
            }
        }
    }
    for var in spec
        .get("env")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let Some(name) = str_at(var, "/name") else {
            continue;
        };
        let value = if let Some(v) = str_at(var, "/value") {
            Some(v.to_owned())
        } else if let Some(path) = str_at(var, "/valueFrom/fieldRef/fieldPath") {
            match path {
                "status.podIP" => Some(run.ip.clone()),
                "status.hostIP" => Some("127.0.0.1".to_owned()),
                "spec.nodeName" => Some("kubesim".to_owned()),
                _ => pod
                    .pointer(&format!("/{}", path.replace('.', "/")))
                    .and_then(Value::as_str)
                    .map(str::to_owned),
            }
        } else if let Some(cm) = var.pointer("/valueFrom/configMapKeyRef") {
            lookup(
                shared,
                ns,
                "configmaps",
                str_at(cm, "/name").unwrap_or_default(),
                str_at(cm, "/key").unwrap_or_default(),
            )
        } else if let Some(secret) = var.pointer("/valueFrom/secretKeyRef") {
            lookup(
                shared,
                ns,
                "secrets",
                str_at(secret, "/name").unwrap_or_default(),
                str_at(secret, "/key").unwrap_or_default(),
            )
        } else {
            None
        };
        if let Some(value) = value {
            env.push((name.to_owned(), value, str_at(var, "/value").is_some()));
        }
    }
    env
}

/// Expands `$(NAME)` references to the container's variables, as the
/// kubelet does in command, args and env values (`$$(` stays literal).
fn expand(text: &str, vars: &[(String, String)]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("$(") {
        if rest[..i].ends_with('$') {
            out.push_str(&rest[..i]);
            out.push('(');
            rest = &rest[i + 2..];
            continue;
        }
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        match after.find(')') {
            Some(end) => {
                let name = &after[..end];
                match vars.iter().rev().find(|(k, _)| k == name) {
                    Some((_, v)) => out.push_str(v),
                    None => {
                        out.push_str("$(");
                        out.push_str(name);
                        out.push(')');
                    }
                }
                rest = &after[end + 1..];
            }
            None => {
                out.push_str(&rest[i..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// Replaces each mount path in `text` by its directory, and the wildcard
/// address by the pod's IP.
fn remap(text: &str, mounts: &[(String, PathBuf)], pod_ip: &str) -> String {
    let mut out = text.replace("0.0.0.0", pod_ip);
    for (mount_path, dir) in mounts {
        if !mount_path.is_empty() && mount_path != "/" {
            out = out.replace(mount_path.as_str(), &dir.display().to_string());
        }
    }
    out
}

/// What one start of a container runs.
struct Launch {
    program: PathBuf,
    argv: Vec<String>,
    env: Vec<(String, String)>,
    /// Runs inside an image's root filesystem (else as a host process in
    /// the pod's directory).
    isolation: Option<crate::sandbox::Sandbox>,
}

/// Starts (or restarts) one container: from its image when the image
/// layout holds it, else the image map's executable; an image in neither
/// leaves it waiting.
fn start(shared: &Shared, config: &KubeletConfig, run: &PodRun, pod: &Value, c: &mut Container) {
    let launch = match config.store.as_ref().filter(|s| s.has(&c.image)) {
        Some(store) => match store.get(&c.image) {
            None => {
                c.waiting = Some(("ContainerCreating", "unpacking the image".into()));
                return;
            }
            Some(Err(e)) => {
                c.waiting = Some(("ErrImagePull", e));
                return;
            }
            Some(Ok(image)) => {
                c.image_id = image_id(&c.image, &image.digest);
                match image_launch(shared, run, pod, c, &image) {
                    Ok(launch) => launch,
                    Err(e) => {
                        c.waiting = Some(("CreateContainerError", e));
                        return;
                    }
                }
            }
        },
        None => match config.images.get(&c.image) {
            Some(program) => mapped_launch(shared, run, pod, c, program),
            None => {
                let reason = if run.first_seen.elapsed() < PULL_BACKOFF_AFTER {
                    "ErrImagePull"
                } else {
                    "ImagePullBackOff"
                };
                c.waiting = Some((
                    reason,
                    format!(
                        "image {:?} is neither in the simulator's image layout nor in its image map",
                        c.image
                    ),
                ));
                return;
            }
        },
    };
    spawn(shared, run, c, launch);
}

/// `docker.io/NAME@DIGEST`, as a containerd kubelet reports `imageID`.
fn image_id(image: &str, digest: &str) -> String {
    let name = crate::images::normalize(image);
    let repo = name.rsplit_once(':').map_or(name.as_str(), |(r, _)| r);
    format!("docker.io/{repo}@{digest}")
}

/// The container's volume mounts: (mount path, host directory).
fn mounts_of(run: &PodRun, c: &Container) -> Vec<(String, PathBuf)> {
    c.spec
        .get("volumeMounts")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|m| {
            let dir = run.mounts.get(str_at(m, "/name")?)?;
            Some((str_at(m, "/mountPath")?.to_owned(), dir.clone()))
        })
        .collect()
}

/// A container of a mapped image: a host process; mount paths in its
/// arguments and environment are rewritten to the volumes' directories.
fn mapped_launch(
    shared: &Shared,
    run: &PodRun,
    pod: &Value,
    c: &Container,
    image_program: &Path,
) -> Launch {
    let mounts = mounts_of(run, c);
    let strings = |key: &str| -> Vec<String> {
        c.spec
            .get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str())
            .map(|s| remap(s, &mounts, &run.ip))
            .collect()
    };
    let mut vars: Vec<(String, String)> = Vec::new();
    for (key, value, _) in environment(shared, run, pod, &c.spec) {
        let value = expand(&remap(&value, &mounts, &run.ip), &vars);
        vars.push((key, value));
    }
    let (command, args) = (strings("command"), strings("args"));
    let command: Vec<String> = command.iter().map(|a| expand(a, &vars)).collect();
    let args: Vec<String> = args.iter().map(|a| expand(a, &vars)).collect();
    let (program, mut argv) = match command.split_first() {
        Some((first, rest)) if Path::new(first).is_absolute() && Path::new(first).is_file() => {
            (PathBuf::from(first), rest.to_vec())
        }
        Some((_, rest)) => (image_program.to_owned(), rest.to_vec()),
        None => (image_program.to_owned(), Vec::new()),
    };
    argv.extend(args);
    let mut env = vec![
        (
            "KUBECONFIG".to_owned(),
            run.dir.join("kubeconfig").display().to_string(),
        ),
        ("HOSTNAME".to_owned(), run.name.clone()),
    ];
    for (path, dir) in &mounts {
        let volume = c
            .spec
            .get("volumeMounts")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .find(|m| str_at(m, "/mountPath") == Some(path))
            .and_then(|m| str_at(m, "/name"))
            .unwrap_or_default();
        env.push((mount_env(volume), dir.display().to_string()));
    }
    env.extend(vars);
    Launch {
        program,
        argv,
        env,
        isolation: None,
    }
}

/// A container of an image in the layout: the image's entrypoint, command,
/// environment, working directory and user, as Kubernetes combines them
/// with the container's, run on an overlay of the image's root filesystem
/// with the pod's volumes mounted at their paths.
fn image_launch(
    shared: &Shared,
    run: &PodRun,
    pod: &Value,
    c: &Container,
    image: &crate::images::Image,
) -> Result<Launch, String> {
    let mut vars: Vec<(String, String)> = image.env.clone();
    vars.push(("HOSTNAME".to_owned(), run.name.clone()));
    vars.push((
        "KUBECONFIG".to_owned(),
        crate::sandbox::KUBECONFIG_PATH.to_owned(),
    ));
    // The container's own variables, in order: what `$(VAR)` in its
    // literal values, command and args may name (not the image's).
    let mut own: Vec<(String, String)> = Vec::new();
    for (key, value, literal) in environment(shared, run, pod, &c.spec) {
        let value = if literal {
            expand(&remap(&value, &[], &run.ip), &own)
        } else {
            value
        };
        own.retain(|(k, _)| *k != key);
        own.push((key, value));
    }
    for (key, value) in &own {
        vars.retain(|(k, _)| k != key);
        vars.push((key.clone(), value.clone()));
    }
    let strings = |key: &str| -> Option<Vec<String>> {
        let list = c.spec.get(key)?.as_array()?;
        Some(
            list.iter()
                .filter_map(Value::as_str)
                .map(|s| expand(&remap(s, &[], &run.ip), &own))
                .collect(),
        )
    };
    // Kubernetes: `command` replaces the entrypoint (and drops the image's
    // Cmd), `args` replaces the Cmd.
    let (mut argv, cmd) = match strings("command") {
        Some(command) => (command, Vec::new()),
        None => (image.entrypoint.clone(), image.cmd.clone()),
    };
    argv.extend(strings("args").unwrap_or(cmd));
    let Some(first) = argv.first().cloned() else {
        return Err("the image has no entrypoint or command, and the container gives none".into());
    };
    let path = vars
        .iter()
        .rev()
        .find(|(k, _)| k == "PATH")
        .map_or("/usr/local/bin:/usr/bin:/bin", |(_, v)| v.as_str())
        .to_owned();
    let program = crate::sandbox::resolve(&image.rootfs, &first, &path)
        .ok_or_else(|| format!("{first:?} is not an executable in the image (PATH={path})"))?;
    let working_dir = str_at(&c.spec, "/workingDir")
        .unwrap_or(&image.working_dir)
        .to_owned();
    let context = |key: &str| {
        c.spec
            .pointer(&format!("/securityContext/{key}"))
            .or_else(|| pod.pointer(&format!("/spec/securityContext/{key}")))
            .and_then(Value::as_u64)
            .and_then(|n| u32::try_from(n).ok())
    };
    let (uid, gid) = crate::sandbox::user(&image.rootfs, &image.user)?;
    let uid = context("runAsUser").unwrap_or(uid);
    let gid = context("runAsGroup").unwrap_or(gid);
    let non_root = c
        .spec
        .pointer("/securityContext/runAsNonRoot")
        .or_else(|| pod.pointer("/spec/securityContext/runAsNonRoot"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    if non_root && uid == 0 {
        return Err("container has runAsNonRoot and image will run as root".into());
    }
    if non_root
        && context("runAsUser").is_none()
        && image
            .user
            .split(':')
            .next()
            .is_some_and(|u| u.parse::<u32>().is_err())
    {
        return Err(format!("container has runAsNonRoot and image has non-numeric user ({}), cannot verify user is non-root", image.user));
    }
    let mut binds: Vec<(PathBuf, String)> = mounts_of(run, c)
        .into_iter()
        .map(|(path, dir)| (dir, path))
        .collect();
    binds.push((
        run.dir.join("kubeconfig"),
        crate::sandbox::KUBECONFIG_PATH.to_owned(),
    ));
    let sandbox = crate::sandbox::Sandbox {
        lower: image.rootfs.clone(),
        dir: run.dir.join("containers").join(&c.name),
        binds,
        working_dir,
        uid,
        gid,
    };
    Ok(Launch {
        program: PathBuf::from(program),
        argv: argv[1..].to_vec(),
        env: vars,
        isolation: Some(sandbox),
    })
}

/// Spawns a container's process in its own process group, its output
/// timestamped line by line into the container's log.
fn spawn(shared: &Shared, run: &PodRun, c: &mut Container, launch: Launch) {
    use std::os::unix::process::CommandExt as _;
    let mut cmd = Command::new(&launch.program);
    cmd.args(&launch.argv)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env_clear()
        .kill_on_drop(true);
    if launch.isolation.is_none() {
        // A host process sees the simulator's environment (its PATH, ...).
        cmd.envs(std::env::vars_os()).current_dir(&run.dir);
    }
    for (key, value) in &launch.env {
        cmd.env(key, value);
    }
    cmd.as_std_mut().process_group(0);
    if let Some(sandbox) = &launch.isolation {
        if let Err(e) = sandbox.prepare(cmd.as_std_mut()) {
            c.waiting = Some(("CreateContainerError", e));
            return;
        }
    }
    match cmd.spawn() {
        Ok(mut child) => {
            c.log_writers = logs::capture(&c.log, child.stdout.take(), child.stderr.take());
            c.pid = child.id();
            c.group = child.id();
            if let Some(pid) = c.pid {
                shared
                    .groups
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(pid);
            }
            c.child = Some(child);
            c.started_at = Some(now_rfc3339());
            c.waiting = None;
            c.start_error = None;
            c.restart_at = None;
            c.ready = false;
            c.liveness_failures = 0;
            c.next_probe = Instant::now() + probe_delay(&c.spec, "readinessProbe");
            c.next_liveness = Instant::now() + probe_delay(&c.spec, "livenessProbe");
        }
        Err(e) => {
            tracing::warn!(program = %launch.program.display(), error = %e, "cannot start a container");
            c.waiting = None;
            c.start_error = Some(format!("cannot start {}: {e}", launch.program.display()));
            c.terminated = Some((128, "StartError", now_rfc3339()));
            c.restart_at = Some(Instant::now() + backoff(c.restarts));
        }
    }
}

fn probe_delay(spec: &Value, kind: &str) -> Duration {
    Duration::from_secs(
        spec.pointer(&format!("/{kind}/initialDelaySeconds"))
            .and_then(Value::as_u64)
            .unwrap_or(0),
    )
}

fn probe_period(spec: &Value, kind: &str) -> Duration {
    Duration::from_secs(
        spec.pointer(&format!("/{kind}/periodSeconds"))
            .and_then(Value::as_u64)
            .unwrap_or(1)
            .max(1),
    )
}

/// The port a probe names (a number, or a container port's name).
fn probe_port(spec: &Value, port: &Value) -> Option<u16> {
    if let Some(n) = port.as_u64() {
        return u16::try_from(n).ok();
    }
    let name = port.as_str()?;
    if let Ok(n) = name.parse() {
        return Some(n);
    }
    spec.get("ports")?
        .as_array()?
        .iter()
        .find(|p| str_at(p, "/name") == Some(name))
        .and_then(|p| p.get("containerPort")?.as_u64())
        .and_then(|n| u16::try_from(n).ok())
}

/// Runs one probe; `true` when it passes.
async fn probe(probe: &Value, spec: &Value, ip: &str, dir: &Path) -> bool {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let timeout = Duration::from_secs(
        probe
            .get("timeoutSeconds")
            .and_then(Value::as_u64)
            .unwrap_or(1)
            .max(1),
    );
    let check = async {
        if let Some(http) = probe.get("httpGet") {
            let port = probe_port(spec, http.get("port")?)?;
            let path = str_at(http, "/path").unwrap_or("/");
            let mut stream = tokio::net::TcpStream::connect((ip, port)).await.ok()?;
            let request =
                format!("GET {path} HTTP/1.1\r\nHost: {ip}:{port}\r\nConnection: close\r\n\r\n");
            stream.write_all(request.as_bytes()).await.ok()?;
            let mut head = [0u8; 12];
            stream.read_exact(&mut head).await.ok()?;
            let code: u16 = std::str::from_utf8(&head[9..12]).ok()?.parse().ok()?;
            Some((200..400).contains(&code))
        } else if let Some(tcp) = probe.get("tcpSocket") {
            let port = probe_port(spec, tcp.get("port")?)?;
            Some(tokio::net::TcpStream::connect((ip, port)).await.is_ok())
        } else if let Some(exec) = probe.pointer("/exec/command").and_then(Value::as_array) {
            let argv: Vec<&str> = exec.iter().filter_map(Value::as_str).collect();
            let (first, rest) = argv.split_first()?;
            let status = Command::new(first)
                .args(rest)
                .current_dir(dir)
                .kill_on_drop(true)
                .status()
                .await
                .ok()?;
            Some(status.success())
        } else {
            None
        }
    };
    matches!(tokio::time::timeout(timeout, check).await, Ok(Some(true)))
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
    let status = pod_status(run, failed_init);
    if status != run.last_status {
        let mut object = json!({"status": status.clone()});
        object["metadata"] = json!({"name": run.name, "uid": run.uid});
        if shared
            .store
            .replace(
                pods_resource(),
                Some(&run.namespace),
                &run.name,
                object,
                true,
            )
            .is_ok()
        {
            run.last_status = status;
        }
    }
}

/// Collects a finished probe's result and starts the next due one. Probes
/// run in their own tasks, so a slow one never stalls the kubelet.
fn probe_step(c: &mut Container, ip: &str, dir: &Path) {
    if let Some(task) = c.probing.take() {
        if !task.is_finished() {
            c.probing = Some(task);
            return;
        }
        if let Some(Ok((liveness, passed))) = task.now_or_never_result() {
            if liveness {
                if passed {
                    c.liveness_failures = 0;
                } else {
                    c.liveness_failures += 1;
                    let threshold = c
                        .spec
                        .pointer("/livenessProbe/failureThreshold")
                        .and_then(Value::as_u64)
                        .unwrap_or(3);
                    if u64::from(c.liveness_failures) >= threshold {
                        if let Some(pid) = c.pid {
                            signal_group(pid, libc::SIGKILL);
                        }
                    }
                }
            } else {
                c.ready = passed;
            }
        }
    }
    let now = Instant::now();
    let (liveness, probe_spec) = if now >= c.next_probe {
        c.next_probe = now + probe_period(&c.spec, "readinessProbe");
        match c.spec.get("readinessProbe") {
            Some(p) => (false, p.clone()),
            None => {
                c.ready = true;
                return;
            }
        }
    } else if now >= c.next_liveness {
        c.next_liveness = now + probe_period(&c.spec, "livenessProbe");
        match c.spec.get("livenessProbe") {
            Some(p) => (true, p.clone()),
            None => return,
        }
    } else {
        return;
    };
    let (spec, ip, dir) = (c.spec.clone(), ip.to_owned(), dir.to_owned());
    c.probing = Some(tokio::spawn(async move {
        (liveness, probe(&probe_spec, &spec, &ip, &dir).await)
    }));
}

/// The result of a finished task, without waiting.
trait FinishedResult<T> {
    fn now_or_never_result(self) -> Option<Result<T, tokio::task::JoinError>>;
}

impl<T> FinishedResult<T> for tokio::task::JoinHandle<T> {
    fn now_or_never_result(self) -> Option<Result<T, tokio::task::JoinError>> {
        futures::FutureExt::now_or_never(self)
    }
}

fn backoff(restarts: u32) -> Duration {
    Duration::from_millis(200u64.saturating_mul(1 << restarts.min(6)).min(10_000))
}

/// Records the exit of a container whose process ended, once its last
/// output is in its log (a follower reading to the end then has it all).
fn reap(c: &mut Container) {
    /// How long the copy of the last output may take.
    const LOG_DRAIN: Duration = Duration::from_secs(2);
    let Some(child) = c.child.as_mut() else {
        return;
    };
    if let Ok(Some(status)) = child.try_wait() {
        use std::os::unix::process::ExitStatusExt as _;
        let code = status
            .code()
            .unwrap_or_else(|| 128 + status.signal().unwrap_or(0));
        let (code, since) = *c.exited.get_or_insert_with(|| {
            // Whatever the container left running in its group goes with
            // it (and closes the output pipes it held).
            if let Some(group) = c.group {
                signal_group(group, libc::SIGKILL);
            }
            (code, Instant::now())
        });
        if c.log_writers.iter().any(|w| !w.is_finished()) && since.elapsed() < LOG_DRAIN {
            return;
        }
        let reason = if code == 0 { "Completed" } else { "Error" };
        c.terminated = Some((code, reason, now_rfc3339()));
        c.child = None;
        c.pid = None;
        c.exited = None;
        c.ready = false;
        c.log_writers.clear();
    }
}

fn container_status(c: &Container) -> Value {
    let state = if c.running() {
        json!({"running": {"startedAt": c.started_at}})
    } else if let Some((reason, message)) = &c.waiting {
        json!({"waiting": {"reason": reason, "message": message}})
    } else if let Some((code, reason, finished)) = &c.terminated {
        json!({"terminated": {"exitCode": code, "reason": reason, "message": c.start_error, "startedAt": c.started_at, "finishedAt": finished}})
    } else {
        json!({"waiting": {"reason": "ContainerCreating"}})
    };
    json!({
        "name": c.name,
        "image": c.image,
        "imageID": c.image_id,
        "ready": c.ready,
        "started": c.running(),
        "restartCount": c.restarts,
        "state": state,
    })
}

fn condition(kind: &str, ok: bool) -> Value {
    json!({"type": kind, "status": if ok { "True" } else { "False" }})
}

fn pod_status(run: &PodRun, failed_init: bool) -> Value {
    let init_done = run
        .init
        .iter()
        .all(|c| c.terminated.as_ref().is_some_and(|t| t.0 == 0));
    let all_started = init_done && run.containers.iter().all(|c| c.started_at.is_some());
    let finished: Vec<i32> = run
        .containers
        .iter()
        .filter(|c| !c.running())
        .filter_map(|c| c.terminated.as_ref().map(|t| t.0))
        .collect();
    let all_finished = finished.len() == run.containers.len() && !run.containers.is_empty();
    let terminal = all_finished
        && finished
            .iter()
            .all(|code| !restarts(&run.restart_policy, *code));
    let phase = if failed_init || (terminal && finished.iter().any(|c| *c != 0)) {
        "Failed"
    } else if terminal {
        "Succeeded"
    } else if all_started {
        "Running"
    } else {
        "Pending"
    };
    let ready = phase == "Running" && run.containers.iter().all(|c| c.ready);
    json!({
        "phase": phase,
        "podIP": run.ip,
        "podIPs": [{"ip": run.ip}],
        "hostIP": "127.0.0.1",
        "conditions": [
            condition("PodScheduled", true),
            condition("Initialized", init_done),
            condition("ContainersReady", ready),
            condition("Ready", ready),
        ],
        "initContainerStatuses": run.init.iter().map(container_status).collect::<Vec<_>>(),
        "containerStatuses": run.containers.iter().map(container_status).collect::<Vec<_>>(),
    })
}

fn signal_group(pid: u32, signal: i32) {
    if let Ok(pid) = libc::pid_t::try_from(pid) {
        if pid > 1 {
            // SAFETY: kill(2) has no memory-safety preconditions.
            unsafe {
                libc::kill(-pid, signal);
            }
        }
    }
}

/// Stops a pod's processes: SIGTERM to each container's group, then
/// SIGKILL after `grace`.
async fn stop_pod(
    mut run: PodRun,
    grace: Duration,
    groups: Arc<std::sync::Mutex<std::collections::HashSet<u32>>>,
) {
    let mut children: Vec<(u32, Child)> = run
        .init
        .iter_mut()
        .chain(run.containers.iter_mut())
        .filter_map(|c| Some((c.pid?, c.child.take()?)))
        .collect();
    for (pid, _) in &children {
        signal_group(*pid, libc::SIGTERM);
    }
    let deadline = Instant::now() + grace;
    for (pid, child) in &mut children {
        let left = deadline.saturating_duration_since(Instant::now());
        if tokio::time::timeout(left, child.wait()).await.is_err() {
            signal_group(*pid, libc::SIGKILL);
            let _ = child.wait().await;
        }
    }
    // Anything left in any group a container of this pod ever had.
    let mut known = groups.lock().unwrap_or_else(|p| p.into_inner());
    for group in run
        .init
        .iter()
        .chain(run.containers.iter())
        .filter_map(|c| c.group)
    {
        signal_group(group, libc::SIGKILL);
        known.remove(&group);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variable_references_expand_like_the_kubelets() {
        let vars = vec![
            ("IP".to_owned(), "127.0.0.5".to_owned()),
            ("PORT".to_owned(), "80".to_owned()),
        ];
        assert_eq!(expand("--bind=$(IP):$(PORT)", &vars), "--bind=127.0.0.5:80");
        assert_eq!(expand("$(MISSING) $$(IP)", &vars), "$(MISSING) $(IP)");
        assert_eq!(expand("$(unclosed", &vars), "$(unclosed");
    }

    #[test]
    fn secret_data_decodes() {
        assert_eq!(base64_decode("c2VjcmV0").unwrap(), b"secret");
        assert_eq!(base64_decode("YQ==").unwrap(), b"a");
        assert!(base64_decode("!!").is_none());
    }
}
