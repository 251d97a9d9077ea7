//! The network's `config.json` and the runtime settings it carries.
//!
//! ```text
//! <network dir>/
//!   config.json    NetworkConfig
//!   network.env    export TMPNET_NETWORK_DIR='<absolute dir>'
//!   lock           held by every operation that changes the network
//!   <node id>/     one directory per node (see [`super::node`])
//!   ephemeral/     nodes added by tests, not bootstrap peers
//! ```

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::flags::Flags;

/// File name of the network's configuration.
pub const CONFIG_FILE: &str = "config.json";
/// File name of the shell snippet that targets the network.
pub const ENV_FILE: &str = "network.env";
/// Directory of ephemeral nodes (not bootstrap peers, added by tests).
pub const EPHEMERAL_DIR: &str = "ephemeral";
/// The lock file every operation that changes the network holds.
pub const LOCK_FILE: &str = "lock";
/// The most nodes one network may have.
pub const MAX_NODES: usize = 256;
/// The nodes of a network when no count is given (the harness's shared
/// network, `tmpnetctl render`).
pub const DEFAULT_NODE_COUNT: usize = 5;

/// The schema version this build writes and reads.
pub const SCHEMA_VERSION: u32 = 1;

/// Contents of `<network dir>/config.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
#[serde(rename_all = "camelCase")]
pub struct NetworkConfig {
    /// Version of this file's layout.
    pub schema_version: u32,
    /// Unique id of the network (for metrics and labels).
    pub uuid: String,
    /// Who created it (a user or suite name); free text.
    #[serde(default)]
    pub owner: String,
    /// The node kind, e.g. `refnode`.
    pub node_kind: String,
    /// Number of bootstrap (non-ephemeral) nodes.
    pub node_count: usize,
    /// Their ids, in bootstrap order, so a node whose directory vanished is
    /// named (absent in networks written before it was recorded).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub node_ids: Vec<String>,
    /// Flags given to every node, below each node's own flags.
    #[serde(default)]
    pub default_flags: Flags,
    /// Where and how nodes run.
    pub runtime: RuntimeSettings,
}

/// Where nodes run. Serialised externally tagged: `{"process": {...}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
#[serde(rename_all = "camelCase")]
pub enum RuntimeSettings {
    /// Nodes are local processes.
    Process(ProcessSettings),
    /// Nodes are pods on Kubernetes.
    Kube(KubeSettings),
}

impl RuntimeSettings {
    /// The runtime's name as `--runtime` spells it.
    pub fn name(&self) -> &'static str {
        match self {
            RuntimeSettings::Process(_) => "process",
            RuntimeSettings::Kube(_) => "kube",
        }
    }
}

/// The smallest volume a node may get, in GiB: daemons commonly refuse to
/// run with under 1 GiB free, and cloud disks come in whole GiB.
pub const MIN_VOLUME_GIB: u32 = 2;

/// Settings of the Kubernetes runtime.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
#[serde(rename_all = "camelCase")]
pub struct KubeSettings {
    /// The kubeconfig file; `None` follows `KUBECONFIG`, then
    /// `~/.kube/config`, then the in-cluster service account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context; `None` uses its current context.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    /// The namespace every object of the network lives in.
    pub namespace: String,
    /// The node image.
    pub image: String,
    /// Each node's data volume, in GiB (at least [`MIN_VOLUME_GIB`]).
    pub volume_size_gib: u32,
    /// One node per Kubernetes node, on nodes carrying this label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exclusive_scheduling: Option<SchedulingLabel>,
    /// Reach node APIs through an Ingress on this host (e.g.
    /// `localhost:30791`) instead of port-forwarding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingress_host: Option<String>,
    /// The TLS Secret for the ingress host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingress_secret: Option<String>,
    /// Seconds a pod may take to become ready.
    #[serde(default = "default_ready_timeout_secs")]
    pub ready_timeout_secs: u64,
    /// Seconds between a pod's stop signal and its kill.
    #[serde(default = "default_stop_grace_secs")]
    pub stop_grace_secs: u64,
    /// An object the network belongs to: deleting it deletes the network.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<Box<KubeOwner>>,
}

impl KubeSettings {
    /// Settings for `namespace` and `image` (empty: the kind's default
    /// image) with the default volume size and timings; the kubeconfig
    /// follows `KUBECONFIG`.
    pub fn new(namespace: impl Into<String>, image: impl Into<String>) -> Self {
        KubeSettings {
            kubeconfig: None,
            context: None,
            namespace: namespace.into(),
            image: image.into(),
            volume_size_gib: MIN_VOLUME_GIB,
            exclusive_scheduling: None,
            ingress_host: None,
            ingress_secret: None,
            ready_timeout_secs: default_ready_timeout_secs(),
            stop_grace_secs: default_stop_grace_secs(),
            owner: None,
        }
    }
}

/// An object of the same namespace that a network belongs to. The
/// network's state ConfigMap, which owns every other object of the
/// network, names it as its owner, so the cluster's garbage collector
/// deletes the network with it, whatever happened to the program that made
/// the network (a runner's networks go with its Job).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KubeOwner {
    /// Its API version, e.g. `batch/v1`.
    pub api_version: String,
    /// Its kind, e.g. `Job`.
    pub kind: String,
    /// Its name.
    pub name: String,
    /// Its uid (an owner is named by uid: a new object of the same name
    /// owns nothing).
    pub uid: String,
}

impl KubeOwner {
    /// The Job `name` with `uid`.
    pub fn job(name: &str, uid: &str) -> Self {
        KubeOwner {
            api_version: "batch/v1".into(),
            kind: "Job".into(),
            name: name.into(),
            uid: uid.into(),
        }
    }
}

/// The node label that exclusive scheduling selects and tolerates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SchedulingLabel {
    /// Label (and taint) key.
    pub key: String,
    /// Label (and taint) value.
    pub value: String,
}

fn default_ready_timeout_secs() -> u64 {
    120
}

/// Settings of the local-process runtime.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
#[serde(rename_all = "camelCase")]
pub struct ProcessSettings {
    /// Absolute path of the node binary.
    pub node_path: PathBuf,
    /// Keep each node's API port across restarts (the OS may still hand the
    /// port to another process while the node is down).
    #[serde(default)]
    pub reuse_dynamic_ports: bool,
    /// Seconds between the stop signal and SIGKILL.
    #[serde(default = "default_stop_grace_secs")]
    pub stop_grace_secs: u64,
    /// Seconds a node may take to report its ports after being spawned.
    #[serde(default = "default_init_timeout_secs")]
    pub init_timeout_secs: u64,
    /// Set when `node_path` is a program embedding the node (see
    /// [`crate::serve_embedded_node_if_asked`]): the embedded node's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub embedded: Option<String>,
}

fn default_stop_grace_secs() -> u64 {
    10
}

fn default_init_timeout_secs() -> u64 {
    10
}

impl ProcessSettings {
    /// A configuration with default timings for `node_path`.
    pub fn new(node_path: PathBuf) -> Self {
        ProcessSettings {
            node_path,
            reuse_dynamic_ports: false,
            stop_grace_secs: default_stop_grace_secs(),
            init_timeout_secs: default_init_timeout_secs(),
            embedded: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kube_settings_round_trip_with_defaults() {
        let k: KubeSettings =
            serde_json::from_str(r#"{"namespace": "tmpnet", "image": "img", "volumeSizeGib": 2}"#)
                .unwrap();
        assert_eq!(k.ready_timeout_secs, 120);
        assert_eq!(k.stop_grace_secs, 10);
        let cfg = RuntimeSettings::Kube(k.clone());
        assert_eq!(cfg.name(), "kube");
        let json = serde_json::to_value(&cfg).unwrap();
        assert_eq!(json["kube"]["namespace"], "tmpnet");
        assert!(json["kube"].get("kubeconfig").is_none());
        assert_eq!(
            serde_json::from_value::<RuntimeSettings>(json).unwrap(),
            cfg
        );
    }

    #[test]
    fn config_json_shape_is_stable() {
        let cfg = NetworkConfig {
            node_ids: Vec::new(),
            schema_version: SCHEMA_VERSION,
            uuid: "u".into(),
            owner: "me".into(),
            node_kind: "refnode".into(),
            node_count: 2,
            default_flags: [("log-level".to_string(), "debug".to_string())].into(),
            runtime: RuntimeSettings::Process(ProcessSettings::new("/bin/node".into())),
        };
        let json = serde_json::to_value(&cfg).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "schemaVersion": 1, "uuid": "u", "owner": "me", "nodeKind": "refnode",
                "nodeCount": 2, "defaultFlags": {"log-level": "debug"},
                "runtime": {"process": {"nodePath": "/bin/node", "reuseDynamicPorts": false,
                                        "stopGraceSecs": 10, "initTimeoutSecs": 10}}
            })
        );
        let back: NetworkConfig = serde_json::from_value(json).unwrap();
        assert_eq!(back, cfg);
    }

    #[test]
    fn optional_process_fields_default() {
        let p: ProcessSettings = serde_json::from_str(r#"{"nodePath": "/x"}"#).unwrap();
        assert_eq!(p, ProcessSettings::new("/x".into()));
    }
}
