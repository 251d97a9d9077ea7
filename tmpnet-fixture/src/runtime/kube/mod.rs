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
mod exec;
pub(crate) mod forward;
pub(crate) mod manifests;
#[cfg(test)]
pub(crate) mod mock;
mod objects;
mod observe;
pub(crate) mod pods;
pub(crate) mod render;
mod settings;
pub(crate) mod state;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use kube::Client;
use serde_json::json;

use self::client::{api_error, call, status_code};
use self::manifests::Context;
use self::pods::Verdict;
pub(crate) use self::settings::settings_for;
pub use self::settings::{Access, ACCESS_ENV};
use super::NodeRuntime;
use crate::error::{Error, Result};
use crate::kinds::{self, HealthContext, NodeKind, PodDaemon};
use crate::model::{Endpoint, Health, KubeSettings, NetworkConfig, Node, NodeState, Peer};

/// Time a stopped pod may take to go, on top of its grace period.
const STOP_SLACK: Duration = Duration::from_secs(30);

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
    /// The nodes' peer Service addresses once made (they last as long as
    /// the network's state, so until the network stops).
    peer_addresses: tokio::sync::Mutex<Option<Vec<Peer>>>,
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
            peer_addresses: tokio::sync::Mutex::new(None),
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
}

#[async_trait]
impl NodeRuntime for KubeRuntime {
    fn allow_starts(&self, allowed: bool) {
        self.starts_allowed.store(allowed, Ordering::SeqCst);
    }

    fn addresses_survive_restart(&self) -> bool {
        false
    }

    async fn stable_members(&self, nodes: &[Node]) -> Result<Option<Vec<Peer>>> {
        if !self.kind.pod().is_some_and(|pod| pod.needs_members()) {
            return Ok(None);
        }
        // Asked before every start and restart: made and listed once.
        let mut known = self.peer_addresses.lock().await;
        let same_nodes = known.as_ref().is_some_and(|peers| {
            peers.len() == nodes.len() && peers.iter().zip(nodes).all(|(p, n)| p.node_id == n.id())
        });
        if !same_nodes {
            let owner = self.ensure_network().await?;
            *known = Some(self.peer_services(nodes, owner).await?);
        }
        Ok(known.clone())
    }

    async fn start(&self, node: &Node, peers: &[Peer], members: &[Peer]) -> Result<Endpoint> {
        if !self.starts_allowed.load(Ordering::SeqCst) {
            return Err(Error::StartFailed {
                node: node.id().to_owned(),
                reason: "the network is stopping".into(),
                log_tail: Vec::new(),
            });
        }
        let owner = self.ensure_network().await?;
        let command = self.prepare_command(node, peers, members).await?;
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

    async fn restart(&self, node: &mut Node, peers: &[Peer], members: &[Peer]) -> Result<Endpoint> {
        let pods: Api<Pod> = self.api().await?;
        let pod_name = self.pod_name(node);
        let old = call(pods.get_opt(&pod_name))
            .await
            .map_err(|e| api_error(format!("read pod {pod_name}"), e))?
            .and_then(|p| p.metadata.uid);
        let owner = self.ensure_network().await?;
        let command = self.prepare_command(node, peers, members).await?;
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
                let shell = exec::PodShell {
                    pods: self.api().await?,
                    pod: self.pod_name(node),
                };
                let ctx = HealthContext {
                    http: &self.http,
                    network_dir: &self.dir,
                    node,
                    endpoint: &endpoint,
                    in_pod: Some(&shell),
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
        self.read_pod_log(node, cursor).await
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
        *self.peer_addresses.lock().await = None;
        let left = self.sweep().await?;
        if !left.is_empty() {
            tracing::warn!(objects = %left.join(", "), "objects not removed through their owner were deleted");
        }
        Ok(())
    }
}
