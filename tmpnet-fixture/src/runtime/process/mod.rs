//! The local-process runtime: each node is a child process of the machine.
//!
//! Start writes `flags.json`, spawns the binary in its own process group
//! (so a Ctrl-C at the terminal reaches the harness, which stops the nodes
//! itself, not the nodes directly) with stdout and stderr appended to
//! `logs/main.log`, records `launch.json` before anything can interrupt it,
//! then waits for `process.json`. It fails fast when the process exits or
//! logs a fatal line. Stop sends the kind's stop signal (SIGTERM unless
//! the kind says otherwise), then SIGKILL after the grace
//! period.

mod launch;
mod logscan;
mod stop;

pub(crate) use stop::stop_found;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use super::NodeRuntime;
use crate::error::{Error, Result};
use crate::kinds::{
    self, embedded, HealthContext, LaunchContext, LocalDaemon, NodeKind, Placement, PortDiscovery,
};
use crate::model::node::LOG_TAIL_LINES;
use crate::model::{
    Endpoint, Health, LaunchRecord, NetworkConfig, Node, NodeState, Peer, ProcessSettings,
};
use crate::sys::{files, pids, ports};

/// How often start and stop look at the process.
const POLL: Duration = Duration::from_millis(10);
/// The longest timing `config.json` may set (a day); larger values are
/// clamped.
const MAX_CONFIG_SECS: u64 = 24 * 3600;

/// Runs nodes as local processes.
#[derive(Debug)]
pub struct ProcessRuntime {
    kind: Arc<dyn NodeKind>,
    network: Arc<NetworkConfig>,
    network_dir: PathBuf,
    config: ProcessSettings,
    http: reqwest::Client,
    log_scans: std::sync::Mutex<std::collections::HashMap<String, logscan::LogScan>>,
    /// Open (true) while starts may spawn; held while spawning.
    spawn_gate: std::sync::Mutex<bool>,
    /// The last scan for marked processes, and when it was made.
    mark_scan: std::sync::Mutex<stop::MarkScan>,
    /// Nodes whose unreadable `process.json` was already reported.
    warned: std::sync::Mutex<std::collections::HashSet<String>>,
}

impl ProcessRuntime {
    /// A runtime for the nodes of one network; fails when the kind cannot
    /// run as a local process.
    pub fn new(
        kind: Arc<dyn NodeKind>,
        network: Arc<NetworkConfig>,
        network_dir: PathBuf,
        config: ProcessSettings,
    ) -> Result<Self> {
        kinds::local_of(kind.as_ref())?;
        let http = super::health_client()?;
        Ok(ProcessRuntime {
            kind,
            network,
            network_dir,
            config,
            http,
            log_scans: Default::default(),
            spawn_gate: std::sync::Mutex::new(true),
            mark_scan: Default::default(),
            warned: Default::default(),
        })
    }

    /// The program to spawn. An embedded node whose program is gone (a test
    /// binary rebuilt since the network was made) runs from this program,
    /// when it embeds the node too.
    fn program(&self) -> std::path::PathBuf {
        match (&self.config.embedded, embedded::program()) {
            (Some(_), Some(me)) if !self.config.node_path.exists() => me,
            _ => self.config.node_path.clone(),
        }
    }

    /// The kind's local capability (checked when the runtime was made).
    fn local(&self) -> Result<&dyn LocalDaemon> {
        kinds::local_of(self.kind.as_ref())
    }

    fn grace(&self) -> Duration {
        Duration::from_secs(self.config.stop_grace_secs.min(MAX_CONFIG_SECS))
    }

    fn init_timeout(&self) -> Duration {
        Duration::from_secs(self.config.init_timeout_secs.min(MAX_CONFIG_SECS))
    }
}

/// The settings of a new network of local processes: the binary at
/// `node_path`, or found; a program embedding the kind's node runs it
/// itself.
pub(crate) fn settings_for(
    kind: &dyn NodeKind,
    node_path: Option<&std::path::Path>,
    reuse_dynamic_ports: bool,
) -> Result<ProcessSettings> {
    let local = kinds::local_of(kind)?;
    // Without an explicit path, a program embedding the node runs it
    // itself: always the node of the same build, nothing to find.
    let embedded = match (node_path, embedded::program()) {
        (None, Some(program)) if local.is_embedded() => Some(program),
        _ => None,
    };
    let node_path = match &embedded {
        Some(program) => program.clone(),
        None => kinds::locate_binary(kind.name(), local, node_path)?,
    };
    let mut settings = ProcessSettings::new(node_path);
    settings.reuse_dynamic_ports = reuse_dynamic_ports;
    settings.embedded = embedded.map(|_| kind.name().to_owned());
    Ok(settings)
}

/// Whether the pid a node reported is the process we spawned, or one in its
/// process group (the daemon under a wrapper script that did not `exec`).
fn is_ours(reported: u32, record: &LaunchRecord) -> bool {
    reported == record.pid || pids::group_of(reported) == Some(record.pid)
}

#[async_trait]
impl NodeRuntime for ProcessRuntime {
    fn planned_endpoint(&self, node: &Node) -> Option<Endpoint> {
        let local = self.local().ok()?;
        match local.port_discovery() {
            PortDiscovery::SelfReported => None,
            _ => local.endpoint(node),
        }
    }

    fn is_port_conflict(&self, evidence: &[String]) -> bool {
        self.local().is_ok_and(|l| l.is_port_conflict(evidence))
    }

    fn preflight(&self, node: &Node, members: &[Peer]) -> Result<()> {
        let program = self.program();
        if let Some(problem) = files::executable_problem(&program) {
            return Err(Error::NetworkBinary {
                dir: self.network_dir.clone(),
                path: program,
                problem,
            });
        }
        // The flags need the kind's network files (credentials, genesis).
        let launch = LaunchContext {
            placement: Placement::Local,
            network_dir: &self.network_dir,
            node,
            peers: &[],
            members,
        };
        kinds::compose_flags(self.kind.as_ref(), &self.network.default_flags, &launch).map(drop)
    }

    async fn stop_unlisted(&self, known: &[String]) -> Result<Vec<u32>> {
        self.stop_strays(known).await
    }

    fn allow_starts(&self, allowed: bool) {
        *self.spawn_gate.lock().unwrap_or_else(|p| p.into_inner()) = allowed;
    }

    fn assign_ports(&self, nodes: &mut [Node], fresh: bool) -> Result<()> {
        let PortDiscovery::PreAllocated(names) = self.local()?.port_discovery() else {
            return Ok(());
        };
        let needy: Vec<usize> = (0..nodes.len())
            .filter(|&i| fresh || names.iter().any(|n| !nodes[i].config.ports.contains_key(n)))
            .collect();
        let mut free = ports::allocate(needy.len() * names.len())?.into_iter();
        for i in needy {
            let node = &mut nodes[i];
            for name in &names {
                if let Some(port) = free.next() {
                    node.config.ports.insert(name.clone(), port);
                }
            }
            node.save()?;
        }
        Ok(())
    }

    async fn start(&self, node: &Node, peers: &[Peer], members: &[Peer]) -> Result<Endpoint> {
        match self.state(node).await? {
            NodeState::Running { pid, .. } => {
                return Err(Error::AlreadyRunning {
                    dir: self.network_dir.clone(),
                    nodes: vec![format!("{} (pid {})", node.id(), pid.unwrap_or_default())],
                })
            }
            NodeState::Stale { pid } => {
                tracing::info!(node = node.id(), pid, "removing stale state of a dead node");
                self.remove_state_files(node)?;
            }
            _ => files::remove_if_exists(&node.process_path())?,
        }
        let (mut child, record) = self.spawn(node, peers, members)?;
        match self.wait_for_endpoint(node, &mut child, &record).await {
            Ok(endpoint) => {
                self.pin_api_port(node, &endpoint)?;
                Ok(endpoint)
            }
            Err(e) => {
                self.abort_start(node, &mut child).await;
                Err(e)
            }
        }
    }

    async fn initiate_stop(&self, node: &Node) -> Result<()> {
        self.signal_stop(node)
    }

    async fn wait_for_stopped(&self, node: &Node) -> Result<()> {
        self.await_stopped(node).await
    }

    async fn restart(&self, node: &mut Node, peers: &[Peer], members: &[Peer]) -> Result<Endpoint> {
        // With reuse_dynamic_ports the API port was pinned in the node's
        // flags when it first started (see pin_api_port).
        self.initiate_stop(node).await?;
        self.wait_for_stopped(node).await?;
        self.start(node, peers, members).await
    }

    async fn state(&self, node: &Node) -> Result<NodeState> {
        let record = node.launch_record()?;
        let live = record
            .as_ref()
            .filter(|r| pids::is_alive(r.pid, r.start_ticks));
        let Some(record) = live else {
            // No live recorded process; one carrying the node's mark is
            // still the node (its launch.json removed or overwritten).
            if let Some(pid) = self.marked(node).first() {
                return Ok(NodeState::Running {
                    pid: Some(*pid),
                    endpoint: None,
                });
            }
            return Ok(match record {
                Some(r) => NodeState::Stale { pid: r.pid },
                None => NodeState::Stopped,
            });
        };
        // An unreadable process.json only hides the endpoint (said once).
        let endpoint = node
            .process_context()
            .unwrap_or_else(|e| {
                let mut warned = self.warned.lock().unwrap_or_else(|p| p.into_inner());
                if warned.insert(node.id().to_owned()) {
                    tracing::warn!(node = node.id(), error = %e, "ignoring an unreadable process.json");
                }
                None
            })
            .filter(|ctx| is_ours(ctx.pid, record))
            .map(|ctx| Endpoint {
                uri: ctx.uri,
                p2p_address: ctx.p2p_address,
            });
        Ok(NodeState::Running {
            pid: Some(record.pid),
            endpoint,
        })
    }

    async fn health(&self, node: &Node) -> Result<Health> {
        let not_running = |detail: String| Error::NotRunning {
            node: node.id().to_owned(),
            detail,
            log_tail: node.log_tail(LOG_TAIL_LINES),
        };
        let fatal = || -> Result<()> {
            if let Some(record) = node.launch_record()? {
                let ended = !pids::is_alive(record.pid, record.start_ticks);
                if let Some(line) = self.fatal_line(node, &record, ended) {
                    return Err(Error::Failed {
                        node: node.id().to_owned(),
                        detail: format!("it logged {line:?}"),
                        log_tail: node.log_tail(LOG_TAIL_LINES),
                    });
                }
            }
            Ok(())
        };
        fatal()?;
        match self.state(node).await? {
            NodeState::Running {
                endpoint: Some(endpoint),
                ..
            } => {
                let ctx = HealthContext {
                    http: &self.http,
                    network_dir: &self.network_dir,
                    node,
                    endpoint: &endpoint,
                    in_pod: None,
                };
                let health = self.kind.check_health(&ctx).await;
                // A daemon may log a failure while the check runs (bitcoind
                // logs a failed bind, then answers RPC): look again before
                // calling it healthy.
                if health.is_healthy() {
                    fatal()?;
                }
                Ok(health)
            }
            NodeState::Running { endpoint: None, .. } if Self::live_record(node).is_none() => {
                Ok(Health::Unhealthy(format!(
                    "running untracked: its {} is missing or names another process; `tmpnetctl stop-network` stops it by its mark",
                    node.launch_path().display()
                )))
            }
            NodeState::Running { endpoint: None, .. } => Ok(Health::Unhealthy(
                "starting: its ports are not reported yet".into(),
            )),
            NodeState::Stale { pid } => Err(not_running(format!(
                "{}; its state files are stale",
                pids::describe_gone(pid)
            ))),
            _ => Err(not_running("stopped".into())),
        }
    }

    async fn accessible_uri(&self, node: &Node) -> Result<Option<String>> {
        Ok(match self.state(node).await? {
            NodeState::Running {
                endpoint: Some(e), ..
            } => Some(e.uri),
            _ => None,
        })
    }
}
