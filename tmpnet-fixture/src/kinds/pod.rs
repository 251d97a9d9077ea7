//! The pod capability of a kind: its image, ports, data path and probe.

use crate::model::Flags;

/// A reference to the pod's own IP, expanded by the kubelet in a
/// container's arguments.
pub const POD_IP: &str = "$(POD_IP)";
/// A reference to the pod's name, expanded like [`POD_IP`].
pub const POD_NAME: &str = "$(POD_NAME)";

/// The parts of a pod's manifest that differ per daemon.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PodProfile {
    /// The image used unless `--kube-image` says otherwise.
    pub default_image: String,
    /// The API port (HTTP or RPC) inside the pod.
    pub api_port: u16,
    /// The scheme of the node's URI (`http` unless the daemon speaks
    /// something else on its API port).
    pub scheme: String,
    /// The p2p port inside the pod.
    pub p2p_port: u16,
    /// Where the data volume is mounted.
    pub data_path: String,
    /// The readiness probe: an HTTP GET of this path on the API port, or a
    /// TCP connect to the API port when `None`.
    pub readiness_path: Option<String>,
    /// Where Prometheus scrapes metrics on the API port, if the daemon
    /// serves them.
    pub metrics_path: Option<String>,
    /// Where the node's own secret files ([`crate::model::NodeConfig::secrets`])
    /// are mounted from the network's Kubernetes Secret, and the group that
    /// may read them; not mounted when `None`.
    pub secrets: Option<SecretsMount>,
}

/// How a node's own secret files appear in its pod: read-only, each at its
/// path relative to the node directory under `path`, mode 0440, owned by
/// the group `group` (the pod's `fsGroup`), which the daemon's user must
/// be in; no other user of the container can read them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretsMount {
    /// The mount path.
    pub path: String,
    /// The group id that reads the files.
    pub group: i64,
}

impl PodProfile {
    /// A profile for `image` with its API and p2p ports, data under
    /// `/data`, a TCP readiness probe and no metrics.
    pub fn new(image: impl Into<String>, api_port: u16, p2p_port: u16) -> Self {
        PodProfile {
            default_image: image.into(),
            api_port,
            scheme: "http".into(),
            p2p_port,
            data_path: "/data".into(),
            readiness_path: None,
            metrics_path: None,
            secrets: None,
        }
    }

    /// Probes readiness with an HTTP GET of `path` on the API port.
    pub fn with_readiness_path(mut self, path: impl Into<String>) -> Self {
        self.readiness_path = Some(path.into());
        self
    }

    /// Says where the daemon serves Prometheus metrics on the API port.
    pub fn with_metrics_path(mut self, path: impl Into<String>) -> Self {
        self.metrics_path = Some(path.into());
        self
    }

    /// Mounts the node's own secret files under `path`, readable by the
    /// group `group` (see [`SecretsMount`]).
    pub fn with_secrets(mut self, path: impl Into<String>, group: i64) -> Self {
        self.secrets = Some(SecretsMount {
            path: path.into(),
            group,
        });
        self
    }

    /// Names the URI's scheme, for a daemon that speaks no HTTP.
    pub fn with_scheme(mut self, scheme: impl Into<String>) -> Self {
        self.scheme = scheme.into();
        self
    }

    /// Mounts the data volume at `path`.
    pub fn with_data_path(mut self, path: impl Into<String>) -> Self {
        self.data_path = path.into();
        self
    }
}

/// How a kind's daemon runs in a pod.
pub trait PodDaemon: Send + Sync {
    /// Image, ports, data path and probes.
    fn profile(&self) -> PodProfile;

    /// The container's arguments for flags composed with
    /// [`super::Placement::Pod`] (there is no flags file: the pod has only
    /// its image).
    fn args(&self, flags: &Flags) -> Vec<String>;

    /// The container's environment for those flags, for a daemon that reads
    /// its flags from the environment; values may use [`POD_IP`] and
    /// [`POD_NAME`]. The default is none.
    fn env(&self, _flags: &Flags) -> Vec<(String, String)> {
        Vec::new()
    }

    /// Whether its health check runs a command inside the node's pod
    /// ([`PodExec`]), so the account needs `create pods/exec`. The default
    /// is no.
    fn needs_exec(&self) -> bool {
        false
    }

    /// Whether it names peers by their place in the network (the first
    /// node, a role's nodes, every member), so every node's address must
    /// be known before any starts (see
    /// [`crate::kinds::LaunchContext::members`]). The default is no.
    fn needs_members(&self) -> bool {
        false
    }
}

/// Runs a command inside a node's pod, next to its daemon (the exec API):
/// a health check that needs the daemon's own tools, which the harness's
/// machine (or the runner image) does not have.
#[async_trait::async_trait]
pub trait PodExec: Send + Sync + std::fmt::Debug {
    /// Runs `argv` in the node's container to its end; `Err` says why it
    /// failed (its exit and the last line of its standard error, or why it
    /// could not run).
    async fn exec(&self, argv: &[String]) -> std::result::Result<(), String>;
}
