//! The local-process runtime: each node is a child process of the machine.
//!
//! Start writes `flags.json`, spawns the binary in its own process group
//! (so a Ctrl-C at the terminal reaches the harness, which stops the nodes
//! itself, not the nodes directly) with stdout and stderr appended to
//! `logs/main.log`, records `launch.json` before anything can interrupt it,
//! then waits for `process.json`. It fails fast when the process exits or
//! logs a `FATAL` line. Stop sends SIGTERM, then SIGKILL after the grace
//! period.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use tokio::process::{Child, Command};

use super::{pid, NodeRuntime, NodeState};
use crate::error::{Error, Result};
use crate::fsutil;
use crate::kinds::{Endpoint, Health, LaunchSpec, NodeKind, Peer};
use crate::network::{NetworkConfig, ProcessConfig};
use crate::node::{LaunchRecord, Node};

/// How often start and stop look at the process.
const POLL: Duration = Duration::from_millis(10);
/// How long to wait for a SIGKILLed process to disappear.
const KILL_WAIT: Duration = Duration::from_secs(5);
/// Log lines quoted in errors.
pub const LOG_TAIL_LINES: usize = 10;

/// Runs nodes as local processes.
#[derive(Debug)]
pub struct ProcessRuntime {
    kind: Arc<dyn NodeKind>,
    network: Arc<NetworkConfig>,
    network_dir: PathBuf,
    config: ProcessConfig,
    http: reqwest::Client,
}

impl ProcessRuntime {
    /// A runtime for the nodes of one network.
    pub fn new(
        kind: Arc<dyn NodeKind>,
        network: Arc<NetworkConfig>,
        network_dir: PathBuf,
        config: ProcessConfig,
    ) -> Result<Self> {
        let http = reqwest::Client::builder()
            .no_proxy()
            .connect_timeout(Duration::from_secs(1))
            .timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| Error::InvalidInput(format!("cannot build an HTTP client: {e}")))?;
        Ok(ProcessRuntime {
            kind,
            network,
            network_dir,
            config,
            http,
        })
    }

    fn grace(&self) -> Duration {
        Duration::from_secs(self.config.stop_grace_secs)
    }

    /// Spawns the node and records it. Nothing between the spawn and the
    /// written launch record awaits, so a cancelled start never leaves an
    /// unrecorded process.
    fn spawn(&self, node: &Node, peers: &[Peer]) -> Result<(Child, LaunchRecord, u64)> {
        let spec = LaunchSpec {
            network: &self.network,
            network_dir: &self.network_dir,
            node,
            peers,
        };
        let flags = self.kind.compose_flags(&spec)?;
        fsutil::write_json(&node.flags_path(), &flags)?;
        fsutil::create_dir_all(&node.dir.join("logs"))?;
        let log_path = node.log_path();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(|e| Error::io("cannot open", &log_path, e))?;
        let log_offset = log.metadata().map(|m| m.len()).unwrap_or(0);
        let log_err = log
            .try_clone()
            .map_err(|e| Error::io("cannot open", &log_path, e))?;
        let mut cmd = Command::new(&self.config.node_path);
        cmd.args(self.kind.command_args(&node.flags_path(), &flags))
            .current_dir(&node.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log_err))
            .process_group(0)
            .kill_on_drop(false);
        let child = cmd.spawn().map_err(|e| Error::NodeBinary {
            path: self.config.node_path.clone(),
            problem: format!("cannot be started: {e}"),
            kind: self.kind.name().to_owned(),
        })?;
        let child_pid = child.id().unwrap_or_default();
        let record = LaunchRecord {
            pid: child_pid,
            start_ticks: pid::start_ticks(child_pid).unwrap_or_default(),
        };
        if let Err(e) = fsutil::write_json(&node.launch_path(), &record) {
            let _ = pid::send(child_pid, libc::SIGKILL);
            return Err(e);
        }
        tracing::debug!(node = node.id(), pid = child_pid, "spawned");
        Ok((child, record, log_offset))
    }

    /// Waits for `process.json`, failing fast on exit or a FATAL log line.
    async fn wait_for_endpoint(
        &self,
        node: &Node,
        child: &mut Child,
        record: &LaunchRecord,
        log_offset: u64,
    ) -> Result<Endpoint> {
        let deadline = Instant::now() + Duration::from_secs(self.config.init_timeout_secs);
        let failed = |reason: String| Error::StartFailed {
            node: node.id().to_owned(),
            reason,
            log_tail: node.log_tail(LOG_TAIL_LINES),
        };
        loop {
            if let Some(status) = child
                .try_wait()
                .map_err(|e| failed(format!("cannot wait for it: {e}")))?
            {
                return Err(failed(format!("it exited during start ({status})")));
            }
            if let Some(line) = fatal_line(&node.log_path(), log_offset) {
                return Err(failed(format!("it logged {line:?}")));
            }
            if let Some(ctx) = node.process_context()? {
                if ctx.pid == record.pid {
                    return Ok(Endpoint {
                        uri: ctx.uri,
                        p2p_address: ctx.p2p_address,
                    });
                }
            }
            if Instant::now() >= deadline {
                return Err(failed(format!(
                    "it did not report its ports in {}s (no {})",
                    self.config.init_timeout_secs,
                    node.process_path().display()
                )));
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Stops a process this start spawned, after a failed start.
    async fn abort_start(&self, node: &Node, child: &mut Child) {
        let _ = self.initiate_stop(node).await;
        if let Err(e) = self.wait_for_stopped(node).await {
            tracing::warn!(node = node.id(), error = %e, "could not stop a failed node");
        }
        let _ = child.try_wait();
    }

    fn remove_state_files(&self, node: &Node) -> Result<()> {
        fsutil::remove_if_exists(&node.process_path())?;
        fsutil::remove_if_exists(&node.launch_path())
    }
}

/// The first line containing `FATAL` after `offset` in the log.
fn fatal_line(path: &std::path::Path, offset: u64) -> Option<String> {
    let bytes = std::fs::read(path).ok()?;
    let start = usize::try_from(offset).ok()?.min(bytes.len());
    String::from_utf8_lossy(&bytes[start..])
        .lines()
        .find(|l| l.contains("FATAL"))
        .map(|l| l.trim().to_owned())
}

#[async_trait]
impl NodeRuntime for ProcessRuntime {
    async fn start(&self, node: &Node, peers: &[Peer]) -> Result<Endpoint> {
        match self.state(node).await? {
            NodeState::Running { pid, .. } => {
                return Err(Error::AlreadyRunning {
                    dir: self.network_dir.clone(),
                    nodes: format!("{} (pid {pid})", node.id()),
                })
            }
            NodeState::Stale { pid } => {
                tracing::info!(node = node.id(), pid, "removing stale state of a dead node");
                self.remove_state_files(node)?;
            }
            NodeState::Stopped => fsutil::remove_if_exists(&node.process_path())?,
        }
        let (mut child, record, log_offset) = self.spawn(node, peers)?;
        match self
            .wait_for_endpoint(node, &mut child, &record, log_offset)
            .await
        {
            Ok(endpoint) => Ok(endpoint),
            Err(e) => {
                self.abort_start(node, &mut child).await;
                Err(e)
            }
        }
    }

    async fn initiate_stop(&self, node: &Node) -> Result<()> {
        match self.state(node).await? {
            NodeState::Running { pid, .. } => pid::send(pid, libc::SIGTERM),
            NodeState::Stale { .. } => self.remove_state_files(node),
            NodeState::Stopped => Ok(()),
        }
    }

    async fn wait_for_stopped(&self, node: &Node) -> Result<()> {
        let Some(record) = node.launch_record()? else {
            return Ok(());
        };
        let alive = || pid::is_alive(record.pid, record.start_ticks);
        let deadline = Instant::now() + self.grace();
        while alive() && Instant::now() < deadline {
            tokio::time::sleep(POLL).await;
        }
        if alive() {
            tracing::warn!(
                node = node.id(),
                pid = record.pid,
                "no exit after {:?}; sending SIGKILL",
                self.grace()
            );
            pid::send(record.pid, libc::SIGKILL)?;
            let deadline = Instant::now() + KILL_WAIT;
            while alive() && Instant::now() < deadline {
                tokio::time::sleep(POLL).await;
            }
            if alive() {
                return Err(Error::StopFailed {
                    node: node.id().to_owned(),
                    pid: record.pid,
                    reason: format!("still alive {KILL_WAIT:?} after SIGKILL"),
                });
            }
        }
        self.remove_state_files(node)
    }

    async fn restart(&self, node: &mut Node, peers: &[Peer]) -> Result<Endpoint> {
        if self.config.reuse_dynamic_ports {
            if let NodeState::Running {
                endpoint: Some(endpoint),
                ..
            } = self.state(node).await?
            {
                if let Some(port) = endpoint.uri.rsplit(':').next() {
                    node.config
                        .flags
                        .insert(self.kind.api_port_flag().to_owned(), port.to_owned());
                    node.save()?;
                }
            }
        }
        self.initiate_stop(node).await?;
        self.wait_for_stopped(node).await?;
        self.start(node, peers).await
    }

    async fn state(&self, node: &Node) -> Result<NodeState> {
        let Some(record) = node.launch_record()? else {
            return Ok(NodeState::Stopped);
        };
        if !pid::is_alive(record.pid, record.start_ticks) {
            return Ok(NodeState::Stale { pid: record.pid });
        }
        let endpoint = node
            .process_context()?
            .filter(|ctx| ctx.pid == record.pid)
            .map(|ctx| Endpoint {
                uri: ctx.uri,
                p2p_address: ctx.p2p_address,
            });
        Ok(NodeState::Running {
            pid: record.pid,
            endpoint,
        })
    }

    async fn health(&self, node: &Node) -> Result<Health> {
        let not_running = |detail: String| Error::NotRunning {
            node: node.id().to_owned(),
            detail,
            log_tail: node.log_tail(LOG_TAIL_LINES),
        };
        match self.state(node).await? {
            NodeState::Running {
                endpoint: Some(endpoint),
                ..
            } => Ok(self.kind.check_health(&self.http, &endpoint).await),
            NodeState::Running { endpoint: None, .. } => Ok(Health::Unhealthy(
                "starting: its ports are not reported yet".into(),
            )),
            NodeState::Stale { pid } => Err(not_running(format!(
                "process {pid} is gone; its state files are stale"
            ))),
            NodeState::Stopped => Err(not_running("stopped".into())),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fatal_lines_before_the_offset_are_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("main.log");
        std::fs::write(&log, "FATAL old run\nok\n").unwrap();
        let offset = std::fs::metadata(&log).unwrap().len();
        assert_eq!(fatal_line(&log, offset), None);
        assert_eq!(fatal_line(&log, 0).as_deref(), Some("FATAL old run"));
        std::fs::write(&log, "FATAL old run\nok\n  FATAL bad flag  \n").unwrap();
        assert_eq!(fatal_line(&log, offset).as_deref(), Some("FATAL bad flag"));
    }
}
