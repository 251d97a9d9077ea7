//! A 3-node monerod network: peers connected, a block that reaches every
//! node, a restart that keeps the chain.

use std::time::Duration;

use tmpnet_example_monerod::Client;
use tmpnet_fixture::{tmpnet_test, TestEnvironment, TestResult};

async fn clients(env: &TestEnvironment) -> TestResult<Vec<Client>> {
    Ok(env
        .node_uris()
        .await?
        .into_iter()
        .map(Client::new)
        .collect())
}

/// Waits until every node's top block is `hash`.
async fn everyone_at(env: &TestEnvironment, hash: &str) -> TestResult {
    let clients = clients(env).await?;
    env.wait_until(
        &format!("every node's top block is {hash}"),
        Duration::from_secs(30),
        || async {
            for c in &clients {
                if c.info().await?.top_block_hash != hash {
                    return Ok::<_, String>(false);
                }
            }
            Ok(true)
        },
    )
    .await?;
    Ok(())
}

/// Every node is connected: node 0 to the two started after it, each of
/// them to node 0.
#[tmpnet_test(nodes = 3, timeout = "60s")]
async fn every_node_has_its_peers(env: &TestEnvironment) -> TestResult {
    let clients = clients(env).await?;
    env.wait_until(
        "every node is connected",
        Duration::from_secs(30),
        || async {
            let mut total = 0;
            for c in &clients {
                let connections = c.info().await?.connections;
                if connections == 0 {
                    return Ok::<_, String>(false);
                }
                total += connections;
            }
            // Three nodes, each dialing the ones before it: 3 links, 6 ends.
            Ok(total >= 6)
        },
    )
    .await?;
    Ok(())
}

/// What monerod exists for: a block mined on one node is on every node's
/// chain; after a restart of the whole network the chain is still there and
/// grows again.
#[tmpnet_test(nodes = 3, timeout = "120s")]
async fn a_block_reaches_every_node_and_the_chain_survives_a_restart(
    env: &TestEnvironment,
) -> TestResult {
    let first = clients(env).await?.remove(0);
    let before = first.info().await?.height;
    let hash = first.generate_blocks(1).await?;
    everyone_at(env, &hash).await?;

    env.restart_network().await?;
    for c in clients(env).await? {
        let info = c.info().await?;
        if info.height != before + 1 || info.top_block_hash != hash {
            return Err(format!(
                "after the restart a node has {info:?}, not height {} at {hash}",
                before + 1
            )
            .into());
        }
    }
    let last = clients(env).await?.remove(2);
    let next = last.generate_blocks(1).await?;
    everyone_at(env, &next).await
}
