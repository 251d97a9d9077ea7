//! Waiting for health, and the per-node status shown by `tmpnetctl status`.

use std::time::Duration;

use tokio::time::Instant;

use super::Network;
use crate::error::{Error, Result, UnhealthyNode};
use crate::kinds::Health;
use crate::node::Node;
use crate::runtime::{NodeRuntime, NodeState};

/// How often an unhealthy node is asked again.
const HEALTH_POLL: Duration = Duration::from_millis(20);

/// Progress of a long operation, for a caller to report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// A node's process is up and has reported its API URI.
    Started {
        /// The node id.
        node: String,
        /// Its API URI.
        uri: String,
    },
    /// A node became healthy.
    Healthy {
        /// The node id.
        node: String,
    },
    /// Something failed; the nodes started so far are being stopped.
    Stopping,
    /// The start is tried again.
    Retrying {
        /// Why.
        reason: String,
    },
}

/// One node's state and health.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeStatus {
    /// The node id.
    pub id: String,
    /// Its pid when running (or recorded, when stale).
    pub pid: Option<u32>,
    /// Its API URI when running.
    pub uri: Option<String>,
    /// `running`, `stopped` or `stale`.
    pub state: &'static str,
    /// Its health verdict, or why it is not running.
    pub health: String,
    /// Whether it is healthy.
    pub healthy: bool,
}

pub(super) async fn node_status(runtime: &dyn NodeRuntime, node: &Node) -> Result<NodeStatus> {
    let state = runtime.state(node).await?;
    let (pid, uri, state_name) = match &state {
        NodeState::Running { pid, endpoint } => (
            Some(*pid),
            endpoint.as_ref().map(|e| e.uri.clone()),
            "running",
        ),
        NodeState::Stale { pid } => (Some(*pid), None, "stale"),
        NodeState::Stopped => (None, None, "stopped"),
    };
    let (health, healthy) = match runtime.health(node).await {
        Ok(h) => (h.to_string(), h.is_healthy()),
        Err(Error::NotRunning { detail, .. }) => (format!("not running: {detail}"), false),
        Err(Error::Failed { detail, .. }) => (format!("failed: {detail}"), false),
        Err(e) => return Err(e),
    };
    Ok(NodeStatus {
        id: node.id().to_owned(),
        pid,
        uri,
        state: state_name,
        health,
        healthy,
    })
}

enum Waited {
    Healthy(String),
    Down(Error),
    TimedOut(UnhealthyNode),
}

impl Network {
    /// Waits until every node in `nodes` is healthy, at most until
    /// `deadline`. A node whose process is gone fails the wait at once; on
    /// timeout the error names each unhealthy node with its log tail.
    pub(super) async fn wait_healthy(
        &self,
        nodes: Vec<&Node>,
        deadline: Instant,
        timeout: Duration,
        progress: &(dyn Fn(super::Progress) + Sync),
    ) -> Result<()> {
        let total = nodes.len();
        let mut set = tokio::task::JoinSet::new();
        for node in nodes {
            let runtime = self.runtime.clone();
            let node = node.clone();
            set.spawn(async move { wait_node(runtime.as_ref(), &node, deadline).await });
        }
        let mut unhealthy = Vec::new();
        while let Some(joined) = set.join_next().await {
            match joined {
                Ok(Waited::Healthy(node)) => progress(super::Progress::Healthy { node }),
                Ok(Waited::Down(e)) => {
                    set.abort_all();
                    return Err(e);
                }
                Ok(Waited::TimedOut(n)) => unhealthy.push(n),
                Err(e) if e.is_cancelled() => {}
                Err(e) => return Err(Error::InvalidInput(format!("a health task failed: {e}"))),
            }
        }
        if unhealthy.is_empty() {
            return Ok(());
        }
        unhealthy.sort_by(|a, b| a.node.cmp(&b.node));
        Err(Error::NotHealthy {
            total,
            timeout,
            unhealthy,
        })
    }

    /// Every node's health, without waiting. A stopped node is unhealthy.
    pub async fn check_health(&self) -> Result<Vec<(String, Health)>> {
        let mut out = Vec::with_capacity(self.nodes.len());
        for node in &self.nodes {
            let health = match self.runtime.health(node).await {
                Ok(h) => h,
                Err(Error::NotRunning { detail, .. }) => {
                    Health::Unhealthy(format!("not running: {detail}"))
                }
                Err(Error::Failed { detail, .. }) => Health::Unhealthy(format!("failed: {detail}")),
                Err(e) => return Err(e),
            };
            out.push((node.id().to_owned(), health));
        }
        Ok(out)
    }
}

async fn wait_node(runtime: &dyn NodeRuntime, node: &Node, deadline: Instant) -> Waited {
    loop {
        let why = match runtime.health(node).await {
            Ok(Health::Healthy) => return Waited::Healthy(node.id().to_owned()),
            Ok(Health::Unhealthy(why)) => why,
            Err(e) => return Waited::Down(e),
        };
        if Instant::now() + HEALTH_POLL > deadline {
            return Waited::TimedOut(UnhealthyNode {
                node: node.id().to_owned(),
                reason: why,
                log_tail: runtime.log_tail(node).await,
            });
        }
        tokio::time::sleep(HEALTH_POLL).await;
    }
}
