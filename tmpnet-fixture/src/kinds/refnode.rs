//! The embedded reference node (`tmpnet-refnode`).
//!
//! Flags it reads from its flags file (all strings):
//!
//! | flag | meaning |
//! |---|---|
//! | `node-id` | its id (forced by the harness) |
//! | `db-dir` | where its key-value store lives (forced: `<node dir>/db`) |
//! | `process-context-file` | where it writes `process.json` (forced) |
//! | `bootstrap-peers` | `id@host:port` list, comma separated (forced) |
//! | `http-host`, `http-port` | API listener (default `127.0.0.1`, `0`) |
//! | `p2p-host`, `p2p-port` | p2p listener (default `127.0.0.1`, `0`) |
//! | `p2p-advertise-host` | the host peers are told to dial (default: the bound one) |
//! | `log-level` | `error`, `warn`, `info` (default), `debug`, `trace` |
//! | `fault-exit-during-start` | exit with this code before binding |
//! | `fault-start-delay-ms` | sleep this long before binding |
//! | `fault-fatal` | log `FATAL <text>` and then hang, as a wedged daemon would |
//! | `fault-unhealthy` | `true`: health always answers 503 |
//! | `fault-ignore-sigterm` | `true`: SIGTERM is ignored (a hung daemon) |

use std::ffi::OsString;
use std::path::Path;

use async_trait::async_trait;

use super::{Endpoint, Health, LaunchSpec, NodeKind, Placement, PodProfile, PortDiscovery, POD_IP};
use crate::error::Result;
use crate::flags::{self, Flags};
use crate::node::{Node, NodeConfig};

/// The kind's name.
pub const NAME: &str = "refnode";

/// The API port in a pod.
const POD_API_PORT: u16 = 9650;
/// The p2p port in a pod.
const POD_P2P_PORT: u16 = 9651;
/// Where a pod's data volume is mounted.
const POD_DATA: &str = "/data";

/// The embedded reference node kind.
#[derive(Debug, Clone, Copy, Default)]
pub struct RefNode;

fn owned(pairs: &[(&str, String)]) -> Flags {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect()
}

#[async_trait]
impl NodeKind for RefNode {
    fn name(&self) -> &'static str {
        NAME
    }

    fn binary_name(&self) -> &'static str {
        "tmpnet-refnode"
    }

    fn is_embedded(&self) -> bool {
        true
    }

    fn install_hint(&self) -> &'static str {
        "build it with `cargo build --release -p tmpnet-refnode`"
    }

    fn new_node(&self, index: usize) -> Result<NodeConfig> {
        let id = uuid::Uuid::new_v4().simple().to_string();
        Ok(NodeConfig {
            id: format!("ref-{}", &id[..12]),
            index,
            flags: Flags::new(),
            ports: Default::default(),
        })
    }

    fn port_discovery(&self) -> PortDiscovery {
        PortDiscovery::SelfReported
    }

    fn compose_flags(&self, spec: &LaunchSpec<'_>) -> Result<Flags> {
        let peers = spec
            .peers
            .iter()
            .map(|p| format!("{}@{}", p.node_id, p.p2p_address))
            .collect::<Vec<_>>()
            .join(",");
        let (defaults, placed) = match spec.placement {
            Placement::Local => (
                owned(&[
                    ("http-host", "127.0.0.1".into()),
                    ("http-port", "0".into()),
                    ("p2p-host", "127.0.0.1".into()),
                    ("p2p-port", "0".into()),
                    ("log-level", "info".into()),
                ]),
                owned(&[
                    ("db-dir", spec.node.db_dir().display().to_string()),
                    (
                        "process-context-file",
                        spec.node.process_path().display().to_string(),
                    ),
                ]),
            ),
            // A pod has its own addresses: fixed ports, every interface
            // (port-forward arrives on the pod's loopback, peers on its IP).
            Placement::Pod => (
                owned(&[("log-level", "info".into())]),
                owned(&[
                    ("http-host", "0.0.0.0".into()),
                    ("http-port", POD_API_PORT.to_string()),
                    ("p2p-host", "0.0.0.0".into()),
                    ("p2p-port", POD_P2P_PORT.to_string()),
                    ("p2p-advertise-host", POD_IP.into()),
                    ("db-dir", format!("{POD_DATA}/db")),
                    ("process-context-file", format!("{POD_DATA}/process.json")),
                ]),
            ),
        };
        let mut forced = owned(&[
            ("node-id", spec.node.id().to_owned()),
            ("bootstrap-peers", peers),
        ]);
        forced.extend(placed);
        Ok(flags::compose([
            &defaults,
            &spec.network.default_flags,
            &spec.node.config.flags,
            &forced,
        ]))
    }

    fn command_args(&self, flags_file: &Path, _flags: &Flags) -> Vec<OsString> {
        vec!["--flags-file".into(), flags_file.as_os_str().to_owned()]
    }

    fn pod_profile(&self) -> PodProfile {
        PodProfile {
            default_image: "tmpnet/refnode:latest",
            api_port: POD_API_PORT,
            p2p_port: POD_P2P_PORT,
            data_path: POD_DATA,
            readiness_path: Some("/ext/health/liveness"),
            metrics_path: Some("/ext/metrics"),
        }
    }

    fn pod_args(&self, flags: &Flags) -> Vec<String> {
        flags
            .iter()
            .flat_map(|(k, v)| ["--flag".to_owned(), format!("{k}={v}")])
            .collect()
    }

    fn api_port_flag(&self) -> &'static str {
        "http-port"
    }

    async fn check_health(
        &self,
        http: &reqwest::Client,
        _node: &Node,
        endpoint: &Endpoint,
    ) -> Health {
        let url = format!("{}/ext/health", endpoint.uri);
        match http.get(&url).send().await {
            Ok(resp) if resp.status().is_success() => Health::Healthy,
            Ok(resp) => {
                let status = resp.status();
                let body = resp.text().await.unwrap_or_default();
                let why = serde_json::from_str::<serde_json::Value>(&body)
                    .ok()
                    .and_then(|v| v.get("reason").and_then(|r| r.as_str()).map(str::to_owned))
                    .unwrap_or_else(|| format!("HTTP {status}"));
                Health::Unhealthy(why)
            }
            Err(e) => Health::Unhealthy(format!("API not answering at {}: {e}", endpoint.uri)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::Peer;
    use crate::network::{NetworkConfig, ProcessConfig, RuntimeConfig, SCHEMA_VERSION};

    #[test]
    fn flags_layer_defaults_network_node_then_forced() {
        let network = NetworkConfig {
            schema_version: SCHEMA_VERSION,
            uuid: "u".into(),
            owner: String::new(),
            node_kind: NAME.into(),
            node_count: 2,
            default_flags: owned(&[("log-level", "debug".into()), ("node-id", "evil".into())]),
            runtime: RuntimeConfig::Process(ProcessConfig::new("/bin/true".into())),
        };
        let node = Node {
            dir: "/net/ref-1".into(),
            config: NodeConfig {
                id: "ref-1".into(),
                index: 1,
                flags: owned(&[("http-port", "9650".into())]),
                ports: Default::default(),
            },
        };
        let peers = [
            Peer {
                node_id: "ref-0".into(),
                p2p_address: "127.0.0.1:1000".into(),
            },
            Peer {
                node_id: "ref-2".into(),
                p2p_address: "127.0.0.1:1002".into(),
            },
        ];
        let spec = LaunchSpec {
            placement: Placement::Local,
            network: &network,
            network_dir: Path::new("/net"),
            node: &node,
            peers: &peers,
        };
        let flags = RefNode.compose_flags(&spec).unwrap();
        assert_eq!(flags["log-level"], "debug");
        assert_eq!(flags["http-port"], "9650");
        assert_eq!(flags["p2p-port"], "0");
        assert_eq!(flags["http-host"], "127.0.0.1");
        assert_eq!(flags["node-id"], "ref-1", "forced flags win");
        assert_eq!(flags["db-dir"], "/net/ref-1/db");
        assert_eq!(flags["process-context-file"], "/net/ref-1/process.json");
        assert_eq!(
            flags["bootstrap-peers"],
            "ref-0@127.0.0.1:1000,ref-2@127.0.0.1:1002"
        );
    }

    #[test]
    fn in_a_pod_ports_are_fixed_and_binds_cover_the_pod() {
        let network: NetworkConfig = serde_json::from_value(serde_json::json!({
            "schemaVersion": 1, "uuid": "u", "nodeKind": "refnode", "nodeCount": 1,
            "defaultFlags": {"http-port": "1234", "log-level": "debug"},
            "runtime": {"process": {"nodePath": "/bin/x"}}
        }))
        .unwrap();
        let node = Node {
            dir: "/net/ref-1".into(),
            config: RefNode.new_node(0).unwrap(),
        };
        let peers = [Peer {
            node_id: "ref-0".into(),
            p2p_address: "10.0.0.7:9651".into(),
        }];
        let spec = LaunchSpec {
            placement: Placement::Pod,
            network: &network,
            network_dir: Path::new("/net"),
            node: &node,
            peers: &peers,
        };
        let flags = RefNode.compose_flags(&spec).unwrap();
        assert_eq!(flags["http-port"], "9650", "the probe's port wins");
        assert_eq!(flags["http-host"], "0.0.0.0");
        assert_eq!(flags["p2p-advertise-host"], "$(POD_IP)");
        assert_eq!(flags["db-dir"], "/data/db");
        assert_eq!(flags["log-level"], "debug");
        assert_eq!(flags["bootstrap-peers"], "ref-0@10.0.0.7:9651");
        let args = RefNode.pod_args(&flags);
        assert_eq!(args[0], "--flag");
        assert!(args.contains(&"http-port=9650".to_owned()), "{args:?}");
        assert_eq!(args.len(), flags.len() * 2);
    }

    #[test]
    fn node_ids_are_unique_and_keep_the_index() {
        let a = RefNode.new_node(0).unwrap();
        let b = RefNode.new_node(1).unwrap();
        assert_ne!(a.id, b.id);
        assert!(a.id.starts_with("ref-") && a.id.len() == 16, "{}", a.id);
        assert_eq!(b.index, 1);
    }
}
