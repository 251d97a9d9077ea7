//! A JSON-RPC client for bitcoind-family nodes: mine blocks, read heights
//! and peers. Helpers that take a whole network are in
//! [`crate::helpers::bitcoind`].

use std::path::Path;

use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};

use super::Credentials;
use crate::error::{Error, Result};
use crate::kinds::jsonrpc;

/// A peer as reported by `getpeerinfo`.
#[derive(Debug, Clone, Deserialize)]
#[non_exhaustive]
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

    /// Calls `method` with positional `params`.
    pub async fn call<T: DeserializeOwned>(&self, method: &str, params: &[Value]) -> Result<T> {
        let body = json!({"jsonrpc": "1.0", "id": "tmpnet", "method": method, "params": params});
        let request = self
            .http
            .post(&self.url)
            .basic_auth(&self.credentials.user, Some(&self.credentials.password))
            // bitcoind's shutdown waits for open HTTP connections to close,
            // so an idle pooled connection would stall every stop.
            .header(reqwest::header::CONNECTION, "close")
            .json(&body);
        let result = jsonrpc::send(request, &self.url, method).await?;
        serde_json::from_value(result).map_err(|e| Error::Rpc {
            url: self.url.clone(),
            method: method.to_owned(),
            message: format!("unexpected result: {e}"),
        })
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
