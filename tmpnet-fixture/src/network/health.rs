//! Waiting for health, and the per-node status shown by `tmpnetctl status`.

use std::time::Duration;

use tokio::time::Instant;

use super::Network;
use crate::error::{Error, Result, UnhealthyNode};
use crate::model::{Health, Node, NodeState};
use crate::runtime::NodeRuntime;

/// How often an unhealthy node is asked again.
const HEALTH_POLL: Duration = Duration::from_millis(20);

/// Progress of a long operation, for a caller to report.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Progress {
    /// A start begins (the network was found stopped): this many nodes.
    Starting {
        /// How many nodes will start.
        nodes: usize,
    },
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
#[non_exhaustive]
pub struct NodeStatus {
    /// The node id.
    pub id: String,
    /// What the runtime knows of it.
    pub state: NodeState,
    /// Its health verdict (why it is unhealthy, when it is not running).
    pub health: Health,
}

impl NodeStatus {
    /// Whether the node is healthy.
    pub fn is_healthy(&self) -> bool {
        self.health.is_healthy()
    }

    /// Its API URI, when running and known.
    pub fn uri(&self) -> Option<&str> {
        match &self.state {
            NodeState::Running {
                endpoint: Some(e), ..
            } => Some(&e.uri),
            _ => None,
        }
    }
}

pub(super) async fn node_status(runtime: &dyn NodeRuntime, node: &Node) -> Result<NodeStatus> {
    Ok(NodeStatus {
        id: node.id().to_owned(),
        state: runtime.state(node).await?,
        health: health_now(runtime, node).await?,
    })
}

/// The node's health now; a node that is not running, or has failed, is
/// unhealthy with the reason.
pub(super) async fn health_now(runtime: &dyn NodeRuntime, node: &Node) -> Result<Health> {
    match runtime.health(node).await {
        Ok(h) => Ok(h),
        Err(Error::NotRunning { detail, .. }) => {
            Ok(Health::Unhealthy(format!("not running: {detail}")))
        }
        Err(Error::Failed { detail, .. }) => Ok(Health::Unhealthy(format!("failed: {detail}"))),
        Err(e) => Err(e),
    }
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
            let runtime = self.runtime().clone();
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
                Err(e) => {
                    return Err(Error::Task {
                        what: "health wait",
                        source: e,
                    })
                }
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
