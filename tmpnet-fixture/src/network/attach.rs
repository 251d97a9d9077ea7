//! Attach by name: rebuild a network directory, anywhere, from the state a
//! Kubernetes network keeps in its cluster.

use std::collections::BTreeMap;
use std::path::Path;

use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::Api;

use super::Network;
use crate::error::{Error, Result};
use crate::model::network::CONFIG_FILE;
use crate::model::{layout, KubeSettings, NetworkConfig, RuntimeSettings};
use crate::runtime::kube::client::{api_error, call, connect};
use crate::runtime::kube::manifests;
use crate::runtime::kube::state::{self, StateFiles};
use crate::sys::files;

/// Attaches to the network `name` (its state ConfigMap) in the namespace
/// of `settings`: writes its directory under `root` (a new network
/// directory) and loads it, with `settings`' kubeconfig and context in
/// place of its creator's, so this process reaches the cluster its own way.
pub(super) async fn attach(settings: &KubeSettings, name: &str, root: &Path) -> Result<Network> {
    let client = connect(settings.kubeconfig.as_deref(), settings.context.as_deref()).await?;
    let maps: Api<ConfigMap> = Api::namespaced(client.clone(), &settings.namespace);
    let map = call(maps.get_opt(name))
        .await
        .map_err(|e| api_error(format!("read configmap {name}"), e))?
        .ok_or_else(|| Error::Kube {
            action: format!("attach to network {name}"),
            reason: format!(
                "namespace {} has no network of that name; list them with `kubectl get configmaps -n {} -l app.kubernetes.io/managed-by=tmpnet`",
                settings.namespace, settings.namespace
            ),
        })?;
    let mut state = StateFiles {
        plain: map.data.unwrap_or_default(),
        secret: BTreeMap::new(),
    };
    let secrets: Api<Secret> = Api::namespaced(client, &settings.namespace);
    let secret_name = manifests::secret_name_of(name);
    if let Some(secret) = call(secrets.get_opt(&secret_name))
        .await
        .map_err(|e| api_error(format!("read secret {secret_name}"), e))?
    {
        state.secret = secret
            .data
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, v.0))
            .collect();
    }
    let dir = layout::create_network_dir(root)?;
    let written = state::materialize(&dir, &state).and_then(|()| {
        let config_path = dir.join(CONFIG_FILE);
        let mut config: NetworkConfig = files::read_json(&config_path)?;
        if let RuntimeSettings::Kube(kube) = &mut config.runtime {
            kube.kubeconfig = settings.kubeconfig.clone();
            kube.context = settings.context.clone();
        }
        files::write_json_mode(&config_path, &config, 0o600)?;
        Network::load(&dir)
    });
    if written.is_err() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    written
}
