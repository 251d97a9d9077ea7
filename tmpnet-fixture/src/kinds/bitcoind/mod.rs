//! bitcoind-family daemons in regtest: Bitcoin Core, and derivatives such as
//! Litecoin Core (`litecoind`).
//!
//! - Ports are allocated by the harness (the daemon cannot report a port-0
//!   choice): `p2p`, `rpc` and a per-node `onion` bind (otherwise every node
//!   binds the same Tor target port and collides). They are kept in the
//!   node's `config.json`, so restarts keep them; a start that finds a port
//!   taken is retried with fresh ones.
//! - Everything binds 127.0.0.1; no DNS seeds, discovery, UPnP or Tor; the
//!   only outbound connections are `-connect` to the nodes started before
//!   it, dialled at once.
//! - RPC uses per-network `rpcauth` credentials kept in `rpc.json` (mode
//!   0600) in the network directory; no password is put on a command line.
//! - The daemon logs to stdout (`-printtoconsole`), so `logs/main.log` has it.
//! - Healthy: RPC answers (not warming up) and every `-connect` target is a
//!   connected outbound peer. While one is missing, each health check dials
//!   it at once (`addnode <addr> onetry`) rather than waiting seconds for the
//!   daemon's own retry.
//!
//! Flags are written as `name = value` without the dash; a value with several
//! lines becomes the flag repeated (e.g. `connect`, `bind`).

mod credentials;
pub mod rpc;

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use async_trait::async_trait;

pub use credentials::{rpcauth_line, Credentials};

use super::{
    flags_of, node_with_random_id, HealthContext, LaunchContext, LocalDaemon, NodeKind, Placement,
    PodDaemon, PodProfile, PortDiscovery,
};
use crate::error::{Error, Result};
use crate::model::{Endpoint, Flags, Health, Node, NodeConfig};

/// The kind's name.
pub const NAME: &str = "bitcoind";

/// Names of the ports allocated per node; `rpc` is the API port.
const PORTS: [&str; 3] = ["rpc", "p2p", "onion"];

/// Ports inside a pod (regtest's usual RPC and p2p ports, and one above
/// for the onion bind).
const POD_PORTS: [u16; 3] = [19443, 19444, 19445];
/// Where a pod's data volume is mounted.
const POD_DATA: &str = "/data";

/// Where Debian's litecoind keeps the real daemon (`/usr/bin/litecoind` is a
/// wrapper that writes into `$HOME`, so it is never used).
const LITECOIND: &str = "/usr/lib/litecoin/litecoind";

/// The bitcoind-family kind.
#[derive(Debug, Clone, Copy, Default)]
pub struct Bitcoind;

fn port(node: &Node, name: &str) -> Option<u16> {
    node.config.ports.get(name).copied()
}

/// The `-connect` targets in a composed flag set.
fn connect_targets(flags: &Flags) -> Vec<String> {
    flags
        .get("connect")
        .map(|v| {
            v.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && *l != "0")
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// `-name=value` per line of each value.
fn dash_args(flags: &Flags) -> impl Iterator<Item = String> + '_ {
    flags
        .iter()
        .flat_map(|(k, v)| v.lines().map(move |line| format!("-{k}={line}")))
}

/// Loopback (local) or every interface (pod: peers dial the pod IP,
/// port-forward arrives on the pod's loopback) and any client address
/// (rpcauth still guards RPC).
fn binds(placement: Placement) -> (&'static str, &'static str) {
    match placement {
        Placement::Pod => ("0.0.0.0", "0.0.0.0/0"),
        _ => ("127.0.0.1", "127.0.0.1"),
    }
}

#[async_trait]
impl NodeKind for Bitcoind {
    fn name(&self) -> &str {
        NAME
    }

    fn new_node(&self, index: usize) -> Result<NodeConfig> {
        Ok(node_with_random_id("btc", index))
    }

    fn init_network(&self, dir: &Path, _nodes: &[Node]) -> Result<()> {
        Credentials::create(dir).map(|_| ())
    }

    fn secret_files(&self) -> Vec<String> {
        vec![credentials::FILE.to_owned()]
    }

    fn default_flags(&self, placement: Placement) -> Flags {
        let (_, allow) = binds(placement);
        flags_of([
            ("regtest", "1"),
            ("server", "1"),
            ("listen", "1"),
            ("discover", "0"),
            ("dnsseed", "0"),
            ("listenonion", "0"),
            ("upnp", "0"),
            ("whitelist", allow),
            ("printtoconsole", "1"),
            ("debuglogfile", "0"),
            ("fallbackfee", "0.0001"),
        ])
    }

    fn forced_flags(&self, launch: &LaunchContext<'_>) -> Result<Flags> {
        let node = launch.node;
        let ports = |name| {
            port(node, name).ok_or_else(|| Error::StartFailed {
                node: node.id().to_owned(),
                reason: format!("it has no {name} port assigned; start it through its network"),
                log_tail: Vec::new(),
            })
        };
        let (host, allow) = binds(launch.placement);
        let ([rpc, p2p, onion], datadir) = match launch.placement {
            Placement::Pod => (POD_PORTS, POD_DATA.to_owned()),
            _ => (
                [ports("rpc")?, ports("p2p")?, ports("onion")?],
                node.db_dir().display().to_string(),
            ),
        };
        let credentials = Credentials::load(launch.network_dir)?;
        let connect = if launch.peers.is_empty() {
            "0".to_owned()
        } else {
            launch
                .peers
                .iter()
                .map(|p| p.p2p_address.clone())
                .collect::<Vec<_>>()
                .join("\n")
        };
        Ok(flags_of([
            ("datadir", datadir),
            ("port", p2p.to_string()),
            ("bind", format!("{host}:{p2p}\n{host}:{onion}=onion")),
            ("rpcbind", host.into()),
            ("rpcallowip", allow.into()),
            ("rpcport", rpc.to_string()),
            ("rpcauth", credentials.rpcauth),
            ("connect", connect),
        ]))
    }

    fn is_fatal_log_line(&self, line: &str) -> bool {
        // Init errors are logged as "Error: ..."; a failed explicit bind is
        // logged but not fatal to the daemon, which would run unreachable.
        line.contains("FATAL") || line.contains("Error: ") || line.contains("Unable to bind")
    }

    async fn check_health(&self, ctx: &HealthContext<'_>) -> Health {
        let client = match rpc::Rpc::new(ctx.http.clone(), &ctx.endpoint.uri, ctx.network_dir) {
            Ok(c) => c,
            Err(e) => return Health::Unhealthy(e.to_string()),
        };
        if let Err(e) = client
            .call::<serde_json::Value>("getblockchaininfo", &[])
            .await
        {
            return Health::Unhealthy(format!("RPC not ready: {e}"));
        }
        let flags = match ctx.started_flags() {
            Ok(f) => f,
            Err(e) => return Health::Unhealthy(e.to_string()),
        };
        let expected = connect_targets(&flags);
        if expected.is_empty() {
            return Health::Healthy;
        }
        let peers = match client.peers().await {
            Ok(p) => p,
            Err(e) => return Health::Unhealthy(format!("getpeerinfo failed: {e}")),
        };
        let missing: Vec<String> = expected
            .into_iter()
            .filter(|target| !peers.iter().any(|p| !p.inbound && &p.addr == target))
            .collect();
        if missing.is_empty() {
            return Health::Healthy;
        }
        // A `-connect` dial that lost the race with the peer's listener is
        // retried only after seconds; dial now instead. Idempotent: the
        // daemon skips addresses it is already connected to.
        for target in &missing {
            let _ = client.add_node_once(target).await;
        }
        Health::Unhealthy(format!("not connected to peers: {}", missing.join(", ")))
    }

    /// Calls the RPC method `request` (no parameters) with the network's
    /// credentials.
    async fn query(&self, ctx: &HealthContext<'_>, request: &str) -> Result<serde_json::Value> {
        rpc::Rpc::new(ctx.http.clone(), &ctx.endpoint.uri, ctx.network_dir)?
            .call(request, &[])
            .await
    }

    fn local(&self) -> Option<&dyn LocalDaemon> {
        Some(self)
    }

    fn pod(&self) -> Option<&dyn PodDaemon> {
        Some(self)
    }
}

impl LocalDaemon for Bitcoind {
    fn binary_name(&self) -> &str {
        "bitcoind"
    }

    fn known_locations(&self) -> Vec<PathBuf> {
        vec![PathBuf::from(LITECOIND)]
    }

    fn install_hint(&self) -> &str {
        "install one with `apt-get install litecoind` (its daemon is /usr/lib/litecoin/litecoind) or Bitcoin Core's bitcoind"
    }

    fn port_discovery(&self) -> PortDiscovery {
        PortDiscovery::PreAllocated(PORTS.iter().map(|p| (*p).to_owned()).collect())
    }

    fn argv(&self, _flags_file: &Path, flags: &Flags) -> Vec<OsString> {
        dash_args(flags).map(OsString::from).collect()
    }

    fn api_port_flag(&self) -> &str {
        "rpcport"
    }

    fn endpoint(&self, node: &Node) -> Option<Endpoint> {
        Some(Endpoint::new(
            format!("http://127.0.0.1:{}", port(node, "rpc")?),
            format!("127.0.0.1:{}", port(node, "p2p")?),
        ))
    }

    fn is_port_conflict(&self, log_tail: &[String]) -> bool {
        log_tail.iter().any(|l| {
            l.contains("Unable to bind")
                || l.contains("Address already in use")
                || (l.contains("Binding RPC on address") && l.contains("failed"))
        })
    }
}

impl PodDaemon for Bitcoind {
    fn profile(&self) -> PodProfile {
        PodProfile::new("tmpnet/litecoind:latest", POD_PORTS[0], POD_PORTS[1])
            .with_data_path(POD_DATA)
    }

    fn args(&self, flags: &Flags) -> Vec<String> {
        dash_args(flags).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::compose_flags;
    use crate::model::Peer;

    fn node(dir: &Path) -> Node {
        Node {
            dir: dir.join("btc-1"),
            config: NodeConfig {
                id: "btc-1".into(),
                index: 1,
                flags: flags_of([("rpcport", "1"), ("txindex", "1")]),
                ports: [
                    ("rpc".into(), 18001),
                    ("p2p".into(), 18002),
                    ("onion".into(), 18003),
                ]
                .into(),
                secrets: Default::default(),
                secret_files: Vec::new(),
            },
        }
    }

    #[test]
    fn flags_bind_loopback_use_allocated_ports_and_rpcauth() {
        let dir = tempfile::tempdir().unwrap();
        Bitcoind.init_network(dir.path(), &[]).unwrap();
        let network = Flags::new();
        let node = node(dir.path());
        let peers = [
            Peer {
                node_id: "a".into(),
                p2p_address: "127.0.0.1:17002".into(),
            },
            Peer {
                node_id: "b".into(),
                p2p_address: "127.0.0.1:17012".into(),
            },
        ];
        let spec = LaunchContext {
            placement: Placement::Local,
            network_dir: dir.path(),
            node: &node,
            peers: &peers,
            members: &[],
        };
        let flags = compose_flags(&Bitcoind, &network, &spec).unwrap();
        assert_eq!(
            flags["rpcport"], "18001",
            "allocated port wins over a node flag"
        );
        assert_eq!(flags["txindex"], "1", "other node flags pass through");
        assert_eq!(flags["regtest"], "1");
        assert_eq!(flags["dnsseed"], "0");
        let args: Vec<String> = Bitcoind
            .argv(Path::new("unused"), &flags)
            .into_iter()
            .map(|a| a.into_string().unwrap())
            .collect();
        for expected in [
            "-bind=127.0.0.1:18002",
            "-bind=127.0.0.1:18003=onion",
            "-connect=127.0.0.1:17002",
            "-connect=127.0.0.1:17012",
            "-rpcbind=127.0.0.1",
            "-port=18002",
        ] {
            assert!(
                args.contains(&expected.to_owned()),
                "{expected} missing from {args:?}"
            );
        }
        let creds = Credentials::load(dir.path()).unwrap();
        assert!(
            args.iter().all(|a| !a.contains(&creds.password)),
            "password on the command line"
        );
        assert!(args.contains(&format!("-rpcauth={}", creds.rpcauth)));
        assert_eq!(
            connect_targets(&flags),
            vec!["127.0.0.1:17002", "127.0.0.1:17012"]
        );
    }

    #[test]
    fn in_a_pod_binds_cover_the_pod_on_fixed_ports() {
        let dir = tempfile::tempdir().unwrap();
        Bitcoind.init_network(dir.path(), &[]).unwrap();
        let network = Flags::new();
        let mut node = node(dir.path());
        node.config.ports.clear();
        let peers = [Peer {
            node_id: "a".into(),
            p2p_address: "10.1.2.3:19444".into(),
        }];
        let spec = LaunchContext {
            placement: Placement::Pod,
            network_dir: dir.path(),
            node: &node,
            peers: &peers,
            members: &[],
        };
        let flags = compose_flags(&Bitcoind, &network, &spec).unwrap();
        let args = PodDaemon::args(&Bitcoind, &flags);
        for expected in [
            "-bind=0.0.0.0:19444",
            "-bind=0.0.0.0:19445=onion",
            "-rpcbind=0.0.0.0",
            "-rpcallowip=0.0.0.0/0",
            "-rpcport=19443",
            "-datadir=/data",
            "-connect=10.1.2.3:19444",
        ] {
            assert!(
                args.contains(&expected.to_owned()),
                "{expected} missing from {args:?}"
            );
        }
        assert_eq!(Bitcoind.profile().api_port, 19443);
        assert_eq!(Bitcoind.secret_files(), vec!["rpc.json"]);
    }

    #[test]
    fn first_node_connects_nowhere_and_endpoint_comes_from_ports() {
        let mut flags = Flags::new();
        flags.insert("connect".into(), "0".into());
        assert!(connect_targets(&flags).is_empty());
        let dir = tempfile::tempdir().unwrap();
        let e = Bitcoind.endpoint(&node(dir.path())).unwrap();
        assert_eq!(e.uri, "http://127.0.0.1:18001");
        assert_eq!(e.p2p_address, "127.0.0.1:18002");
    }

    #[test]
    fn port_conflicts_are_recognised_in_logs() {
        let yes = ["Error: Unable to bind to 127.0.0.1:18444 on this computer. Litecoin Core is probably already running.".to_owned()];
        let rpc = ["Binding RPC on address 127.0.0.1 port 18443 failed.".to_owned()];
        let no = ["Error: Specified data directory does not exist.".to_owned()];
        assert!(Bitcoind.is_port_conflict(&yes));
        assert!(Bitcoind.is_port_conflict(&rpc));
        assert!(!Bitcoind.is_port_conflict(&no));
        assert!(Bitcoind.is_fatal_log_line(&yes[0]));
        assert!(Bitcoind.is_fatal_log_line(&no[0]));
        let benign = "2026-11-22T15:07:53Z ERROR: DeserializeFileDB: Failed to open file peers.dat";
        assert!(!Bitcoind.is_fatal_log_line(benign));
    }
}
