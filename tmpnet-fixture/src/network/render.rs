//! `tmpnetctl render --runtime kube`: the manifests of a network that
//! does not exist yet, printed as YAML without touching a cluster (like
//! `helm template`).

use super::{Network, NetworkSpec};
use crate::error::{Error, Result};
use crate::model::RuntimeSettings;
use crate::runtime::kube::{manifests, render, state};

/// Renders the manifests of a new network of `spec` (which must ask for
/// Kubernetes): the network is made in a scratch directory that is removed
/// afterwards, so nothing is written under the root and no cluster is
/// contacted.
pub(super) fn render(spec: &NetworkSpec) -> Result<String> {
    if spec.kube.is_none() {
        return Err(Error::InvalidInput(
            "render needs --runtime kube (the process runtime creates no manifests)".into(),
        ));
    }
    let scratch = tempfile::tempdir().map_err(|e| {
        Error::io(
            "cannot create a scratch directory in",
            std::env::temp_dir(),
            e,
        )
    })?;
    let mut in_scratch = spec.clone();
    in_scratch.root_dir = scratch.path().to_owned();
    let network = Network::create(&in_scratch)?;
    let RuntimeSettings::Kube(settings) = &network.config().runtime else {
        return Err(Error::InvalidInput("render needs --runtime kube".into()));
    };
    let kind = network.kind();
    let files = state::collect(network.dir(), &kind.secret_files())?;
    let nodes = network.nodes();
    let docs = render::documents(
        network.config(),
        settings,
        kind.as_ref(),
        network.dir(),
        &nodes,
        files,
    )?;
    let header = format!(
        "# Network {} (uuid {}) in namespace {}: {} {} node(s).\n\
         # At creation every object but the namespace and the ConfigMap gets an\n\
         # owner reference to the ConfigMap, so deleting it deletes the network.\n",
        manifests::network_name(&network.config().uuid),
        network.config().uuid,
        settings.namespace,
        nodes.len(),
        network.config().node_kind,
    );
    Ok(header + &render::to_yaml(&docs)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::KubeSettings;

    #[test]
    fn render_refuses_the_process_runtime_and_writes_nothing_under_the_root() {
        let root = tempfile::tempdir().unwrap();
        let mut spec = NetworkSpec::new(root.path(), 3);
        assert!(render(&spec)
            .unwrap_err()
            .to_string()
            .contains("--runtime kube"));
        spec.kube = Some(KubeSettings::new("tmpnet", ""));
        let yaml = render(&spec).unwrap();
        assert_eq!(yaml.matches("kind: StatefulSet").count(), 3);
        assert!(
            yaml.contains("image: tmpnet/refnode:latest"),
            "the kind's default image"
        );
        assert!(
            !root.path().join("networks").exists(),
            "nothing written under the root"
        );
    }
}
