//! Asking the monitored node whether it has synced, through its kind: the
//! sidecar rebuilds the network's directory from the network's state and
//! Secret (mounted into its pod) and the node's own files (the monitor's
//! ConfigMap), then runs the kind's health check or query on the node's
//! API at localhost (the sidecar shares the pod's network).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;

use super::synced::{unmet, SyncedCheck};
use crate::error::{Error, Result};
use crate::kinds::{HealthContext, NodeKind};
use crate::model::{Endpoint, Health, Node};
use crate::network::Network;
use crate::runtime::kube::state::{self, StateFiles};

/// Whether the node has synced.
#[async_trait]
pub trait SyncProbe: Send + Sync {
    /// `None` once the node has synced; else where it stands (for the
    /// progress log).
    async fn pending(&self) -> Option<String>;
}

/// The node of a monitor, checked through its kind.
pub struct NodeProbe {
    _dir: tempfile::TempDir,
    network_dir: std::path::PathBuf,
    kind: Arc<dyn NodeKind>,
    node: Node,
    endpoint: Endpoint,
    http: reqwest::Client,
    check: SyncedCheck,
}

/// The files of a mounted ConfigMap or Secret directory, by key (the
/// kubelet's own `..data` entries left out).
fn mounted(dir: &Path) -> Result<BTreeMap<String, Vec<u8>>> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io("cannot read", dir, e))?;
    let mut out = BTreeMap::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || !entry.path().is_file() {
            continue;
        }
        let bytes =
            std::fs::read(entry.path()).map_err(|e| Error::io("cannot read", entry.path(), e))?;
        out.insert(name, bytes);
    }
    Ok(out)
}

impl NodeProbe {
    /// Rebuilds the network from its mounted `state` (ConfigMap) and
    /// `secret` (Secret, if the kind has one), places the node from
    /// `node_files` (its `config.json` and `flags.json`) in it, and checks
    /// with `check` on the kind's API port at localhost.
    pub fn from_mounts(
        state: &Path,
        secret: Option<&Path>,
        node_files: &Path,
        check: SyncedCheck,
    ) -> Result<NodeProbe> {
        let text = |bytes: Vec<u8>| String::from_utf8_lossy(&bytes).into_owned();
        let files = StateFiles {
            plain: mounted(state)?
                .into_iter()
                .map(|(k, v)| (k, text(v)))
                .collect(),
            secret: match secret {
                Some(dir) if dir.is_dir() => mounted(dir)?,
                _ => BTreeMap::new(),
            },
        };
        let dir = tempfile::tempdir()
            .map_err(|e| Error::io("cannot create", Path::new("a temporary directory"), e))?;
        let network_dir = dir.path().join("network");
        state::materialize(&network_dir, &files)?;
        let node_dir = dir.path().join("node");
        crate::sys::files::create_dir_all(&node_dir)?;
        for (key, bytes) in mounted(node_files)? {
            crate::sys::files::atomic_write(&node_dir.join(key), &bytes, 0o644)?;
        }
        let node = Node::load(&node_dir)?;
        let network = Network::load(&network_dir)?;
        let kind = Arc::clone(network.kind());
        let profile = crate::kinds::pod_of(kind.as_ref())?.profile();
        Ok(NodeProbe {
            network_dir: network.dir().to_owned(),
            _dir: dir,
            kind,
            node,
            // The sidecar shares the node's network: its API on loopback.
            endpoint: Endpoint::new(
                format!("{}://127.0.0.1:{}", profile.scheme, profile.api_port),
                "",
            ),
            http: crate::runtime::health_client()?,
            check,
        })
    }
}

#[async_trait]
impl SyncProbe for NodeProbe {
    async fn pending(&self) -> Option<String> {
        let ctx = HealthContext {
            http: &self.http,
            network_dir: &self.network_dir,
            node: &self.node,
            endpoint: &self.endpoint,
            in_pod: None,
        };
        match &self.check {
            SyncedCheck::Health => match self.kind.check_health(&ctx).await {
                Health::Healthy => None,
                Health::Unhealthy(why) => Some(why),
            },
            SyncedCheck::Query {
                request,
                conditions,
            } => match self.kind.query(&ctx, request).await {
                Ok(doc) => unmet(conditions, &doc),
                Err(e) => Some(e.to_string()),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::{symlink, PermissionsExt};

    use super::*;
    use crate::network::NetworkSpec;

    /// Writes `files` as the kubelet mounts a ConfigMap or Secret: each
    /// key a link through `..data` into a timestamped directory.
    fn kubelet_mount(dir: &Path, files: &BTreeMap<String, Vec<u8>>) {
        let stamp = dir.join("..2026_12_07_00_00_00.000000001");
        std::fs::create_dir_all(&stamp).unwrap();
        for (key, bytes) in files {
            std::fs::write(stamp.join(key), bytes).unwrap();
            symlink(Path::new("..data").join(key), dir.join(key)).unwrap();
        }
        symlink(stamp.file_name().unwrap(), dir.join("..data")).unwrap();
    }

    #[tokio::test]
    async fn the_sidecar_rebuilds_the_network_and_its_node_from_the_mounts() {
        let root = tempfile::tempdir().unwrap();
        let spec = NetworkSpec::new(root.path(), 1)
            .with_kind("bitcoind")
            .with_node_path("/bin/true");
        let network = Network::create(&spec).unwrap();
        let state = state::collect(network.dir(), &network.kind().secret_files()).unwrap();
        let mounts = tempfile::tempdir().unwrap();
        let plain = state
            .plain
            .iter()
            .map(|(k, v)| (k.clone(), v.clone().into_bytes()))
            .collect();
        kubelet_mount(&mounts.path().join("state"), &plain);
        kubelet_mount(&mounts.path().join("secret"), &state.secret);
        let node = &network.node_records()[0];
        let config = std::fs::read(node.config_path()).unwrap();
        let node_files = BTreeMap::from([
            ("config.json".to_owned(), config),
            ("flags.json".to_owned(), b"{}".to_vec()),
        ]);
        kubelet_mount(&mounts.path().join("node"), &node_files);

        let check: SyncedCheck = "getblockchaininfo:/blocks=/headers".parse().unwrap();
        let probe = NodeProbe::from_mounts(
            &mounts.path().join("state"),
            Some(&mounts.path().join("secret")),
            &mounts.path().join("node"),
            check,
        )
        .unwrap();
        assert_eq!(probe.kind.name(), "bitcoind");
        assert_eq!(probe.node.id(), node.id());
        assert_eq!(
            probe.endpoint.uri, "http://127.0.0.1:19443",
            "the kind's pod API port"
        );
        // The credentials the kind's client reads came from the Secret, 0600.
        let rpc = probe.network_dir.join("rpc.json");
        assert_eq!(
            std::fs::read(&rpc).unwrap(),
            std::fs::read(network.dir().join("rpc.json")).unwrap()
        );
        let mode = std::fs::metadata(&rpc).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        // No node answers here: the query says so, and nothing is synced.
        let pending = probe.pending().await.unwrap();
        assert!(pending.contains("getblockchaininfo"), "{pending}");
    }
}
