//! Making a network: created from a [`NetworkSpec`] (its directory written
//! atomically, nothing left on a refusal) or loaded from its directory
//! (the kind found, secret files made private again, missing nodes named).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::{Inner, Network, NetworkSpec};
use crate::error::{Error, Result};
use crate::kinds::file::FileKind;
use crate::kinds::{self, NodeKind};
use crate::model::network::{CONFIG_FILE, ENV_FILE};
use crate::model::{layout, node, NetworkConfig, Node, MAX_NODES, SCHEMA_VERSION};
use crate::runtime;
use crate::sys::files;

impl Network {
    /// Validates `spec` and writes a new network directory (nothing runs
    /// yet). Bad input is rejected before anything is written; a kind that
    /// cannot run where `spec` asks fails here. For a network on
    /// Kubernetes, call [`NetworkSpec::check`] first: it also makes sure
    /// the cluster can be used, which this does not ask.
    pub fn create(spec: &NetworkSpec) -> Result<Network> {
        Self::create_of_kind(spec, kind_of_spec(spec)?)
    }

    /// [`Network::create`] with the kind given as a value (the spec's kind
    /// name is not looked up).
    pub(super) fn create_of_kind(spec: &NetworkSpec, kind: Arc<dyn NodeKind>) -> Result<Network> {
        let settings = validate(spec, kind.as_ref())?;
        let dir = layout::create_network_dir(&spec.root_dir)?;
        let config = NetworkConfig {
            node_ids: Vec::new(),
            schema_version: SCHEMA_VERSION,
            uuid: uuid::Uuid::new_v4().to_string(),
            owner: spec.owner.clone(),
            node_kind: kind.name().to_owned(),
            node_count: spec.node_count,
            default_flags: spec.default_flags.clone(),
            runtime: settings,
        };
        let result = Self::write_new(&dir, config, kind, spec);
        if result.is_err() {
            let _ = std::fs::remove_dir_all(&dir);
        }
        result
    }

    pub(super) fn write_new(
        dir: &Path,
        mut config: NetworkConfig,
        kind: Arc<dyn NodeKind>,
        spec: &NetworkSpec,
    ) -> Result<Network> {
        let mut nodes = Vec::with_capacity(spec.node_count);
        for index in 0..spec.node_count {
            let mut node_config = kind.new_node(index)?;
            for (_, extra) in spec.node_flags.iter().filter(|(i, _)| *i == index) {
                node_config.flags.extend(extra.clone());
            }
            nodes.push(Node::create(dir, node_config)?);
        }
        config.node_ids = nodes.iter().map(|n| n.id().to_owned()).collect();
        kind.init_network(dir, &nodes)?;
        // The network's flags may hold secrets: private.
        files::write_json_mode(&dir.join(CONFIG_FILE), &config, 0o600)?;
        let env = format!("{}\n", layout::export_line(dir));
        files::atomic_write(&dir.join(ENV_FILE), env.as_bytes(), 0o644)?;
        Self::assemble(dir.to_owned(), config, nodes, Vec::new(), kind)
    }

    pub(super) fn assemble(
        dir: PathBuf,
        config: NetworkConfig,
        nodes: Vec<Node>,
        missing: Vec<String>,
        kind: Arc<dyn NodeKind>,
    ) -> Result<Network> {
        let runtime = runtime::for_network(&config, &dir, kind.clone())?;
        Ok(Network {
            inner: Arc::new(Inner {
                dir,
                config,
                nodes: Mutex::new(nodes),
                kind,
                runtime,
                missing,
            }),
        })
    }

    /// Loads a network from its directory. Errors name the file at fault.
    pub fn load(dir: &Path) -> Result<Network> {
        let dir = std::fs::canonicalize(dir).map_err(|e| Error::NotANetwork {
            path: dir.to_owned(),
            reason: e.to_string(),
        })?;
        let config_path = dir.join(CONFIG_FILE);
        if !config_path.is_file() && has_node_dirs(&dir) {
            return Err(Error::RecordsGone { path: dir });
        }
        if !config_path.is_file() {
            return Err(Error::NotANetwork {
                path: dir,
                reason: format!("it has no {CONFIG_FILE}"),
            });
        }
        let raw: serde_json::Value = files::read_json(&config_path)?;
        let Some(found) = raw.get("schemaVersion").map(serde_json::Value::as_u64) else {
            // A node's config.json has an id and no schema version.
            if raw.get("id").is_some() && raw.get("index").is_some() {
                if let Some(network) = dir.parent() {
                    return Err(Error::NodeDirGiven {
                        path: dir.clone(),
                        network: network.to_owned(),
                    });
                }
            }
            return Err(Error::NotANetwork {
                reason: format!(
                    "its {CONFIG_FILE} is {} with no schemaVersion, not a network's configuration",
                    json_shape(&raw)
                ),
                path: dir,
            });
        };
        let found = found.unwrap_or(0);
        if found != u64::from(SCHEMA_VERSION) {
            return Err(Error::SchemaVersion {
                path: config_path,
                found: u32::try_from(found).unwrap_or(u32::MAX),
                supported: SCHEMA_VERSION,
            });
        }
        let config: NetworkConfig =
            serde_json::from_value(raw).map_err(|e| Error::CorruptFile {
                path: config_path.clone(),
                source: e,
            })?;
        let kind = kind_of_network(&dir, &config.node_kind)?;
        keep_secrets_private(&dir, kind.as_ref())?;
        let nodes = load_nodes(&dir)?;
        keep_node_secrets_private(&nodes)?;
        let ephemeral = dir.join(crate::model::network::EPHEMERAL_DIR);
        if ephemeral.is_dir() {
            keep_node_secrets_private(&load_nodes(&ephemeral)?)?;
        }
        let missing = missing_nodes(&config, &nodes);
        if nodes.is_empty() && missing.is_empty() {
            return Err(Error::NotANetwork {
                path: dir,
                reason: "it has no node directories".into(),
            });
        }
        Self::assemble(dir, config, nodes, missing, kind)
    }

    /// Fails, naming them, when nodes the network records have lost their
    /// directories: nothing may act on a network it cannot see whole (a
    /// stop can: it stops what runs of them by their mark).
    pub(super) fn check_complete(&self) -> Result<()> {
        if self.inner.missing.is_empty() {
            return Ok(());
        }
        Err(Error::NodesMissing {
            dir: self.dir().to_owned(),
            missing: self.inner.missing.clone(),
        })
    }
}

/// What a JSON value is, for errors: "an empty object", "an array", ...
pub(super) fn json_shape(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Object(m) if m.is_empty() => "an empty object",
        serde_json::Value::Object(_) => "an object",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
    }
}

/// Whether `dir` holds a node directory: one whose `config.json` is a
/// node's (an id and an index; a network's has a schema version).
fn has_node_dirs(dir: &Path) -> bool {
    let is_node = |path: PathBuf| {
        files::read_json::<serde_json::Value>(&path.join(node::CONFIG_FILE)).is_ok_and(|c| {
            c.get("id").is_some() && c.get("index").is_some() && c.get("schemaVersion").is_none()
        })
    };
    std::fs::read_dir(dir).is_ok_and(|entries| entries.flatten().any(|e| is_node(e.path())))
}

/// The kind `spec` asks for: read from its kind file, or by name.
pub(super) fn kind_of_spec(spec: &NetworkSpec) -> Result<Arc<dyn NodeKind>> {
    Ok(match &spec.kind_file {
        // A pod needs nothing of this machine: its binary and its health
        // command's program are the image's.
        Some(path) if spec.kube.is_some() => Arc::new(FileKind::load_for_pods(path)?),
        Some(path) => Arc::new(FileKind::load(path)?),
        None => kinds::by_name(&spec.node_kind)?,
    })
}

/// Refuses a spec that could not make a network of `kind` (the node count,
/// flags for nodes it does not have, settings the runtime refuses); else
/// the runtime's settings.
pub(super) fn validate(
    spec: &NetworkSpec,
    kind: &dyn NodeKind,
) -> Result<crate::model::RuntimeSettings> {
    if spec.node_count == 0 || spec.node_count > MAX_NODES {
        return Err(Error::InvalidInput(format!(
            "node count {} is out of range; use 1 to {MAX_NODES}",
            spec.node_count
        )));
    }
    if let Some((index, _)) = spec.node_flags.iter().find(|(i, _)| *i >= spec.node_count) {
        return Err(Error::InvalidInput(format!(
            "node flags given for node {index}, but the network has {} nodes",
            spec.node_count
        )));
    }
    runtime::settings_for(
        kind,
        spec.kube.as_ref(),
        spec.node_path.as_deref(),
        spec.reuse_dynamic_ports,
    )
}

/// Restores mode 0600 on the kind's secret files in the network directory
/// (someone may have loosened it), warning when it had to.
pub(super) fn keep_secrets_private(dir: &Path, kind: &dyn NodeKind) -> Result<()> {
    for name in kind.secret_files() {
        files::keep_private(&dir.join(name))?;
    }
    Ok(())
}

/// Restores mode 0600 on each node's own secret files (its keys), as
/// [`keep_secrets_private`] does for the network's. A key that cannot be
/// changed (a directory not this user's, read-only) is a warning: reading
/// the network must still work.
fn keep_node_secrets_private(nodes: &[Node]) -> Result<()> {
    for node in nodes {
        for name in &node.config.secret_files {
            if let Err(e) = files::keep_private(&node.dir.join(name)) {
                tracing::warn!(node = node.id(), error = %e, "a key file readable by others could not be made private");
            }
        }
    }
    Ok(())
}

/// The recorded bootstrap nodes without a directory: by id, or for a
/// network that recorded no ids, as a count.
pub(super) fn missing_nodes(config: &NetworkConfig, nodes: &[Node]) -> Vec<String> {
    if config.node_ids.is_empty() {
        return match config.node_count.checked_sub(nodes.len()) {
            Some(0) | None => Vec::new(),
            Some(n) => vec![format!("{n} of its {} nodes", config.node_count)],
        };
    }
    config
        .node_ids
        .iter()
        .filter(|id| !nodes.iter().any(|n| n.id() == id.as_str()))
        .cloned()
        .collect()
}

/// The nodes in `dir` (each a subdirectory with a `config.json`), in index
/// order.
pub(super) fn load_nodes(dir: &Path) -> Result<Vec<Node>> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io("cannot read", dir, e))?;
    let mut nodes = Vec::new();
    for entry in entries.filter_map(|e| e.ok()) {
        let path = entry.path();
        if path.join(node::CONFIG_FILE).is_file() {
            nodes.push(Node::load(&path)?);
        }
    }
    nodes.sort_by_key(|n| n.config.index);
    Ok(nodes)
}

/// Every line of evidence in an error (and in the errors it joins): the
/// reasons given and the log tails quoted.
pub(super) fn evidence(e: &Error) -> Vec<String> {
    match e {
        Error::StartFailed {
            reason: why,
            log_tail,
            ..
        }
        | Error::NotRunning {
            detail: why,
            log_tail,
            ..
        }
        | Error::Failed {
            detail: why,
            log_tail,
            ..
        } => std::iter::once(why.clone())
            .chain(log_tail.iter().cloned())
            .collect(),
        Error::NotHealthy { unhealthy, .. } => unhealthy
            .iter()
            .flat_map(|n| std::iter::once(n.reason.clone()).chain(n.log_tail.iter().cloned()))
            .collect(),
        Error::Multiple(errors) => errors.iter().flat_map(evidence).collect(),
        _ => Vec::new(),
    }
}

/// The kind of the network in `dir`: from its kind file when it has one
/// (whose name must be the one recorded), else by name from this program.
pub(super) fn kind_of_network(dir: &Path, name: &str) -> Result<Arc<dyn NodeKind>> {
    if let Some(kind) = kinds::file::load_from_network(dir)? {
        if kind.name() != name {
            return Err(Error::NotANetwork {
                path: dir.to_owned(),
                reason: format!(
                    "its {} describes kind {:?} but its {CONFIG_FILE} records {name:?}; restore the network's own kind file",
                    kinds::file::KIND_FILE,
                    kind.name()
                ),
            });
        }
        return Ok(Arc::new(kind));
    }
    kinds::by_name(name).map_err(|e| match e {
        Error::UnknownNodeKind { name, known } => Error::KindNotInProgram {
            dir: dir.to_owned(),
            name,
            known,
        },
        other => other,
    })
}
