//! A harness suite for bitcoind-family networks, run by the acceptance
//! tests with `--node-kind bitcoind` and Debian's litecoind: the test
//! helpers (RPC, mining, waiting for one tip) used through TestEnvironment.

use std::time::Duration;

use tmpnet_fixture::kinds::bitcoind::rpc::{wait_for_same_tip, Rpc};
use tmpnet_fixture::{tmpnet_test, TestEnvironment};

#[tmpnet_test(timeout = "60s")]
async fn blocks_mined_on_one_node_reach_every_node(env: &TestEnvironment) -> Result<(), String> {
    let network = env.network();
    let miner = &network.nodes()[env.slot() % network.nodes().len()];
    let rpc = Rpc::for_node(network, miner)
        .await
        .map_err(|e| e.to_string())?;
    let before = rpc.height().await.map_err(|e| e.to_string())?;
    rpc.mine(5).await.map_err(|e| e.to_string())?;
    let (height, _) = wait_for_same_tip(network, Duration::from_secs(20))
        .await
        .map_err(|e| e.to_string())?;
    if height < before + 5 {
        return Err(format!(
            "height {height} after mining 5 blocks on top of {before}"
        ));
    }
    Ok(())
}

#[tmpnet_test(nodes = 2, timeout = "60s")]
async fn a_restart_keeps_the_chain(env: &TestEnvironment) -> Result<(), String> {
    let mut network = env.network().clone();
    let first = network.nodes()[0].clone();
    Rpc::for_node(&network, &first)
        .await
        .map_err(|e| e.to_string())?
        .mine(3)
        .await
        .map_err(|e| e.to_string())?;
    wait_for_same_tip(&network, Duration::from_secs(20))
        .await
        .map_err(|e| e.to_string())?;
    network
        .restart(Duration::from_secs(30), &|_| {})
        .await
        .map_err(|e| e.to_string())?;
    let (height, _) = wait_for_same_tip(&network, Duration::from_secs(20))
        .await
        .map_err(|e| e.to_string())?;
    if height != 3 {
        return Err(format!("height {height} after a restart, expected 3"));
    }
    Ok(())
}

#[tmpnet_test(timeout = "60s")]
async fn an_ephemeral_node_syncs_the_chain(env: &TestEnvironment) -> Result<(), String> {
    let network = env.network();
    let node = env.add_ephemeral_node().await.map_err(|e| e.to_string())?;
    let joined = Rpc::for_node(network, &node)
        .await
        .map_err(|e| e.to_string())?;
    let miner = Rpc::for_node(network, &network.nodes()[0])
        .await
        .map_err(|e| e.to_string())?;
    let tip = miner.mine(2).await.map_err(|e| e.to_string())?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while joined.tip().await.map_err(|e| e.to_string())? != tip[1] {
        if tokio::time::Instant::now() > deadline {
            return Err("the ephemeral node never reached the new tip".into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

tmpnet_fixture::main!();
