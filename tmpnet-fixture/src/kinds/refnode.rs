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

use super::{
    flags_of, node_with_random_id, HealthContext, LaunchContext, LocalDaemon, NodeKind, Placement,
    PodDaemon, PodProfile, PortDiscovery, POD_IP,
};
use crate::error::{Error, Result};
use crate::model::{Flags, Health, NodeConfig};

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

#[async_trait]
impl NodeKind for RefNode {
    fn name(&self) -> &str {
        NAME
    }

    fn new_node(&self, index: usize) -> Result<NodeConfig> {
        Ok(node_with_random_id("ref", index))
    }

    fn default_flags(&self, placement: Placement) -> Flags {
        match placement {
            Placement::Pod => flags_of([("log-level", "info")]),
            _ => flags_of([
                ("http-host", "127.0.0.1"),
                ("http-port", "0"),
                ("p2p-host", "127.0.0.1"),
                ("p2p-port", "0"),
                ("log-level", "info"),
            ]),
        }
    }

    fn forced_flags(&self, launch: &LaunchContext<'_>) -> Result<Flags> {
        let peers = launch
            .peers
            .iter()
            .map(|p| format!("{}@{}", p.node_id, p.p2p_address))
            .collect::<Vec<_>>()
            .join(",");
        let mut forced = flags_of([
            ("node-id", launch.node.id().to_owned()),
            ("bootstrap-peers", peers),
        ]);
        forced.extend(match launch.placement {
            // A pod has its own addresses: fixed ports, every interface
            // (port-forward arrives on the pod's loopback, peers on its IP).
            Placement::Pod => flags_of([
                ("http-host", "0.0.0.0".to_owned()),
                ("http-port", POD_API_PORT.to_string()),
                ("p2p-host", "0.0.0.0".to_owned()),
                ("p2p-port", POD_P2P_PORT.to_string()),
                ("p2p-advertise-host", POD_IP.to_owned()),
                ("db-dir", format!("{POD_DATA}/db")),
                ("process-context-file", format!("{POD_DATA}/process.json")),
            ]),
            _ => flags_of([
                ("db-dir", launch.node.db_dir().display().to_string()),
                (
                    "process-context-file",
                    launch.node.process_path().display().to_string(),
                ),
            ]),
        });
        Ok(forced)
    }

    fn metrics_path(&self) -> Option<String> {
        Some("/ext/metrics".into())
    }

    /// GETs the path `request` (e.g. `/ext/info`) and reads its JSON.
    async fn query(&self, ctx: &HealthContext<'_>, request: &str) -> Result<serde_json::Value> {
        let url = format!("{}{request}", ctx.endpoint.uri);
        let failed = |e: reqwest::Error| Error::Rpc {
            url: url.clone(),
            method: "GET".into(),
            message: e.to_string(),
        };
        ctx.http
            .get(&url)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(failed)?
            .json()
            .await
            .map_err(failed)
    }

    async fn check_health(&self, ctx: &HealthContext<'_>) -> Health {
        let url = format!("{}/ext/health", ctx.endpoint.uri);
        match ctx.http.get(&url).send().await {
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
            Err(e) => Health::Unhealthy(format!("API not answering at {}: {e}", ctx.endpoint.uri)),
        }
    }

    fn local(&self) -> Option<&dyn LocalDaemon> {
        Some(self)
    }

    fn pod(&self) -> Option<&dyn PodDaemon> {
        Some(self)
    }
}

impl LocalDaemon for RefNode {
    fn binary_name(&self) -> &str {
        "tmpnet-refnode"
    }

    fn install_hint(&self) -> &str {
        "build it with `cargo build --release -p tmpnet-refnode`, or enable tmpnet-fixture's `embedded-refnode` feature to run it from the test binary"
    }

    fn is_embedded(&self) -> bool {
        cfg!(feature = "embedded-refnode")
    }

    fn port_discovery(&self) -> PortDiscovery {
        PortDiscovery::SelfReported
    }

    fn argv(&self, flags_file: &Path, _flags: &Flags) -> Vec<OsString> {
        vec!["--flags-file".into(), flags_file.as_os_str().to_owned()]
    }

    fn api_port_flag(&self) -> &str {
        "http-port"
    }
}

impl PodDaemon for RefNode {
    fn profile(&self) -> PodProfile {
        PodProfile::new("tmpnet/refnode:latest", POD_API_PORT, POD_P2P_PORT)
            .with_data_path(POD_DATA)
            .with_readiness_path("/ext/health/liveness")
            .with_metrics_path("/ext/metrics")
    }

    fn args(&self, flags: &Flags) -> Vec<String> {
        flags
            .iter()
            .flat_map(|(k, v)| ["--flag".to_owned(), format!("{k}={v}")])
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::compose_flags;
    use crate::model::{Node, Peer};

    #[test]
    fn flags_layer_defaults_network_node_then_forced() {
        let network = flags_of([("log-level", "debug"), ("node-id", "evil")]);
        let node = Node {
            dir: "/net/ref-1".into(),
            config: NodeConfig {
                id: "ref-1".into(),
                index: 1,
                flags: flags_of([("http-port", "9650")]),
                ports: Default::default(),
                secrets: Default::default(),
                secret_files: Vec::new(),
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
        let spec = LaunchContext {
            placement: Placement::Local,
            network_dir: Path::new("/net"),
            node: &node,
            peers: &peers,
            members: &[],
        };
        let flags = compose_flags(&RefNode, &network, &spec).unwrap();
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
        let network = flags_of([("http-port", "1234"), ("log-level", "debug")]);
        let node = Node {
            dir: "/net/ref-1".into(),
            config: RefNode.new_node(0).unwrap(),
        };
        let peers = [Peer {
            node_id: "ref-0".into(),
            p2p_address: "10.0.0.7:9651".into(),
        }];
        let spec = LaunchContext {
            placement: Placement::Pod,
            network_dir: Path::new("/net"),
            node: &node,
            peers: &peers,
            members: &[],
        };
        let flags = compose_flags(&RefNode, &network, &spec).unwrap();
        assert_eq!(flags["http-port"], "9650", "the probe's port wins");
        assert_eq!(flags["http-host"], "0.0.0.0");
        assert_eq!(flags["p2p-advertise-host"], "$(POD_IP)");
        assert_eq!(flags["db-dir"], "/data/db");
        assert_eq!(flags["log-level"], "debug");
        assert_eq!(flags["bootstrap-peers"], "ref-0@10.0.0.7:9651");
        let args = RefNode.args(&flags);
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
