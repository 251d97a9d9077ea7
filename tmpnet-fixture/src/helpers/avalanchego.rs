//! Test helpers for avalanchego networks: a client of each node's APIs
//! (reached from here: loopback, port-forward or pod IP), and waiting until
//! every node agrees on a C-Chain balance.

use std::time::Duration;

use crate::error::Result;
pub use crate::kinds::avalanchego::api::Api;
use crate::network::{Network, NodeHandle};

/// A client of a running node's APIs.
pub async fn api(node: &NodeHandle) -> Result<Api> {
    let uri = super::reachable_uri(node, "API").await?;
    Api::new(&uri)
}

/// Clients of every bootstrap node of `network`, in bootstrap order.
pub async fn apis(network: &Network) -> Result<Vec<Api>> {
    let mut all = Vec::new();
    for node in network.nodes() {
        all.push(api(&node).await?);
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
    let what = format!("every node reporting {balance} wei for {address}");
    super::wait_until(&what, timeout, || async {
        let mut seen = Vec::with_capacity(apis.len());
        for api in apis {
            match api.c_balance(address).await {
                Ok(b) if b == balance => {}
                Ok(b) => seen.push(format!("{} has {b}", api.uri())),
                Err(e) => seen.push(format!("{}: {e}", api.uri())),
            }
        }
        // What is not there yet is the error a timeout quotes.
        if seen.is_empty() {
            Ok(true)
        } else {
            Err(seen.join(", "))
        }
    })
    .await
}
