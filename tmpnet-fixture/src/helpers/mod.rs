//! Helpers for test authors, over a [`crate::Network`]: waiting for a
//! condition, and per-kind clients (bitcoind RPC, avalanchego APIs).

#[cfg(feature = "avalanchego")]
pub mod avalanchego;
pub mod bitcoind;

use std::future::Future;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::network::NodeHandle;
use crate::sys::deadline_after;

/// The URI of a running node's `api` (e.g. "RPC") reachable from here, or
/// the error saying it has none.
async fn reachable_uri(node: &NodeHandle, api: &str) -> Result<String> {
    node.network()
        .runtime()
        .accessible_uri(node.node())
        .await?
        .ok_or_else(|| Error::NotRunning {
            node: node.id().to_owned(),
            detail: format!("it has no {api} endpoint"),
            log_tail: Vec::new(),
        })
}

/// How often [`wait_until`] asks again.
const POLL: Duration = Duration::from_millis(20);

/// Waits until `check` returns `Ok(true)`, asking again every 20 ms. An
/// `Err` counts as "not yet" (a node that is restarting refuses
/// connections) and is quoted if the wait times out. On timeout the error
/// names `what`, the time waited and the last error seen.
///
/// ```no_run
/// # async fn demo(uri: String) -> tmpnet_fixture::Result<()> {
/// use std::time::Duration;
/// tmpnet_fixture::helpers::wait_until("the node answers", Duration::from_secs(10), || async {
///     reqwest::get(&uri).await.map(|r| r.status().is_success())
/// })
/// .await?;
/// # Ok(()) }
/// ```
pub async fn wait_until<F, Fut, E>(what: &str, timeout: Duration, mut check: F) -> Result<()>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = std::result::Result<bool, E>>,
    E: std::fmt::Display,
{
    let deadline = deadline_after(timeout);
    let mut last = None;
    loop {
        match check().await {
            Ok(true) => return Ok(()),
            Ok(false) => {}
            Err(e) => last = Some(e.to_string()),
        }
        if tokio::time::Instant::now() + POLL > deadline {
            return Err(Error::Timeout {
                what: what.to_owned(),
                timeout,
                last,
            });
        }
        tokio::time::sleep(POLL).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_condition_that_turns_true_ends_the_wait() {
        let mut calls = 0;
        wait_until("three calls", Duration::from_secs(5), || {
            calls += 1;
            let done = calls >= 3;
            async move { Ok::<_, String>(done) }
        })
        .await
        .unwrap();
        assert_eq!(calls, 3);
    }

    #[tokio::test]
    async fn a_timeout_names_the_condition_and_the_last_error() {
        let err = wait_until("the moon rises", Duration::from_millis(50), || async {
            Err::<bool, _>("connection refused")
        })
        .await
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("the moon rises") && err.contains("connection refused"),
            "{err}"
        );
    }
}
