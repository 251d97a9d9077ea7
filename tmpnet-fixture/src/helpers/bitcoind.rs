//! Test helpers for bitcoind-family networks: an RPC client for a node of
//! a network, and waiting until every node shares one tip.

use std::time::Duration;

use crate::error::{Error, Result};
use crate::kinds::bitcoind::rpc::Rpc;
use crate::network::{Network, NodeHandle};
use crate::sys::deadline_after;

/// An RPC client for a running node, with its network's credentials and a
/// 30 s limit per call.
pub async fn rpc(node: &NodeHandle) -> Result<Rpc> {
    let url = super::reachable_uri(node, "RPC").await?;
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(Error::HttpClient)?;
    Rpc::new(http, &url, node.network().dir())
}

/// Waits until every node of `network` has the same height and tip;
/// returns them. While they differ, a node that lost a connection to a
/// peer it dials has it dialled again each second (as its health check
/// does), rather than after the daemon's own retry. On timeout the error
/// lists each node's height and peer count.
pub async fn wait_for_same_tip(network: &Network, timeout: Duration) -> Result<(u64, String)> {
    let mut clients = Vec::new();
    for node in network.nodes() {
        clients.push((node.id().to_owned(), rpc(&node).await?));
    }
    let deadline = deadline_after(timeout);
    let mut redial = tokio::time::Instant::now() + Duration::from_secs(1);
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
            let mut seen = Vec::with_capacity(tips.len());
            for ((id, h, _), (_, rpc)) in tips.iter().zip(&clients) {
                let peers = rpc
                    .peers()
                    .await
                    .map_or("?".to_owned(), |p| p.len().to_string());
                seen.push(format!("{id} at {h} ({peers} peers)"));
            }
            return Err(Error::Timeout {
                what: "every node reaching the same tip".into(),
                timeout,
                last: Some(seen.join(", ")),
            });
        }
        if tokio::time::Instant::now() >= redial {
            // The health check dials every missing `-connect` peer.
            let _ = network.check_health().await;
            redial = tokio::time::Instant::now() + Duration::from_secs(1);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
