//! Test helpers for avalanchego networks: a client of each node's APIs
//! (reached from here: loopback, port-forward or pod IP), and waiting until
//! every node agrees on a C-Chain balance.

use std::time::Duration;

use crate::error::{Error, Result};
pub use crate::kinds::avalanchego::api::Api;
use crate::model::Node;
use crate::network::Network;
use crate::sys::deadline_after;

/// A client of a running node of `network`.
pub async fn api(network: &Network, node: &Node) -> Result<Api> {
    let uri = super::reachable_uri(network, node, "API").await?;
    Api::new(&uri)
}

/// Clients of every bootstrap node of `network`, in bootstrap order.
pub async fn apis(network: &Network) -> Result<Vec<Api>> {
    let mut all = Vec::new();
    for node in network.nodes() {
        all.push(api(network, &node).await?);
    }
    Ok(all)
}

/// Waits until every client's node reports `balance` wei for `address` on
/// the C-Chain. On timeout the error names each node's last balance.
pub async fn wait_for_balance(
    apis: &[Api],
    address: &str,
    balance: u128,
    timeout: Duration,
) -> Result<()> {
    let deadline = deadline_after(timeout);
    loop {
        let mut seen = Vec::with_capacity(apis.len());
        for api in apis {
            seen.push(api.c_balance(address).await.map_err(|e| e.to_string()));
        }
        if seen.iter().all(|b| b.as_ref() == Ok(&balance)) {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            let last: Vec<String> = apis
                .iter()
                .zip(&seen)
                .map(|(api, b)| match b {
                    Ok(b) => format!("{} has {b}", api.uri()),
                    Err(e) => format!("{}: {e}", api.uri()),
                })
                .collect();
            return Err(Error::Timeout {
                what: format!("every node reporting {balance} wei for {address}"),
                timeout,
                last: Some(last.join(", ")),
            });
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
