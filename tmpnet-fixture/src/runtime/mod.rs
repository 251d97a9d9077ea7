//! Node runtimes: everything that depends on *where* a node runs.
//!
//! A [`NodeRuntime`] starts a node, stops it in two phases (so a whole
//! network stops in parallel), restarts it, reports its state and health,
//! and gives the URI a caller can reach. The local-process runtime is
//! `process::ProcessRuntime`; the Kubernetes runtime is
//! `kube::KubeRuntime` (start = create objects and watch the pod, stop =
//! scale to zero, accessible URI = pod IP in-cluster or a port-forward
//! outside).

#[cfg(feature = "kube")]
pub(crate) mod kube;
pub(crate) mod process;

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;

use crate::error::{Error, Result};
use crate::kinds::NodeKind;
use crate::model::node::LOG_TAIL_LINES;
use crate::model::{
    Endpoint, Health, KubeSettings, NetworkConfig, Node, NodeState, Peer, RuntimeSettings,
};

/// Where nodes run.
#[async_trait]
pub trait NodeRuntime: Send + Sync + fmt::Debug {
    /// Gives nodes whatever addresses must be fixed before any of them starts
    /// (for kinds with [`crate::kinds::PortDiscovery::PreAllocated`] ports):
    /// nodes that lack them, or all of them when `fresh`. Saves each changed
    /// node's config. The default does nothing.
    fn assign_ports(&self, _nodes: &mut [Node], _fresh: bool) -> Result<()> {
        Ok(())
    }

    /// Opens or closes the gate for new node processes. A network's stop
    /// closes it first: a start still spawning finishes recording its
    /// node (so the stop sees it), and later starts fail instead of
    /// spawning behind the stop's back. Starts reopen it.
    fn allow_starts(&self, allowed: bool);

    /// The endpoint the node will have once started, when it is known
    /// before the start (local processes of a kind whose ports are
    /// pre-allocated); then every node of a network can start at once.
    /// Pods get their IPs only when scheduled. The default is `None`.
    fn planned_endpoint(&self, _node: &Node) -> Option<Endpoint> {
        None
    }

    /// Every bootstrap node with the address its peers reach it at for the
    /// network's whole life, when the runtime makes one before any start
    /// for a kind that needs it (a peer Service's cluster IP on
    /// Kubernetes); else `None`, and the members come from
    /// [`NodeRuntime::planned_endpoint`].
    async fn stable_members(&self, _nodes: &[Node]) -> Result<Option<Vec<Peer>>> {
        Ok(None)
    }

    /// Whether these lines of evidence of a failed start show a port taken
    /// by another program (so a start with fresh ports may succeed).
    fn is_port_conflict(&self, _evidence: &[String]) -> bool {
        false
    }

    /// Whether a restarted node can be reached at its old address (local
    /// processes keep their ports or re-announce them; a pod gets a new
    /// IP). When not, a network restart gives each node only peers whose
    /// address is final.
    fn addresses_survive_restart(&self) -> bool {
        true
    }

    /// Stops processes of the network that belong to none of the nodes
    /// `known` (by id): a node whose directory was removed while it ran.
    /// Returns their pids. The default finds none.
    async fn stop_unlisted(&self, _known: &[String]) -> Result<Vec<u32>> {
        Ok(Vec::new())
    }

    /// Called once every node of the network has stopped, to release what
    /// the runtime holds for the network as a whole. The default does
    /// nothing.
    async fn network_stopped(&self) -> Result<()> {
        Ok(())
    }

    /// Checks, before anything is stopped or started, that `node` could be
    /// started now (its binary runs, the files its flags need exist), so a
    /// restart never stops a node it cannot bring back. The default checks
    /// nothing.
    fn preflight(&self, _node: &Node, _members: &[Peer]) -> Result<()> {
        Ok(())
    }

    /// Starts `node` told to connect to `peers`; `members` are all bootstrap
    /// nodes with their planned addresses when those are fixed up front
    /// (see [`crate::kinds::LaunchContext::members`]), else empty. Returns
    /// once its endpoint is known. On error nothing of this start is left
    /// running.
    async fn start(&self, node: &Node, peers: &[Peer], members: &[Peer]) -> Result<Endpoint>;

    /// Asks the node to stop, without waiting.
    async fn initiate_stop(&self, node: &Node) -> Result<()>;

    /// Waits until the node has stopped, forcing it after the grace period.
    async fn wait_for_stopped(&self, node: &Node) -> Result<()>;

    /// Stops and starts the node again. May update and save its config
    /// (e.g. to pin its API port).
    async fn restart(&self, node: &mut Node, peers: &[Peer], members: &[Peer]) -> Result<Endpoint>;

    /// The node's current state.
    async fn state(&self, node: &Node) -> Result<NodeState>;

    /// Whether the node is healthy. A node that is not running is an error
    /// ([`crate::Error::NotRunning`]), so waits fail fast on a crash.
    async fn health(&self, node: &Node) -> Result<Health>;

    /// The last lines of the node's log, for errors.
    async fn log_tail(&self, node: &Node) -> Vec<String> {
        node.log_tail(LOG_TAIL_LINES)
    }

    /// The complete lines of the node's log after `cursor` (0: from the
    /// start), and the cursor to read on from. The default reads the
    /// node's log file (the cursor is a byte offset; a file that shrank is
    /// read again from the start). A node that no longer runs writes no
    /// more, so its last line counts, ended by a newline or not (a crashed
    /// daemon's last words).
    async fn read_log(&self, node: &Node, cursor: u64) -> (Vec<String>, u64) {
        let path = node.log_path();
        let (lines, next) = read_log_file(&path, cursor, false);
        let unended = std::fs::metadata(&path).is_ok_and(|m| m.len() > next);
        // Only an unended line asks whether the node still runs; unknown
        // counts as running, so a line is never cut on a guess.
        if unended
            && matches!(self.state(node).await, Ok(state) if !matches!(state, NodeState::Running { .. }))
        {
            return read_log_file(&path, cursor, true);
        }
        (lines, next)
    }

    /// A URI for the node's API reachable from where this code runs.
    async fn accessible_uri(&self, node: &Node) -> Result<Option<String>>;
}

/// The complete lines of `path` after byte `cursor` (with the unended last
/// one when `finished`: nothing will end it), and the offset after the last
/// of them (see [`NodeRuntime::read_log`]).
pub(crate) fn read_log_file(path: &Path, cursor: u64, finished: bool) -> (Vec<String>, u64) {
    use std::io::{Read, Seek, SeekFrom};
    let Ok(mut file) = std::fs::File::open(path) else {
        return (Vec::new(), 0);
    };
    let len = file.metadata().map_or(0, |m| m.len());
    let start = if cursor > len { 0 } else { cursor };
    let mut bytes = Vec::new();
    if file
        .seek(SeekFrom::Start(start))
        .and_then(|_| file.read_to_end(&mut bytes))
        .is_err()
    {
        return (Vec::new(), start);
    }
    let rest = &bytes[..];
    // Only complete lines: a line being written is read next time.
    let complete = match rest.iter().rposition(|b| *b == b'\n') {
        _ if finished => rest.len(),
        Some(i) => i + 1,
        None => 0,
    };
    let lines = String::from_utf8_lossy(&rest[..complete])
        .lines()
        .map(str::to_owned)
        .collect();
    (lines, start + u64::try_from(complete).unwrap_or(0))
}

/// The HTTP client runtimes ask nodes about their health with: no proxy,
/// short timeouts (a node that does not answer is not healthy yet).
pub(crate) fn health_client() -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .no_proxy()
        .connect_timeout(std::time::Duration::from_secs(2))
        .timeout(std::time::Duration::from_secs(5))
        .build()
        .map_err(Error::HttpClient)
}

/// The settings of a new network's runtime: Kubernetes with `kube`
/// (validated, the kind's image filled in), else local processes of the
/// binary at `node_path` (or found). Fails when the kind cannot run there.
pub(crate) fn settings_for(
    kind: &dyn NodeKind,
    kube: Option<&KubeSettings>,
    node_path: Option<&Path>,
    reuse_dynamic_ports: bool,
) -> Result<RuntimeSettings> {
    match kube {
        #[cfg(feature = "kube")]
        Some(kube) => self::kube::settings_for(kind, kube).map(RuntimeSettings::Kube),
        #[cfg(not(feature = "kube"))]
        Some(_) => Err(Error::feature_disabled("kube", "a network on Kubernetes")),
        None => process::settings_for(kind, node_path, reuse_dynamic_ports)
            .map(RuntimeSettings::Process),
    }
}

/// Builds the runtime a network's config asks for.
pub(crate) fn for_network(
    config: &NetworkConfig,
    dir: &Path,
    kind: Arc<dyn NodeKind>,
) -> Result<Arc<dyn NodeRuntime>> {
    match &config.runtime {
        RuntimeSettings::Process(p) => Ok(Arc::new(process::ProcessRuntime::new(
            kind,
            Arc::new(config.clone()),
            dir.to_owned(),
            p.clone(),
        )?)),
        #[cfg(feature = "kube")]
        RuntimeSettings::Kube(k) => Ok(Arc::new(self::kube::KubeRuntime::new(
            kind,
            Arc::new(config.clone()),
            dir.to_owned(),
            k.clone(),
        )?)),
        #[cfg(not(feature = "kube"))]
        RuntimeSettings::Kube(_) => Err(Error::feature_disabled(
            "kube",
            format!("the Kubernetes network in {}", dir.display()),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_log_file_is_read_on_by_complete_lines_and_again_after_it_shrank() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("main.log");
        assert_eq!(
            read_log_file(&path, 0, false),
            (Vec::new(), 0),
            "no file yet"
        );
        std::fs::write(&path, "a\nb\npart").unwrap();
        let (lines, cursor) = read_log_file(&path, 0, false);
        assert_eq!(lines, ["a", "b"], "a line being written waits");
        assert_eq!(cursor, 4);
        std::fs::write(&path, "a\nb\npartial\nc\n").unwrap();
        let (lines, cursor) = read_log_file(&path, cursor, false);
        assert_eq!(lines, ["partial", "c"]);
        std::fs::write(&path, "new\n").unwrap();
        let (lines, cursor) = read_log_file(&path, cursor, false);
        assert_eq!(lines, ["new"], "a file that shrank is read from its start");
        // A node that stopped ends with what it wrote, newline or not.
        std::fs::write(&path, "new\nlast words").unwrap();
        let (lines, cursor) = read_log_file(&path, cursor, true);
        assert_eq!(lines, ["last words"]);
        assert_eq!(cursor, 14);
        assert_eq!(read_log_file(&path, cursor, true), (Vec::new(), 14));
    }
}
