//! Node kinds: everything that depends on *which* daemon runs.
//!
//! A [`NodeKind`] knows a daemon's flags and files, how a node gets its id,
//! how peers are given to it, how its ports become known and how to tell it
//! is healthy. Nothing else in the library names a specific daemon.
//!
//! How the shapes of real daemons map onto the trait:
//! - the embedded `refnode` takes port 0 and reports its ports itself in
//!   `process.json` ([`PortDiscovery::SelfReported`]); peers are a flag;
//! - a bitcoind-style daemon cannot report a port-0 choice, so its ports are
//!   allocated by the harness before spawning, and its endpoint is computed
//!   from them; its RPC credentials are network files made in
//!   [`NodeKind::init_network`];
//! - avalanchego writes `process.json` like refnode, and its staking keys
//!   (from which the node id derives) are made in [`NodeKind::new_node`]
//!   and kept as node flags, its genesis in [`NodeKind::init_network`].

pub mod bitcoind;
pub mod refnode;

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;

use crate::error::{Error, Result};
use crate::flags::Flags;
use crate::network::NetworkConfig;
use crate::node::{Node, NodeConfig};

/// A peer a node is told to connect to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    /// The peer's node id.
    pub node_id: String,
    /// Its p2p address, `host:port`.
    pub p2p_address: String,
}

/// Where a running node can be reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// HTTP API base URI.
    pub uri: String,
    /// p2p address, `host:port`.
    pub p2p_address: String,
}

/// A health verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    /// The node is healthy.
    Healthy,
    /// The node answers but is not healthy yet, or does not answer; the text
    /// says what is missing.
    Unhealthy(String),
}

impl Health {
    /// Whether the verdict is [`Health::Healthy`].
    pub fn is_healthy(&self) -> bool {
        matches!(self, Health::Healthy)
    }
}

impl fmt::Display for Health {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Health::Healthy => f.write_str("healthy"),
            Health::Unhealthy(why) => write!(f, "unhealthy: {why}"),
        }
    }
}

/// How the harness learns a started node's ports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortDiscovery {
    /// The node binds port 0 and writes `process.json` once bound. Later
    /// nodes can only be given its address after it is up, so bootstrap
    /// starts the first node alone, then the rest in parallel.
    SelfReported,
    /// The daemon cannot report a port-0 choice: the harness allocates the
    /// named loopback ports before the start (kept in the node's
    /// `config.json`, so they survive restarts), computes the endpoint with
    /// [`NodeKind::endpoint`] and writes `process.json` itself. Every address
    /// is known up front, so all nodes start in parallel. The first entry is
    /// the API port that must accept connections for the start to count.
    PreAllocated(&'static [&'static str]),
}

/// Where a node runs, for the flags that depend on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

/// A reference to the pod's own IP, expanded by the kubelet in a
/// container's arguments.
pub const POD_IP: &str = "$(POD_IP)";
/// A reference to the pod's name, expanded like [`POD_IP`].
pub const POD_NAME: &str = "$(POD_NAME)";

/// What a kind needs from a pod: the parts of its manifest that differ per
/// daemon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodProfile {
    /// The image used unless `--kube-image` says otherwise.
    pub default_image: &'static str,
    /// The API port (HTTP or RPC) inside the pod.
    pub api_port: u16,
    /// The p2p port inside the pod.
    pub p2p_port: u16,
    /// Where the data volume is mounted.
    pub data_path: &'static str,
    /// The readiness probe: an HTTP GET of this path on the API port, or a
    /// TCP connect to the API port when `None`.
    pub readiness_path: Option<&'static str>,
    /// Where Prometheus scrapes metrics on the API port, if the daemon
    /// serves them.
    pub metrics_path: Option<&'static str>,
}

/// What a kind needs to compose a node's flags for one start.
#[derive(Debug)]
pub struct LaunchSpec<'a> {
    /// Where the node runs.
    pub placement: Placement,
    /// The network's configuration.
    pub network: &'a NetworkConfig,
    /// The network directory.
    pub network_dir: &'a Path,
    /// The node being started.
    pub node: &'a Node,
    /// The peers it must connect to.
    pub peers: &'a [Peer],
}

/// Everything that depends on which daemon a node runs.
#[async_trait]
pub trait NodeKind: Send + Sync + fmt::Debug {
    /// The name used on command lines and in `config.json`.
    fn name(&self) -> &'static str;

    /// The executable's file name, searched for when no path is given.
    fn binary_name(&self) -> &'static str;

    /// Where the binary is commonly installed, tried after the directory of
    /// the running program and before `PATH`.
    fn known_locations(&self) -> Vec<PathBuf> {
        Vec::new()
    }

    /// How to get the binary, for the error when it cannot be found.
    fn install_hint(&self) -> &'static str;

    /// Whether programs built on this library embed this node (see
    /// [`crate::embedded`]).
    fn is_embedded(&self) -> bool {
        false
    }

    /// Writes files the whole network shares (credentials, genesis) into a
    /// new network directory.
    fn init_network(&self, _dir: &Path) -> Result<()> {
        Ok(())
    }

    /// Makes a new node's configuration: its id and any key material kept
    /// as flags. `index` is its place in bootstrap order.
    fn new_node(&self, index: usize) -> Result<NodeConfig>;

    /// How the node's ports become known.
    fn port_discovery(&self) -> PortDiscovery;

    /// The node's full flags for one start: the kind's defaults, then the
    /// network's and node's own flags, then what the harness must force
    /// (data dir, peers, loopback binding).
    fn compose_flags(&self, spec: &LaunchSpec<'_>) -> Result<Flags>;

    /// The binary's arguments, given the written flags file.
    fn command_args(&self, flags_file: &Path, flags: &Flags) -> Vec<OsString>;

    /// How the daemon runs in a pod.
    fn pod_profile(&self) -> PodProfile;

    /// The container's arguments for flags composed with
    /// [`Placement::Pod`] (no flags file: the pod has only its image).
    fn pod_args(&self, flags: &Flags) -> Vec<String>;

    /// Network files that hold secrets (kept in a Secret, not in the
    /// network's ConfigMap, on Kubernetes).
    fn secret_files(&self) -> &'static [&'static str] {
        &[]
    }

    /// The flag that pins the HTTP API port (for `reuse_dynamic_ports`).
    fn api_port_flag(&self) -> &'static str;

    /// For [`PortDiscovery::PreAllocated`] kinds: the endpoint a node has
    /// once started on the ports recorded in its config.
    fn endpoint(&self, _node: &Node) -> Option<Endpoint> {
        None
    }

    /// Whether a log line written since the node's start means it has failed
    /// (checked during start and by every health check).
    fn is_fatal_log_line(&self, line: &str) -> bool {
        line.contains("FATAL")
    }

    /// Whether these log lines show the node failed because a port was
    /// taken (so a start with fresh ports may succeed).
    fn is_port_conflict(&self, _log_tail: &[String]) -> bool {
        false
    }

    /// Asks a running node whether it is healthy.
    async fn check_health(
        &self,
        http: &reqwest::Client,
        node: &Node,
        endpoint: &Endpoint,
    ) -> Health;
}

/// Composes a node's flags for one start and records them in its
/// `flags.json` (what the node really runs with, for people and for health
/// checks that compare).
pub fn compose_and_record(kind: &dyn NodeKind, spec: &LaunchSpec<'_>) -> Result<Flags> {
    let flags = kind.compose_flags(spec)?;
    crate::fsutil::write_json(&spec.node.flags_path(), &flags)?;
    Ok(flags)
}

/// The names of the built-in kinds.
pub const KNOWN_KINDS: &[&str] = &[refnode::NAME, bitcoind::NAME];

/// The default node kind.
pub const DEFAULT_KIND: &str = refnode::NAME;

/// Looks up a built-in kind by name.
pub fn by_name(name: &str) -> Result<Arc<dyn NodeKind>> {
    match name {
        refnode::NAME => Ok(Arc::new(refnode::RefNode)),
        bitcoind::NAME => Ok(Arc::new(bitcoind::Bitcoind)),
        _ => Err(Error::UnknownNodeKind {
            name: name.to_owned(),
            known: KNOWN_KINDS.join(", "),
        }),
    }
}

/// Finds the node binary: `explicit` if given (it must be an executable
/// file), else the kind's binary next to the running program, one directory
/// up (cargo's `deps/` layout for test binaries), at the kind's known
/// locations, or on `PATH`. The result is absolute.
pub fn locate_binary(kind: &dyn NodeKind, explicit: Option<&Path>) -> Result<PathBuf> {
    if let Some(path) = explicit {
        check_executable(kind, path)?;
        return std::path::absolute(path).map_err(|e| Error::io("cannot resolve", path, e));
    }
    let name = kind.binary_name();
    let mut candidates = Vec::new();
    if let Ok(exe) = std::env::current_exe() {
        if let Some(dir) = exe.parent() {
            candidates.push(dir.join(name));
            if let Some(up) = dir.parent() {
                candidates.push(up.join(name));
            }
        }
    }
    candidates.extend(kind.known_locations());
    if let Some(path) = std::env::var_os("PATH") {
        candidates.extend(std::env::split_paths(&path).map(|d| d.join(name)));
    }
    candidates
        .into_iter()
        .find(|c| check_executable(kind, c).is_ok())
        .map(|c| std::path::absolute(&c).unwrap_or(c))
        .ok_or_else(|| Error::NodeBinaryNotFound {
            kind: kind.name().to_owned(),
            binary: name.to_owned(),
            hint: kind.install_hint().to_owned(),
        })
}

fn check_executable(kind: &dyn NodeKind, path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let problem = match std::fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => "does not exist".to_owned(),
        Err(e) => e.to_string(),
        Ok(m) if !m.is_file() => "is not a file".to_owned(),
        Ok(m) if m.permissions().mode() & 0o111 == 0 => "is not executable".to_owned(),
        Ok(_) => return Ok(()),
    };
    Err(Error::NodeBinary {
        path: path.to_owned(),
        problem,
        kind: kind.name().to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A kind whose binary is installed nowhere.
    #[derive(Debug)]
    struct Nowhere;

    #[async_trait]
    impl NodeKind for Nowhere {
        fn name(&self) -> &'static str {
            "nowhere"
        }
        fn binary_name(&self) -> &'static str {
            "tmpnet-no-such-daemon"
        }
        fn known_locations(&self) -> Vec<PathBuf> {
            vec!["/nonexistent/tmpnet-no-such-daemon".into()]
        }
        fn install_hint(&self) -> &'static str {
            "install it with `apt-get install nowhere`"
        }
        fn new_node(&self, index: usize) -> Result<NodeConfig> {
            refnode::RefNode.new_node(index)
        }
        fn port_discovery(&self) -> PortDiscovery {
            PortDiscovery::SelfReported
        }
        fn compose_flags(&self, _spec: &LaunchSpec<'_>) -> Result<Flags> {
            Ok(Flags::new())
        }
        fn command_args(&self, _flags_file: &Path, _flags: &Flags) -> Vec<OsString> {
            Vec::new()
        }
        fn api_port_flag(&self) -> &'static str {
            "port"
        }
        fn pod_profile(&self) -> PodProfile {
            refnode::RefNode.pod_profile()
        }
        fn pod_args(&self, _flags: &Flags) -> Vec<String> {
            Vec::new()
        }
        async fn check_health(&self, _: &reqwest::Client, _: &Node, _: &Endpoint) -> Health {
            Health::Healthy
        }
    }

    #[test]
    fn a_missing_daemon_names_itself_and_how_to_install_it() {
        let err = locate_binary(&Nowhere, None).unwrap_err().to_string();
        assert!(err.contains("tmpnet-no-such-daemon"), "{err}");
        assert!(err.contains("apt-get install nowhere"), "{err}");
        assert!(err.contains("--node-path"), "{err}");
        assert!(bitcoind::Bitcoind
            .install_hint()
            .contains("apt-get install litecoind"));
    }

    #[test]
    fn unknown_kind_lists_the_known_ones() {
        let err = by_name("geth").unwrap_err().to_string();
        assert!(err.contains("geth") && err.contains("refnode"), "{err}");
    }

    #[test]
    fn explicit_binary_must_exist_and_be_executable() {
        use std::os::unix::fs::PermissionsExt;
        let kind = refnode::RefNode;
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope");
        let err = locate_binary(&kind, Some(&missing))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("does not exist") && err.contains("--node-path"),
            "{err}"
        );

        let plain = dir.path().join("plain");
        std::fs::write(&plain, "x").unwrap();
        std::fs::set_permissions(&plain, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = locate_binary(&kind, Some(&plain)).unwrap_err().to_string();
        assert!(err.contains("not executable"), "{err}");

        let err = locate_binary(&kind, Some(dir.path()))
            .unwrap_err()
            .to_string();
        assert!(err.contains("not a file"), "{err}");

        std::fs::set_permissions(&plain, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(locate_binary(&kind, Some(&plain)).unwrap(), plain);
    }
}
