//! A network: its directory on disk, its nodes, and the operations on all of
//! them together (bootstrap, stop, restart, health, status).
//!
//! ```text
//! <network dir>/
//!   config.json    NetworkConfig
//!   network.env    export TMPNET_NETWORK_DIR=<absolute dir>
//!   <node id>/     one directory per node (see crate::node)
//! ```

mod config;
mod health;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

pub use config::{
    KubeConfig, NetworkConfig, ProcessConfig, RuntimeConfig, SchedulingLabel, MIN_VOLUME_GIB,
    SCHEMA_VERSION,
};
pub use health::{NodeStatus, Progress};

use crate::error::{Error, Result};
use crate::flags::Flags;
use crate::fsutil;
use crate::kinds::{self, Endpoint, NodeKind, Peer, PortDiscovery};
use crate::layout;
use crate::node::{self, Node};
use crate::runtime::{self, NodeRuntime, NodeState};

/// File name of the network's configuration.
pub const CONFIG_FILE: &str = "config.json";
/// File name of the shell snippet that targets the network.
pub const ENV_FILE: &str = "network.env";
/// Directory of ephemeral nodes (not bootstrap peers, added by tests).
pub const EPHEMERAL_DIR: &str = "ephemeral";
/// The most nodes one network may have.
pub const MAX_NODES: usize = 256;
/// How many times a start is tried when ports turn out to be taken.
pub const PORT_ATTEMPTS: usize = 3;
/// How long a network may take to become healthy unless told otherwise.
pub const DEFAULT_START_TIMEOUT: Duration = Duration::from_secs(120);

/// `now + timeout`, or a year from now when that overflows (a timeout can
/// come from user input).
pub fn deadline_after(timeout: Duration) -> tokio::time::Instant {
    let now = tokio::time::Instant::now();
    now.checked_add(timeout)
        .unwrap_or_else(|| now + Duration::from_secs(365 * 24 * 3600))
}

/// What to create: the inputs of [`Network::create`].
#[derive(Debug, Clone)]
pub struct NetworkSpec {
    /// The root directory (networks go in `<root>/networks/`).
    pub root_dir: PathBuf,
    /// Number of nodes, 1 to [`MAX_NODES`].
    pub node_count: usize,
    /// The node kind's name.
    pub node_kind: String,
    /// The node binary; found by [`kinds::locate_binary`] when `None`.
    pub node_path: Option<PathBuf>,
    /// Flags for every node.
    pub default_flags: Flags,
    /// Extra flags for single nodes, by index.
    pub node_flags: Vec<(usize, Flags)>,
    /// Keep API ports across restarts.
    pub reuse_dynamic_ports: bool,
    /// Free-text owner.
    pub owner: String,
    /// Run on Kubernetes with these settings (an empty image means the
    /// kind's default); local processes when `None`.
    pub kube: Option<KubeConfig>,
}

impl NetworkSpec {
    /// A spec with defaults: `count` refnodes under `root_dir`.
    pub fn new(root_dir: impl Into<PathBuf>, count: usize) -> Self {
        NetworkSpec {
            root_dir: root_dir.into(),
            node_count: count,
            node_kind: kinds::DEFAULT_KIND.to_owned(),
            node_path: None,
            default_flags: Flags::new(),
            node_flags: Vec::new(),
            reuse_dynamic_ports: false,
            owner: String::new(),
            kube: None,
        }
    }
}

/// A network loaded from (or just written to) its directory.
#[derive(Debug, Clone)]
pub struct Network {
    dir: PathBuf,
    config: NetworkConfig,
    nodes: Vec<Node>,
    kind: Arc<dyn NodeKind>,
    runtime: Arc<dyn NodeRuntime>,
}

impl Network {
    /// Validates `spec` and writes a new network directory (nothing runs
    /// yet). Bad input is rejected before anything is written.
    pub fn create(spec: &NetworkSpec) -> Result<Network> {
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
        let kind = kinds::by_name(&spec.node_kind)?;
        let runtime = match &spec.kube {
            Some(kube) => RuntimeConfig::Kube(Self::kube_settings(kube, kind.as_ref())?),
            None => Self::process_settings(spec, kind.as_ref())?,
        };
        let dir = layout::create_network_dir(&spec.root_dir)?;
        let config = NetworkConfig {
            schema_version: SCHEMA_VERSION,
            uuid: uuid::Uuid::new_v4().to_string(),
            owner: spec.owner.clone(),
            node_kind: kind.name().to_owned(),
            node_count: spec.node_count,
            default_flags: spec.default_flags.clone(),
            runtime,
        };
        let result = Self::write_new(&dir, config, kind, spec);
        if result.is_err() {
            let _ = std::fs::remove_dir_all(&dir);
        }
        result
    }

    fn kube_settings(kube: &KubeConfig, kind: &dyn NodeKind) -> Result<KubeConfig> {
        if kube.volume_size_gib < MIN_VOLUME_GIB {
            return Err(Error::InvalidInput(format!(
                "--kube-volume-size {} is below the minimum; use {MIN_VOLUME_GIB} (GiB) or more",
                kube.volume_size_gib
            )));
        }
        if kube.namespace.is_empty()
            || kube.namespace.len() > 63
            || !kube
                .namespace
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            || kube.namespace.starts_with('-')
            || kube.namespace.ends_with('-')
        {
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
            kube.image = kind.pod_profile().default_image.to_owned();
        }
        Ok(kube)
    }

    fn process_settings(spec: &NetworkSpec, kind: &dyn NodeKind) -> Result<RuntimeConfig> {
        // Without an explicit path, a program embedding the node runs it
        // itself: always the node of the same build, nothing to find.
        let embedded = match (&spec.node_path, crate::embedded::program()) {
            (None, Some(program)) if kind.is_embedded() => Some(program),
            _ => None,
        };
        let node_path = match &embedded {
            Some(program) => program.clone(),
            None => kinds::locate_binary(kind, spec.node_path.as_deref())?,
        };
        Ok(RuntimeConfig::Process(ProcessConfig {
            reuse_dynamic_ports: spec.reuse_dynamic_ports,
            embedded: embedded.map(|_| kind.name().to_owned()),
            ..ProcessConfig::new(node_path)
        }))
    }

    fn write_new(
        dir: &Path,
        config: NetworkConfig,
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
        kind.init_network(dir)?;
        fsutil::write_json(&dir.join(CONFIG_FILE), &config)?;
        let env = format!("export {}={}\n", layout::NETWORK_DIR_ENV, dir.display());
        fsutil::atomic_write(&dir.join(ENV_FILE), env.as_bytes(), 0o644)?;
        let runtime = runtime::for_network(&config, dir, kind.clone())?;
        Ok(Network {
            dir: dir.to_owned(),
            config,
            nodes,
            kind,
            runtime,
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
        let raw: serde_json::Value = fsutil::read_json(&config_path)?;
        let found = raw
            .get("schemaVersion")
            .and_then(serde_json::Value::as_u64)
            .unwrap_or(0);
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
        let kind = kinds::by_name(&config.node_kind)?;
        let mut nodes = Vec::new();
        let entries = std::fs::read_dir(&dir).map_err(|e| Error::io("cannot read", &dir, e))?;
        for entry in entries.filter_map(|e| e.ok()) {
            let path = entry.path();
            if path.join(node::CONFIG_FILE).is_file() {
                nodes.push(Node::load(&path)?);
            }
        }
        nodes.sort_by_key(|n| n.config.index);
        if nodes.is_empty() {
            return Err(Error::NotANetwork {
                path: dir,
                reason: "it has no node directories".into(),
            });
        }
        let runtime = runtime::for_network(&config, &dir, kind.clone())?;
        Ok(Network {
            dir,
            config,
            nodes,
            kind,
            runtime,
        })
    }

    /// The network directory (absolute, canonical).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The network's configuration.
    pub fn config(&self) -> &NetworkConfig {
        &self.config
    }

    /// Its nodes in bootstrap order.
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// The node kind.
    pub fn kind(&self) -> &Arc<dyn NodeKind> {
        &self.kind
    }

    /// The runtime its nodes run on.
    pub fn runtime(&self) -> &Arc<dyn NodeRuntime> {
        &self.runtime
    }

    /// Starts every node and waits until all are healthy. The first node
    /// starts with no peers; each later node is given every node started
    /// before it. On any failure every node this call started is stopped
    /// again; when the failure was a port taken by another program (for
    /// kinds whose ports the harness allocates), the start is tried again
    /// with fresh ports. Fails if any node is already running.
    pub async fn start(
        &mut self,
        timeout: Duration,
        progress: &(dyn Fn(Progress) + Sync),
    ) -> Result<()> {
        let running = self.running_nodes().await?;
        if !running.is_empty() {
            return Err(Error::AlreadyRunning {
                dir: self.dir.clone(),
                nodes: running.join(", "),
            });
        }
        let deadline = deadline_after(timeout);
        let mut attempt = 1;
        loop {
            self.runtime.allow_starts(true);
            self.runtime.assign_ports(&mut self.nodes, attempt > 1)?;
            let Err(e) = self.start_once(deadline, timeout, progress).await else {
                return Ok(());
            };
            progress(Progress::Stopping);
            if let Err(stop) = self.stop().await {
                return Err(Error::Multiple(vec![e, stop]));
            }
            if !self.kind.is_port_conflict(&evidence(&e)) {
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
        deadline: tokio::time::Instant,
        timeout: Duration,
        progress: &(dyn Fn(Progress) + Sync),
    ) -> Result<()> {
        self.bootstrap(progress).await?;
        self.wait_healthy(self.nodes.iter().collect(), deadline, timeout, progress)
            .await
    }

    async fn bootstrap(&self, progress: &(dyn Fn(Progress) + Sync)) -> Result<()> {
        let upfront = matches!(self.kind.port_discovery(), PortDiscovery::PreAllocated(_))
            && self.runtime.addresses_known_up_front();
        if !upfront {
            let (first, rest) = self.nodes.split_first().ok_or_else(|| Error::NotANetwork {
                path: self.dir.clone(),
                reason: "it has no nodes".into(),
            })?;
            let endpoint = self.runtime.start(first, &[]).await?;
            progress(Progress::Started {
                node: first.id().to_owned(),
                uri: endpoint.uri.clone(),
            });
            let peers = vec![peer(first, &endpoint)];
            let plan = rest.iter().map(|n| (n.clone(), peers.clone())).collect();
            self.start_parallel(plan, progress).await
        } else {
            // Every address is known: start all at once, each node told
            // of the nodes before it.
            let mut plan = Vec::with_capacity(self.nodes.len());
            let mut earlier = Vec::new();
            for node in &self.nodes {
                plan.push((node.clone(), earlier.clone()));
                if let Some(endpoint) = self.kind.endpoint(node) {
                    earlier.push(peer(node, &endpoint));
                }
            }
            self.start_parallel(plan, progress).await
        }
    }

    /// Starts each node with its peers, all at the same time; if any fails,
    /// the others are still awaited so every start has finished (and a
    /// failed one cleaned up) before this returns.
    async fn start_parallel(
        &self,
        plan: Vec<(Node, Vec<Peer>)>,
        progress: &(dyn Fn(Progress) + Sync),
    ) -> Result<()> {
        let mut set = tokio::task::JoinSet::new();
        for (node, peers) in plan {
            let runtime = self.runtime.clone();
            set.spawn(async move {
                let result = runtime.start(&node, &peers).await;
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
                Err(e) => errors.push(Error::InvalidInput(format!("a start task failed: {e}"))),
            }
        }
        Error::join(errors)
    }

    /// Stops every node: all are signalled first, then awaited; a node that
    /// outlives the grace period is killed. Stale state files are removed.
    /// Then the runtime releases the network (on Kubernetes: every object
    /// of the network is deleted).
    pub async fn stop(&self) -> Result<()> {
        // No start of this runtime may spawn a node after this point, and
        // one spawning right now has recorded it once this returns.
        self.runtime.allow_starts(false);
        let mut all = self.ephemeral_nodes()?;
        all.extend(self.nodes.iter().cloned());
        let mut errors = Vec::new();
        for node in &all {
            if let Err(e) = self.runtime.initiate_stop(node).await {
                errors.push(e);
            }
        }
        let mut set = tokio::task::JoinSet::new();
        for node in &all {
            let runtime = self.runtime.clone();
            let node = node.clone();
            set.spawn(async move { runtime.wait_for_stopped(&node).await });
        }
        while let Some(joined) = set.join_next().await {
            match joined {
                Ok(Ok(())) => {}
                Ok(Err(e)) => errors.push(e),
                Err(e) => errors.push(Error::InvalidInput(format!("a stop task failed: {e}"))),
            }
        }
        if errors.is_empty() {
            if let Err(e) = self.runtime.network_stopped().await {
                errors.push(e);
            }
        }
        Error::join(errors)
    }

    /// Restarts the network so that every node runs afresh, then waits for
    /// health. A fully stopped network is started; otherwise nodes are
    /// restarted (or started) one at a time, each given every other running
    /// node as a peer, so the network stays connected throughout. Where a
    /// restart changes a node's address (pods), each node is given only the
    /// nodes already restarted, whose addresses are final.
    pub async fn restart(
        &mut self,
        timeout: Duration,
        progress: &(dyn Fn(Progress) + Sync),
    ) -> Result<()> {
        if self.running_nodes().await?.is_empty() {
            return self.start(timeout, progress).await;
        }
        let deadline = deadline_after(timeout);
        self.runtime.allow_starts(true);
        self.runtime.assign_ports(&mut self.nodes, false)?;
        let stable = self.runtime.addresses_survive_restart();
        for i in 0..self.nodes.len() {
            let peers = if stable {
                self.running_peers_except(i).await?
            } else {
                self.running_peers_among(0..i).await?
            };
            let runtime = self.runtime.clone();
            let node = &mut self.nodes[i];
            let endpoint = match runtime.state(node).await? {
                NodeState::Running { .. } => runtime.restart(node, &peers).await?,
                NodeState::Stopped | NodeState::Stale { .. } => runtime.start(node, &peers).await?,
            };
            progress(Progress::Started {
                node: node.id().to_owned(),
                uri: endpoint.uri,
            });
        }
        self.wait_healthy(self.nodes.iter().collect(), deadline, timeout, progress)
            .await
    }

    /// The ephemeral nodes added to this network (running or not).
    pub fn ephemeral_nodes(&self) -> Result<Vec<Node>> {
        let dir = self.dir.join(EPHEMERAL_DIR);
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::io("cannot read", &dir, e)),
        };
        let mut nodes = Vec::new();
        for entry in entries.filter_map(|e| e.ok()) {
            if entry.path().join(node::CONFIG_FILE).is_file() {
                nodes.push(Node::load(&entry.path())?);
            }
        }
        nodes.sort_by_key(|n| n.config.index);
        Ok(nodes)
    }

    /// Creates (but does not start) a node that will not be a bootstrap
    /// peer. Register its stop before [`Network::start_ephemeral_node`], so
    /// a test cancelled during the start still stops it; [`Network::stop`]
    /// stops it too.
    pub fn create_ephemeral_node(&self) -> Result<Node> {
        let dir = self.dir.join(EPHEMERAL_DIR);
        fsutil::create_dir_all(&dir)?;
        let index = self.nodes.len() + self.ephemeral_nodes()?.len();
        let mut node = [Node::create(&dir, self.kind.new_node(index)?)?];
        self.runtime.assign_ports(&mut node, false)?;
        let [node] = node;
        Ok(node)
    }

    /// Starts an ephemeral node with every running node as its peer and
    /// waits until it is healthy; on failure it is stopped again.
    pub async fn start_ephemeral_node(&self, node: &Node, timeout: Duration) -> Result<()> {
        let peers = self.running_peers_except(usize::MAX).await?;
        let deadline = deadline_after(timeout);
        self.runtime.allow_starts(true);
        let result = match self.runtime.start(node, &peers).await {
            Ok(_) => {
                self.wait_healthy(vec![node], deadline, timeout, &|_| {})
                    .await
            }
            Err(e) => Err(e),
        };
        if let Err(e) = result {
            let _ = self.stop_node(node).await;
            return Err(e);
        }
        Ok(())
    }

    /// Stops one node (SIGTERM, then SIGKILL after the grace period).
    pub async fn stop_node(&self, node: &Node) -> Result<()> {
        self.runtime.initiate_stop(node).await?;
        self.runtime.wait_for_stopped(node).await
    }

    async fn running_peers_except(&self, skip: usize) -> Result<Vec<Peer>> {
        self.running_peers_among((0..self.nodes.len()).filter(|i| *i != skip))
            .await
    }

    async fn running_peers_among(&self, indices: impl Iterator<Item = usize>) -> Result<Vec<Peer>> {
        let mut peers = Vec::new();
        for i in indices {
            let Some(node) = self.nodes.get(i) else {
                continue;
            };
            if let NodeState::Running {
                endpoint: Some(e), ..
            } = self.runtime.state(node).await?
            {
                peers.push(peer(node, &e));
            }
        }
        Ok(peers)
    }

    /// Ids of the nodes whose process is alive.
    pub async fn running_nodes(&self) -> Result<Vec<String>> {
        let mut running = Vec::new();
        for node in &self.nodes {
            if matches!(self.runtime.state(node).await?, NodeState::Running { .. }) {
                running.push(node.id().to_owned());
            }
        }
        Ok(running)
    }

    /// The API URIs of the running nodes, reachable from here.
    pub async fn node_uris(&self) -> Result<Vec<String>> {
        let mut uris = Vec::new();
        for node in &self.nodes {
            if let Some(uri) = self.runtime.accessible_uri(node).await? {
                uris.push(uri);
            }
        }
        Ok(uris)
    }

    /// Each node's state and health, in bootstrap order.
    pub async fn status(&self) -> Result<Vec<NodeStatus>> {
        let mut out = Vec::with_capacity(self.nodes.len());
        for node in &self.nodes {
            out.push(health::node_status(self.runtime.as_ref(), node).await?);
        }
        Ok(out)
    }
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

fn peer(node: &Node, endpoint: &Endpoint) -> Peer {
    Peer {
        node_id: node.id().to_owned(),
        p2p_address: endpoint.p2p_address.clone(),
    }
}
