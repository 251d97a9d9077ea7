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

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use tokio::process::{Child, Command};

use super::NodeRuntime;
use crate::error::{Error, Result};
use crate::kinds::{
    self, embedded, HealthContext, LaunchContext, LocalDaemon, NodeKind, Placement, PortDiscovery,
};
use crate::model::node::LOG_TAIL_LINES;
use crate::model::{
    Endpoint, Health, LaunchRecord, NetworkConfig, Node, NodeState, Peer, ProcessContext,
    ProcessSettings,
};
use crate::sys::{files, pids, ports};

/// How often start and stop look at the process.
const POLL: Duration = Duration::from_millis(10);
/// How long a scan of `/proc` for marked processes is reused.
const MARK_SCAN_TTL: Duration = Duration::from_millis(50);
/// How long to wait for a SIGKILLed process to disappear.
const KILL_WAIT: Duration = Duration::from_secs(5);
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
    log_scans: std::sync::Mutex<std::collections::HashMap<String, LogScan>>,
    /// Open (true) while starts may spawn; held while spawning.
    spawn_gate: std::sync::Mutex<bool>,
    /// The last scan for marked processes, and when it was made.
    mark_scan: std::sync::Mutex<MarkScan>,
    /// Nodes whose unreadable `process.json` was already reported.
    warned: std::sync::Mutex<std::collections::HashSet<String>>,
}

/// When marked processes were last looked for, and what was found.
type MarkScan = (Option<Instant>, std::collections::HashMap<String, Vec<u32>>);

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

    /// Spawns the node and records it. Nothing between the spawn and the
    /// written launch record awaits, so a cancelled start never leaves an
    /// unrecorded process.
    fn spawn(
        &self,
        node: &Node,
        peers: &[Peer],
        members: &[Peer],
    ) -> Result<(Child, LaunchRecord)> {
        let local = self.local()?;
        let launch = LaunchContext {
            placement: Placement::Local,
            network_dir: &self.network_dir,
            node,
            peers,
            members,
        };
        let flags =
            kinds::compose_and_record(self.kind.as_ref(), &self.network.default_flags, &launch)?;
        local.prepare(node, &flags)?;
        files::create_dir_all(&node.dir.join("logs"))?;
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
        let gate = self.spawn_gate.lock().unwrap_or_else(|p| p.into_inner());
        if !*gate {
            return Err(Error::StartFailed {
                node: node.id().to_owned(),
                reason: "its network is being stopped".into(),
                log_tail: Vec::new(),
            });
        }
        let mut cmd = Command::new(self.program());
        if let Some(name) = &self.config.embedded {
            cmd.env(embedded::EMBEDDED_NODE_ENV, name);
        }
        // Found by this mark even when its state files are gone.
        cmd.env(pids::MARK_ENV, self.mark(node));
        cmd.args(local.argv(&node.flags_path(), &flags))
            .current_dir(&node.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log_err))
            .process_group(0)
            .kill_on_drop(false);
        let child = cmd.spawn().map_err(|e| Error::NetworkBinary {
            dir: self.network_dir.clone(),
            path: self.config.node_path.clone(),
            problem: format!("cannot be started: {e}"),
        })?;
        let child_pid = child.id().unwrap_or_default();
        let record = LaunchRecord {
            pid: child_pid,
            start_ticks: pids::start_ticks(child_pid).unwrap_or_default(),
            log_offset,
        };
        if let Err(e) = files::write_json(&node.launch_path(), &record) {
            let _ = pids::send(child_pid, libc::SIGKILL);
            return Err(e);
        }
        drop(gate);
        tracing::debug!(node = node.id(), pid = child_pid, "spawned");
        Ok((child, record))
    }

    /// Waits until the node's endpoint is known (its `process.json`, or for
    /// pre-allocated ports, its API port accepting connections, after which
    /// `process.json` is written here), failing fast on exit or a FATAL line.
    async fn wait_for_endpoint(
        &self,
        node: &Node,
        child: &mut Child,
        record: &LaunchRecord,
    ) -> Result<Endpoint> {
        let deadline = Instant::now() + self.init_timeout();
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
            if let Some(line) = self.fatal_line(node, record) {
                return Err(failed(format!("it logged {line:?}")));
            }
            if let Some(endpoint) = self.endpoint_if_ready(node, record).await? {
                return Ok(endpoint);
            }
            if Instant::now() >= deadline {
                let local = self.local()?;
                let waited_for = match local.port_discovery() {
                    PortDiscovery::SelfReported => {
                        format!("it wrote no {}", node.process_path().display())
                    }
                    PortDiscovery::Reported => {
                        "it never reported its ports (the kind looks for them in its log or ports file)".to_owned()
                    }
                    _ => match local.endpoint(node) {
                        Some(e) => format!("its API at {} accepts no connections", e.uri),
                        None => "its ports were never assigned".into(),
                    },
                };
                return Err(failed(format!(
                    "{waited_for} after {:?}; see its log, or allow longer with runtime.process.initTimeoutSecs in {}",
                    self.init_timeout(),
                    self.network_dir.join("config.json").display()
                )));
            }
            tokio::time::sleep(POLL).await;
        }
    }

    async fn endpoint_if_ready(
        &self,
        node: &Node,
        record: &LaunchRecord,
    ) -> Result<Option<Endpoint>> {
        let local = self.local()?;
        let endpoint = match local.port_discovery() {
            PortDiscovery::SelfReported => {
                return Ok(node
                    .process_context()?
                    .filter(|ctx| is_ours(ctx.pid, record))
                    .map(|ctx| Endpoint {
                        uri: ctx.uri,
                        p2p_address: ctx.p2p_address,
                    }))
            }
            PortDiscovery::Reported => {
                let logged = read_from(&node.log_path(), record.log_offset);
                match local.reported_endpoint(node, &logged) {
                    Some(endpoint) => endpoint,
                    None => return Ok(None),
                }
            }
            PortDiscovery::PreAllocated(_) => {
                let endpoint = self.assigned_endpoint(node)?;
                let api = endpoint
                    .uri
                    .split_once("://")
                    .map_or(endpoint.uri.as_str(), |(_, a)| a);
                if tokio::net::TcpStream::connect(api).await.is_err() {
                    return Ok(None);
                }
                endpoint
            }
        };
        let ctx = ProcessContext {
            pid: record.pid,
            uri: endpoint.uri.clone(),
            p2p_address: endpoint.p2p_address.clone(),
        };
        files::write_json(&node.process_path(), &ctx)?;
        Ok(Some(endpoint))
    }

    fn assigned_endpoint(&self, node: &Node) -> Result<Endpoint> {
        self.local()?
            .endpoint(node)
            .ok_or_else(|| Error::StartFailed {
                node: node.id().to_owned(),
                reason: "its ports were never assigned; start it through its network".into(),
                log_tail: Vec::new(),
            })
    }

    /// Stops a process this start spawned, after a failed start.
    async fn abort_start(&self, node: &Node, child: &mut Child) {
        let _ = self.initiate_stop(node).await;
        if let Err(e) = self.wait_for_stopped(node).await {
            tracing::warn!(node = node.id(), error = %e, "could not stop a failed node");
        }
        let _ = child.try_wait();
    }

    /// A fatal log line written by this run of the node, if any. Scans only
    /// what was appended since the last call; a finding is remembered.
    fn fatal_line(&self, node: &Node, record: &LaunchRecord) -> Option<String> {
        let mut scans = self.log_scans.lock().unwrap_or_else(|p| p.into_inner());
        let scan = scans.entry(node.id().to_owned()).or_default();
        if scan.pid != record.pid {
            *scan = LogScan {
                pid: record.pid,
                offset: record.log_offset,
                fatal: None,
            };
        }
        if scan.fatal.is_none() {
            let (fatal, offset) = scan_log(&node.log_path(), scan.offset, |l| {
                self.kind.is_fatal_log_line(l)
            });
            scan.fatal = fatal;
            scan.offset = offset;
        }
        scan.fatal.clone()
    }

    /// With `reuse_dynamic_ports`, records the API port a node bound in its
    /// own flags, so every later start (a restart, or a stop and a start
    /// from another process) binds it again.
    fn pin_api_port(&self, node: &Node, endpoint: &Endpoint) -> Result<()> {
        if !self.config.reuse_dynamic_ports {
            return Ok(());
        }
        let Some(port) = endpoint.uri.rsplit(':').next() else {
            return Ok(());
        };
        let flag = self.local()?.api_port_flag().to_owned();
        if flag.is_empty() {
            return Ok(());
        }
        if node.config.flags.get(&flag).map(String::as_str) == Some(port) {
            return Ok(());
        }
        let mut pinned = node.clone();
        pinned.config.flags.insert(flag, port.to_owned());
        pinned.save()
    }

    /// The mark the node's processes carry.
    fn mark(&self, node: &Node) -> String {
        format!("{}/{}", self.network.uuid, node.id())
    }

    /// Processes carrying the node's mark, from a scan of `/proc` at most
    /// [`MARK_SCAN_TTL`] old (many nodes asking at once share one scan).
    fn marked(&self, node: &Node) -> Vec<u32> {
        let mut cache = self.mark_scan.lock().unwrap_or_else(|p| p.into_inner());
        if cache.0.is_none_or(|at| at.elapsed() > MARK_SCAN_TTL) {
            *cache = (Some(Instant::now()), pids::marks());
        }
        // A process of the scan may have exited since.
        cache
            .1
            .get(&self.mark(node))
            .map(|pids| pids.iter().copied().filter(|p| pids::is_live(*p)).collect())
            .unwrap_or_default()
    }

    /// The node's recorded process if it is alive (an unreadable record
    /// counts as none: the mark still finds the process).
    fn live_record(node: &Node) -> Option<LaunchRecord> {
        node.launch_record()
            .ok()
            .flatten()
            .filter(|r| pids::is_alive(r.pid, r.start_ticks))
    }

    fn remove_state_files(&self, node: &Node) -> Result<()> {
        files::remove_if_exists(&node.process_path())?;
        files::remove_if_exists(&node.launch_path())
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

/// The bytes of `path` from `offset` on; `None` if it cannot be read.
fn bytes_from(path: &std::path::Path, offset: u64) -> Option<Vec<u8>> {
    use std::io::{Read, Seek, SeekFrom};
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|mut f| {
            f.seek(SeekFrom::Start(offset))?;
            f.read_to_end(&mut bytes)
        })
        .ok()?;
    Some(bytes)
}

/// What `path` holds from `offset` on (lossy UTF-8; empty if unreadable).
fn read_from(path: &std::path::Path, offset: u64) -> String {
    String::from_utf8_lossy(&bytes_from(path, offset).unwrap_or_default()).into_owned()
}

/// What the log scan of one run of a node has found so far.
#[derive(Debug, Clone, Default)]
struct LogScan {
    pid: u32,
    offset: u64,
    fatal: Option<String>,
}

/// Reads `path` from `offset`: the first line `is_fatal` accepts, and the
/// offset just past the last complete line read.
fn scan_log(
    path: &std::path::Path,
    offset: u64,
    is_fatal: impl Fn(&str) -> bool,
) -> (Option<String>, u64) {
    let Some(bytes) = bytes_from(path, offset) else {
        return (None, offset);
    };
    let complete = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    let fatal = String::from_utf8_lossy(&bytes[..complete])
        .lines()
        .find(|l| is_fatal(l))
        .map(|l| l.trim().to_owned());
    (fatal, offset + complete as u64)
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
        let prefix = format!("{}/", self.network.uuid);
        let strays = || -> Vec<u32> {
            pids::marks()
                .into_iter()
                .filter(|(mark, _)| {
                    mark.strip_prefix(&prefix)
                        .is_some_and(|id| !known.iter().any(|k| k == id))
                })
                .flat_map(|(_, pids)| pids)
                .collect()
        };
        let found = strays();
        if found.is_empty() {
            return Ok(found);
        }
        let signal = self.local()?.stop_signal();
        for pid in &found {
            pids::send(*pid, signal)?;
        }
        let deadline = Instant::now() + self.grace();
        while !strays().is_empty() && Instant::now() < deadline {
            tokio::time::sleep(POLL * 5).await;
        }
        for pid in strays() {
            pids::send(pid, libc::SIGKILL)?;
        }
        let deadline = Instant::now() + KILL_WAIT;
        while !strays().is_empty() && Instant::now() < deadline {
            tokio::time::sleep(POLL).await;
        }
        match strays().first() {
            Some(pid) => Err(Error::StopFailed {
                node: format!(
                    "(a node of {} whose directory is gone)",
                    self.network_dir.display()
                ),
                pid: *pid,
                reason: format!("still alive {KILL_WAIT:?} after SIGKILL"),
            }),
            None => Ok(found),
        }
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
                    nodes: format!("{} (pid {})", node.id(), pid.unwrap_or_default()),
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
        let signal = self.local()?.stop_signal();
        let leader = Self::live_record(node).map(|r| r.pid);
        if let Some(pid) = leader {
            // The whole process group: a wrapper script's daemon too.
            pids::send_group(pid, signal)?;
        }
        // Whatever the state files say, every process carrying the node's
        // mark is the node's (outside the group: one that left it).
        let mut found = false;
        for pid in self.marked(node) {
            found = true;
            if leader.is_none_or(|l| pids::group_of(pid) != Some(l)) {
                pids::send(pid, signal)?;
            }
        }
        if leader.is_none() && !found {
            // Nothing runs: records left by a dead node are stale.
            if node.launch_path().exists() || node.process_path().exists() {
                tracing::info!(
                    node = node.id(),
                    "removing the state files of a stopped node"
                );
                self.remove_state_files(node)?;
            }
        }
        Ok(())
    }

    async fn wait_for_stopped(&self, node: &Node) -> Result<()> {
        let record = node.launch_record().ok().flatten();
        let leader_alive = || {
            record
                .as_ref()
                .is_some_and(|r| pids::is_alive(r.pid, r.start_ticks))
        };
        let deadline = Instant::now() + self.grace();
        while leader_alive() && Instant::now() < deadline {
            tokio::time::sleep(POLL).await;
        }
        // What else is left of the node: processes it forked into its group
        // (a wrapper script's daemon) and any carrying its mark. They get
        // the rest of the grace period, then SIGKILL.
        let left = || {
            let mut pids = self.marked(node);
            if let Some(r) = &record {
                if leader_alive() {
                    pids.push(r.pid);
                }
                pids.extend(pids::group_members(r.pid));
            }
            pids.sort_unstable();
            pids.dedup();
            pids
        };
        let signal = self.local()?.stop_signal();
        if !leader_alive() && !left().is_empty() {
            if let Some(r) = &record {
                pids::send_group(r.pid, signal)?;
            }
            for pid in self.marked(node) {
                pids::send(pid, signal)?;
            }
            while !left().is_empty() && Instant::now() < deadline {
                tokio::time::sleep(POLL * 5).await;
            }
        }
        let survivors = left();
        if !survivors.is_empty() {
            tracing::warn!(
                node = node.id(),
                pids = ?survivors,
                "no exit after {:?}; sending SIGKILL",
                self.grace()
            );
            if let Some(r) = &record {
                pids::send_group(r.pid, libc::SIGKILL)?;
            }
            for pid in &survivors {
                pids::send(*pid, libc::SIGKILL)?;
            }
            let deadline = Instant::now() + KILL_WAIT;
            while !left().is_empty() && Instant::now() < deadline {
                tokio::time::sleep(POLL).await;
            }
            if let Some(pid) = left().first() {
                return Err(Error::StopFailed {
                    node: node.id().to_owned(),
                    pid: *pid,
                    reason: format!("still alive {KILL_WAIT:?} after SIGKILL"),
                });
            }
        }
        self.remove_state_files(node)
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
                if let Some(line) = self.fatal_line(node, &record) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_scan_reads_only_complete_lines_after_the_offset() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("main.log");
        let fatal = |l: &str| l.contains("FATAL");
        std::fs::write(&log, "FATAL old run\nok\n").unwrap();
        let start = std::fs::metadata(&log).unwrap().len();
        assert_eq!(scan_log(&log, start, fatal), (None, start));
        assert_eq!(scan_log(&log, 0, fatal).0.as_deref(), Some("FATAL old run"));
        // A half-written line is left for the next scan.
        std::fs::write(&log, "FATAL old run\nok\nfine\n  FATAL bad").unwrap();
        let (found, next) = scan_log(&log, start, fatal);
        assert_eq!((found, next), (None, start + 5));
        std::fs::write(&log, "FATAL old run\nok\nfine\n  FATAL bad flag  \n").unwrap();
        assert_eq!(
            scan_log(&log, next, fatal).0.as_deref(),
            Some("FATAL bad flag")
        );
        assert_eq!(scan_log(&dir.path().join("none"), 3, fatal), (None, 3));
    }
}
