//! A node as a test sees it: its id, a URI reachable from here, its health.

use super::Network;
use crate::error::{Error, Result};
use crate::model::{Health, Node, NodeState};

/// One node of a network, with the network it belongs to.
#[derive(Debug, Clone)]
pub struct NodeHandle {
    network: Network,
    node: Node,
}

impl NodeHandle {
    pub(super) fn new(network: Network, node: Node) -> Self {
        NodeHandle { network, node }
    }

    /// The node id.
    pub fn id(&self) -> &str {
        self.node.id()
    }

    /// The node's directory and configuration.
    pub fn node(&self) -> &Node {
        &self.node
    }

    /// The network it belongs to.
    pub fn network(&self) -> &Network {
        &self.network
    }

    /// A URI for the node's API reachable from where this code runs; an
    /// error when the node is not running.
    pub async fn uri(&self) -> Result<String> {
        self.network
            .runtime()
            .accessible_uri(&self.node)
            .await?
            .ok_or_else(|| Error::NotRunning {
                node: self.id().to_owned(),
                detail: "it has no reachable API".into(),
                log_tail: Vec::new(),
            })
    }

    /// Its health now; a stopped node is unhealthy.
    pub async fn health(&self) -> Result<Health> {
        super::health::health_now(self.network.runtime().as_ref(), &self.node).await
    }

    /// Its state now.
    pub async fn state(&self) -> Result<NodeState> {
        self.network.runtime().state(&self.node).await
    }

    /// Stops it (SIGTERM, then SIGKILL after the grace period; a pod is
    /// scaled to zero).
    pub async fn stop(&self) -> Result<()> {
        self.network.stop_node(&self.node).await
    }
}
