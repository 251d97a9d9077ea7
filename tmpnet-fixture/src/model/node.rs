//! One node of a network: its directory, its `config.json`, and the state
//! files written while it runs.
//!
//! ```text
//! <network dir>/<node id>/
//!   config.json    NodeConfig: id, index, own flags (written by the harness)
//!   flags.json     the full composed flags passed to the binary (per start)
//!   launch.json    pid and process start time, written by the harness the
//!                  moment it spawns the node; removed once it is stopped
//!   process.json   pid, API URI, p2p address: written by the node once its
//!                  ports are bound, removed on clean exit
//!   logs/main.log  the node's stdout and stderr
//!   db/            the node's data
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::flags::Flags;
use crate::error::Result;
use crate::sys::files;

/// File name of a node's configuration.
pub const CONFIG_FILE: &str = "config.json";
/// File name of the composed flags.
pub const FLAGS_FILE: &str = "flags.json";
/// File name of the harness's launch record.
pub const LAUNCH_FILE: &str = "launch.json";
/// File name of the node's self-reported process context.
pub const PROCESS_FILE: &str = tmpnet_contract::PROCESS_FILE;
/// The directory of the node's logs (`logs/main.log`).
pub const LOGS_DIR: &str = "logs";
/// The node process's temporary directory (its `TMPDIR`), so what a
/// daemon leaves in temporary files goes with the node, not into `/tmp`.
pub const TMP_DIR: &str = "tmp";
/// The names the tool keeps in a node directory for itself: no path a kind
/// names may be one of them or lie below one.
pub const RESERVED_NAMES: &[&str] = &[
    CONFIG_FILE,
    FLAGS_FILE,
    LAUNCH_FILE,
    PROCESS_FILE,
    LOGS_DIR,
    TMP_DIR,
];

/// Log lines quoted in errors.
pub const LOG_TAIL_LINES: usize = 10;

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
#[non_exhaustive]
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

impl Endpoint {
    /// The endpoint with API base URI `uri` and p2p address `p2p_address`.
    pub fn new(uri: impl Into<String>, p2p_address: impl Into<String>) -> Self {
        Endpoint {
            uri: uri.into(),
            p2p_address: p2p_address.into(),
        }
    }
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

/// What a runtime knows of a node right now.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum NodeState {
    /// Not running, and nothing says it should be.
    Stopped,
    /// Running. The endpoint is `None` until the node has reported it.
    Running {
        /// Its pid, for a local process (`None` for a pod).
        pid: Option<u32>,
        /// Where it can be reached, once known.
        endpoint: Option<Endpoint>,
    },
    /// A record says it runs, but the process is gone (e.g. after `kill -9`).
    Stale {
        /// The recorded pid.
        pid: u32,
    },
}

impl NodeState {
    /// Whether the node is running.
    pub fn is_running(&self) -> bool {
        matches!(self, NodeState::Running { .. })
    }
}

/// Contents of `<node dir>/config.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
#[serde(rename_all = "camelCase")]
pub struct NodeConfig {
    /// The node id (also the directory name).
    pub id: String,
    /// Position in bootstrap order (0 is the first node).
    pub index: usize,
    /// The node's own flags, above the network defaults.
    #[serde(default)]
    pub flags: Flags,
    /// Ports the harness allocated for it, by name (only for kinds whose
    /// daemon cannot report a port-0 choice); kept across restarts.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub ports: BTreeMap<String, u16>,
    /// Key material the kind made with the node, written by
    /// [`Node::create`] into the node's directory (mode 0600) and never
    /// into `config.json`.
    #[serde(skip)]
    pub secrets: SecretFiles,
    /// The paths (relative to the node's directory) of the secret files
    /// [`Node::create`] wrote: names only, so a runtime can carry them
    /// (a pod gets them from a Kubernetes Secret).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secret_files: Vec<String>,
}

/// Files of secret bytes by path relative to a node's directory (e.g.
/// `staking/staker.key`). Its `Debug` names the files, never their bytes.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SecretFiles(pub BTreeMap<String, Vec<u8>>);

impl SecretFiles {
    /// Writes each file under `dir`, atomically with mode 0600.
    pub fn write_under(&self, dir: &Path) -> Result<()> {
        for (relative, bytes) in &self.0 {
            let path = dir.join(relative);
            if let Some(parent) = path.parent() {
                files::create_dir_all(parent)?;
            }
            files::atomic_write(&path, bytes, 0o600)?;
        }
        Ok(())
    }
}

impl std::fmt::Debug for SecretFiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.0.keys()).finish()
    }
}

/// Contents of `process.json`, written by the node itself (the type a
/// node written in Rust writes it with: the `tmpnet-contract` crate).
pub use tmpnet_contract::ProcessContext;

/// Contents of `launch.json`, written by the harness right after spawning.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
#[serde(rename_all = "camelCase")]
pub struct LaunchRecord {
    /// The pid spawned.
    pub pid: u32,
    /// The process start time in clock ticks since boot (from
    /// `/proc/<pid>/stat`), so a recycled pid is never mistaken for the node.
    pub start_ticks: u64,
    /// Length of `logs/main.log` when it was spawned: log lines after this
    /// offset belong to this run.
    #[serde(default)]
    pub log_offset: u64,
}

/// A node: its directory and configuration.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Node {
    /// `<network dir>/<node id>`.
    pub dir: PathBuf,
    /// Its configuration as on disk.
    pub config: NodeConfig,
}

impl NodeConfig {
    /// The config of node `id`, `index`-th in bootstrap order, with no
    /// flags or ports of its own.
    pub fn new(id: impl Into<String>, index: usize) -> Self {
        NodeConfig {
            id: id.into(),
            index,
            flags: Flags::new(),
            ports: BTreeMap::new(),
            secrets: SecretFiles::default(),
            secret_files: Vec::new(),
        }
    }
}

impl Node {
    /// The node id.
    pub fn id(&self) -> &str {
        &self.config.id
    }

    /// Path of `config.json`.
    pub fn config_path(&self) -> PathBuf {
        self.dir.join(CONFIG_FILE)
    }

    /// Path of `flags.json`.
    pub fn flags_path(&self) -> PathBuf {
        self.dir.join(FLAGS_FILE)
    }

    /// Path of `launch.json`.
    pub fn launch_path(&self) -> PathBuf {
        self.dir.join(LAUNCH_FILE)
    }

    /// Path of `process.json`.
    pub fn process_path(&self) -> PathBuf {
        self.dir.join(PROCESS_FILE)
    }

    /// Path of `logs/main.log`.
    pub fn log_path(&self) -> PathBuf {
        self.dir.join(LOGS_DIR).join("main.log")
    }

    /// The node process's temporary directory (see [`TMP_DIR`]).
    pub(crate) fn tmp_path(&self) -> PathBuf {
        self.dir.join(TMP_DIR)
    }

    /// Path of `db/`.
    pub fn db_dir(&self) -> PathBuf {
        self.dir.join("db")
    }

    /// Creates the node's directory tree, writes its secret files (mode
    /// 0600) and its `config.json`.
    pub fn create(network_dir: &Path, mut config: NodeConfig) -> Result<Node> {
        let secrets = std::mem::take(&mut config.secrets);
        config.secret_files = secrets.0.keys().cloned().collect();
        let node = Node {
            dir: network_dir.join(&config.id),
            config,
        };
        files::create_dir_all(&node.db_dir())?;
        files::create_dir_all(&node.dir.join(LOGS_DIR))?;
        secrets.write_under(&node.dir)?;
        node.save()?;
        Ok(node)
    }

    /// Loads a node from its directory.
    pub fn load(dir: &Path) -> Result<Node> {
        let config: NodeConfig = files::read_json(&dir.join(CONFIG_FILE))?;
        Ok(Node {
            dir: dir.to_owned(),
            config,
        })
    }

    /// Writes `config.json` atomically.
    pub fn save(&self) -> Result<()> {
        // Its flags may hold secrets: private, as the flags file is.
        files::write_json_mode(&self.config_path(), &self.config, 0o600)
    }

    /// Reads `process.json`, if the node wrote one.
    pub fn process_context(&self) -> Result<Option<ProcessContext>> {
        files::read_json_opt(&self.process_path())
    }

    /// Reads `launch.json`, if the harness wrote one.
    pub fn launch_record(&self) -> Result<Option<LaunchRecord>> {
        files::read_json_opt(&self.launch_path())
    }

    /// The last `n` lines of the node's main log.
    pub fn log_tail(&self, n: usize) -> Vec<String> {
        files::tail_lines(&self.log_path(), n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_lays_out_the_node_dir_and_load_reads_it_back() {
        let net = tempfile::tempdir().unwrap();
        let config = NodeConfig {
            id: "node-a".into(),
            index: 3,
            flags: [("x".to_string(), "1".to_string())].into(),
            ports: BTreeMap::new(),
            secrets: SecretFiles([("keys/a.key".to_string(), b"sekrit".to_vec())].into()),
            secret_files: Vec::new(),
        };
        assert_eq!(format!("{:?}", config.secrets), r#"["keys/a.key"]"#);
        let node = Node::create(net.path(), config.clone()).unwrap();
        assert!(node.db_dir().is_dir());
        assert!(node.log_path().parent().unwrap().is_dir());
        let key = node.dir.join("keys/a.key");
        assert_eq!(std::fs::read(&key).unwrap(), b"sekrit");
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let on_disk = std::fs::read_to_string(node.config_path()).unwrap();
        assert!(
            !on_disk.contains("sekrit") && !on_disk.contains("\"secrets\""),
            "{on_disk}"
        );
        assert_eq!(node.config.secret_files, ["keys/a.key"], "names only");
        assert!(node.config.secrets.0.is_empty(), "not kept in memory");
        let loaded = Node::load(&net.path().join("node-a")).unwrap();
        assert_eq!(loaded, node);
        assert_eq!(loaded.process_context().unwrap(), None);
    }

    #[test]
    fn process_json_uses_camel_case() {
        let ctx: ProcessContext = serde_json::from_str(
            r#"{"pid": 5, "uri": "http://127.0.0.1:1", "p2pAddress": "127.0.0.1:2"}"#,
        )
        .unwrap();
        assert_eq!(ctx.p2p_address, "127.0.0.1:2");
    }
}
