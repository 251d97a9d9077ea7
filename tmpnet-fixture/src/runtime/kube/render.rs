//! Every manifest a new network would create, as documents and as YAML,
//! without touching a cluster (what `tmpnetctl render` prints).

use super::manifests::{self, Context};
use super::state::StateFiles;
use crate::error::{Error, Result};
use crate::kinds::{self, LaunchContext, NodeKind, Placement};
use crate::model::{KubeSettings, NetworkConfig, Node, Peer};

/// The objects of a network, in creation order: namespace, state
/// ConfigMap, Secret (if the kind has secret files), then per node its
/// Service, Ingress (with an ingress host) and StatefulSet. The first node
/// has no peers, the others have the first, named by its stable DNS name
/// (at run time peers are given by pod IP). Owner references are absent:
/// they name the ConfigMap's uid, known only once it exists.
pub fn documents(
    network: &NetworkConfig,
    settings: &KubeSettings,
    kind: &dyn NodeKind,
    network_dir: &std::path::Path,
    nodes: &[Node],
    files: StateFiles,
) -> Result<Vec<serde_json::Value>> {
    let pod = kinds::pod_of(kind)?;
    let ctx = Context {
        network,
        settings,
        profile: pod.profile(),
        owner: None,
    };
    let mut docs = vec![
        to_value(&ctx.namespace())?,
        to_value(&ctx.state_config_map(files.plain))?,
    ];
    if !files.secret.is_empty() {
        docs.push(to_value(&ctx.secret(files.secret))?);
    }
    let first_peer = nodes.first().map(|first| {
        let name = manifests::node_object_name(&network.uuid, first.id());
        Peer {
            node_id: first.id().to_owned(),
            p2p_address: format!(
                "{name}-0.{name}.{}.svc.cluster.local:{}",
                settings.namespace, ctx.profile.p2p_port
            ),
        }
    });
    for (i, node) in nodes.iter().enumerate() {
        let peers: Vec<Peer> = if i == 0 {
            Vec::new()
        } else {
            first_peer.iter().cloned().collect()
        };
        let launch = LaunchContext {
            placement: Placement::Pod,
            network_dir,
            node,
            peers: &peers,
            members: &[],
        };
        let flags = kinds::compose_flags(kind, &network.default_flags, &launch)?;
        docs.push(to_value(&ctx.service(node))?);
        if let Some(ingress) = ctx.ingress(node) {
            docs.push(to_value(&ingress)?);
        }
        let command = manifests::Command::of(pod, &flags);
        docs.push(to_value(&ctx.stateful_set(node, command)?)?);
    }
    Ok(docs)
}

fn to_value<T: serde::Serialize>(object: &T) -> Result<serde_json::Value> {
    serde_json::to_value(object).map_err(|e| Error::Serialize {
        what: "a manifest",
        source: Box::new(e),
    })
}

/// Documents as one YAML stream.
pub fn to_yaml(docs: &[serde_json::Value]) -> Result<String> {
    let mut out = String::new();
    for doc in docs {
        out.push_str("---\n");
        out.push_str(&serde_saphyr::to_string(doc).map_err(|e| Error::Serialize {
            what: "YAML",
            source: Box::new(e),
        })?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::{bitcoind, refnode};
    use crate::model::{Flags, NodeConfig, RuntimeSettings, SchedulingLabel, SCHEMA_VERSION};

    fn network(kind: &str, count: usize) -> (NetworkConfig, KubeSettings, Vec<Node>) {
        let settings = KubeSettings::new("tmpnet", format!("tmpnet/{kind}:test"));
        let config = NetworkConfig {
            node_ids: Vec::new(),
            schema_version: SCHEMA_VERSION,
            uuid: "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0".into(),
            owner: "e2e suite".into(),
            node_kind: kind.into(),
            node_count: count,
            default_flags: Flags::from([("log-level".to_owned(), "debug".to_owned())]),
            runtime: RuntimeSettings::Kube(settings.clone()),
        };
        let nodes = (0..count)
            .map(|i| Node {
                dir: format!("/net/{kind}-{i}").into(),
                config: NodeConfig {
                    id: format!("{kind}-{i}"),
                    index: i,
                    flags: Flags::new(),
                    ports: Default::default(),
                    secrets: Default::default(),
                    secret_files: Vec::new(),
                },
            })
            .collect();
        (config, settings, nodes)
    }

    /// Checks the documents' kinds, in order, and their YAML against the
    /// snapshot `name` (in `snapshots/`; `cargo insta review` after an
    /// intended change; the test command never writes one).
    fn check_snapshot(docs: &[serde_json::Value], kinds: &[&str], name: &str) {
        let found: Vec<&str> = docs.iter().map(|d| d["kind"].as_str().unwrap()).collect();
        assert_eq!(found, kinds);
        let yaml = to_yaml(docs).unwrap();
        insta::with_settings!({prepend_module_to_snapshot => false, omit_expression => true}, {
            insta::assert_snapshot!(name, yaml);
        });
    }

    /// The documents of a refnode network with a plain `config.json`.
    fn refnode_documents(
        config: &NetworkConfig,
        settings: &KubeSettings,
        nodes: &[Node],
    ) -> Vec<serde_json::Value> {
        let files = StateFiles {
            plain: [("config.json".to_owned(), "{}".to_owned())].into(),
            secret: Default::default(),
        };
        documents(
            config,
            settings,
            &refnode::RefNode,
            std::path::Path::new("/net"),
            nodes,
            files,
        )
        .unwrap()
    }

    #[test]
    fn refnode_manifests_match_the_snapshot() {
        let (config, settings, nodes) = network(refnode::NAME, 2);
        let docs = refnode_documents(&config, &settings, &nodes);
        check_snapshot(
            &docs,
            &[
                "Namespace",
                "ConfigMap",
                "Service",
                "StatefulSet",
                "Service",
                "StatefulSet",
            ],
            "refnode",
        );
    }

    #[test]
    fn bitcoind_manifests_with_scheduling_and_ingress_match_the_snapshot() {
        let (config, mut settings, nodes) = network(bitcoind::NAME, 2);
        settings.exclusive_scheduling = Some(SchedulingLabel {
            key: "tmpnet.io/node-pool".into(),
            value: "tmpnet".into(),
        });
        settings.ingress_host = Some("nodes.example.com".into());
        settings.ingress_secret = Some("nodes-tls".into());
        settings.volume_size_gib = 20;
        let dir = tempfile::tempdir().unwrap();
        let fixed = bitcoind::Credentials {
            user: "tmpnet".into(),
            password: "secret".into(),
            rpcauth: bitcoind::rpcauth_line("tmpnet", "salt", "secret").unwrap(),
        };
        crate::sys::files::write_json(&dir.path().join("rpc.json"), &fixed).unwrap();
        let files = StateFiles {
            plain: [("config.json".to_owned(), "{}".to_owned())].into(),
            secret: [("rpc.json".to_owned(), b"{}".to_vec())].into(),
        };
        let docs = documents(
            &config,
            &settings,
            &bitcoind::Bitcoind,
            dir.path(),
            &nodes,
            files,
        )
        .unwrap();
        check_snapshot(
            &docs,
            &[
                "Namespace",
                "ConfigMap",
                "Secret",
                "Service",
                "Ingress",
                "StatefulSet",
                "Service",
                "Ingress",
                "StatefulSet",
            ],
            "bitcoind-exclusive-ingress",
        );
    }

    #[test]
    fn a_daemon_dialled_on_its_api_port_has_that_port_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.toml");
        std::fs::write(
            &path,
            "name = \"one-port\"\n[binary]\nname = \"sh\"\n[ports]\napi = \"redis\"\n\
             [health]\ncheck = \"tcp\"\n[kubernetes]\nimage = \"me/d:1\"\nports = { redis = 6379 }\n",
        )
        .unwrap();
        let kind = crate::kinds::file::FileKind::load(&path).unwrap();
        let (config, settings, nodes) = network("one-port", 1);
        let files = StateFiles {
            plain: [("config.json".to_owned(), "{}".to_owned())].into(),
            secret: Default::default(),
        };
        let docs = documents(&config, &settings, &kind, dir.path(), &nodes, files).unwrap();
        let service = docs.iter().find(|d| d["kind"] == "Service").unwrap();
        let set = docs.iter().find(|d| d["kind"] == "StatefulSet").unwrap();
        let names = |ports: &serde_json::Value| -> Vec<(String, i64)> {
            ports
                .as_array()
                .unwrap()
                .iter()
                .map(|p| {
                    let number = p.get("port").or(p.get("containerPort")).unwrap();
                    (
                        p["name"].as_str().unwrap().to_owned(),
                        number.as_i64().unwrap(),
                    )
                })
                .collect()
        };
        // The API server refuses a port twice.
        assert_eq!(names(&service["spec"]["ports"]), [("api".to_owned(), 6379)]);
        assert_eq!(
            names(&set["spec"]["template"]["spec"]["containers"][0]["ports"]),
            [("api".to_owned(), 6379)]
        );
    }

    #[test]
    fn a_network_with_an_owner_has_its_state_owned_by_it_and_nothing_else() {
        let (config, mut settings, nodes) = network(refnode::NAME, 1);
        settings.owner = Some(Box::new(crate::model::KubeOwner::job("runner-1", "uid-1")));
        let docs = refnode_documents(&config, &settings, &nodes);
        let owned: Vec<(&str, &serde_json::Value)> = docs
            .iter()
            .filter_map(|d| Some((d["kind"].as_str()?, d["metadata"].get("ownerReferences")?)))
            .collect();
        // The state ConfigMap owns the rest once it exists (not rendered).
        assert_eq!(
            owned,
            [(
                "ConfigMap",
                &serde_json::json!([{
                    "apiVersion": "batch/v1",
                    "kind": "Job",
                    "name": "runner-1",
                    "uid": "uid-1",
                    "controller": false,
                    "blockOwnerDeletion": false,
                }])
            )]
        );
    }
}
