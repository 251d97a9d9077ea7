//! A network's life: start (bootstrap nodes first, then the rest in
//! parallel, retried when ports turn out to be taken), stop and restart,
//! each under the network's lock.

use std::time::Duration;

use super::open::{evidence, keep_secrets_private};
use super::{lock, peer, quiet, Network, Progress};
use crate::error::{Error, Result};
use crate::model::{Endpoint, Node, NodeState, Peer};
use crate::sys::deadline_after;

/// How many times a start is tried when ports turn out to be taken.
const PORT_ATTEMPTS: usize = 3;

impl Network {
    /// Before a start or restart: secret files private again, node configs
    /// as they are on disk.
    pub(super) fn prepare_start(&self) -> Result<()> {
        self.check_complete()?;
        keep_secrets_private(self.dir(), self.kind().as_ref())?;
        self.reload_nodes()
    }

    /// The nodes, with whatever addresses the runtime must fix before a
    /// start (fresh ones when `fresh`), each checked to be startable.
    pub(super) fn ready_nodes(&self, fresh: bool) -> Result<Vec<Node>> {
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
    pub(super) async fn refresh_discovery(&self) {
        if let Err(e) = self.sync_discovery().await {
            tracing::warn!(network = %self.dir().display(), error = %e, "cannot update the Prometheus discovery entries");
        }
    }

    pub(super) async fn start_locked(
        &self,
        timeout: Duration,
        progress: &(dyn Fn(Progress) + Sync),
    ) -> Result<()> {
        let running = self.running_nodes().await?;
        if !running.is_empty() {
            return Err(Error::AlreadyRunning {
                dir: self.dir().to_owned(),
                nodes: running,
            });
        }
        self.prepare_start()?;
        progress(Progress::Starting {
            nodes: self.lock_nodes().len(),
        });
        let deadline = deadline_after(timeout);
        let mut tries = PortTries::default();
        loop {
            self.runtime().allow_starts(true);
            let nodes = self.ready_nodes(tries.retrying())?;
            let Err(e) = self.start_once(&nodes, deadline, timeout, progress).await else {
                return Ok(());
            };
            progress(Progress::Stopping);
            if let Err(stop) = self.stop_locked().await {
                return Err(Error::Multiple(vec![e, stop]));
            }
            let conflict = self.runtime().is_port_conflict(&evidence(&e));
            tries.again(e, conflict, &[], progress)?;
        }
    }

    /// One bootstrap and health wait. Each node's start is bounded by the
    /// runtime's own init timeout, so the bootstrap is not cancelled from
    /// outside (a cancelled start could spawn a node after a stop read the
    /// records).
    pub(super) async fn start_once(
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
    pub(super) fn members(&self, nodes: &[Node]) -> Vec<Peer> {
        nodes
            .iter()
            .map(|n| self.runtime().planned_endpoint(n).map(|e| peer(n, &e)))
            .collect::<Option<Vec<Peer>>>()
            .unwrap_or_default()
    }

    /// The members for a start: the addresses the runtime fixes for the
    /// network's life, else the planned ones (see [`Self::members`]).
    pub(super) async fn members_of(&self, nodes: &[Node]) -> Result<Vec<Peer>> {
        let stable = self.runtime().stable_members(nodes).await?;
        Ok(stable.unwrap_or_else(|| self.members(nodes)))
    }

    pub(super) async fn bootstrap(
        &self,
        nodes: &[Node],
        progress: &(dyn Fn(Progress) + Sync),
    ) -> Result<()> {
        let planned: Option<Vec<Endpoint>> = nodes
            .iter()
            .map(|n| self.runtime().planned_endpoint(n))
            .collect();
        let stable = self.runtime().stable_members(nodes).await?;
        let members = stable.clone().unwrap_or_else(|| self.members(nodes));
        let plan = match (planned, stable) {
            // Every address is known: start all at once, each node told
            // of the nodes before it.
            (Some(endpoints), _) => nodes
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
            // Every address peers dial is fixed for the network's life (a
            // kind that names peers by place, in pods): all at once too,
            // so nodes that wait for each other (a quorum) can meet.
            (None, Some(stable)) => nodes
                .iter()
                .enumerate()
                .map(|(i, node)| (node.clone(), stable[..i].to_vec()))
                .collect(),
            (None, None) => {
                let (first, rest) = nodes.split_first().ok_or_else(|| Error::NotANetwork {
                    path: self.dir().to_owned(),
                    reason: "it has no nodes".into(),
                })?;
                let endpoint = self.runtime().start(first, &[], &members).await?;
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
    pub(super) async fn start_parallel(
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

    pub(super) async fn stop_locked(&self) -> Result<()> {
        // No start of this runtime may spawn a node after this point, and
        // one spawning right now has recorded it once this returns.
        self.runtime().allow_starts(false);
        let mut all = self.ephemeral_records()?;
        all.extend(self.node_records());
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
            .node_records()
            .iter()
            .chain(self.ephemeral_records().unwrap_or_default().iter())
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

    pub(super) async fn restart_locked(
        &self,
        timeout: Duration,
        progress: &(dyn Fn(Progress) + Sync),
    ) -> Result<()> {
        if self.running_nodes().await?.is_empty() {
            return self.start_locked(timeout, progress).await;
        }
        self.prepare_start()?;
        let mut deadline = deadline_after(timeout);
        self.runtime().allow_starts(true);
        // Nothing is stopped before every node is known to start again.
        let mut nodes = self.ready_nodes(false)?;
        for i in 0..nodes.len() {
            self.restart_one(&mut nodes, i, progress).await?;
        }
        // A node may find its port taken only once it binds it (a daemon
        // that logs so and exits): it is started again on fresh ports, with
        // the time a start has.
        let mut tries = PortTries::default();
        loop {
            let Err(e) = self
                .wait_healthy(nodes.iter().collect(), deadline, timeout, progress)
                .await
            else {
                return Ok(());
            };
            let conflicted: Vec<String> = port_conflicts(&e, self.runtime().as_ref())
                .into_iter()
                .map(str::to_owned)
                .collect();
            tries.again(e, !conflicted.is_empty(), &conflicted, progress)?;
            let indices: Vec<usize> = (0..nodes.len())
                .filter(|&i| conflicted.iter().any(|c| c == nodes[i].id()))
                .collect();
            for i in indices {
                self.stop_node_locked(&nodes[i]).await?;
                self.runtime()
                    .assign_ports(std::slice::from_mut(&mut nodes[i]), true)?;
                self.restart_one(&mut nodes, i, progress).await?;
            }
            deadline = deadline_after(timeout);
        }
    }

    /// Restarts (or starts, when it is stopped) node `i` of a rolling
    /// restart, given every other running node as a peer (or, where a
    /// restart changes addresses, the nodes before it), and the members as
    /// they are now. A port taken by another program meanwhile is tried
    /// again with fresh ports for that node, as a start is.
    async fn restart_one(
        &self,
        nodes: &mut [Node],
        i: usize,
        progress: &(dyn Fn(Progress) + Sync),
    ) -> Result<()> {
        let runtime = self.runtime().clone();
        let stable = runtime.addresses_survive_restart();
        let mut tries = PortTries::default();
        loop {
            // Fresh ports change the members' addresses: taken anew each try.
            let members = self.members_of(nodes).await?;
            let peers = if stable {
                self.running_peers(nodes, |j| j != i).await?
            } else {
                self.running_peers(nodes, |j| j < i).await?
            };
            let node = &mut nodes[i];
            let result = match runtime.state(node).await? {
                NodeState::Running { .. } => runtime.restart(node, &peers, &members).await,
                _ => runtime.start(node, &peers, &members).await,
            };
            let e = match result {
                Ok(endpoint) => {
                    // The runtime may have pinned a port in the node's config.
                    if let Some(kept) = self.lock_nodes().get_mut(i) {
                        *kept = node.clone();
                    }
                    progress(Progress::Started {
                        node: node.id().to_owned(),
                        uri: endpoint.uri,
                    });
                    return Ok(());
                }
                Err(e) => e,
            };
            let conflict = runtime.is_port_conflict(&evidence(&e));
            tries.again(e, conflict, &[node.id().to_owned()], progress)?;
            // The failed start left the node stopped.
            runtime.assign_ports(std::slice::from_mut(node), true)?;
        }
    }
}

/// The tries of a start or restart that meets ports taken by other
/// programs: every caller retries the same way, up to [`PORT_ATTEMPTS`].
#[derive(Default)]
struct PortTries {
    retries: usize,
}

impl PortTries {
    /// Whether a try has failed on a taken port already.
    fn retrying(&self) -> bool {
        self.retries > 0
    }

    /// After a failed try with `e`: `Ok` when it was a port `conflict` (of
    /// `nodes`, or of the network when empty) and tries remain, the retry
    /// logged and announced; else the error to return.
    fn again(
        &mut self,
        e: Error,
        conflict: bool,
        nodes: &[String],
        progress: &(dyn Fn(Progress) + Sync),
    ) -> Result<()> {
        if !conflict {
            return Err(e);
        }
        let attempts = self.retries + 1;
        if attempts == PORT_ATTEMPTS {
            return Err(Error::PortsTaken {
                attempts,
                last: Box::new(e),
            });
        }
        self.retries = attempts;
        let whose = match nodes {
            [] => "a port".to_owned(),
            nodes => format!("a port of {}", nodes.join(", ")),
        };
        tracing::warn!(error = %e, "{whose} was taken; retrying with fresh ports");
        progress(Progress::Retrying {
            reason: format!("{whose} was taken by another program"),
        });
        Ok(())
    }
}

/// The nodes whose failure in `e` is a port taken by another program (a
/// node that failed; one merely not healthy when the time ran out is not).
fn port_conflicts<'a>(e: &'a Error, runtime: &dyn crate::runtime::NodeRuntime) -> Vec<&'a str> {
    match e {
        Error::Multiple(all) => all
            .iter()
            .flat_map(|e| port_conflicts(e, runtime))
            .collect(),
        Error::StartFailed { node, .. }
        | Error::NotRunning { node, .. }
        | Error::Failed { node, .. }
            if runtime.is_port_conflict(&evidence(e)) =>
        {
            vec![node.as_str()]
        }
        _ => Vec::new(),
    }
}
