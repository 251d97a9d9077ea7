//! Nodes that join for one test and leave after it.

use std::time::Duration;

use e2e_suite::KvClient;
use tmpnet_fixture::runtime::NodeState;
use tmpnet_fixture::{tmpnet_test, TestEnvironment};

#[tmpnet_test]
async fn an_ephemeral_node_joins_syncs_and_leaves(env: &TestEnvironment) -> Result<(), String> {
    let key = format!("before-join-{}", env.slot());
    KvClient::new(&env.random_node_uri().await.map_err(|e| e.to_string())?)
        .put(&key, "old news")
        .await?;
    let node = env.add_ephemeral_node().await.map_err(|e| e.to_string())?;
    let runtime = env.network().runtime();
    let uri = runtime
        .accessible_uri(&node)
        .await
        .map_err(|e| e.to_string())?
        .ok_or("the ephemeral node has no URI")?;
    // It catches up with what was written before it joined.
    KvClient::new(&uri)
        .wait_for(&key, "old news", Duration::from_secs(1))
        .await?;
    // It is not a bootstrap peer: the network's node list is unchanged.
    if env.network().nodes().iter().any(|n| n.id() == node.id()) {
        return Err("the ephemeral node became a bootstrap node".into());
    }
    // Leaving: stopping it leaves the rest of the network healthy.
    env.network()
        .stop_node(&node)
        .await
        .map_err(|e| e.to_string())?;
    match runtime.state(&node).await.map_err(|e| e.to_string())? {
        NodeState::Stopped => {}
        other => return Err(format!("the ephemeral node is {other:?} after leaving")),
    }
    e2e_suite::all_healthy(env.network())
        .await
        .map_err(|e| format!("after the ephemeral node left: {e}"))
}
