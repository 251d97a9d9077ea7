//! Ephemeral nodes: started beside a running network, joined to its
//! bootstrap peers, and stopped on their own.

use std::time::Duration;

use super::open::load_nodes;
use super::{lock, quiet, Network, NodeHandle};
use crate::error::Result;
use crate::model::network::EPHEMERAL_DIR;
use crate::model::Node;
use crate::sys::{deadline_after, files};

impl Network {
    /// Handles on the ephemeral nodes added to this network (running or
    /// not).
    pub fn ephemeral_nodes(&self) -> Result<Vec<NodeHandle>> {
        Ok(self.handles(self.ephemeral_records()?))
    }

    /// The ephemeral nodes' records.
    pub(crate) fn ephemeral_records(&self) -> Result<Vec<Node>> {
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
    pub fn create_ephemeral_node(&self) -> Result<NodeHandle> {
        let dir = self.dir().join(EPHEMERAL_DIR);
        files::create_dir_all(&dir)?;
        let index = self.lock_nodes().len() + self.ephemeral_records()?.len();
        let mut node = [Node::create(&dir, self.kind().new_node(index)?)?];
        self.runtime().assign_ports(&mut node, false)?;
        let [node] = node;
        Ok(NodeHandle::new(self.clone(), node))
    }

    /// Starts an ephemeral node with every running node as its peer and
    /// waits until it is healthy; on failure it is stopped again.
    pub async fn start_ephemeral_node(&self, node: &NodeHandle, timeout: Duration) -> Result<()> {
        let node = node.node();
        let _lock = lock::lock(self.dir()).await?;
        let nodes = self.node_records();
        let peers = self.running_peers(&nodes, |_| true).await?;
        let deadline = deadline_after(timeout);
        self.runtime().allow_starts(true);
        // An ephemeral node joins; it is not one of the bootstrap members.
        let result = match self
            .runtime()
            .start(node, &peers, &self.members_of(&nodes).await?)
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
    pub(crate) async fn stop_node(&self, node: &Node) -> Result<()> {
        let _lock = lock::lock(self.dir()).await?;
        let result = self.stop_node_locked(node).await;
        self.refresh_discovery().await;
        result
    }

    pub(super) async fn stop_node_locked(&self, node: &Node) -> Result<()> {
        self.runtime().initiate_stop(node).await?;
        self.runtime().wait_for_stopped(node).await
    }
}
