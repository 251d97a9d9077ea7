//! Nodes that join for one test and leave after it.

use std::time::Duration;

use e2e_suite::KvClient;
use tmpnet_fixture::{tmpnet_test, TestEnvironment, TestResult};

#[tmpnet_test]
async fn an_ephemeral_node_joins_syncs_and_leaves(env: &TestEnvironment) -> TestResult {
    let key = format!("before-join-{}", env.slot());
    KvClient::new(&env.random_node_uri().await?)
        .put(&key, "old news")
        .await?;
    let node = env.add_ephemeral_node().await?;
    // It catches up with what was written before it joined.
    KvClient::new(&node.uri().await?)
        .wait_for(&key, "old news", Duration::from_secs(1))
        .await?;
    // It is not a bootstrap peer: the network's node list is unchanged.
    if env.nodes().iter().any(|n| n.id() == node.id()) {
        return Err("the ephemeral node became a bootstrap node".into());
    }
    // Leaving: stopping it leaves the rest of the network healthy.
    node.stop().await?;
    let state = node.state().await?;
    if state.is_running() {
        return Err(format!("the ephemeral node is {state:?} after leaving").into());
    }
    e2e_suite::all_healthy(env.network()).await
}
