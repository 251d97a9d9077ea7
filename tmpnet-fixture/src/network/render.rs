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
    let nodes = network.node_records();
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

    #[test]
    #[cfg(feature = "avalanchego")]
    fn avalanchego_pods_get_flags_as_environment_and_keys_only_from_the_secret() {
        let root = tempfile::tempdir().unwrap();
        let mut spec = NetworkSpec::new(root.path(), 2).with_kind("avalanchego");
        spec.kube = Some(KubeSettings::new("tmpnet", ""));
        let yaml = render(&spec).unwrap();
        let docs: Vec<serde_json::Value> = yaml
            .split("\n---\n")
            .skip(1)
            .map(|d| serde_saphyr::from_str(d).unwrap())
            .collect();
        let secret = docs.iter().find(|d| d["kind"] == "Secret").unwrap();
        let data = secret["data"].as_object().unwrap();
        // Per node its certificate, key and signer key; the funded keys.
        assert_eq!(data.len(), 2 * 3 + 1, "{:?}", data.keys());
        let sets: Vec<&serde_json::Value> =
            docs.iter().filter(|d| d["kind"] == "StatefulSet").collect();
        assert_eq!(sets.len(), 2);
        for set in &sets {
            let pod = &set["spec"]["template"]["spec"];
            let container = &pod["containers"][0];
            assert_eq!(container["image"], "tmpnet/avalanchego:latest");
            assert!(container["args"].as_array().unwrap().is_empty());
            let env: std::collections::BTreeMap<&str, &str> = container["env"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|e| Some((e["name"].as_str()?, e["value"].as_str()?)))
                .collect();
            assert_eq!(env["AVAGO_NETWORK_ID"], "88888");
            assert_eq!(env["AVAGO_PUBLIC_IP"], "$(POD_IP)");
            assert_eq!(env["AVAGO_HTTP_PORT"], "9650");
            assert_eq!(
                env["AVAGO_STAKING_TLS_KEY_FILE"],
                "/secrets/staking/staker.key"
            );
            assert!(env.contains_key("AVAGO_GENESIS_FILE_CONTENT"));
            assert!(!env.contains_key("AVAGO_FD_LIMIT"), "the image sets it");
            // Only this node's three keys, group-readable for the image.
            let volume = &pod["volumes"][0]["secret"];
            let items = volume["items"].as_array().unwrap();
            assert_eq!(items.len(), 3);
            let id = set["metadata"]["labels"]["tmpnet.io/node-id"]
                .as_str()
                .unwrap();
            assert!(items
                .iter()
                .all(|i| i["key"].as_str().unwrap().starts_with(id)));
            assert_eq!(volume["defaultMode"], 0o440);
            assert_eq!(pod["securityContext"]["fsGroup"], 10001);
            assert_eq!(
                container["readinessProbe"]["httpGet"]["path"],
                "/ext/health/liveness"
            );
        }
        // No key reaches any other object: not a pod spec, not the state.
        for (key, value) in data {
            let encoded = value.as_str().unwrap();
            for doc in docs.iter().filter(|d| d["kind"] != "Secret") {
                let text = doc.to_string();
                assert!(!text.contains(encoded), "{key} in a {}", doc["kind"]);
            }
            if key.ends_with("staker.key") {
                use base64::Engine as _;
                let pem = base64::engine::general_purpose::STANDARD
                    .decode(encoded)
                    .unwrap();
                let pem = String::from_utf8(pem).unwrap();
                assert!(pem.contains("PRIVATE KEY"), "{key}");
                for doc in docs.iter().filter(|d| d["kind"] != "Secret") {
                    let body: String = pem.lines().nth(1).unwrap().to_owned();
                    assert!(!doc.to_string().contains(&body), "{key} in the clear");
                }
            }
        }
    }
}
