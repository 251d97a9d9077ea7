//! What a new network should be: the inputs of [`super::Network::create`].

use std::path::PathBuf;

use crate::kinds::DEFAULT_KIND;
use crate::model::{Flags, KubeSettings};

/// What to create. Start from [`NetworkSpec::new`] and set what differs,
/// with the `with_*` methods or by assigning fields.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct NetworkSpec {
    /// The root directory (networks go in `<root>/networks/`).
    pub root_dir: PathBuf,
    /// Number of nodes, 1 to [`crate::model::MAX_NODES`].
    pub node_count: usize,
    /// The node kind's name.
    pub node_kind: String,
    /// A kind file describing the kind; when set, the kind is read from it
    /// (and `node_kind` is not looked up).
    pub kind_file: Option<PathBuf>,
    /// The node binary; found next to this program, at the kind's usual
    /// places or on `PATH` when `None`.
    pub node_path: Option<PathBuf>,
    /// Flags for every node.
    pub default_flags: Flags,
    /// Extra flags for single nodes, by index.
    pub node_flags: Vec<(usize, Flags)>,
    /// Keep API ports across restarts.
    pub reuse_dynamic_ports: bool,
    /// Free-text owner.
    pub owner: String,
    /// Run on Kubernetes with these settings (an empty image means the
    /// kind's default); local processes when `None`.
    pub kube: Option<KubeSettings>,
}

impl NetworkSpec {
    /// Checks the spec as [`super::Network::create`] does, writing nothing,
    /// and for a network on Kubernetes that its cluster can be used: the
    /// kubeconfig read, its context found, the server reached and answering
    /// as a Kubernetes API server, the credentials accepted, and the account
    /// granted what a network needs in its namespace. Call it before
    /// `create` so that a cluster out of reach or an account without the
    /// grants leaves no network directory behind.
    pub async fn check(&self) -> crate::error::Result<()> {
        let kind = super::open::kind_of_spec(self)?;
        super::open::validate(self, kind.as_ref())?;
        #[cfg(feature = "kube")]
        if let Some(kube) = &self.kube {
            let client = crate::runtime::kube::client::connect(
                kube.kubeconfig.as_deref(),
                kube.context.as_deref(),
            )
            .await?;
            let exec = kind.pod().is_some_and(|pod| pod.needs_exec());
            crate::runtime::kube::client::check_access(&client, &kube.namespace, exec).await?;
        }
        Ok(())
    }

    /// A spec with defaults: `count` refnodes under `root_dir`, as local
    /// processes.
    pub fn new(root_dir: impl Into<PathBuf>, count: usize) -> Self {
        NetworkSpec {
            root_dir: root_dir.into(),
            node_count: count,
            node_kind: DEFAULT_KIND.to_owned(),
            kind_file: None,
            node_path: None,
            default_flags: Flags::new(),
            node_flags: Vec::new(),
            reuse_dynamic_ports: false,
            owner: String::new(),
            kube: None,
        }
    }

    /// Uses the node kind `name`.
    pub fn with_kind(mut self, name: impl Into<String>) -> Self {
        self.node_kind = name.into();
        self
    }

    /// Uses the kind described by the kind file at `path` (copied into the
    /// network directory, so later processes load the same kind).
    pub fn with_kind_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.kind_file = Some(path.into());
        self
    }

    /// Runs this node binary.
    pub fn with_node_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.node_path = Some(path.into());
        self
    }

    /// Gives every node the flag `name=value`.
    pub fn with_flag(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.default_flags.insert(name.into(), value.into());
        self
    }

    /// Records `owner` (free text) in the network's config.
    pub fn with_owner(mut self, owner: impl Into<String>) -> Self {
        self.owner = owner.into();
        self
    }

    /// Runs the nodes on Kubernetes.
    pub fn with_kube(mut self, settings: KubeSettings) -> Self {
        self.kube = Some(settings);
        self
    }
}
