//! Orchestration: the only module that puts node kinds and runtimes
//! together. A [`Network`] is created from a [`NetworkSpec`] or loaded from
//! its directory; it bootstraps, stops and restarts its nodes, waits for
//! health, renders manifests and attaches to networks kept in a cluster.

#[cfg(feature = "kube")]
mod attach;
mod bootstrap;
mod discovery;
mod ephemeral;
mod handle;
mod health;
#[cfg(test)]
#[cfg(feature = "kube")]
mod kube_contract_tests;
mod lock;
mod logs;
mod logtime;
mod open;
mod prune;
#[cfg(feature = "kube")]
mod render;
mod rescue;
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

use open::load_nodes;

use crate::error::{Error, Result};
use crate::kinds::NodeKind;
use crate::model::{Endpoint, KubeSettings, NetworkConfig, Node, NodeState, Peer};
use crate::runtime::NodeRuntime;

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
    /// Attaches to the Kubernetes network `name` (its state ConfigMap, e.g.
    /// `tmpnet-0f1e2d3c`) in the namespace of `settings`: writes its
    /// directory under `root` and loads it, reaching the cluster with
    /// `settings`' kubeconfig and context rather than its creator's.
    pub async fn attach(settings: &KubeSettings, name: &str, root: &Path) -> Result<Network> {
        #[cfg(feature = "kube")]
        return attach::attach(settings, name, root).await;
        #[cfg(not(feature = "kube"))]
        {
            let _ = (settings, root);
            Err(Error::feature_disabled(
                "kube",
                format!("attaching to the network {name} on Kubernetes"),
            ))
        }
    }

    /// Every Kubernetes manifest a new network of `spec` (which must ask
    /// for Kubernetes) would create, as YAML, without writing under the
    /// root or contacting a cluster (like `helm template`).
    pub fn render(spec: &NetworkSpec) -> Result<String> {
        #[cfg(feature = "kube")]
        return render::render(spec);
        #[cfg(not(feature = "kube"))]
        {
            let _ = spec;
            Err(Error::feature_disabled(
                "kube",
                "rendering Kubernetes manifests",
            ))
        }
    }

    /// The network's name on Kubernetes (its state ConfigMap), for a
    /// network that runs there.
    pub fn cluster_name(&self) -> Option<String> {
        // Without the `kube` feature no network on Kubernetes loads.
        #[cfg(feature = "kube")]
        if let crate::model::RuntimeSettings::Kube(_) = &self.config().runtime {
            return Some(crate::runtime::kube::manifests::network_name(
                &self.config().uuid,
            ));
        }
        None
    }

    /// The network directory (absolute, canonical).
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// The network's configuration.
    pub fn config(&self) -> &NetworkConfig {
        &self.inner.config
    }

    /// Handles on its bootstrap nodes, in order.
    pub fn nodes(&self) -> Vec<NodeHandle> {
        self.handles(self.node_records())
    }

    /// The bootstrap nodes' records (directory and configuration), in
    /// order.
    pub(crate) fn node_records(&self) -> Vec<Node> {
        self.lock_nodes().clone()
    }

    fn handles(&self, nodes: Vec<Node>) -> Vec<NodeHandle> {
        nodes
            .into_iter()
            .map(|n| NodeHandle::new(self.clone(), n))
            .collect()
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

    /// A handle on the node `id` (bootstrap or ephemeral).
    pub fn node(&self, id: &str) -> Result<NodeHandle> {
        let mut all = self.node_records();
        all.extend(self.ephemeral_records()?);
        match all.iter().position(|n| n.id() == id) {
            Some(at) => Ok(NodeHandle::new(self.clone(), all.swap_remove(at))),
            None => Err(Error::UnknownNode {
                network: self.dir().to_owned(),
                node: id.to_owned(),
                known: all.iter().map(|n| n.id().to_owned()).collect(),
            }),
        }
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
        let nodes = self.node_records();
        self.running_peers(&nodes, |_| true).await
    }

    /// What the runtime knows of one node of this network.
    pub(crate) async fn node_state(&self, node: &Node) -> Result<NodeState> {
        self.runtime().state(node).await
    }

    /// Ids of the nodes whose process is alive.
    pub async fn running_nodes(&self) -> Result<Vec<String>> {
        let mut running = Vec::new();
        for node in self.node_records() {
            if self.runtime().state(&node).await?.is_running() {
                running.push(node.id().to_owned());
            }
        }
        Ok(running)
    }

    /// The API URIs of the running nodes, reachable from here.
    pub async fn node_uris(&self) -> Result<Vec<String>> {
        let mut uris = Vec::new();
        for node in self.node_records() {
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
        for node in self.node_records() {
            out.push(health::node_status(self.runtime().as_ref(), &node).await?);
        }
        Ok(out)
    }

    /// Every bootstrap node's state and health now, without waiting, in
    /// bootstrap order: [`Network::status`] without refreshing the metrics
    /// discovery files. A stopped node is unhealthy.
    pub async fn check_health(&self) -> Result<Vec<NodeStatus>> {
        self.check_complete()?;
        let mut out = Vec::new();
        for node in self.node_records() {
            out.push(health::node_status(self.runtime().as_ref(), &node).await?);
        }
        Ok(out)
    }
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
    #[cfg(feature = "kube")]
    use crate::kinds::{self, HealthContext, LaunchContext, LocalDaemon, Placement};
    #[cfg(feature = "kube")]
    use crate::model::{Flags, Health, NodeConfig};

    /// A daemon that runs only as a local process (it has no pod).
    #[cfg(feature = "kube")]
    #[derive(Debug)]
    struct LocalOnly;

    #[cfg(feature = "kube")]
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
    #[cfg(feature = "kube")]
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
        assert_eq!(network.node_records().len(), 2);
    }

    /// Without the `kube` feature a network on Kubernetes is neither made
    /// nor loaded: one line names the feature, and nothing is written.
    #[test]
    #[cfg(not(feature = "kube"))]
    fn kube_networks_without_the_feature_name_it() {
        let root = tempfile::tempdir().unwrap();
        let kube = KubeSettings::new("tmpnet", "x");
        let spec = NetworkSpec::new(root.path(), 2).with_kube(kube.clone());
        let err = Network::create(&spec).unwrap_err().to_string();
        assert!(err.contains("`kube` feature"), "{err}");
        assert!(!root.path().join("networks").exists(), "nothing written");
        assert!(Network::render(&spec)
            .unwrap_err()
            .to_string()
            .contains("`kube` feature"));
        // A network a kube-enabled program made is refused on load.
        let spec = NetworkSpec::new(root.path(), 1).with_node_path("/bin/true");
        let network = Network::create(&spec).unwrap();
        let file = network.dir().join(crate::model::network::CONFIG_FILE);
        let mut config: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
        config["runtime"] =
            serde_json::to_value(crate::model::RuntimeSettings::Kube(kube)).unwrap();
        std::fs::write(&file, serde_json::to_vec(&config).unwrap()).unwrap();
        let err = Network::load(network.dir()).unwrap_err().to_string();
        assert!(err.contains("`kube` feature"), "{err}");
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
        assert_eq!(clone.node_records()[1].config.ports["rpc"], 4242);
        assert_eq!(
            clone.node(network.node_records()[0].id()).unwrap().id(),
            network.node_records()[0].id()
        );
        let err = clone.node("nope").unwrap_err().to_string();
        assert!(
            err.contains("\"nope\"") && err.contains("tmpnetctl status"),
            "{err}"
        );
    }
}
