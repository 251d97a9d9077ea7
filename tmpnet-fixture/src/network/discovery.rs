//! Prometheus file-based service discovery: while a node runs, one entry
//! for it under `<root>/prometheus/file_sd_configs/<network uuid>-<node
//! id>.json`, with its metrics target and the labels that select it (the
//! network's uuid and owner, the node's id and kind, whether it is
//! ephemeral, a stable `instance`). Entries are written atomically and
//! brought in line with the running nodes by every command that starts,
//! stops or inspects the network, so one left by a killed command is gone
//! after the next.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::Network;
use crate::error::Result;
use crate::model::layout;
use crate::model::{NodeState, RuntimeSettings};
use crate::sys::files;

/// The directory under the root that holds discovery entries.
pub const DISCOVERY_DIR: &str = "prometheus/file_sd_configs";
/// The label Prometheus takes a target's metrics path from.
const METRICS_PATH_LABEL: &str = "__metrics_path__";
/// The label marking an entry registered by test code, not a node.
const EXTRA_LABEL: &str = "tmpnet_extra_target";

/// One entry of a file-based service discovery file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetGroup {
    /// `host:port` of each target.
    pub targets: Vec<String>,
    /// Labels of every target.
    pub labels: BTreeMap<String, String>,
}

/// `<root>/prometheus/file_sd_configs`.
pub fn discovery_dir(root: &Path) -> PathBuf {
    root.join(DISCOVERY_DIR)
}

/// The entry file of one target of a network.
fn entry_path(dir: &Path, uuid: &str, name: &str) -> PathBuf {
    dir.join(format!("{uuid}-{name}.json"))
}

/// `host:port` of a URI such as `http://127.0.0.1:9650`.
fn host_port(uri: &str) -> &str {
    let rest = uri.split_once("://").map_or(uri, |(_, r)| r);
    rest.split('/').next().unwrap_or(rest)
}

impl Network {
    /// The labels every target of this network carries, for `name` (a node
    /// id, or the name test code gave its own target).
    pub fn metrics_labels(&self, name: &str, ephemeral: bool) -> BTreeMap<String, String> {
        let config = self.config();
        BTreeMap::from([
            ("network_uuid".to_owned(), config.uuid.clone()),
            ("network_owner".to_owned(), config.owner.clone()),
            ("node_id".to_owned(), name.to_owned()),
            ("node_kind".to_owned(), config.node_kind.clone()),
            ("is_ephemeral_node".to_owned(), ephemeral.to_string()),
            // Stable across restarts and port changes, unlike the address.
            ("instance".to_owned(), name.to_owned()),
        ])
    }

    /// Where this network's discovery entries go.
    pub fn discovery_dir(&self) -> Result<PathBuf> {
        Ok(discovery_dir(&layout::root_for(self.dir())?))
    }

    /// Brings this network's discovery entries in line with its nodes: an
    /// entry for each running node whose kind exports metrics, none for
    /// any other. Only local processes get entries: a pod is reached from
    /// here through a port-forward that lives no longer than the command.
    pub(crate) async fn sync_discovery(&self) -> Result<()> {
        let dir = self.discovery_dir()?;
        let uuid = self.config().uuid.clone();
        let local = matches!(self.config().runtime, RuntimeSettings::Process(_));
        let path = self.kind().metrics_path().filter(|_| local);
        let mut wanted: Vec<PathBuf> = Vec::new();
        let nodes = self.node_records().into_iter().map(|n| (n, false));
        let ephemeral = self.ephemeral_records()?.into_iter().map(|n| (n, true));
        for (node, is_ephemeral) in nodes.chain(ephemeral) {
            let Some(path) = &path else { continue };
            let NodeState::Running {
                endpoint: Some(endpoint),
                ..
            } = self.runtime().state(&node).await?
            else {
                continue;
            };
            let mut labels = self.metrics_labels(node.id(), is_ephemeral);
            labels.insert(METRICS_PATH_LABEL.into(), path.clone());
            let group = TargetGroup {
                targets: vec![host_port(&endpoint.uri).to_owned()],
                labels,
            };
            let file = entry_path(&dir, &uuid, node.id());
            write_entry(&file, &group)?;
            wanted.push(file);
        }
        for file in entries_of(&dir, &uuid) {
            if !wanted.contains(&file) && !is_extra(&file) {
                files::remove_if_exists(&file)?;
            }
        }
        Ok(())
    }

    /// Removes every discovery entry of this network, test code's too.
    pub(crate) fn remove_discovery(&self) -> Result<()> {
        let dir = self.discovery_dir()?;
        for file in entries_of(&dir, &self.config().uuid) {
            files::remove_if_exists(&file)?;
        }
        Ok(())
    }

    /// Registers a metrics target of test code's own (`address` is
    /// `host:port`, `path` its metrics path), labelled like the network's
    /// nodes with `name` as its `node_id`. It is removed when the network
    /// stops, or by [`Network::unregister_metrics_target`].
    pub fn register_metrics_target(&self, name: &str, address: &str, path: &str) -> Result<()> {
        let mut labels = self.metrics_labels(name, false);
        labels.insert(METRICS_PATH_LABEL.into(), path.to_owned());
        labels.insert(EXTRA_LABEL.into(), "true".into());
        let group = TargetGroup {
            targets: vec![address.to_owned()],
            labels,
        };
        write_entry(
            &entry_path(&self.discovery_dir()?, &self.config().uuid, name),
            &group,
        )
    }

    /// Removes a target registered by [`Network::register_metrics_target`].
    pub fn unregister_metrics_target(&self, name: &str) -> Result<()> {
        files::remove_if_exists(&entry_path(
            &self.discovery_dir()?,
            &self.config().uuid,
            name,
        ))
    }
}

/// Writes an entry unless it already says the same (a rewrite would make
/// Prometheus reread it for nothing).
fn write_entry(file: &Path, group: &TargetGroup) -> Result<()> {
    let groups = [group.clone()];
    if files::read_json_opt::<Vec<TargetGroup>>(file)
        .ok()
        .flatten()
        .is_some_and(|old| old == groups)
    {
        return Ok(());
    }
    if let Some(parent) = file.parent() {
        files::create_dir_all(parent)?;
    }
    files::write_json(file, &groups)
}

/// The entry files of the network `uuid` in `dir`.
fn entries_of(dir: &Path, uuid: &str) -> Vec<PathBuf> {
    let prefix = format!("{uuid}-");
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&prefix) && n.ends_with(".json"))
        })
        .collect()
}

/// Whether an entry was registered by test code.
fn is_extra(file: &Path) -> bool {
    files::read_json_opt::<Vec<TargetGroup>>(file)
        .ok()
        .flatten()
        .is_some_and(|g| g.iter().any(|g| g.labels.contains_key(EXTRA_LABEL)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_host_and_port_under_the_networks_root() {
        assert_eq!(
            layout::root_for(Path::new("/r/networks/20260101-000000.1")).unwrap(),
            PathBuf::from("/r")
        );
        assert_eq!(host_port("http://127.0.0.1:9650"), "127.0.0.1:9650");
        assert_eq!(host_port("http://[::1]:80/x"), "[::1]:80");
    }

    #[test]
    fn unchanged_entries_are_not_rewritten() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("u-node.json");
        let group = TargetGroup {
            targets: vec!["127.0.0.1:1".into()],
            labels: BTreeMap::from([("a".to_owned(), "b".to_owned())]),
        };
        write_entry(&file, &group).unwrap();
        let first = std::fs::metadata(&file).unwrap().modified().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        write_entry(&file, &group).unwrap();
        assert_eq!(std::fs::metadata(&file).unwrap().modified().unwrap(), first);
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(text.contains("\"targets\""), "{text}");
        assert_eq!(entries_of(dir.path(), "u"), std::slice::from_ref(&file));
        assert!(entries_of(dir.path(), "v").is_empty());
        assert!(!is_extra(&file));
    }
}
