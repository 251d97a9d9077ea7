//! The example end-to-end suite: copy this crate to start your own.
//!
//! The tests live in `tests/e2e/` and run under the tmpnet harness
//! (`harness = false` in `Cargo.toml`). This library holds what tests share:
//! here, a small client for the reference node's key-value API. A suite for
//! another daemon puts its own client here.

use std::time::Duration;

use tmpnet_fixture::helpers::wait_until;
use tmpnet_fixture::{Network, TestResult};

/// Fails, naming the node, unless every node of `network` is healthy.
pub async fn all_healthy(network: &Network) -> TestResult {
    let status = network.check_health().await?;
    match status.iter().find(|s| !s.is_healthy()) {
        Some(s) => Err(format!("{} is {}", s.id, s.health).into()),
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
    pub async fn put(&self, key: &str, value: &str) -> TestResult {
        let url = format!("{}/ext/kv/{key}", self.uri);
        let resp = self.http.put(&url).body(value.to_owned()).send().await?;
        if !resp.status().is_success() {
            return Err(format!("PUT {url}: HTTP {}", resp.status()).into());
        }
        Ok(())
    }

    /// The value under `key`, or `None` if the node has none.
    pub async fn get(&self, key: &str) -> TestResult<Option<String>> {
        let url = format!("{}/ext/kv/{key}", self.uri);
        let resp = self.http.get(&url).send().await?;
        match resp.status().as_u16() {
            200 => Ok(Some(resp.text().await?)),
            404 => Ok(None),
            status => Err(format!("GET {url}: HTTP {status}").into()),
        }
    }

    /// Waits up to `timeout` for `key` to hold `expected` on this node.
    pub async fn wait_for(&self, key: &str, expected: &str, timeout: Duration) -> TestResult {
        let what = format!("{} holding {key}={expected}", self.uri);
        wait_until(&what, timeout, || async {
            self.get(key).await.map(|v| v.as_deref() == Some(expected))
        })
        .await?;
        Ok(())
    }
}
