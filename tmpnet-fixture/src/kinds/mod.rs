//! Node kinds: everything that depends on *which* daemon runs.
//!
//! A [`NodeKind`] is the core every daemon needs: its name, how a node gets
//! its id, the files the network shares, the flags it defaults and the
//! flags it must force, how to tell it is healthy and which log lines mean
//! it failed. Running it somewhere is a separate capability: a
//! [`LocalDaemon`] runs as a local process, a [`PodDaemon`] in a pod. A kind
//! offers the ones it supports; a network asking for a capability its kind
//! lacks fails when it is created, with one line naming both.
//!
//! The library composes a node's flags, lowest precedence first: the kind's
//! [`NodeKind::default_flags`], the network's flags, the node's own flags,
//! then the kind's [`NodeKind::forced_flags`]. A kind never layers flags
//! itself, so none can forget a layer.
//!
//! Nothing else in the library names a specific daemon.

#[cfg(feature = "avalanchego")]
pub mod avalanchego;
pub mod bitcoind;
pub(crate) mod embedded;
pub mod file;
mod jsonrpc;
mod local;
mod pod;
pub mod refnode;
pub mod registry;

use std::fmt;
use std::path::Path;

use async_trait::async_trait;

pub(crate) use local::locate_binary;
pub use local::{LocalDaemon, PortDiscovery};
pub use pod::{PodDaemon, PodExec, PodProfile, SecretsMount, POD_IP, POD_NAME};
pub use registry::{by_name, known};

use crate::error::{Error, Result};
use crate::model::flags::{self, Flags};
use crate::model::{Endpoint, Health, Node, NodeConfig, Peer};
use crate::sys::files;

/// Where a node runs, for the flags that depend on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Placement {
    /// A local process: loopback binds, ports chosen per node, data in the
    /// node directory.
    Local,
    /// A container in a pod: binds on all of the pod's addresses, the
    /// kind's fixed [`PodProfile`] ports, data under
    /// [`PodProfile::data_path`]. Values may use [`POD_IP`] and
    /// [`POD_NAME`], which the pod's environment defines.
    Pod,
}

/// What a kind is told when it forces a node's flags for one start.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct LaunchContext<'a> {
    /// Where the node runs.
    pub placement: Placement,
    /// The network directory (where [`NodeKind::init_network`] wrote the
    /// shared files).
    pub network_dir: &'a Path,
    /// The node being started.
    pub node: &'a Node,
    /// The peers it must connect to.
    pub peers: &'a [Peer],
    /// Every bootstrap node of the network (this one included) with the
    /// address it will have, for daemons that must be given their whole
    /// membership up front (a Raft cluster's initial configuration). Known
    /// only when every address is fixed before the start (local processes
    /// with [`PortDiscovery::PreAllocated`] ports); empty otherwise.
    pub members: &'a [Peer],
}

/// What a kind is given to judge a running node's health.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct HealthContext<'a> {
    /// An HTTP client with short timeouts and no proxy.
    pub http: &'a reqwest::Client,
    /// The network directory.
    pub network_dir: &'a Path,
    /// The node.
    pub node: &'a Node,
    /// Where it can be reached from here.
    pub endpoint: &'a Endpoint,
    /// Its pod, to run commands in, when it runs in one.
    pub in_pod: Option<&'a dyn PodExec>,
}

impl HealthContext<'_> {
    /// The flags the node was last started with (its `flags.json`).
    pub fn started_flags(&self) -> Result<Flags> {
        files::read_json(&self.node.flags_path())
    }
}

/// What every daemon needs, wherever it runs.
#[async_trait]
pub trait NodeKind: Send + Sync + fmt::Debug {
    /// The name used on command lines and in `config.json`.
    fn name(&self) -> &str;

    /// Makes a new node's configuration: its id and any key material kept
    /// as flags. `index` is its place in bootstrap order.
    fn new_node(&self, index: usize) -> Result<NodeConfig>;

    /// Writes files the whole network shares (credentials, genesis) into a
    /// new network directory, once its bootstrap `nodes` exist (with the
    /// files [`NodeKind::new_node`] gave them). The default writes nothing.
    fn init_network(&self, _dir: &Path, _nodes: &[Node]) -> Result<()> {
        Ok(())
    }

    /// Network files that hold secrets: mode 0600 on disk, a Secret (never
    /// a ConfigMap) on Kubernetes. The default is none.
    fn secret_files(&self) -> Vec<String> {
        Vec::new()
    }

    /// The flags a node gets unless the network or the node says otherwise.
    fn default_flags(&self, placement: Placement) -> Flags;

    /// The flags the harness must set whatever the user asked (data
    /// directory, peers, binds): they override every other layer.
    fn forced_flags(&self, launch: &LaunchContext<'_>) -> Result<Flags>;

    /// Whether a log line written since the node's start means it has failed
    /// (checked during start and by every health check).
    fn is_fatal_log_line(&self, line: &str) -> bool {
        line.contains("FATAL")
    }

    /// Asks a running node whether it is healthy.
    async fn check_health(&self, ctx: &HealthContext<'_>) -> Health;

    /// The time format its log lines start with, when it names one; the
    /// default (`None`) reads the formats the tool knows by itself.
    fn log_time_format(&self) -> Option<&crate::model::TimeFormat> {
        None
    }

    /// Reads a JSON document from a running node's API, for checks given
    /// as settings (the bootstrap monitor's synced check): `request` is a
    /// JSON-RPC method for an RPC daemon, a path for an HTTP API. The
    /// default says the kind has no such API.
    async fn query(&self, _ctx: &HealthContext<'_>, request: &str) -> Result<serde_json::Value> {
        Err(Error::KindCannot {
            kind: self.name().to_owned(),
            what: format!("answer the query {request:?}"),
            fix: "use the synced check `health`",
        })
    }

    /// The path of the node's Prometheus metrics on its API endpoint (e.g.
    /// `/ext/metrics`), or `None` when the daemon exports none over HTTP.
    fn metrics_path(&self) -> Option<String> {
        None
    }

    /// How the daemon runs as a local process, if it can.
    fn local(&self) -> Option<&dyn LocalDaemon> {
        None
    }

    /// How the daemon runs in a pod, if it can.
    fn pod(&self) -> Option<&dyn PodDaemon> {
        None
    }
}

/// The kind's local capability, or the one-line error saying it has none.
pub(crate) fn local_of(kind: &dyn NodeKind) -> Result<&dyn LocalDaemon> {
    kind.local().ok_or_else(|| Error::KindCannot {
        kind: kind.name().to_owned(),
        what: "run as a local process".into(),
        fix: "run it on Kubernetes (--use-kubernetes), or give the kind a LocalDaemon",
    })
}

/// The kind's pod capability, or the one-line error saying it has none.
#[cfg_attr(not(feature = "kube"), allow(dead_code))] // only pods use it
pub(crate) fn pod_of(kind: &dyn NodeKind) -> Result<&dyn PodDaemon> {
    kind.pod().ok_or_else(|| Error::KindCannot {
        kind: kind.name().to_owned(),
        what: "run in a pod".into(),
        fix: "run it as local processes (without --use-kubernetes), or give the kind a PodDaemon (in a kind file: a [kubernetes] section)",
    })
}

/// A node's full flags for one start: the kind's defaults, the network's
/// flags, the node's own flags, then the kind's forced flags.
pub(crate) fn compose_flags(
    kind: &dyn NodeKind,
    network_flags: &Flags,
    launch: &LaunchContext<'_>,
) -> Result<Flags> {
    let forced = kind.forced_flags(launch)?;
    Ok(flags::compose([
        &kind.default_flags(launch.placement),
        network_flags,
        &launch.node.config.flags,
        &forced,
    ]))
}

/// Composes a node's flags for one start and records them in its
/// `flags.json` (what the node really runs with, for people and for health
/// checks that compare).
pub(crate) fn compose_and_record(
    kind: &dyn NodeKind,
    network_flags: &Flags,
    launch: &LaunchContext<'_>,
) -> Result<Flags> {
    let flags = compose_flags(kind, network_flags, launch)?;
    // Flags may hold secrets (an RPC password given with --flag): private.
    files::write_json_mode(&launch.node.flags_path(), &flags, 0o600)?;
    Ok(flags)
}

/// The default node kind.
pub const DEFAULT_KIND: &str = refnode::NAME;

/// Builds a new node's config with a random id `<prefix>-<12 hex digits>`
/// and no flags of its own: what most kinds' [`NodeKind::new_node`] does.
pub fn node_with_random_id(prefix: &str, index: usize) -> NodeConfig {
    let id = uuid::Uuid::new_v4().simple().to_string();
    NodeConfig::new(format!("{prefix}-{}", &id[..12]), index)
}

/// Builds flags from `(name, value)` pairs.
pub fn flags_of<K: Into<String>, V: Into<String>>(
    pairs: impl IntoIterator<Item = (K, V)>,
) -> Flags {
    pairs
        .into_iter()
        .map(|(k, v)| (k.into(), v.into()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A kind that runs nowhere.
    #[derive(Debug)]
    struct Nowhere;

    #[async_trait]
    impl NodeKind for Nowhere {
        fn name(&self) -> &str {
            "nowhere"
        }
        fn new_node(&self, index: usize) -> Result<NodeConfig> {
            Ok(node_with_random_id("nw", index))
        }
        fn default_flags(&self, _: Placement) -> Flags {
            flags_of([("a", "default"), ("b", "default"), ("c", "default")])
        }
        fn forced_flags(&self, launch: &LaunchContext<'_>) -> Result<Flags> {
            Ok(flags_of([("c", "forced"), ("id", launch.node.id())]))
        }
        async fn check_health(&self, _: &HealthContext<'_>) -> Health {
            Health::Healthy
        }
    }

    #[test]
    fn a_kind_without_a_capability_says_which_and_the_fix() {
        let err = local_of(&Nowhere).err().unwrap().to_string();
        assert!(
            err.contains("nowhere") && err.contains("local process") && err.contains("Kubernetes"),
            "{err}"
        );
        let err = pod_of(&Nowhere).err().unwrap().to_string();
        assert!(err.contains("nowhere") && err.contains("pod"), "{err}");
        assert!(!err.contains('\n'));
    }

    #[test]
    fn the_library_layers_defaults_network_node_then_forced() {
        let node = Node {
            dir: "/net/nw-1".into(),
            config: NodeConfig {
                flags: flags_of([("b", "node"), ("c", "node")]),
                ..node_with_random_id("nw", 1)
            },
        };
        let launch = LaunchContext {
            placement: Placement::Local,
            network_dir: Path::new("/net"),
            node: &node,
            peers: &[],
            members: &[],
        };
        let network = flags_of([("a", "network"), ("b", "network")]);
        let flags = compose_flags(&Nowhere, &network, &launch).unwrap();
        assert_eq!(flags["a"], "network");
        assert_eq!(flags["b"], "node");
        assert_eq!(flags["c"], "forced");
        assert_eq!(flags["id"], node.id());
    }
}
