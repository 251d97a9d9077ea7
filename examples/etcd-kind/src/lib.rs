//! etcd as a node kind, defined outside the library the way any user
//! defines a kind for a daemon of their own: implement
//! [`NodeKind`] (what every daemon needs) and [`LocalDaemon`] (how it runs
//! as a local process), then register it with
//! [`tmpnet_fixture::register_kind!`]. Every program linking this crate
//! (its test binaries, each nextest test process) then finds the kind by
//! name: `--node-kind etcd`, `E2E_NODE_KIND=etcd`, or
//! `tmpnet_fixture::main!(node_kind = "etcd")`.
//!
//! etcd is a Raft cluster, not a blockchain. Its members must be given the
//! whole initial membership before any of them starts, so the kind asks for
//! allocated ports ([`PortDiscovery::PreAllocated`]): every address is then
//! known up front and [`LaunchContext::members`] lists them all.
//!
//! Install it with `apt-get install etcd-server` (Debian).

use std::ffi::OsString;
use std::path::Path;

use base64::Engine as _;
use tmpnet_fixture::kinds::{
    flags_of, node_with_random_id, HealthContext, LaunchContext, LocalDaemon, NodeKind, Placement,
    PortDiscovery,
};
use tmpnet_fixture::model::{Endpoint, Flags, Health, Node, NodeConfig};
use tmpnet_fixture::{Error, Result};

/// The kind's name.
pub const NAME: &str = "etcd";

/// The ports allocated per member: the client API first (the node's URI),
/// then the Raft peer port.
const PORTS: [&str; 2] = ["client", "peer"];

/// The etcd kind.
#[derive(Debug, Clone, Copy, Default)]
pub struct Etcd;

tmpnet_fixture::register_kind!(Etcd);

fn port(node: &Node, name: &str) -> Option<u16> {
    node.config.ports.get(name).copied()
}

#[tmpnet_fixture::async_trait]
impl NodeKind for Etcd {
    fn name(&self) -> &str {
        NAME
    }

    fn new_node(&self, index: usize) -> Result<NodeConfig> {
        Ok(node_with_random_id("etcd", index))
    }

    fn default_flags(&self, _: Placement) -> Flags {
        // Structured logs on stderr, which the harness keeps in the node's
        // logs/main.log.
        flags_of([("logger", "zap"), ("log-outputs", "stderr")])
    }

    fn forced_flags(&self, launch: &LaunchContext<'_>) -> Result<Flags> {
        let node = launch.node;
        let url = |p: Option<u16>| format!("http://127.0.0.1:{}", p.unwrap_or_default());
        if launch.members.is_empty() {
            return Err(Error::InvalidInput(format!(
                "etcd member {} needs the whole membership up front; start it as part of its network (an etcd cluster takes no ephemeral nodes)",
                node.id()
            )));
        }
        let cluster = launch
            .members
            .iter()
            .map(|m| format!("{}=http://{}", m.node_id, m.p2p_address))
            .collect::<Vec<_>>()
            .join(",");
        let token = launch
            .network_dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        Ok(flags_of([
            ("name", node.id().to_owned()),
            ("data-dir", node.dir.join("data").display().to_string()),
            ("listen-client-urls", url(port(node, "client"))),
            ("advertise-client-urls", url(port(node, "client"))),
            ("listen-peer-urls", url(port(node, "peer"))),
            ("initial-advertise-peer-urls", url(port(node, "peer"))),
            ("initial-cluster", cluster),
            ("initial-cluster-state", "new".to_owned()),
            ("initial-cluster-token", token),
        ]))
    }

    fn is_fatal_log_line(&self, line: &str) -> bool {
        line.contains("\"level\":\"fatal\"") || line.contains("\"level\":\"panic\"")
    }

    async fn check_health(&self, ctx: &HealthContext<'_>) -> Health {
        // `/health` is true only once the member sees a leader.
        let url = format!("{}/health", ctx.endpoint.uri);
        match ctx.http.get(&url).send().await {
            Ok(resp) => match resp.json::<serde_json::Value>().await {
                Ok(body) if body["health"] == "true" => Health::Healthy,
                Ok(body) => Health::Unhealthy(format!("{url} says {body}")),
                Err(e) => Health::Unhealthy(format!("{url} answered no JSON: {e}")),
            },
            Err(e) => Health::Unhealthy(format!("no answer from {url}: {e}")),
        }
    }

    fn local(&self) -> Option<&dyn LocalDaemon> {
        Some(self)
    }
}

impl LocalDaemon for Etcd {
    fn binary_name(&self) -> &str {
        "etcd"
    }

    fn install_hint(&self) -> &str {
        "install it with `apt-get install etcd-server`"
    }

    fn port_discovery(&self) -> PortDiscovery {
        PortDiscovery::PreAllocated(PORTS.map(String::from).to_vec())
    }

    fn argv(&self, _flags_file: &Path, flags: &Flags) -> Vec<OsString> {
        flags
            .iter()
            .map(|(name, value)| OsString::from(format!("--{name}={value}")))
            .collect()
    }

    fn api_port_flag(&self) -> &str {
        // Allocated ports are kept in the node's config already.
        ""
    }

    fn endpoint(&self, node: &Node) -> Option<Endpoint> {
        Some(Endpoint::new(
            format!("http://127.0.0.1:{}", port(node, "client")?),
            format!("127.0.0.1:{}", port(node, "peer")?),
        ))
    }

    fn is_port_conflict(&self, log_tail: &[String]) -> bool {
        log_tail
            .iter()
            .any(|l| l.contains("address already in use"))
    }
}

/// A client of one member's v3 JSON API (the grpc-gateway).
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    uri: String,
}

fn b64(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text)
}

impl Client {
    /// A client of the member at `uri`.
    pub fn new(uri: impl Into<String>) -> Self {
        Client {
            http: reqwest::Client::builder()
                .no_proxy()
                .timeout(std::time::Duration::from_secs(5))
                .build()
                .unwrap_or_default(),
            uri: uri.into(),
        }
    }

    async fn call(&self, path: &str, body: serde_json::Value) -> Result<serde_json::Value, String> {
        let url = format!("{}{path}", self.uri);
        let resp = self
            .http
            .post(&url)
            .json(&body)
            .send()
            .await
            .map_err(|e| format!("{url}: {e}"))?;
        let status = resp.status();
        let body: serde_json::Value = resp.json().await.map_err(|e| format!("{url}: {e}"))?;
        if !status.is_success() {
            return Err(format!("{url}: HTTP {status}: {body}"));
        }
        Ok(body)
    }

    /// Writes `key = value` (through Raft: it returns once committed).
    pub async fn put(&self, key: &str, value: &str) -> Result<(), String> {
        self.call(
            "/v3/kv/put",
            serde_json::json!({"key": b64(key), "value": b64(value)}),
        )
        .await
        .map(drop)
    }

    /// Reads `key` from this member's own copy (a serializable read, not
    /// forwarded to the leader), so a value seen here has reached it.
    pub async fn get_local(&self, key: &str) -> Result<Option<String>, String> {
        let body = self
            .call(
                "/v3/kv/range",
                serde_json::json!({"key": b64(key), "serializable": true}),
            )
            .await?;
        let Some(value) = body["kvs"][0]["value"].as_str() else {
            return Ok(None);
        };
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(value)
            .map_err(|e| format!("bad base64 from etcd: {e}"))?;
        Ok(Some(String::from_utf8_lossy(&bytes).into_owned()))
    }

    /// The names of the cluster's members, as this member sees them.
    pub async fn member_names(&self) -> Result<Vec<String>, String> {
        let body = self
            .call("/v3/cluster/member/list", serde_json::json!({}))
            .await?;
        let mut names: Vec<String> = body["members"]
            .as_array()
            .map(|ms| {
                ms.iter()
                    .filter_map(|m| m["name"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        Ok(names)
    }

    /// The id of the leader this member follows (0 when it knows none).
    pub async fn leader(&self) -> Result<String, String> {
        let body = self
            .call("/v3/maintenance/status", serde_json::json!({}))
            .await?;
        Ok(body["leader"].as_str().unwrap_or("0").to_owned())
    }
}
