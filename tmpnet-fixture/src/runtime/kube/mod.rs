//! The Kubernetes runtime: each node is a StatefulSet of one pod.
//!
//! - A start makes sure the namespace and the network's state ConfigMap
//!   exist (once per runtime), writes the node's files into that state,
//!   creates the node's headless Service (and Ingress, with an ingress
//!   host) and its StatefulSet (or scales an existing one back to one with
//!   the new arguments), then watches the pod until it is Ready or fails.
//! - Stop scales the StatefulSet to zero and waits for the pod to go;
//!   restart changes the pod template and replaces the pod; when the whole
//!   network stops, the state ConfigMap is deleted and with it, through
//!   owner references, every object of the network.
//! - A node's URI is its pod IP inside the cluster, a loopback port-forward
//!   outside it, or the ingress host when one is set ([`Access`]).
//!
//! No `kubectl`: every call goes through kube-rs.

pub(crate) mod client;
pub(crate) mod forward;
pub(crate) mod manifests;
#[cfg(test)]
pub(crate) mod mock;
pub(crate) mod pods;
pub(crate) mod render;
pub(crate) mod state;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{
    ConfigMap, Namespace, PersistentVolumeClaim, Pod, Secret, Service,
};
use k8s_openapi::api::networking::v1::Ingress;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{Api, DeleteParams, ListParams, LogParams, Patch, PatchParams, PostParams};
use kube::Client;
use serde_json::json;

use self::client::{api_error, call, status_code, CALL_TIMEOUT};
use self::manifests::{Command, Context};
use self::pods::Verdict;
use super::NodeRuntime;
use crate::error::{Error, Result};
use crate::kinds::{self, HealthContext, LaunchContext, NodeKind, Placement, PodDaemon};
use crate::model::node::LOG_TAIL_LINES;
use crate::model::{
    Endpoint, Health, KubeSettings, NetworkConfig, Node, NodeState, Peer, MIN_VOLUME_GIB,
};

/// Time a stopped pod may take to go, on top of its grace period.
const STOP_SLACK: Duration = Duration::from_secs(30);
/// Env var choosing how nodes are reached: `port-forward`, `pod-ip` or
/// `ingress` (default: `ingress` with an ingress host, else `pod-ip` in a
/// pod, else `port-forward`).
pub const ACCESS_ENV: &str = "TMPNET_KUBE_ACCESS";
/// Where a pod finds its service account (present only inside a cluster).
const SERVICE_ACCOUNT_TOKEN: &str = "/var/run/secrets/kubernetes.io/serviceaccount/token";

/// How this process reaches node APIs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// A loopback listener per node, carried over the API server's
    /// port-forward (works from anywhere the API server is reachable).
    PortForward,
    /// The pod IP directly (inside the cluster).
    PodIp,
    /// Through the Ingress on the configured ingress host.
    Ingress,
}

impl Access {
    /// Parses [`ACCESS_ENV`]'s value.
    pub fn parse(text: &str) -> Result<Access> {
        match text {
            "port-forward" => Ok(Access::PortForward),
            "pod-ip" => Ok(Access::PodIp),
            "ingress" => Ok(Access::Ingress),
            other => Err(Error::InvalidInput(format!(
                "{ACCESS_ENV}={other:?} is not an access mode; use port-forward, pod-ip or ingress"
            ))),
        }
    }

    /// The access mode for this process: [`ACCESS_ENV`] if set, else
    /// ingress when an ingress host is configured, else the pod IP inside a
    /// cluster, else port-forward.
    pub fn detect(settings: &KubeSettings) -> Result<Access> {
        let access = match std::env::var(ACCESS_ENV) {
            Ok(v) if !v.is_empty() => Access::parse(&v)?,
            _ if settings.ingress_host.is_some() => Access::Ingress,
            // In a pod, and talking to that pod's own cluster (no kubeconfig
            // naming another one).
            _ if settings.kubeconfig.is_none()
                && std::env::var_os("KUBECONFIG").is_none()
                && std::env::var_os("KUBERNETES_SERVICE_HOST").is_some()
                && Path::new(SERVICE_ACCOUNT_TOKEN).is_file() =>
            {
                Access::PodIp
            }
            _ => Access::PortForward,
        };
        if access == Access::Ingress && settings.ingress_host.is_none() {
            return Err(Error::InvalidInput(format!(
                "{ACCESS_ENV}=ingress needs an ingress host; pass --kube-ingress-host"
            )));
        }
        Ok(access)
    }
}

/// Validates the Kubernetes settings of a new network and fills in the
/// kind's default image; fails when the kind cannot run in a pod.
pub(crate) fn settings_for(kind: &dyn NodeKind, kube: &KubeSettings) -> Result<KubeSettings> {
    let pod = kinds::pod_of(kind)?;
    if kube.volume_size_gib < MIN_VOLUME_GIB {
        return Err(Error::InvalidInput(format!(
            "--kube-volume-size {} is below the minimum; use {MIN_VOLUME_GIB} (GiB) or more",
            kube.volume_size_gib
        )));
    }
    if !is_dns_label(&kube.namespace) {
        return Err(Error::InvalidInput(format!(
            "--kube-namespace {:?} is not a valid namespace name; use lower-case letters, digits and '-', e.g. tmpnet",
            kube.namespace
        )));
    }
    if let Some(s) = &kube.exclusive_scheduling {
        if s.key.is_empty() || s.value.is_empty() {
            return Err(Error::InvalidInput(
                "exclusive scheduling needs a label key and value; pass --kube-scheduling-label-key and --kube-scheduling-label-value".into(),
            ));
        }
    }
    if let Some(path) = kube.kubeconfig.as_deref().filter(|p| !p.is_file()) {
        return Err(Error::InvalidInput(format!(
            "the kubeconfig {} does not exist; pass --kubeconfig FILE or set KUBECONFIG",
            path.display()
        )));
    }
    if kube.ingress_secret.is_some() && kube.ingress_host.is_none() {
        return Err(Error::InvalidInput(
            "--kube-ingress-secret needs --kube-ingress-host".into(),
        ));
    }
    let mut kube = kube.clone();
    if kube.image.is_empty() {
        kube.image = pod.profile().default_image;
    }
    Ok(kube)
}

/// Whether `name` is a valid namespace name (an RFC 1123 label).
fn is_dns_label(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.starts_with('-')
        && !name.ends_with('-')
}

/// Runs nodes as pods.
pub struct KubeRuntime {
    kind: Arc<dyn NodeKind>,
    network: Arc<NetworkConfig>,
    dir: PathBuf,
    settings: KubeSettings,
    access: Access,
    client: tokio::sync::OnceCell<Client>,
    /// The state ConfigMap's reference once this runtime made sure of it.
    owner: tokio::sync::Mutex<Option<OwnerReference>>,
    forwards: forward::Forwards,
    http: reqwest::Client,
    starts_allowed: AtomicBool,
}

impl std::fmt::Debug for KubeRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeRuntime")
            .field("network", &self.network.uuid)
            .field("namespace", &self.settings.namespace)
            .field("access", &self.access)
            .finish_non_exhaustive()
    }
}

impl KubeRuntime {
    /// A runtime for the network in `dir`; connects on first use.
    pub fn new(
        kind: Arc<dyn NodeKind>,
        network: Arc<NetworkConfig>,
        dir: PathBuf,
        settings: KubeSettings,
    ) -> Result<KubeRuntime> {
        let access = Access::detect(&settings)?;
        Self::build(kind, network, dir, settings, access, None)
    }

    /// A runtime using `client` (a test's mock) and `access`.
    #[cfg(test)]
    pub fn with_client(
        kind: Arc<dyn NodeKind>,
        network: Arc<NetworkConfig>,
        dir: PathBuf,
        settings: KubeSettings,
        client: Client,
        access: Access,
    ) -> Result<KubeRuntime> {
        Self::build(kind, network, dir, settings, access, Some(client))
    }

    fn build(
        kind: Arc<dyn NodeKind>,
        network: Arc<NetworkConfig>,
        dir: PathBuf,
        settings: KubeSettings,
        access: Access,
        client: Option<Client>,
    ) -> Result<KubeRuntime> {
        kinds::pod_of(kind.as_ref())?;
        let http = super::health_client()?;
        Ok(KubeRuntime {
            kind,
            network,
            dir,
            settings,
            access,
            client: match client {
                Some(c) => tokio::sync::OnceCell::new_with(Some(c)),
                None => tokio::sync::OnceCell::new(),
            },
            owner: tokio::sync::Mutex::new(None),
            forwards: forward::Forwards::default(),
            http,
            starts_allowed: AtomicBool::new(true),
        })
    }

    async fn client(&self) -> Result<Client> {
        self.client
            .get_or_try_init(|| {
                client::connect(
                    self.settings.kubeconfig.as_deref(),
                    self.settings.context.as_deref(),
                )
            })
            .await
            .cloned()
    }

    async fn api<K>(&self) -> Result<Api<K>>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>,
        <K as kube::Resource>::DynamicType: Default,
    {
        Ok(Api::namespaced(
            self.client().await?,
            &self.settings.namespace,
        ))
    }

    /// The kind's pod capability (checked when the runtime was made).
    fn pod(&self) -> Result<&dyn PodDaemon> {
        kinds::pod_of(self.kind.as_ref())
    }

    fn context(&self, owner: Option<OwnerReference>) -> Result<Context<'_>> {
        Ok(Context {
            network: &self.network,
            settings: &self.settings,
            profile: self.pod()?.profile(),
            owner,
        })
    }

    fn object_name(&self, node: &Node) -> String {
        manifests::node_object_name(&self.network.uuid, node.id())
    }

    fn pod_name(&self, node: &Node) -> String {
        manifests::pod_name(&self.network.uuid, node.id())
    }

    /// Makes sure the namespace, the state ConfigMap (with the network
    /// directory's current files) and the Secret exist; returns the owner
    /// reference for the network's objects.
    async fn ensure_network(&self) -> Result<OwnerReference> {
        let mut owner = self.owner.lock().await;
        if let Some(o) = owner.as_ref() {
            return Ok(o.clone());
        }
        let client = self.client().await?;
        let ctx = self.context(None)?;
        let ns = &self.settings.namespace;
        let namespaces: Api<Namespace> = Api::all(client.clone());
        match call(namespaces.get_opt(ns)).await {
            Ok(Some(_)) => {}
            Ok(None) => {
                match call(namespaces.create(&PostParams::default(), &ctx.namespace())).await {
                    Ok(_) => tracing::info!(namespace = %ns, "created the namespace"),
                    Err(e) if status_code(&e) == Some(409) => {}
                    Err(e) => return Err(api_error(format!("create namespace {ns}"), e)),
                }
            }
            // A namespaced account cannot read namespaces; the calls below
            // say clearly if it does not exist.
            Err(e) if status_code(&e) == Some(403) => {}
            Err(e) => return Err(api_error(format!("read namespace {ns}"), e)),
        }
        let files = state::collect(&self.dir, &self.kind.secret_files())?;
        let maps: Api<ConfigMap> = Api::namespaced(client.clone(), ns);
        let wanted = ctx.state_config_map(files.plain.clone());
        let name = manifests::network_name(&self.network.uuid);
        let created = match call(maps.create(&PostParams::default(), &wanted)).await {
            Ok(created) => created,
            Err(e) if status_code(&e) == Some(409) => {
                let existing = call(maps.patch(
                    &name,
                    &PatchParams::default(),
                    &Patch::Merge(json!({"data": files.plain})),
                ))
                .await
                .map_err(|e| api_error(format!("update configmap {name}"), e))?;
                if existing.metadata.deletion_timestamp.is_none() {
                    existing
                } else {
                    // An earlier stop is still deleting the network: let it
                    // finish, or new objects would be owned by the dying one.
                    let timeout = Duration::from_secs(self.settings.stop_grace_secs) + STOP_SLACK;
                    pods::wait_gone(&maps, &name, timeout).await?;
                    call(maps.create(&PostParams::default(), &wanted))
                        .await
                        .map_err(|e| api_error(format!("create configmap {name}"), e))?
                }
            }
            Err(e) => return Err(api_error(format!("create configmap {name}"), e)),
        };
        let reference = manifests::owner_reference(&created).ok_or_else(|| Error::Kube {
            action: format!("create configmap {name}"),
            reason: "the API server returned it without a name or uid".into(),
        })?;
        if !files.secret.is_empty() {
            let secrets: Api<Secret> = Api::namespaced(client, ns);
            let ctx = self.context(Some(reference.clone()))?;
            let secret = ctx.secret(files.secret.clone());
            let secret_name = manifests::secret_name(&self.network.uuid);
            match call(secrets.create(&PostParams::default(), &secret)).await {
                Ok(_) => {}
                Err(e) if status_code(&e) == Some(409) => {
                    call(secrets.replace(&secret_name, &PostParams::default(), &secret))
                        .await
                        .map_err(|e| api_error(format!("update secret {secret_name}"), e))?;
                }
                Err(e) => return Err(api_error(format!("create secret {secret_name}"), e)),
            }
        }
        *owner = Some(reference.clone());
        Ok(reference)
    }

    /// Composes the node's flags for a pod, records them (`flags.json` and
    /// the state ConfigMap), puts the node's own secret files in the
    /// network's Secret, and returns what the container runs with.
    async fn prepare_command(&self, node: &Node, peers: &[Peer]) -> Result<Command> {
        let launch = LaunchContext {
            placement: Placement::Pod,
            network_dir: &self.dir,
            node,
            peers,
            // Pod IPs are known only once scheduled.
            members: &[],
        };
        let flags =
            kinds::compose_and_record(self.kind.as_ref(), &self.network.default_flags, &launch)?;
        let mut data = BTreeMap::new();
        for path in [node.config_path(), node.flags_path()] {
            let relative = path.strip_prefix(&self.dir).unwrap_or(&path);
            let text =
                std::fs::read_to_string(&path).map_err(|e| Error::io("cannot read", &path, e))?;
            data.insert(state::key_of(relative)?, text);
        }
        let maps: Api<ConfigMap> = self.api().await?;
        let name = manifests::network_name(&self.network.uuid);
        call(maps.patch(
            &name,
            &PatchParams::default(),
            &Patch::Merge(json!({ "data": data })),
        ))
        .await
        .map_err(|e| api_error(format!("update configmap {name}"), e))?;
        self.store_node_secrets(node).await?;
        Ok(Command::of(self.pod()?, &flags))
    }

    /// Adds the node's own secret files to the network's Secret (a node
    /// made after the Secret, an ephemeral one, brings its keys here).
    async fn store_node_secrets(&self, node: &Node) -> Result<()> {
        let keys = state::node_secret_keys(node)?;
        if keys.is_empty() {
            return Ok(());
        }
        let mut data = BTreeMap::new();
        for (key, relative) in keys {
            let path = node.dir.join(relative);
            let bytes = std::fs::read(&path).map_err(|e| Error::io("cannot read", &path, e))?;
            data.insert(key, k8s_openapi::ByteString(bytes));
        }
        let secrets: Api<Secret> = self.api().await?;
        let name = manifests::secret_name(&self.network.uuid);
        match call(secrets.patch(
            &name,
            &PatchParams::default(),
            &Patch::Merge(json!({ "data": data })),
        ))
        .await
        {
            Ok(_) => Ok(()),
            Err(e) if status_code(&e) == Some(404) => {
                let owner = self.ensure_network().await?;
                let secret = self
                    .context(Some(owner))?
                    .secret(data.into_iter().map(|(k, v)| (k, v.0)).collect());
                call(secrets.create(&PostParams::default(), &secret))
                    .await
                    .map(|_| ())
                    .map_err(|e| api_error(format!("create secret {name}"), e))
            }
            Err(e) => Err(api_error(format!("update secret {name}"), e)),
        }
    }

    /// Creates the node's Service, Ingress and StatefulSet, owned by
    /// `owner` (the state ConfigMap); an existing
    /// StatefulSet (a stopped node) gets the new template and one replica.
    async fn apply_node(&self, node: &Node, command: Command, owner: OwnerReference) -> Result<()> {
        let ctx = self.context(Some(owner))?;
        let services: Api<Service> = self.api().await?;
        create_if_missing(&services, &ctx.service(node)).await?;
        if let Some(ingress) = ctx.ingress(node) {
            let ingresses: Api<Ingress> = self.api().await?;
            create_if_missing(&ingresses, &ingress).await?;
        }
        let sets: Api<StatefulSet> = self.api().await?;
        let set = ctx.stateful_set(node, command)?;
        let name = self.object_name(node);
        match call(sets.create(&PostParams::default(), &set)).await {
            Ok(_) => Ok(()),
            Err(e) if status_code(&e) == Some(409) => {
                let template = set.spec.map(|s| s.template);
                call(sets.patch(
                    &name,
                    &PatchParams::default(),
                    &Patch::Merge(json!({"spec": {"replicas": 1, "template": template}})),
                ))
                .await
                .map(|_| ())
                .map_err(|e| api_error(format!("update statefulset {name}"), e))
            }
            Err(e) => Err(api_error(format!("create statefulset {name}"), e)),
        }
    }

    /// Waits for the node's pod to be ready; on failure or timeout, scales
    /// the node to zero and says why, quoting its log.
    async fn await_ready(&self, node: &Node, replaced: Option<&str>) -> Result<Endpoint> {
        let pods: Api<Pod> = self.api().await?;
        let pod_name = self.pod_name(node);
        let timeout = Duration::from_secs(self.settings.ready_timeout_secs);
        match pods::wait_ready(&pods, &pod_name, replaced, timeout).await {
            Ok(pod) => {
                let ip = pod.status.and_then(|s| s.pod_ip).unwrap_or_default();
                self.endpoint(node, &ip).await
            }
            Err(verdict) => {
                let why = match verdict {
                    Verdict::Failed(w) | Verdict::Pending(w) => w,
                    Verdict::Ready { .. } => "ready".into(),
                };
                let log_tail = self.pod_log_tail(&pods, &pod_name).await;
                let _ = self.initiate_stop(node).await;
                Err(Error::StartFailed {
                    node: node.id().to_owned(),
                    reason: format!(
                        "pod {pod_name} in namespace {}: {why}{}",
                        self.settings.namespace,
                        self.hint(&why)
                    ),
                    log_tail,
                })
            }
        }
    }

    fn hint(&self, why: &str) -> String {
        if why.contains("ImagePull") || why.contains("InvalidImageName") {
            format!(
                "; check --kube-image ({}) and that the cluster can pull it (with kind: `kind load docker-image {}`)",
                self.settings.image, self.settings.image
            )
        } else {
            String::new()
        }
    }

    /// The container's last log lines: the current container's, or, when
    /// it has none (waiting after a crash), the crashed one's.
    async fn pod_log_tail(&self, pods: &Api<Pod>, pod: &str) -> Vec<String> {
        for previous in [false, true] {
            let params = LogParams {
                container: Some(manifests::CONTAINER.to_owned()),
                tail_lines: Some(LOG_TAIL_LINES as i64),
                previous,
                ..LogParams::default()
            };
            if let Ok(Ok(text)) = tokio::time::timeout(CALL_TIMEOUT, pods.logs(pod, &params)).await
            {
                if !text.trim().is_empty() {
                    return text.lines().map(str::to_owned).collect();
                }
            }
        }
        Vec::new()
    }

    /// The endpoint of a node whose pod has `ip`: its API reachable from
    /// here, its p2p address as peers inside the cluster dial it.
    async fn endpoint(&self, node: &Node, ip: &str) -> Result<Endpoint> {
        let profile = self.pod()?.profile();
        let uri = match self.access {
            Access::PodIp => format!("http://{ip}:{}", profile.api_port),
            Access::Ingress => {
                let host = self.settings.ingress_host.as_deref().unwrap_or_default();
                let scheme = if self.settings.ingress_secret.is_some() {
                    "https"
                } else {
                    "http"
                };
                let path = self.context(None)?.ingress_path(node);
                format!("{scheme}://{host}{path}")
            }
            Access::PortForward => {
                let pods: Api<Pod> = self.api().await?;
                let local = self
                    .forwards
                    .local(&pods, &self.pod_name(node), profile.api_port)
                    .await?;
                format!("http://{local}")
            }
        };
        Ok(Endpoint {
            uri,
            p2p_address: format!("{ip}:{}", profile.p2p_port),
        })
    }

    /// The node's StatefulSet replicas (`None` when it does not exist) and
    /// its pod.
    async fn observe(&self, node: &Node) -> Result<(Option<i32>, Option<Pod>)> {
        let sets: Api<StatefulSet> = self.api().await?;
        let name = self.object_name(node);
        let replicas = match call(sets.get_opt(&name)).await {
            Ok(Some(set)) => Some(set.spec.and_then(|s| s.replicas).unwrap_or(1)),
            Ok(None) => None,
            Err(e) => return Err(api_error(format!("read statefulset {name}"), e)),
        };
        if replicas.unwrap_or(0) == 0 {
            return Ok((replicas, None));
        }
        let pods: Api<Pod> = self.api().await?;
        let pod_name = self.pod_name(node);
        let pod = call(pods.get_opt(&pod_name))
            .await
            .map_err(|e| api_error(format!("read pod {pod_name}"), e))?;
        Ok((replicas, pod))
    }

    /// Deletes whatever of the network is still labelled with its uuid
    /// (what owner references did not remove), and says what was left.
    async fn sweep(&self) -> Result<Vec<String>> {
        let selector = format!(
            "{}={}",
            manifests::LABEL_NETWORK,
            manifests::label_value(&self.network.uuid)
        );
        let mut left = Vec::new();
        left.extend(self.sweep_kind::<StatefulSet>(&selector).await?);
        left.extend(self.sweep_kind::<Ingress>(&selector).await?);
        left.extend(self.sweep_kind::<Service>(&selector).await?);
        // By name: listing Secrets would need a right to read them all.
        let secrets: Api<Secret> = self.api().await?;
        let secret = manifests::secret_name(&self.network.uuid);
        match call(secrets.delete(&secret, &DeleteParams::background())).await {
            Ok(_) => left.push(format!("secret/{secret}")),
            Err(e) if status_code(&e) == Some(404) => {}
            Err(e) => return Err(api_error(format!("delete secret {secret}"), e)),
        }
        left.extend(self.sweep_kind::<PersistentVolumeClaim>(&selector).await?);
        left.extend(self.sweep_kind::<Pod>(&selector).await?);
        Ok(left)
    }

    async fn sweep_kind<K>(&self, selector: &str) -> Result<Vec<String>>
    where
        K: client::NamespacedObject,
    {
        let api: Api<K> = self.api().await?;
        let kind = K::kind(&Default::default()).to_ascii_lowercase();
        let found = call(api.list(&ListParams::default().labels(selector)))
            .await
            .map_err(|e| api_error(format!("list {kind}s"), e))?;
        let mut left = Vec::new();
        for object in found.items {
            let name = object.meta().name.clone().unwrap_or_default();
            match call(api.delete(&name, &DeleteParams::background())).await {
                Ok(_) => left.push(format!("{kind}/{name}")),
                Err(e) if status_code(&e) == Some(404) => {}
                Err(e) => return Err(api_error(format!("delete {kind} {name}"), e)),
            }
        }
        Ok(left)
    }
}

async fn create_if_missing<K>(api: &Api<K>, object: &K) -> Result<()>
where
    K: kube::Resource + Clone + serde::Serialize + serde::de::DeserializeOwned + std::fmt::Debug,
    <K as kube::Resource>::DynamicType: Default,
{
    match call(api.create(&PostParams::default(), object)).await {
        Ok(_) => Ok(()),
        // Names derive from the network and node, and specs from their
        // settings: an existing object is this one.
        Err(e) if status_code(&e) == Some(409) => Ok(()),
        Err(e) => Err(api_error(
            format!(
                "create {} {}",
                K::kind(&Default::default()).to_ascii_lowercase(),
                object.meta().name.clone().unwrap_or_default()
            ),
            e,
        )),
    }
}

#[async_trait]
impl NodeRuntime for KubeRuntime {
    fn allow_starts(&self, allowed: bool) {
        self.starts_allowed.store(allowed, Ordering::SeqCst);
    }

    fn addresses_survive_restart(&self) -> bool {
        false
    }

    async fn start(&self, node: &Node, peers: &[Peer], _members: &[Peer]) -> Result<Endpoint> {
        if !self.starts_allowed.load(Ordering::SeqCst) {
            return Err(Error::StartFailed {
                node: node.id().to_owned(),
                reason: "the network is stopping".into(),
                log_tail: Vec::new(),
            });
        }
        let owner = self.ensure_network().await?;
        let command = self.prepare_command(node, peers).await?;
        self.apply_node(node, command, owner).await?;
        self.await_ready(node, None).await
    }

    async fn initiate_stop(&self, node: &Node) -> Result<()> {
        let sets: Api<StatefulSet> = self.api().await?;
        let name = self.object_name(node);
        match call(sets.patch_scale(
            &name,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 0}})),
        ))
        .await
        {
            Ok(_) => Ok(()),
            Err(e) if status_code(&e) == Some(404) => Ok(()),
            Err(e) => Err(api_error(format!("scale statefulset {name} to zero"), e)),
        }
    }

    async fn wait_for_stopped(&self, node: &Node) -> Result<()> {
        let pods: Api<Pod> = self.api().await?;
        let timeout = Duration::from_secs(self.settings.stop_grace_secs) + STOP_SLACK;
        pods::wait_gone(&pods, &self.pod_name(node), timeout).await
    }

    async fn restart(
        &self,
        node: &mut Node,
        peers: &[Peer],
        _members: &[Peer],
    ) -> Result<Endpoint> {
        let pods: Api<Pod> = self.api().await?;
        let pod_name = self.pod_name(node);
        let old = call(pods.get_opt(&pod_name))
            .await
            .map_err(|e| api_error(format!("read pod {pod_name}"), e))?
            .and_then(|p| p.metadata.uid);
        let owner = self.ensure_network().await?;
        let command = self.prepare_command(node, peers).await?;
        let mut template = self.context(Some(owner))?.pod_template(node, command)?;
        if let Some(meta) = template.metadata.as_mut() {
            meta.annotations.get_or_insert_with(BTreeMap::new).insert(
                manifests::ANNOTATION_RESTARTED.to_owned(),
                uuid::Uuid::new_v4().to_string(),
            );
        }
        let sets: Api<StatefulSet> = self.api().await?;
        let name = self.object_name(node);
        call(sets.patch(
            &name,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 1, "template": template}})),
        ))
        .await
        .map_err(|e| api_error(format!("update statefulset {name}"), e))?;
        // Replace the pod now rather than wait for the rollout, which a
        // StatefulSet never starts while its pod is unready.
        // Only the pod seen before: one the controller already recreated
        // from the new template stays (409 on the precondition).
        let params = DeleteParams {
            preconditions: old.clone().map(|uid| kube::api::Preconditions {
                uid: Some(uid),
                resource_version: None,
            }),
            ..DeleteParams::default()
        };
        match call(pods.delete(&pod_name, &params)).await {
            Ok(_) => {}
            Err(e) if matches!(status_code(&e), Some(404 | 409)) => {}
            Err(e) => return Err(api_error(format!("delete pod {pod_name}"), e)),
        }
        self.await_ready(node, old.as_deref()).await
    }

    async fn state(&self, node: &Node) -> Result<NodeState> {
        let (replicas, pod) = self.observe(node).await?;
        if replicas.unwrap_or(0) == 0 {
            return Ok(NodeState::Stopped);
        }
        let endpoint = match pod.as_ref().map(pods::judge) {
            Some(Verdict::Ready { ip }) => Some(self.endpoint(node, &ip).await?),
            _ => None,
        };
        Ok(NodeState::Running {
            pid: None,
            endpoint,
        })
    }

    async fn health(&self, node: &Node) -> Result<Health> {
        // An API hiccup (throttling, a reset connection) is a verdict for
        // this check, not the end of the wait.
        let (replicas, pod) = match self.observe(node).await {
            Ok(observed) => observed,
            Err(e @ (Error::Kube { .. } | Error::KubeApi { .. })) => {
                return Ok(Health::Unhealthy(e.to_string()))
            }
            Err(e) => return Err(e),
        };
        let not_running = |detail: String| Error::NotRunning {
            node: node.id().to_owned(),
            detail,
            log_tail: Vec::new(),
        };
        let pod = match (replicas, pod) {
            (None, _) => return Err(not_running("it has no statefulset".into())),
            (Some(0), _) => return Err(not_running("its statefulset is scaled to zero".into())),
            (_, None) => return Ok(Health::Unhealthy("its pod does not exist yet".into())),
            (_, Some(pod)) => pod,
        };
        match pods::judge(&pod) {
            Verdict::Ready { ip } => {
                let endpoint = self.endpoint(node, &ip).await?;
                let ctx = HealthContext {
                    http: &self.http,
                    network_dir: &self.dir,
                    node,
                    endpoint: &endpoint,
                };
                Ok(self.kind.check_health(&ctx).await)
            }
            Verdict::Pending(why) => Ok(Health::Unhealthy(why)),
            Verdict::Failed(why) => {
                let pods: Api<Pod> = self.api().await?;
                let pod_name = self.pod_name(node);
                Err(Error::Failed {
                    node: node.id().to_owned(),
                    detail: format!("pod {pod_name}: {why}"),
                    log_tail: self.pod_log_tail(&pods, &pod_name).await,
                })
            }
        }
    }

    async fn log_tail(&self, node: &Node) -> Vec<String> {
        match self.api::<Pod>().await {
            Ok(pods) => self.pod_log_tail(&pods, &self.pod_name(node)).await,
            Err(_) => Vec::new(),
        }
    }

    /// Pods: the cursor holds a hash of the container log's first line (high
    /// half) and the lines read so far (low half); a log that starts
    /// otherwise, or is shorter, is a new container (a restart), read from
    /// its start.
    async fn read_log(&self, node: &Node, cursor: u64) -> (Vec<String>, u64) {
        let Ok(pods) = self.api::<Pod>().await else {
            return (Vec::new(), cursor);
        };
        let params = LogParams {
            container: Some(manifests::CONTAINER.to_owned()),
            ..LogParams::default()
        };
        let pod = self.pod_name(node);
        let Ok(Ok(text)) = tokio::time::timeout(CALL_TIMEOUT, pods.logs(&pod, &params)).await
        else {
            return (Vec::new(), cursor);
        };
        pod_log_after(text.lines().map(str::to_owned).collect(), cursor)
    }

    async fn accessible_uri(&self, node: &Node) -> Result<Option<String>> {
        Ok(match self.state(node).await? {
            NodeState::Running {
                endpoint: Some(e), ..
            } => Some(e.uri),
            _ => None,
        })
    }

    async fn network_stopped(&self) -> Result<()> {
        self.forwards.close_all();
        let maps: Api<ConfigMap> = self.api().await?;
        let name = manifests::network_name(&self.network.uuid);
        match call(maps.delete(&name, &DeleteParams::foreground())).await {
            Ok(_) => {}
            Err(e) if status_code(&e) == Some(404) => {}
            Err(e) => return Err(api_error(format!("delete configmap {name}"), e)),
        }
        let timeout = Duration::from_secs(self.settings.stop_grace_secs) + STOP_SLACK;
        pods::wait_gone(&maps, &name, timeout).await?;
        *self.owner.lock().await = None;
        let left = self.sweep().await?;
        if !left.is_empty() {
            tracing::warn!(objects = %left.join(", "), "objects not removed through their owner were deleted");
        }
        Ok(())
    }
}

/// The lines of a container's log after `cursor` (see the kube runtime's
/// `read_log`), and the cursor after them.
fn pod_log_after(lines: Vec<String>, cursor: u64) -> (Vec<String>, u64) {
    let first = lines.first().map_or(0, |l| {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        l.hash(&mut h);
        h.finish() >> 32
    });
    let seen = usize::try_from(cursor & 0xffff_ffff).unwrap_or(usize::MAX);
    let start = if cursor >> 32 != first || seen > lines.len() {
        0
    } else {
        seen
    };
    let total = u64::try_from(lines.len()).unwrap_or(u64::MAX) & 0xffff_ffff;
    (lines[start..].to_vec(), (first << 32) | total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_followed_pod_log_is_read_on_and_from_the_start_after_a_restart() {
        let log = |lines: &[&str]| lines.iter().map(|l| (*l).to_owned()).collect::<Vec<_>>();
        let (first, cursor) = pod_log_after(log(&["t1 serving", "t2 a"]), 0);
        assert_eq!(first, ["t1 serving", "t2 a"]);
        let (more, cursor) = pod_log_after(log(&["t1 serving", "t2 a", "t3 b"]), cursor);
        assert_eq!(more, ["t3 b"], "the same container: only what is new");
        let (same, cursor) = pod_log_after(log(&["t1 serving", "t2 a", "t3 b"]), cursor);
        assert!(same.is_empty());
        // A new container, even one that already wrote more lines.
        let (restarted, _) = pod_log_after(log(&["t9 serving", "u1", "u2", "u3"]), cursor);
        assert_eq!(restarted, ["t9 serving", "u1", "u2", "u3"]);
        let (shorter, _) = pod_log_after(log(&["t1 serving"]), cursor);
        assert_eq!(shorter, ["t1 serving"], "a shorter log is a new container");
    }

    fn settings(ingress_host: Option<&str>) -> KubeSettings {
        KubeSettings {
            kubeconfig: Some("/k".into()),
            context: None,
            namespace: "tmpnet".into(),
            image: "i".into(),
            volume_size_gib: 2,
            exclusive_scheduling: None,
            ingress_host: ingress_host.map(str::to_owned),
            ingress_secret: None,
            ready_timeout_secs: 1,
            stop_grace_secs: 1,
            owner: None,
        }
    }

    #[test]
    fn access_modes_parse_and_an_ingress_host_chooses_the_ingress() {
        assert_eq!(Access::parse("pod-ip").unwrap(), Access::PodIp);
        assert_eq!(Access::parse("port-forward").unwrap(), Access::PortForward);
        let err = Access::parse("vpn").unwrap_err().to_string();
        assert!(
            err.contains(ACCESS_ENV) && err.contains("port-forward"),
            "{err}"
        );
        if std::env::var_os(ACCESS_ENV).is_none() {
            // A kubeconfig names the cluster: never pod IPs from here.
            assert_eq!(
                Access::detect(&settings(None)).unwrap(),
                Access::PortForward
            );
            assert_eq!(
                Access::detect(&settings(Some("localhost:30791"))).unwrap(),
                Access::Ingress
            );
        }
    }
}
