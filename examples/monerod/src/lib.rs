//! A small client of monerod's RPC for the suite in `tests/monerod/`. The
//! node kind itself is not Rust: it is `monerod.toml`, a kind file the
//! stock `tmpnetctl` runs as well (`--kind-file examples/monerod/monerod.toml`).

use std::time::Duration;

/// Any valid mainnet-format address can receive regtest block rewards.
pub const MINER_ADDRESS: &str = "42ey1afDFnn4886T7196doS9GPMzexD9gXpsZJDwVjeRVdFCSoHnv7KPbBeGpzJBzHRCAs9UxqeoyFQMYbqSWYTfJJQAWDm";

/// What `get_info` says of a node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Info {
    /// Blocks in its chain (the genesis block counts: a new chain has 1).
    pub height: u64,
    /// The hash of its top block.
    pub top_block_hash: String,
    /// Its peer connections, in and out.
    pub connections: u64,
}

/// A client of one node's RPC.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    uri: String,
}

impl Client {
    /// A client of the node at `uri`.
    pub fn new(uri: impl Into<String>) -> Self {
        Client {
            http: reqwest::Client::builder()
                .no_proxy()
                .timeout(Duration::from_secs(60))
                .build()
                .unwrap_or_default(),
            uri: uri.into(),
        }
    }

    async fn json(&self, request: reqwest::RequestBuilder) -> Result<serde_json::Value, String> {
        let resp = request
            .send()
            .await
            .map_err(|e| format!("{}: {e}", self.uri))?;
        resp.json()
            .await
            .map_err(|e| format!("{}: no JSON: {e}", self.uri))
    }

    /// The node's height, top block and connections.
    pub async fn info(&self) -> Result<Info, String> {
        let v = self
            .json(self.http.get(format!("{}/get_info", self.uri)))
            .await?;
        let count = |k: &str| v[k].as_u64().unwrap_or_default();
        Ok(Info {
            height: count("height"),
            top_block_hash: v["top_block_hash"].as_str().unwrap_or_default().to_owned(),
            connections: count("incoming_connections_count") + count("outgoing_connections_count"),
        })
    }

    /// Mines `blocks` blocks on this node; returns the new top block's hash.
    pub async fn generate_blocks(&self, blocks: u64) -> Result<String, String> {
        let body = serde_json::json!({
            "jsonrpc": "2.0", "id": "0", "method": "generateblocks",
            "params": {"amount_of_blocks": blocks, "wallet_address": MINER_ADDRESS},
        });
        let v = self
            .json(self.http.post(format!("{}/json_rpc", self.uri)).json(&body))
            .await?;
        v["result"]["blocks"]
            .as_array()
            .and_then(|b| b.last())
            .and_then(|h| h.as_str())
            .map(str::to_owned)
            .ok_or_else(|| format!("{}: generateblocks answered {v}", self.uri))
    }
}
