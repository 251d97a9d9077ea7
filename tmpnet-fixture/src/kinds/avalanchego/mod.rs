//! avalanchego, Avalanche's node, as a built-in kind.
//!
//! - Each node gets an identity made here: a staking TLS
//!   certificate and key and a BLS signer key, written mode 0600 under
//!   `staking/` in its directory; its id is the `NodeID-...` the node
//!   derives from that certificate.
//! - The network gets a genesis for custom network [`NETWORK_ID`]
//!   with every bootstrap node as a validator, and [`FUNDED_KEY_COUNT`]
//!   pre-funded keys kept in `funded-keys.json` (mode 0600); tests read them
//!   with [`funded_keys`].
//! - The node binds port 0 on 127.0.0.1 for both its API and staking port
//!   and reports both in its process-context file, which the harness reads.
//! - A node is given the ids and staking addresses of the nodes already
//!   started as its bootstrappers; a network of one validator runs with
//!   sybil protection off (no peer could ever reach the validators' stake).
//! - Healthy: `GET /ext/health` answers 200.
//!
//! As a local process the flags reach the node in its config file
//! (`flags.json`, given with `--config-file`); only that path is on its
//! command line. In a pod (image [`IMAGE`]) they are its environment
//! (`AVAGO_<FLAG>`), the genesis travels as a flag's content, and the
//! node's key files come from the network's Kubernetes Secret, mounted
//! read-only at [`POD_SECRETS`]: no key is ever in a pod's spec.

pub mod api;
#[doc(hidden)]
pub mod cchain;
#[doc(hidden)]
pub mod genesis;
#[doc(hidden)]
pub mod identity;

pub use self::cchain::Transfer;
pub use self::genesis::{FundedKey, NETWORK_ID};

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use async_trait::async_trait;

use self::genesis::Staker;
use self::identity::{Identity, CERT_FILE, KEY_FILE, SIGNER_FILE};
use super::{
    flags_of, HealthContext, LaunchContext, LocalDaemon, NodeKind, Placement, PodDaemon,
    PodProfile, PortDiscovery, POD_IP,
};
use crate::error::{Error, Result};
use crate::model::{Endpoint, Flags, Health, Node, NodeConfig, Peer};
use crate::sys::files;

/// The kind's name.
pub const NAME: &str = "avalanchego";
/// The genesis, in the network directory.
pub const GENESIS_FILE: &str = "genesis.json";
/// The pre-funded keys' secrets, in the network directory (mode 0600).
pub const FUNDED_KEYS_FILE: &str = "funded-keys.json";
/// How many pre-funded keys a network has.
pub const FUNDED_KEY_COUNT: usize = 5;
/// Where the node reports its pid, API URI and staking address, in its
/// directory (the harness's own `process.json` is written from it).
const REPORT_FILE: &str = "avalanchego-process.json";
/// The environment variable naming the binary when no path is given.
pub const PATH_ENV: &str = "TMPNET_AVALANCHEGO_PATH";
/// The image a pod runs unless `--kube-image` says otherwise
/// (`docker/avalanchego.Dockerfile`).
pub const IMAGE: &str = "tmpnet/avalanchego:latest";
/// The API and staking ports inside a pod.
const POD_PORTS: [u16; 2] = [9650, 9651];
/// Where a pod's data volume is mounted.
const POD_DATA: &str = "/data";
/// Where a pod's own key files are mounted from the network's Secret.
pub const POD_SECRETS: &str = "/secrets";
/// The group of the image's user, which reads the key files.
const POD_GROUP: i64 = 10001;
/// The open-files limit the node asks for unless the hard limit is lower
/// (it fails at start when asked for more than the hard limit).
const FD_LIMIT: u64 = 32768;

/// The avalanchego kind.
#[derive(Debug, Clone, Copy, Default)]
pub struct Avalanchego;

/// The pre-funded keys of the avalanchego network in `network_dir`.
pub fn funded_keys(network_dir: &Path) -> Result<Vec<FundedKey>> {
    let hex: Vec<String> = files::read_json(&network_dir.join(FUNDED_KEYS_FILE))?;
    hex.iter()
        .map(|h| {
            let bytes = identity::from_hex(h).ok_or_else(|| Error::Crypto {
                what: format!("read {}", network_dir.join(FUNDED_KEYS_FILE).display()),
                reason: "it holds a key that is not hex; recreate the network".into(),
            })?;
            FundedKey::from_bytes(&bytes)
        })
        .collect()
}

/// One field of every peer, comma-separated.
fn joined(peers: &[Peer], field: fn(&Peer) -> &String) -> String {
    peers
        .iter()
        .map(|p| field(p).as_str())
        .collect::<Vec<_>>()
        .join(",")
}

/// How many validators the genesis in `network_dir` has.
/// The network's genesis as written: its bytes, read once per start.
fn read_genesis(network_dir: &Path) -> Result<Vec<u8>> {
    let path = network_dir.join(GENESIS_FILE);
    std::fs::read(&path).map_err(|e| Error::io("cannot read", &path, e))
}

/// How many validators a genesis has.
fn staker_count(network_dir: &Path, genesis: &[u8]) -> Result<usize> {
    let genesis: serde_json::Value =
        serde_json::from_slice(genesis).map_err(|e| Error::CorruptFile {
            path: network_dir.join(GENESIS_FILE),
            source: e,
        })?;
    Ok(genesis["initialStakers"].as_array().map_or(0, Vec::len))
}

/// The `--fd-limit` to give the node: what it asks for by default, or the
/// machine's hard limit if lower.
pub fn fd_limit() -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes only into the struct it is given.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return FD_LIMIT;
    }
    limit.rlim_max.min(FD_LIMIT)
}

#[async_trait]
impl NodeKind for Avalanchego {
    fn name(&self) -> &str {
        NAME
    }

    fn new_node(&self, index: usize) -> Result<NodeConfig> {
        let identity = Identity::generate()?;
        let mut config = NodeConfig::new(identity.node_id.clone(), index);
        config.secrets = identity.secret_files();
        Ok(config)
    }

    fn init_network(&self, dir: &Path, nodes: &[Node]) -> Result<()> {
        let stakers = nodes
            .iter()
            .map(|node| {
                let path = node.dir.join(SIGNER_FILE);
                let key = std::fs::read(&path).map_err(|e| Error::io("cannot read", &path, e))?;
                Ok(Staker {
                    node_id: node.id().to_owned(),
                    signer: identity::proof_of_possession(&key)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let funded = (0..FUNDED_KEY_COUNT)
            .map(|_| FundedKey::generate())
            .collect::<Result<Vec<_>>>()?;
        let secrets: Vec<String> = funded
            .iter()
            .map(|k| identity::hex0x(&k.secret_bytes()))
            .collect();
        files::write_json_mode(&dir.join(FUNDED_KEYS_FILE), &secrets, 0o600)?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let genesis = genesis::build(&stakers, &funded, now)?;
        files::write_json(&dir.join(GENESIS_FILE), &genesis)
    }

    fn secret_files(&self) -> Vec<String> {
        vec![FUNDED_KEYS_FILE.to_owned()]
    }

    fn default_flags(&self, _placement: Placement) -> Flags {
        flags_of([
            ("network-peer-list-pull-gossip-frequency", "250ms"),
            ("network-max-reconnect-delay", "1s"),
            ("health-check-frequency", "2s"),
            ("api-admin-enabled", "true"),
            ("index-enabled", "true"),
            ("log-display-level", "info"),
            // Test machines run with full disks; the node's own disk-space
            // check would keep it unhealthy there.
            (
                "system-tracker-disk-required-available-space-percentage",
                "0",
            ),
            (
                "system-tracker-disk-warning-available-space-percentage",
                "0",
            ),
        ])
    }

    fn forced_flags(&self, launch: &LaunchContext<'_>) -> Result<Flags> {
        let net = launch.network_dir;
        let mut flags = flags_of([
            ("network-id", genesis::NETWORK_ID.to_string()),
            ("bootstrap-ids", joined(launch.peers, |p| &p.node_id)),
            ("bootstrap-ips", joined(launch.peers, |p| &p.p2p_address)),
        ]);
        let genesis = read_genesis(net)?;
        flags.extend(match launch.placement {
            Placement::Local => local_flags(launch.node, net),
            Placement::Pod => pod_flags(&genesis),
        });
        if staker_count(net, &genesis)? == 1 {
            flags.insert("sybil-protection-enabled".into(), "false".into());
        }
        Ok(flags)
    }

    async fn check_health(&self, ctx: &HealthContext<'_>) -> Health {
        let url = format!("{}/ext/health", ctx.endpoint.uri);
        let reply = match ctx.http.get(&url).send().await {
            Ok(r) => r,
            Err(e) => return Health::Unhealthy(format!("{url} does not answer: {e}")),
        };
        let status = reply.status();
        if status.is_success() {
            return Health::Healthy;
        }
        let body: serde_json::Value = reply.json().await.unwrap_or_default();
        Health::Unhealthy(format!("{url} answers {status}: {}", failing_checks(&body)))
    }

    fn metrics_path(&self) -> Option<String> {
        Some("/ext/metrics".into())
    }

    fn local(&self) -> Option<&dyn LocalDaemon> {
        Some(self)
    }

    fn pod(&self) -> Option<&dyn PodDaemon> {
        Some(self)
    }
}

/// A local node's flags: loopback binds on ports the node chooses, its
/// files in its directory, its open-files limit.
fn local_flags(node: &Node, net: &Path) -> Flags {
    let path = |relative: &str| node.dir.join(relative).display().to_string();
    flags_of([
        ("genesis-file", net.join(GENESIS_FILE).display().to_string()),
        ("data-dir", node.db_dir().display().to_string()),
        ("http-host", "127.0.0.1".into()),
        ("http-port", "0".into()),
        ("staking-host", "127.0.0.1".into()),
        ("staking-port", "0".into()),
        ("public-ip", "127.0.0.1".into()),
        ("staking-tls-cert-file", path(CERT_FILE)),
        ("staking-tls-key-file", path(KEY_FILE)),
        ("staking-signer-key-file", path(SIGNER_FILE)),
        ("process-context-file", path(REPORT_FILE)),
        ("fd-limit", fd_limit().to_string()),
    ])
}

/// A pod's flags: every address bound on the pod's fixed ports, the pod's
/// IP announced, the genesis as content, the key files where the Secret is
/// mounted. The open-files limit is the image's entrypoint's to set: only
/// the container knows its own limit.
fn pod_flags(genesis: &[u8]) -> Flags {
    use base64::Engine as _;
    let secret = |relative: &str| format!("{POD_SECRETS}/{relative}");
    flags_of([
        (
            "genesis-file-content",
            base64::engine::general_purpose::STANDARD.encode(genesis),
        ),
        ("data-dir", POD_DATA.into()),
        ("http-host", "0.0.0.0".into()),
        ("http-port", POD_PORTS[0].to_string()),
        // Reached by pod IP, port-forward or an ingress host.
        ("http-allowed-hosts", "*".into()),
        ("staking-port", POD_PORTS[1].to_string()),
        ("public-ip", POD_IP.into()),
        ("staking-tls-cert-file", secret(CERT_FILE)),
        ("staking-tls-key-file", secret(KEY_FILE)),
        ("staking-signer-key-file", secret(SIGNER_FILE)),
    ])
}

/// The environment variable avalanchego reads a flag from.
fn env_name(flag: &str) -> String {
    format!("AVAGO_{}", flag.to_ascii_uppercase().replace('-', "_"))
}

impl PodDaemon for Avalanchego {
    fn profile(&self) -> PodProfile {
        PodProfile::new(IMAGE, POD_PORTS[0], POD_PORTS[1])
            .with_data_path(POD_DATA)
            .with_secrets(POD_SECRETS, POD_GROUP)
            // Ready once serving: a validator is healthy only when most of
            // the others are up, and they start after it.
            .with_readiness_path("/ext/health/liveness")
            .with_metrics_path("/ext/metrics")
    }

    fn args(&self, _flags: &Flags) -> Vec<String> {
        Vec::new()
    }

    fn env(&self, flags: &Flags) -> Vec<(String, String)> {
        flags
            .iter()
            .map(|(name, value)| (env_name(name), value.clone()))
            .collect()
    }
}

/// The names of the failing checks in a health reply, with their errors.
fn failing_checks(body: &serde_json::Value) -> String {
    let failing: Vec<String> = body["checks"]
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(name, check)| {
            let error = check.get("error")?;
            let text = error.get("message").unwrap_or(error);
            Some(format!(
                "{name}: {}",
                text.as_str().unwrap_or(&text.to_string())
            ))
        })
        .collect();
    if failing.is_empty() {
        "no failing check named".into()
    } else {
        failing.join("; ")
    }
}

impl LocalDaemon for Avalanchego {
    fn binary_name(&self) -> &str {
        "avalanchego"
    }

    fn known_locations(&self) -> Vec<PathBuf> {
        std::env::var_os(PATH_ENV)
            .map(PathBuf::from)
            .into_iter()
            .collect()
    }

    fn install_hint(&self) -> &str {
        "build it with `scripts/avalanchego-build.sh` (it prints the directory of the binary) and give its path with --node-path or TMPNET_AVALANCHEGO_PATH"
    }

    fn port_discovery(&self) -> PortDiscovery {
        PortDiscovery::Reported
    }

    fn argv(&self, flags_file: &Path, _flags: &Flags) -> Vec<OsString> {
        vec!["--config-file".into(), flags_file.as_os_str().to_owned()]
    }

    fn api_port_flag(&self) -> &str {
        "http-port"
    }

    fn reported_endpoint(&self, node: &Node, _log_since_start: &str) -> Option<Endpoint> {
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Report {
            uri: String,
            staking_address: String,
        }
        let text = std::fs::read_to_string(node.dir.join(REPORT_FILE)).ok()?;
        let report: Report = serde_json::from_str(&text).ok()?;
        Some(Endpoint::new(report.uri, report.staking_address))
    }

    fn prepare(&self, node: &Node, _flags: &Flags) -> Result<()> {
        files::create_dir_all(&node.db_dir())?;
        // The previous run's report must not be read as this one's.
        files::remove_if_exists(&node.dir.join(REPORT_FILE))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::compose_flags;

    #[test]
    fn nodes_get_their_identity_and_the_network_a_genesis_of_them() {
        let dir = tempfile::tempdir().unwrap();
        let nodes: Vec<Node> = (0..3)
            .map(|i| Node::create(dir.path(), Avalanchego.new_node(i).unwrap()).unwrap())
            .collect();
        Avalanchego.init_network(dir.path(), &nodes).unwrap();
        let genesis: serde_json::Value = files::read_json(&dir.path().join(GENESIS_FILE)).unwrap();
        let stakers: Vec<&str> = genesis["initialStakers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["nodeID"].as_str().unwrap())
            .collect();
        let ids: Vec<&str> = nodes.iter().map(Node::id).collect();
        assert_eq!(stakers, ids);
        use std::os::unix::fs::PermissionsExt;
        for node in &nodes {
            assert!(node.id().starts_with("NodeID-"));
            let cert = std::fs::read_to_string(node.dir.join(CERT_FILE)).unwrap();
            assert!(cert.starts_with("-----BEGIN CERTIFICATE-----"), "{cert}");
            for file in [CERT_FILE, KEY_FILE, SIGNER_FILE] {
                let mode = std::fs::metadata(node.dir.join(file))
                    .unwrap()
                    .permissions()
                    .mode();
                assert_eq!(mode & 0o777, 0o600, "{file}");
            }
        }
        let keys = funded_keys(dir.path()).unwrap();
        assert_eq!(keys.len(), FUNDED_KEY_COUNT);
        let c: serde_json::Value =
            serde_json::from_str(genesis["cChainGenesis"].as_str().unwrap()).unwrap();
        for key in &keys {
            assert!(c["alloc"].get(key.c_address()).is_some());
        }
        let mode = std::fs::metadata(dir.path().join(FUNDED_KEYS_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn flags_point_at_the_identity_and_bootstrap_from_started_peers() {
        let dir = tempfile::tempdir().unwrap();
        let nodes: Vec<Node> = (0..2)
            .map(|i| Node::create(dir.path(), Avalanchego.new_node(i).unwrap()).unwrap())
            .collect();
        Avalanchego.init_network(dir.path(), &nodes).unwrap();
        let peers = [Peer {
            node_id: nodes[0].id().to_owned(),
            p2p_address: "127.0.0.1:9651".into(),
        }];
        let network = flags_of([("http-port", "9650"), ("index-enabled", "false")]);
        let launch = LaunchContext {
            placement: Placement::Local,
            network_dir: dir.path(),
            node: &nodes[1],
            peers: &peers,
            members: &[],
        };
        let flags = compose_flags(&Avalanchego, &network, &launch).unwrap();
        assert_eq!(flags["http-port"], "0", "the node chooses its ports");
        assert_eq!(flags["index-enabled"], "false", "user flags pass through");
        assert_eq!(flags["bootstrap-ids"], nodes[0].id());
        assert_eq!(flags["bootstrap-ips"], "127.0.0.1:9651");
        assert_eq!(flags["network-id"], "88888");
        assert!(
            !flags.contains_key("sybil-protection-enabled"),
            "2 validators"
        );
        let argv = Avalanchego.argv(Path::new("/n/flags.json"), &flags);
        assert_eq!(
            argv,
            vec![OsString::from("--config-file"), "/n/flags.json".into()]
        );

        let keys = funded_keys(dir.path()).unwrap();
        let secret = identity::hex0x(&keys[0].secret_bytes());
        let flags_text = serde_json::to_string(&flags).unwrap();
        assert!(!flags_text.contains(&secret[2..]), "no key in the flags");
    }

    #[test]
    fn one_validator_runs_without_sybil_protection() {
        let dir = tempfile::tempdir().unwrap();
        let node = Node::create(dir.path(), Avalanchego.new_node(0).unwrap()).unwrap();
        Avalanchego
            .init_network(dir.path(), std::slice::from_ref(&node))
            .unwrap();
        let launch = LaunchContext {
            placement: Placement::Local,
            network_dir: dir.path(),
            node: &node,
            peers: &[],
            members: &[],
        };
        let flags = compose_flags(&Avalanchego, &Flags::new(), &launch).unwrap();
        assert_eq!(flags["sybil-protection-enabled"], "false");
        assert_eq!(flags["bootstrap-ids"], "");
    }

    #[test]
    fn the_endpoint_comes_from_the_nodes_report_and_a_stale_one_is_removed() {
        let dir = tempfile::tempdir().unwrap();
        let node = Node::create(dir.path(), Avalanchego.new_node(0).unwrap()).unwrap();
        assert!(Avalanchego.reported_endpoint(&node, "").is_none());
        std::fs::write(
            node.dir.join(REPORT_FILE),
            r#"{"pid":7,"uri":"http://127.0.0.1:4100","stakingAddress":"127.0.0.1:4101"}"#,
        )
        .unwrap();
        let e = Avalanchego.reported_endpoint(&node, "").unwrap();
        assert_eq!(
            (e.uri.as_str(), e.p2p_address.as_str()),
            ("http://127.0.0.1:4100", "127.0.0.1:4101")
        );
        Avalanchego.prepare(&node, &Flags::new()).unwrap();
        assert!(Avalanchego.reported_endpoint(&node, "").is_none());
    }

    #[test]
    fn unhealthy_replies_name_the_failing_checks() {
        let body = serde_json::json!({"checks": {
            "bootstrapped": {"error": {"message": "not yet bootstrapped"}},
            "network": {"message": {"connectedPeers": 4}},
        }, "healthy": false});
        assert_eq!(failing_checks(&body), "bootstrapped: not yet bootstrapped");
        assert_eq!(
            failing_checks(&serde_json::json!({})),
            "no failing check named"
        );
    }
}
