//! The example end-to-end suite: copy this crate to start your own.
//!
//! The tests live in `tests/e2e/` and run under the tmpnet harness
//! (`harness = false` in `Cargo.toml`). This library holds what tests share:
//! here, a small client for the reference node's key-value API. A suite for
//! another daemon puts its own client here.

use std::time::Duration;

use tmpnet_fixture::Network;

/// Fails, naming the node, unless every node of `network` is healthy.
pub async fn all_healthy(network: &Network) -> Result<(), String> {
    let health = network.check_health().await.map_err(|e| e.to_string())?;
    match health.iter().find(|(_, h)| !h.is_healthy()) {
        Some((node, h)) => Err(format!("{node} is {h}")),
        None => Ok(()),
    }
}

/// A client for one refnode's HTTP API.
#[derive(Debug, Clone)]
pub struct KvClient {
    http: reqwest::Client,
    uri: String,
}

impl KvClient {
    /// A client for the node at `uri` (e.g. from `env.node_uris()`).
    pub fn new(uri: &str) -> KvClient {
        KvClient {
            http: reqwest::Client::builder()
                .no_proxy()
                .timeout(Duration::from_secs(5))
                .build()
                .unwrap_or_default(),
            uri: uri.to_owned(),
        }
    }

    /// Writes `value` under `key`.
    pub async fn put(&self, key: &str, value: &str) -> Result<(), String> {
        let resp = self
            .http
            .put(format!("{}/ext/kv/{key}", self.uri))
            .body(value.to_owned())
            .send()
            .await
            .map_err(|e| format!("PUT {key} on {}: {e}", self.uri))?;
        if resp.status().is_success() {
            Ok(())
        } else {
            Err(format!("PUT {key} on {}: HTTP {}", self.uri, resp.status()))
        }
    }

    /// The value under `key`, or `None` if the node has none.
    pub async fn get(&self, key: &str) -> Result<Option<String>, String> {
        let resp = self
            .http
            .get(format!("{}/ext/kv/{key}", self.uri))
            .send()
            .await
            .map_err(|e| format!("GET {key} on {}: {e}", self.uri))?;
        match resp.status().as_u16() {
            200 => resp.text().await.map(Some).map_err(|e| e.to_string()),
            404 => Ok(None),
            status => Err(format!("GET {key} on {}: HTTP {status}", self.uri)),
        }
    }

    /// Waits up to `timeout` for `key` to hold `expected` on this node.
    pub async fn wait_for(
        &self,
        key: &str,
        expected: &str,
        timeout: Duration,
    ) -> Result<(), String> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if self.get(key).await?.as_deref() == Some(expected) {
                return Ok(());
            }
            if tokio::time::Instant::now() > deadline {
                return Err(format!(
                    "{} did not see {key}={expected} within {timeout:?}",
                    self.uri
                ));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
