//! Orchestration: the only module that puts node kinds and runtimes
//! together. A [`Network`] is created from a [`NetworkSpec`] or loaded from
//! its directory; it bootstraps, stops and restarts its nodes, waits for
//! health, renders manifests and attaches to networks kept in a cluster.

mod attach;
mod discovery;
mod handle;
mod health;
#[cfg(test)]
mod kube_contract_tests;
mod lock;
mod logs;
mod prune;
mod render;
mod spec;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

pub use discovery::discovery_dir;
pub use handle::NodeHandle;
pub use health::{NodeStatus, Progress};
pub use logs::{LogFollower, LogLine, LogQuery};
pub use prune::{discard_if_passed, disk_usage, mark_failed, prune, PruneReport, PruneRule};
pub use spec::NetworkSpec;

use crate::error::{Error, Result};
use crate::kinds::file::FileKind;
use crate::kinds::{self, NodeKind};
use crate::model::network::{CONFIG_FILE, ENV_FILE, EPHEMERAL_DIR};
use crate::model::{
    layout, node, Endpoint, Health, KubeSettings, NetworkConfig, Node, NodeState, Peer,
    RuntimeSettings, MAX_NODES, SCHEMA_VERSION,
};
use crate::runtime::{self, NodeRuntime};
use crate::sys::{deadline_after, files};

/// How many times a start is tried when ports turn out to be taken.
const PORT_ATTEMPTS: usize = 3;
/// How long a network may take to become healthy unless told otherwise.
pub const DEFAULT_START_TIMEOUT: Duration = Duration::from_secs(120);

/// A progress callback that reports nothing.
fn quiet(_: Progress) {}

/// A network: a handle on its directory, its nodes and the runtime they run
/// on. Clones share one state, so a restart through one clone is seen by
/// all of them.
#[derive(Debug, Clone)]
pub struct Network {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    dir: PathBuf,
    config: NetworkConfig,
    /// Bootstrap nodes in order; their configs change when ports are
    /// assigned or pinned (and are saved to disk when they do).
    nodes: Mutex<Vec<Node>>,
    kind: Arc<dyn NodeKind>,
    runtime: Arc<dyn NodeRuntime>,
    /// Recorded nodes whose directories were gone when it was loaded (ids,
    /// or a count for networks that recorded none).
    missing: Vec<String>,
}

impl Network {
    /// Validates `spec` and writes a new network directory (nothing runs
    /// yet). Bad input is rejected before anything is written; a kind that
    /// cannot run where `spec` asks fails here.
    pub fn create(spec: &NetworkSpec) -> Result<Network> {
        let kind: Arc<dyn NodeKind> = match &spec.kind_file {
            Some(path) => Arc::new(FileKind::load(path)?),
            None => kinds::by_name(&spec.node_kind)?,
        };
        Self::create_of_kind(spec, kind)
    }

    /// [`Network::create`] with the kind given as a value (the spec's kind
    /// name is not looked up).
    fn create_of_kind(spec: &NetworkSpec, kind: Arc<dyn NodeKind>) -> Result<Network> {
        if spec.node_count == 0 || spec.node_count > MAX_NODES {
            return Err(Error::InvalidInput(format!(
                "node count {} is out of range; use 1 to {MAX_NODES}",
                spec.node_count
            )));
        }
        if let Some((index, _)) = spec.node_flags.iter().find(|(i, _)| *i >= spec.node_count) {
            return Err(Error::InvalidInput(format!(
                "node flags given for node {index}, but the network has {} nodes",
                spec.node_count
            )));
        }
        let settings = runtime::settings_for(
            kind.as_ref(),
            spec.kube.as_ref(),
            spec.node_path.as_deref(),
            spec.reuse_dynamic_ports,
        )?;
        let dir = layout::create_network_dir(&spec.root_dir)?;
        let config = NetworkConfig {
            node_ids: Vec::new(),
            schema_version: SCHEMA_VERSION,
            uuid: uuid::Uuid::new_v4().to_string(),
            owner: spec.owner.clone(),
            node_kind: kind.name().to_owned(),
            node_count: spec.node_count,
            default_flags: spec.default_flags.clone(),
            runtime: settings,
        };
        let result = Self::write_new(&dir, config, kind, spec);
        if result.is_err() {
            let _ = std::fs::remove_dir_all(&dir);
        }
        result
    }

    fn write_new(
        dir: &Path,
        mut config: NetworkConfig,
        kind: Arc<dyn NodeKind>,
        spec: &NetworkSpec,
    ) -> Result<Network> {
        let mut nodes = Vec::with_capacity(spec.node_count);
        for index in 0..spec.node_count {
            let mut node_config = kind.new_node(index)?;
            for (_, extra) in spec.node_flags.iter().filter(|(i, _)| *i == index) {
                node_config.flags.extend(extra.clone());
            }
            nodes.push(Node::create(dir, node_config)?);
        }
        config.node_ids = nodes.iter().map(|n| n.id().to_owned()).collect();
        kind.init_network(dir, &nodes)?;
        files::write_json(&dir.join(CONFIG_FILE), &config)?;
        let env = format!("{}\n", layout::export_line(dir));
        files::atomic_write(&dir.join(ENV_FILE), env.as_bytes(), 0o644)?;
        Self::assemble(dir.to_owned(), config, nodes, Vec::new(), kind)
    }

    fn assemble(
        dir: PathBuf,
        config: NetworkConfig,
        nodes: Vec<Node>,
        missing: Vec<String>,
        kind: Arc<dyn NodeKind>,
    ) -> Result<Network> {
        let runtime = runtime::for_network(&config, &dir, kind.clone())?;
        Ok(Network {
            inner: Arc::new(Inner {
                dir,
                config,
                nodes: Mutex::new(nodes),
                kind,
                runtime,
                missing,
            }),
        })
    }

    /// Loads a network from its directory. Errors name the file at fault.
    pub fn load(dir: &Path) -> Result<Network> {
        let dir = std::fs::canonicalize(dir).map_err(|e| Error::NotANetwork {
            path: dir.to_owned(),
            reason: e.to_string(),
        })?;
        let config_path = dir.join(CONFIG_FILE);
        if !config_path.is_file() {
            return Err(Error::NotANetwork {
                path: dir,
                reason: format!("it has no {CONFIG_FILE}"),
            });
        }
        let raw: serde_json::Value = files::read_json(&config_path)?;
        let Some(found) = raw.get("schemaVersion").map(serde_json::Value::as_u64) else {
            // A node's config.json has an id and no schema version.
            if raw.get("id").is_some() && raw.get("index").is_some() {
                if let Some(network) = dir.parent() {
                    return Err(Error::NodeDirGiven {
                        path: dir.clone(),
                        network: network.to_owned(),
                    });
                }
            }
            return Err(Error::NotANetwork {
                reason: format!(
                    "its {CONFIG_FILE} is {} with no schemaVersion, not a network's configuration",
                    json_shape(&raw)
                ),
                path: dir,
            });
        };
        let found = found.unwrap_or(0);
        if found != u64::from(SCHEMA_VERSION) {
            return Err(Error::SchemaVersion {
                path: config_path,
                found: u32::try_from(found).unwrap_or(u32::MAX),
                supported: SCHEMA_VERSION,
            });
        }
        let config: NetworkConfig =
            serde_json::from_value(raw).map_err(|e| Error::CorruptFile {
                path: config_path.clone(),
                source: e,
            })?;
        let kind = kind_of_network(&dir, &config.node_kind)?;
        keep_secrets_private(&dir, kind.as_ref())?;
        let nodes = load_nodes(&dir)?;
        let missing = missing_nodes(&config, &nodes);
        if nodes.is_empty() && missing.is_empty() {
            return Err(Error::NotANetwork {
                path: dir,
                reason: "it has no node directories".into(),
            });
        }
        Self::assemble(dir, config, nodes, missing, kind)
    }

    /// Fails, naming them, when nodes the network records have lost their
    /// directories: nothing may act on a network it cannot see whole (a
    /// stop can: it stops what runs of them by their mark).
    fn check_complete(&self) -> Result<()> {
        if self.inner.missing.is_empty() {
            return Ok(());
        }
        Err(Error::NodesMissing {
            dir: self.dir().to_owned(),
            missing: self.inner.missing.join(", "),
        })
    }

    /// Attaches to the Kubernetes network `name` (its state ConfigMap, e.g.
    /// `tmpnet-0f1e2d3c`) in the namespace of `settings`: writes its
    /// directory under `root` and loads it, reaching the cluster with
    /// `settings`' kubeconfig and context rather than its creator's.
    pub async fn attach(settings: &KubeSettings, name: &str, root: &Path) -> Result<Network> {
        attach::attach(settings, name, root).await
    }

    /// Every Kubernetes manifest a new network of `spec` (which must ask
    /// for Kubernetes) would create, as YAML, without writing under the
    /// root or contacting a cluster (like `helm template`).
    pub fn render(spec: &NetworkSpec) -> Result<String> {
        render::render(spec)
    }

    /// The network's name on Kubernetes (its state ConfigMap), for a
    /// network that runs there.
    pub fn cluster_name(&self) -> Option<String> {
        match &self.config().runtime {
            RuntimeSettings::Kube(_) => Some(crate::runtime::kube::manifests::network_name(
                &self.config().uuid,
            )),
            _ => None,
        }
    }

    /// The network directory (absolute, canonical).
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// The network's configuration.
    pub fn config(&self) -> &NetworkConfig {
        &self.inner.config
    }

    /// Its bootstrap nodes in order.
    pub fn nodes(&self) -> Vec<Node> {
        self.lock_nodes().clone()
    }

    /// The node kind.
    pub fn kind(&self) -> &Arc<dyn NodeKind> {
        &self.inner.kind
    }

    /// The runtime its nodes run on.
    pub(crate) fn runtime(&self) -> &Arc<dyn NodeRuntime> {
        &self.inner.runtime
    }

    fn lock_nodes(&self) -> MutexGuard<'_, Vec<Node>> {
        self.inner.nodes.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Reads the bootstrap nodes' configs again: the directory is the
    /// source of truth, and another process (or an earlier start with
    /// `reuse_dynamic_ports`) may have changed them.
    fn reload_nodes(&self) -> Result<()> {
        let mut fresh = load_nodes(self.dir())?;
        let mut nodes = self.lock_nodes();
        fresh.retain(|n| nodes.iter().any(|m| m.id() == n.id()));
        if fresh.len() == nodes.len() {
            *nodes = fresh;
        }
        Ok(())
    }

    /// Before a start or restart: secret files private again, node configs
    /// as they are on disk.
    fn prepare_start(&self) -> Result<()> {
        self.check_complete()?;
        keep_secrets_private(self.dir(), self.kind().as_ref())?;
        self.reload_nodes()
    }

    /// The nodes, with whatever addresses the runtime must fix before a
    /// start (fresh ones when `fresh`), each checked to be startable.
    fn ready_nodes(&self, fresh: bool) -> Result<Vec<Node>> {
        let nodes = {
            let mut nodes = self.lock_nodes();
            self.runtime().assign_ports(&mut nodes, fresh)?;
            nodes.clone()
        };
        let members = self.members(&nodes);
        for node in &nodes {
            self.runtime().preflight(node, &members)?;
        }
        Ok(nodes)
    }

    /// A handle on the node `id` (bootstrap or ephemeral).
    pub fn node(&self, id: &str) -> Result<NodeHandle> {
        let mut all = self.nodes();
        all.extend(self.ephemeral_nodes()?);
        all.into_iter()
            .find(|n| n.id() == id)
            .map(|n| NodeHandle::new(self.clone(), n))
            .ok_or_else(|| {
                Error::InvalidInput(format!(
                    "network {} has no node {id:?}; `tmpnetctl status` lists its nodes",
                    self.dir().display()
                ))
            })
    }

    /// Handles on the bootstrap nodes, in order.
    pub fn node_handles(&self) -> Vec<NodeHandle> {
        self.nodes()
            .into_iter()
            .map(|n| NodeHandle::new(self.clone(), n))
            .collect()
    }

    /// Starts every node and waits until all are healthy (see
    /// [`Network::start_with_progress`]).
    pub async fn start(&self, timeout: Duration) -> Result<()> {
        self.start_with_progress(timeout, &quiet).await
    }

    /// Starts every node and waits until all are healthy, reporting each
    /// step to `progress`. Where addresses are known only once a node runs,
    /// the first node starts with no peers and the others are given it;
    /// where every address is known up front, all start at once, each told
    /// of the nodes before it. On any failure every node this call started
    /// is stopped again; when the failure was a port taken by another
    /// program, the start is tried again with fresh ports. Fails if any
    /// node is already running.
    pub async fn start_with_progress(
        &self,
        timeout: Duration,
        progress: &(dyn Fn(Progress) + Sync),
    ) -> Result<()> {
        let _lock = lock::lock(self.dir()).await?;
        let result = self.start_locked(timeout, progress).await;
        self.refresh_discovery().await;
        result
    }

    /// Brings the discovery entries in line with the running nodes; a
    /// failure is a warning (the nodes are fine, only not discovered).
    async fn refresh_discovery(&self) {
        if let Err(e) = self.sync_discovery().await {
            tracing::warn!(network = %self.dir().display(), error = %e, "cannot update the Prometheus discovery entries");
        }
    }

    async fn start_locked(
        &self,
        timeout: Duration,
        progress: &(dyn Fn(Progress) + Sync),
    ) -> Result<()> {
        let running = self.running_nodes().await?;
        if !running.is_empty() {
            return Err(Error::AlreadyRunning {
                dir: self.dir().to_owned(),
                nodes: running.join(", "),
            });
        }
        self.prepare_start()?;
        progress(Progress::Starting {
            nodes: self.lock_nodes().len(),
        });
        let deadline = deadline_after(timeout);
        let mut attempt = 1;
        loop {
            self.runtime().allow_starts(true);
            let nodes = self.ready_nodes(attempt > 1)?;
            let Err(e) = self.start_once(&nodes, deadline, timeout, progress).await else {
                return Ok(());
            };
            progress(Progress::Stopping);
            if let Err(stop) = self.stop_locked().await {
                return Err(Error::Multiple(vec![e, stop]));
            }
            if !self.runtime().is_port_conflict(&evidence(&e)) {
                return Err(e);
            }
            if attempt == PORT_ATTEMPTS {
                return Err(Error::PortsTaken {
                    attempts: attempt,
                    last: Box::new(e),
                });
            }
            tracing::warn!(error = %e, "a port was taken; retrying with fresh ports");
            progress(Progress::Retrying {
                reason: "a port was taken by another program".into(),
            });
            attempt += 1;
        }
    }

    /// One bootstrap and health wait. Each node's start is bounded by the
    /// runtime's own init timeout, so the bootstrap is not cancelled from
    /// outside (a cancelled start could spawn a node after a stop read the
    /// records).
    async fn start_once(
        &self,
        nodes: &[Node],
        deadline: tokio::time::Instant,
        timeout: Duration,
        progress: &(dyn Fn(Progress) + Sync),
    ) -> Result<()> {
        self.bootstrap(nodes, progress).await?;
        self.wait_healthy(nodes.iter().collect(), deadline, timeout, progress)
            .await
    }

    /// Every bootstrap node with its planned address, when every address
    /// is fixed before the start; else empty.
    fn members(&self, nodes: &[Node]) -> Vec<Peer> {
        nodes
            .iter()
            .map(|n| self.runtime().planned_endpoint(n).map(|e| peer(n, &e)))
            .collect::<Option<Vec<Peer>>>()
            .unwrap_or_default()
    }

    async fn bootstrap(&self, nodes: &[Node], progress: &(dyn Fn(Progress) + Sync)) -> Result<()> {
        let planned: Option<Vec<Endpoint>> = nodes
            .iter()
            .map(|n| self.runtime().planned_endpoint(n))
            .collect();
        let members = self.members(nodes);
        let plan = match planned {
            // Every address is known: start all at once, each node told
            // of the nodes before it.
            Some(endpoints) => nodes
                .iter()
                .enumerate()
                .map(|(i, node)| {
                    let earlier = nodes[..i]
                        .iter()
                        .zip(&endpoints)
                        .map(|(n, e)| peer(n, e))
                        .collect();
                    (node.clone(), earlier)
                })
                .collect(),
            None => {
                let (first, rest) = nodes.split_first().ok_or_else(|| Error::NotANetwork {
                    path: self.dir().to_owned(),
                    reason: "it has no nodes".into(),
                })?;
                let endpoint = self.runtime().start(first, &[], &[]).await?;
                progress(Progress::Started {
                    node: first.id().to_owned(),
                    uri: endpoint.uri.clone(),
                });
                let peers = vec![peer(first, &endpoint)];
                rest.iter().map(|n| (n.clone(), peers.clone())).collect()
            }
        };
        self.start_parallel(plan, &members, progress).await
    }

    /// Starts each node with its peers, all at the same time; if any fails,
    /// the others are still awaited so every start has finished (and a
    /// failed one cleaned up) before this returns.
    async fn start_parallel(
        &self,
        plan: Vec<(Node, Vec<Peer>)>,
        members: &[Peer],
        progress: &(dyn Fn(Progress) + Sync),
    ) -> Result<()> {
        let mut set = tokio::task::JoinSet::new();
        for (node, peers) in plan {
            let runtime = self.runtime().clone();
            let members = members.to_vec();
            set.spawn(async move {
                let result = runtime.start(&node, &peers, &members).await;
                (node, result)
            });
        }
        let mut errors = Vec::new();
        while let Some(joined) = set.join_next().await {
            match joined {
                Ok((node, Ok(endpoint))) => progress(Progress::Started {
                    node: node.id().to_owned(),
                    uri: endpoint.uri,
                }),
                Ok((_, Err(e))) => errors.push(e),
                Err(e) => errors.push(Error::Task {
                    what: "node start",
                    source: e,
                }),
            }
        }
        Error::join(errors)
    }

    /// Stops every node: all are signalled first, then awaited; a node that
    /// outlives the grace period is killed. Stale state files are removed.
    /// Then the runtime releases the network (on Kubernetes: every object
    /// of the network is deleted).
    pub async fn stop(&self) -> Result<()> {
        let _lock = lock::lock(self.dir()).await?;
        let result = self.stop_locked().await;
        self.refresh_discovery().await;
        if result.is_ok() {
            // Test code's own targets go with the network.
            if let Err(e) = self.remove_discovery() {
                tracing::warn!(network = %self.dir().display(), error = %e, "cannot remove the Prometheus discovery entries");
            }
        }
        result
    }

    async fn stop_locked(&self) -> Result<()> {
        // No start of this runtime may spawn a node after this point, and
        // one spawning right now has recorded it once this returns.
        self.runtime().allow_starts(false);
        let mut all = self.ephemeral_nodes()?;
        all.extend(self.nodes());
        let mut errors = Vec::new();
        for node in &all {
            if let Err(e) = self.runtime().initiate_stop(node).await {
                errors.push(e);
            }
        }
        let mut set = tokio::task::JoinSet::new();
        for node in all {
            let runtime = self.runtime().clone();
            set.spawn(async move { runtime.wait_for_stopped(&node).await });
        }
        while let Some(joined) = set.join_next().await {
            match joined {
                Ok(Ok(())) => {}
                Ok(Err(e)) => errors.push(e),
                Err(e) => errors.push(Error::Task {
                    what: "node stop",
                    source: e,
                }),
            }
        }
        // Processes of the network that no node directory accounts for
        // (a directory removed while its node ran).
        let known: Vec<String> = self
            .nodes()
            .iter()
            .chain(self.ephemeral_nodes().unwrap_or_default().iter())
            .map(|n| n.id().to_owned())
            .collect();
        match self.runtime().stop_unlisted(&known).await {
            Ok(stopped) if !stopped.is_empty() => tracing::warn!(
                network = %self.dir().display(),
                pids = ?stopped,
                "stopped processes of nodes whose directories are gone"
            ),
            Ok(_) => {}
            Err(e) => errors.push(e),
        }
        if errors.is_empty() {
            if let Err(e) = self.runtime().network_stopped().await {
                errors.push(e);
            }
        }
        Error::join(errors)
    }

    /// Restarts the network so that every node runs afresh, then waits for
    /// health (see [`Network::restart_with_progress`]).
    pub async fn restart(&self, timeout: Duration) -> Result<()> {
        self.restart_with_progress(timeout, &quiet).await
    }

    /// Restarts the network so that every node runs afresh, then waits for
    /// health, reporting each step to `progress`. A fully stopped network
    /// is started; otherwise nodes are restarted (or started) one at a
    /// time, each given every other running node as a peer, so the network
    /// stays connected throughout. Where a restart changes a node's address
    /// (pods), each node is given only the nodes already restarted, whose
    /// addresses are final.
    pub async fn restart_with_progress(
        &self,
        timeout: Duration,
        progress: &(dyn Fn(Progress) + Sync),
    ) -> Result<()> {
        let _lock = lock::lock(self.dir()).await?;
        let result = self.restart_locked(timeout, progress).await;
        self.refresh_discovery().await;
        result
    }

    async fn restart_locked(
        &self,
        timeout: Duration,
        progress: &(dyn Fn(Progress) + Sync),
    ) -> Result<()> {
        if self.running_nodes().await?.is_empty() {
            return self.start_locked(timeout, progress).await;
        }
        self.prepare_start()?;
        let deadline = deadline_after(timeout);
        self.runtime().allow_starts(true);
        // Nothing is stopped before every node is known to start again.
        let mut nodes = self.ready_nodes(false)?;
        let members = self.members(&nodes);
        let stable = self.runtime().addresses_survive_restart();
        for i in 0..nodes.len() {
            let peers = if stable {
                self.running_peers(&nodes, |j| j != i).await?
            } else {
                self.running_peers(&nodes, |j| j < i).await?
            };
            let runtime = self.runtime().clone();
            let node = &mut nodes[i];
            let endpoint = match runtime.state(node).await? {
                NodeState::Running { .. } => runtime.restart(node, &peers, &members).await?,
                _ => runtime.start(node, &peers, &members).await?,
            };
            // The runtime may have pinned a port in the node's config.
            if let Some(kept) = self.lock_nodes().get_mut(i) {
                *kept = node.clone();
            }
            progress(Progress::Started {
                node: node.id().to_owned(),
                uri: endpoint.uri,
            });
        }
        self.wait_healthy(nodes.iter().collect(), deadline, timeout, progress)
            .await
    }

    /// The ephemeral nodes added to this network (running or not).
    pub fn ephemeral_nodes(&self) -> Result<Vec<Node>> {
        let dir = self.dir().join(EPHEMERAL_DIR);
        if !dir.exists() {
            return Ok(Vec::new());
        }
        load_nodes(&dir)
    }

    /// Creates (but does not start) a node that will not be a bootstrap
    /// peer. Register its stop before [`Network::start_ephemeral_node`], so
    /// a test cancelled during the start still stops it; [`Network::stop`]
    /// stops it too.
    pub fn create_ephemeral_node(&self) -> Result<Node> {
        let dir = self.dir().join(EPHEMERAL_DIR);
        files::create_dir_all(&dir)?;
        let index = self.lock_nodes().len() + self.ephemeral_nodes()?.len();
        let mut node = [Node::create(&dir, self.kind().new_node(index)?)?];
        self.runtime().assign_ports(&mut node, false)?;
        let [node] = node;
        Ok(node)
    }

    /// Starts an ephemeral node with every running node as its peer and
    /// waits until it is healthy; on failure it is stopped again.
    pub async fn start_ephemeral_node(&self, node: &Node, timeout: Duration) -> Result<()> {
        let _lock = lock::lock(self.dir()).await?;
        let nodes = self.nodes();
        let peers = self.running_peers(&nodes, |_| true).await?;
        let deadline = deadline_after(timeout);
        self.runtime().allow_starts(true);
        // An ephemeral node joins; it is not one of the bootstrap members.
        let result = match self
            .runtime()
            .start(node, &peers, &self.members(&nodes))
            .await
        {
            Ok(_) => {
                self.wait_healthy(vec![node], deadline, timeout, &quiet)
                    .await
            }
            Err(e) => Err(e),
        };
        if let Err(e) = result {
            let _ = self.stop_node_locked(node).await;
            self.refresh_discovery().await;
            return Err(e);
        }
        self.refresh_discovery().await;
        Ok(())
    }

    /// Stops one node (SIGTERM, then SIGKILL after the grace period).
    pub async fn stop_node(&self, node: &Node) -> Result<()> {
        let _lock = lock::lock(self.dir()).await?;
        let result = self.stop_node_locked(node).await;
        self.refresh_discovery().await;
        result
    }

    async fn stop_node_locked(&self, node: &Node) -> Result<()> {
        self.runtime().initiate_stop(node).await?;
        self.runtime().wait_for_stopped(node).await
    }

    /// The running nodes among `nodes` whose index `pick` accepts, as peers.
    async fn running_peers(
        &self,
        nodes: &[Node],
        pick: impl Fn(usize) -> bool,
    ) -> Result<Vec<Peer>> {
        let mut peers = Vec::new();
        let picked = nodes.iter().enumerate().filter(|(i, _)| pick(*i));
        for node in picked.map(|(_, n)| n) {
            if let NodeState::Running {
                endpoint: Some(e), ..
            } = self.runtime().state(node).await?
            {
                peers.push(peer(node, &e));
            }
        }
        Ok(peers)
    }

    /// The running bootstrap nodes as peers, for a node that joins from
    /// outside the network (the bootstrap monitor's).
    pub async fn running_bootstrap_peers(&self) -> Result<Vec<Peer>> {
        let nodes = self.nodes();
        self.running_peers(&nodes, |_| true).await
    }

    /// What the runtime knows of one node of this network.
    pub(crate) async fn node_state(&self, node: &Node) -> Result<NodeState> {
        self.runtime().state(node).await
    }

    /// Ids of the nodes whose process is alive.
    pub async fn running_nodes(&self) -> Result<Vec<String>> {
        let mut running = Vec::new();
        for node in self.nodes() {
            if self.runtime().state(&node).await?.is_running() {
                running.push(node.id().to_owned());
            }
        }
        Ok(running)
    }

    /// The API URIs of the running nodes, reachable from here.
    pub async fn node_uris(&self) -> Result<Vec<String>> {
        let mut uris = Vec::new();
        for node in self.nodes() {
            if let Some(uri) = self.runtime().accessible_uri(&node).await? {
                uris.push(uri);
            }
        }
        Ok(uris)
    }

    /// Each node's state and health, in bootstrap order.
    pub async fn status(&self) -> Result<Vec<NodeStatus>> {
        self.check_complete()?;
        self.refresh_discovery().await;
        let mut out = Vec::new();
        for node in self.nodes() {
            out.push(health::node_status(self.runtime().as_ref(), &node).await?);
        }
        Ok(out)
    }

    /// Every bootstrap node's health, without waiting. A stopped node is
    /// unhealthy.
    pub async fn check_health(&self) -> Result<Vec<(String, Health)>> {
        self.check_complete()?;
        let mut out = Vec::new();
        for node in self.nodes() {
            let health = health::health_now(self.runtime().as_ref(), &node).await?;
            out.push((node.id().to_owned(), health));
        }
        Ok(out)
    }
}

/// What a JSON value is, for errors: "an empty object", "an array", ...
fn json_shape(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Object(m) if m.is_empty() => "an empty object",
        serde_json::Value::Object(_) => "an object",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
    }
}

/// Restores mode 0600 on the kind's secret files in the network directory
/// (someone may have loosened it), warning when it had to.
fn keep_secrets_private(dir: &Path, kind: &dyn NodeKind) -> Result<()> {
    for name in kind.secret_files() {
        files::keep_private(&dir.join(name))?;
    }
    Ok(())
}

/// The recorded bootstrap nodes without a directory: by id, or for a
/// network that recorded no ids, as a count.
fn missing_nodes(config: &NetworkConfig, nodes: &[Node]) -> Vec<String> {
    if config.node_ids.is_empty() {
        return match config.node_count.checked_sub(nodes.len()) {
            Some(0) | None => Vec::new(),
            Some(n) => vec![format!("{n} of its {} nodes", config.node_count)],
        };
    }
    config
        .node_ids
        .iter()
        .filter(|id| !nodes.iter().any(|n| n.id() == id.as_str()))
        .cloned()
        .collect()
}

/// The nodes in `dir` (each a subdirectory with a `config.json`), in index
/// order.
fn load_nodes(dir: &Path) -> Result<Vec<Node>> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io("cannot read", dir, e))?;
    let mut nodes = Vec::new();
    for entry in entries.filter_map(|e| e.ok()) {
        let path = entry.path();
        if path.join(node::CONFIG_FILE).is_file() {
            nodes.push(Node::load(&path)?);
        }
    }
    nodes.sort_by_key(|n| n.config.index);
    Ok(nodes)
}

/// Every line of evidence in an error (and in the errors it joins): the
/// reasons given and the log tails quoted.
fn evidence(e: &Error) -> Vec<String> {
    match e {
        Error::StartFailed {
            reason: why,
            log_tail,
            ..
        }
        | Error::NotRunning {
            detail: why,
            log_tail,
            ..
        }
        | Error::Failed {
            detail: why,
            log_tail,
            ..
        } => std::iter::once(why.clone())
            .chain(log_tail.iter().cloned())
            .collect(),
        Error::NotHealthy { unhealthy, .. } => unhealthy
            .iter()
            .flat_map(|n| std::iter::once(n.reason.clone()).chain(n.log_tail.iter().cloned()))
            .collect(),
        Error::Multiple(errors) => errors.iter().flat_map(evidence).collect(),
        _ => Vec::new(),
    }
}

/// The kind of the network in `dir`: from its kind file when it has one
/// (whose name must be the one recorded), else by name from this program.
fn kind_of_network(dir: &Path, name: &str) -> Result<Arc<dyn NodeKind>> {
    if let Some(kind) = kinds::file::load_from_network(dir)? {
        if kind.name() != name {
            return Err(Error::NotANetwork {
                path: dir.to_owned(),
                reason: format!(
                    "its {} describes kind {:?} but its {CONFIG_FILE} records {name:?}; restore the network's own kind file",
                    kinds::file::KIND_FILE,
                    kind.name()
                ),
            });
        }
        return Ok(Arc::new(kind));
    }
    kinds::by_name(name).map_err(|e| match e {
        Error::UnknownNodeKind { name, known } => Error::KindNotInProgram {
            dir: dir.to_owned(),
            name,
            known,
        },
        other => other,
    })
}

fn peer(node: &Node, endpoint: &Endpoint) -> Peer {
    Peer {
        node_id: node.id().to_owned(),
        p2p_address: endpoint.p2p_address.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::{HealthContext, LaunchContext, LocalDaemon, Placement};
    use crate::model::{Flags, NodeConfig};

    /// A daemon that runs only as a local process (it has no pod).
    #[derive(Debug)]
    struct LocalOnly;

    #[async_trait::async_trait]
    impl NodeKind for LocalOnly {
        fn name(&self) -> &str {
            "local-only"
        }
        fn new_node(&self, index: usize) -> Result<NodeConfig> {
            Ok(kinds::node_with_random_id("lo", index))
        }
        fn default_flags(&self, _: Placement) -> Flags {
            Flags::new()
        }
        fn forced_flags(&self, _: &LaunchContext<'_>) -> Result<Flags> {
            Ok(Flags::new())
        }
        async fn check_health(&self, _: &HealthContext<'_>) -> Health {
            Health::Healthy
        }
        fn local(&self) -> Option<&dyn LocalDaemon> {
            // Borrows refnode's binary and arguments.
            Some(&kinds::refnode::RefNode)
        }
    }

    #[test]
    fn a_kind_without_the_capability_fails_at_create_and_writes_nothing() {
        let root = tempfile::tempdir().unwrap();
        let spec = NetworkSpec::new(root.path(), 2).with_kube(KubeSettings::new("tmpnet", "x"));
        let err = Network::create_of_kind(&spec, Arc::new(LocalOnly))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("\"local-only\" cannot run in a pod") && err.contains("local processes"),
            "{err}"
        );
        assert!(!root.path().join("networks").exists(), "nothing written");
        // As local processes it is created.
        let spec = NetworkSpec::new(root.path(), 2).with_node_path("/bin/true");
        let network = Network::create_of_kind(&spec, Arc::new(LocalOnly)).unwrap();
        assert_eq!(network.nodes().len(), 2);
    }

    #[test]
    fn loading_a_network_makes_its_secret_files_private_again() {
        use std::os::unix::fs::PermissionsExt;
        let root = tempfile::tempdir().unwrap();
        let spec = NetworkSpec::new(root.path(), 1)
            .with_kind("bitcoind")
            .with_node_path("/bin/true");
        let network = Network::create(&spec).unwrap();
        let secret = network.dir().join("rpc.json");
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&secret), 0o600);
        std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o644)).unwrap();
        Network::load(network.dir()).unwrap();
        assert_eq!(mode(&secret), 0o600, "restored on load");
    }

    #[test]
    fn clones_of_a_network_share_its_nodes() {
        let root = tempfile::tempdir().unwrap();
        let spec = NetworkSpec::new(root.path(), 2).with_node_path("/bin/true");
        let network = Network::create(&spec).unwrap();
        let clone = network.clone();
        {
            let mut nodes = network.lock_nodes();
            nodes[1].config.ports.insert("rpc".into(), 4242);
        }
        assert_eq!(clone.nodes()[1].config.ports["rpc"], 4242);
        assert_eq!(
            clone.node(network.nodes()[0].id()).unwrap().id(),
            network.nodes()[0].id()
        );
        let err = clone.node("nope").unwrap_err().to_string();
        assert!(
            err.contains("\"nope\"") && err.contains("tmpnetctl status"),
            "{err}"
        );
    }
}
