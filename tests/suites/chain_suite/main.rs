//! A harness suite for bitcoind-family networks, run by the acceptance
//! tests with `--node-kind bitcoind` and Debian's litecoind: the test
//! helpers (RPC, mining, waiting for one tip) used through TestEnvironment.

use std::time::Duration;

use tmpnet_fixture::helpers::bitcoind::{rpc, wait_for_same_tip};
use tmpnet_fixture::{tmpnet_test, TestEnvironment, TestResult};

#[tmpnet_test(timeout = "60s")]
async fn blocks_mined_on_one_node_reach_every_node(env: &TestEnvironment) -> TestResult {
    let network = env.network();
    let nodes = network.nodes();
    let miner = rpc(&nodes[env.slot() % nodes.len()]).await?;
    let before = miner.height().await?;
    miner.mine(5).await?;
    let (height, _) = wait_for_same_tip(network, Duration::from_secs(20)).await?;
    if height < before + 5 {
        return Err(format!("height {height} after mining 5 blocks on top of {before}").into());
    }
    Ok(())
}

#[tmpnet_test(nodes = 2, timeout = "60s")]
async fn a_restart_keeps_the_chain(env: &TestEnvironment) -> TestResult {
    let network = env.network();
    rpc(&network.nodes()[0]).await?.mine(3).await?;
    wait_for_same_tip(network, Duration::from_secs(20)).await?;
    env.restart_network().await?;
    let (height, _) = wait_for_same_tip(network, Duration::from_secs(20)).await?;
    if height != 3 {
        return Err(format!("height {height} after a restart, expected 3").into());
    }
    Ok(())
}

#[tmpnet_test(timeout = "60s")]
async fn an_ephemeral_node_syncs_the_chain(env: &TestEnvironment) -> TestResult {
    let network = env.network();
    let node = env.add_ephemeral_node().await?;
    let joined = rpc(&node).await?;
    let miner = rpc(&network.nodes()[0]).await?;
    let tip = miner.mine(2).await?;
    env.wait_until(
        "the ephemeral node reaching the new tip",
        Duration::from_secs(20),
        || async { joined.tip().await.map(|t| t == tip[1]) },
    )
    .await?;
    Ok(())
}

tmpnet_fixture::main!();
