//! A JSON-RPC client for bitcoind-family nodes, and the test helpers built
//! on it: mine blocks, read heights, wait until all nodes share one tip.

use std::path::Path;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};

use super::Credentials;
use crate::error::{Error, Result};
use crate::network::Network;
use crate::node::Node;

/// A peer as reported by `getpeerinfo`.
#[derive(Debug, Clone, Deserialize)]
pub struct PeerInfo {
    /// `host:port`; for outbound peers, the address dialled.
    pub addr: String,
    /// Whether the peer dialled us.
    pub inbound: bool,
}

/// A JSON-RPC client for one node.
#[derive(Debug, Clone)]
pub struct Rpc {
    http: reqwest::Client,
    url: String,
    credentials: Credentials,
}

impl Rpc {
    /// A client for the node at `url`, with the credentials of the network
    /// in `network_dir`.
    pub fn new(http: reqwest::Client, url: &str, network_dir: &Path) -> Result<Rpc> {
        Ok(Rpc {
            http,
            url: url.to_owned(),
            credentials: Credentials::load(network_dir)?,
        })
    }

    /// A client for a running node of `network`.
    pub async fn for_node(network: &Network, node: &Node) -> Result<Rpc> {
        let url = network
            .runtime()
            .accessible_uri(node)
            .await?
            .ok_or_else(|| Error::NotRunning {
                node: node.id().to_owned(),
                detail: "it has no RPC endpoint".into(),
                log_tail: Vec::new(),
            })?;
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| Error::InvalidInput(format!("cannot build an HTTP client: {e}")))?;
        Rpc::new(http, &url, network.dir())
    }

    /// Calls `method` with positional `params`.
    pub async fn call<T: DeserializeOwned>(&self, method: &str, params: &[Value]) -> Result<T> {
        let rpc_error = |message: String| Error::Rpc {
            url: self.url.clone(),
            method: method.to_owned(),
            message,
        };
        let body = json!({"jsonrpc": "1.0", "id": "tmpnet", "method": method, "params": params});
        let resp = self
            .http
            .post(&self.url)
            .basic_auth(&self.credentials.user, Some(&self.credentials.password))
            // bitcoind's shutdown waits for open HTTP connections to close,
            // so an idle pooled connection would stall every stop.
            .header(reqwest::header::CONNECTION, "close")
            .json(&body)
            .send()
            .await
            .map_err(|e| rpc_error(e.to_string()))?;
        let status = resp.status();
        let text = resp.text().await.map_err(|e| rpc_error(e.to_string()))?;
        let value: Value = serde_json::from_str(&text)
            .map_err(|_| rpc_error(format!("HTTP {status}: {}", text.trim())))?;
        if let Some(err) = value.get("error").filter(|e| !e.is_null()) {
            let message = err
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("unknown error");
            return Err(rpc_error(message.to_owned()));
        }
        serde_json::from_value(value.get("result").cloned().unwrap_or(Value::Null))
            .map_err(|e| rpc_error(format!("unexpected result: {e}")))
    }

    /// The node's peers.
    pub async fn peers(&self) -> Result<Vec<PeerInfo>> {
        self.call("getpeerinfo", &[]).await
    }

    /// Dials `address` once now (`addnode <address> onetry`).
    pub async fn add_node_once(&self, address: &str) -> Result<()> {
        self.call::<Value>("addnode", &[json!(address), json!("onetry")])
            .await
            .map(|_| ())
    }

    /// Mines `blocks` blocks (to an anyone-can-spend script, so no wallet is
    /// needed); returns their hashes.
    pub async fn mine(&self, blocks: u64) -> Result<Vec<String>> {
        self.call("generatetodescriptor", &[json!(blocks), json!("raw(51)")])
            .await
    }

    /// Mines `blocks` blocks paying `address`.
    pub async fn mine_to(&self, blocks: u64, address: &str) -> Result<Vec<String>> {
        self.call("generatetoaddress", &[json!(blocks), json!(address)])
            .await
    }

    /// The current height.
    pub async fn height(&self) -> Result<u64> {
        self.call("getblockcount", &[]).await
    }

    /// The hash of the tip.
    pub async fn tip(&self) -> Result<String> {
        self.call("getbestblockhash", &[]).await
    }

    /// Transaction ids in the mempool.
    pub async fn mempool(&self) -> Result<Vec<String>> {
        self.call("getrawmempool", &[]).await
    }
}

/// Waits until every running node of `network` has the same height and tip;
/// returns them. On timeout the error lists each node's height.
pub async fn wait_for_same_tip(network: &Network, timeout: Duration) -> Result<(u64, String)> {
    let mut clients = Vec::new();
    for node in network.nodes() {
        clients.push((node.id().to_owned(), Rpc::for_node(network, node).await?));
    }
    let deadline = crate::network::deadline_after(timeout);
    loop {
        let mut tips = Vec::with_capacity(clients.len());
        for (id, rpc) in &clients {
            tips.push((id.as_str(), rpc.height().await?, rpc.tip().await?));
        }
        let (_, height, tip) = &tips[0];
        if tips.iter().all(|(_, h, t)| h == height && t == tip) {
            return Ok((*height, tip.clone()));
        }
        if tokio::time::Instant::now() >= deadline {
            let seen: Vec<String> = tips
                .iter()
                .map(|(id, h, _)| format!("{id} at {h}"))
                .collect();
            return Err(Error::InvalidInput(format!(
                "nodes did not reach the same tip within {timeout:?}: {}",
                seen.join(", ")
            )));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
