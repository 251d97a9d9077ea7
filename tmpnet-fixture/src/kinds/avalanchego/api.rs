//! A client of one avalanchego node's APIs, for tests: its id and peers
//! (`/ext/info`), the validators (`/ext/bc/P`), C-Chain balances and
//! transfers (`/ext/bc/C/rpc`). Helpers that take a whole network are in
//! [`crate::helpers::avalanchego`].

use std::time::Duration;

use serde_json::{json, Value};

use super::cchain::{parse_address, Transfer};
use super::genesis::FundedKey;
use crate::error::{Error, Result};
use crate::kinds::jsonrpc;

/// The C-Chain's Ethereum JSON-RPC path.
const C_CHAIN: &str = "/ext/bc/C/rpc";

/// A client of one node's APIs.
#[derive(Debug, Clone)]
pub struct Api {
    http: reqwest::Client,
    uri: String,
}

impl Api {
    /// A client of the node whose API base URI is `uri`
    /// (`http://host:port`), with a 30 s limit per call.
    pub fn new(uri: &str) -> Result<Api> {
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(Error::HttpClient)?;
        Ok(Api {
            http,
            uri: uri.trim_end_matches('/').to_owned(),
        })
    }

    /// The node's API base URI.
    pub fn uri(&self) -> &str {
        &self.uri
    }

    /// Calls JSON-RPC `method` at `path` (e.g. `/ext/info`) with `params`.
    pub async fn call(&self, path: &str, method: &str, params: Value) -> Result<Value> {
        let url = format!("{}{path}", self.uri);
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
        jsonrpc::send(self.http.post(&url).json(&body), &url, method).await
    }

    /// The node's own id (`info.getNodeID`).
    pub async fn node_id(&self) -> Result<String> {
        let reply = self.call("/ext/info", "info.getNodeID", json!({})).await?;
        self.text_of(&reply["nodeID"], "/ext/info", "info.getNodeID")
    }

    /// The ids of the peers the node is connected to, sorted.
    pub async fn peers(&self) -> Result<Vec<String>> {
        let reply = self.call("/ext/info", "info.peers", json!({})).await?;
        self.sorted_ids(&reply["peers"], "/ext/info", "info.peers")
    }

    /// The ids of the primary network's current validators, sorted.
    pub async fn validators(&self) -> Result<Vec<String>> {
        let reply = self
            .call("/ext/bc/P", "platform.getCurrentValidators", json!({}))
            .await?;
        self.sorted_ids(
            &reply["validators"],
            "/ext/bc/P",
            "platform.getCurrentValidators",
        )
    }

    /// Calls an Ethereum JSON-RPC method on the C-Chain and reads a
    /// quantity (`0x...`) from its reply.
    async fn c_quantity(&self, method: &str, params: Value) -> Result<u128> {
        let reply = self.call(C_CHAIN, method, params).await?;
        reply
            .as_str()
            .and_then(|t| u128::from_str_radix(t.trim_start_matches("0x"), 16).ok())
            .ok_or_else(|| self.unexpected(C_CHAIN, method, "a quantity", &reply))
    }

    /// The C-Chain balance of `address` (`0x...`), in wei.
    pub async fn c_balance(&self, address: &str) -> Result<u128> {
        self.c_quantity("eth_getBalance", json!([address, "latest"]))
            .await
    }

    /// Signs a transfer of `value` wei from `from` to `to` (`0x...`) on the
    /// C-Chain, at twice the node's gas price, and sends it to this node;
    /// returns the transaction hash.
    pub async fn send_transfer(&self, from: &FundedKey, to: &str, value: u128) -> Result<String> {
        let chain_id = self.c_quantity("eth_chainId", json!([])).await?;
        let nonce = self
            .c_quantity(
                "eth_getTransactionCount",
                json!([from.c_address(), "latest"]),
            )
            .await?;
        let transfer = Transfer {
            chain_id: u64::try_from(chain_id).unwrap_or(u64::MAX),
            nonce: u64::try_from(nonce).unwrap_or(u64::MAX),
            gas_price: 2 * self.c_quantity("eth_gasPrice", json!([])).await?,
            to: parse_address(to)?,
            value,
        };
        let raw = transfer.sign(from)?;
        let hash = self
            .call(C_CHAIN, "eth_sendRawTransaction", json!([raw]))
            .await?;
        self.text_of(&hash, C_CHAIN, "eth_sendRawTransaction")
    }

    /// The error for a reply of `method` at `path` that is not `expected`.
    fn unexpected(&self, path: &str, method: &str, expected: &str, got: &Value) -> Error {
        Error::Rpc {
            url: format!("{}{path}", self.uri),
            method: method.to_owned(),
            message: format!("expected {expected}, got {got}"),
        }
    }

    fn text_of(&self, value: &Value, path: &str, method: &str) -> Result<String> {
        value
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| self.unexpected(path, method, "a string", value))
    }

    /// The sorted `nodeID`s of a reply's list.
    fn sorted_ids(&self, list: &Value, path: &str, method: &str) -> Result<Vec<String>> {
        let entries = list
            .as_array()
            .ok_or_else(|| self.unexpected(path, method, "a list", list))?;
        let mut ids: Vec<String> = entries
            .iter()
            .filter_map(|e| e["nodeID"].as_str().map(str::to_owned))
            .collect();
        ids.sort();
        Ok(ids)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_lists_are_sorted_and_a_reply_that_is_no_list_is_named() {
        let api = Api::new("http://127.0.0.1:9650/").unwrap();
        let list = json!([{"nodeID": "NodeID-b"}, {"nodeID": "NodeID-a"}]);
        assert_eq!(
            api.sorted_ids(&list, "/ext/info", "info.peers").unwrap(),
            ["NodeID-a", "NodeID-b"]
        );
        let err = api
            .sorted_ids(&json!(null), "/ext/info", "info.peers")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("info.peers")
                && err.contains("a list")
                && err.contains("http://127.0.0.1:9650/ext/info"),
            "{err}"
        );
    }
}
