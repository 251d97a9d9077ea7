//! A harness suite for avalanchego networks, run with `--node-kind
//! avalanchego --node-count 5`: as local processes by the acceptance tests
//! (`tests/acceptance/avalanchego.rs`), and in kube mode on the local cluster
//! (`scripts/e2e-cluster.sh`), unchanged. Every check goes through the
//! nodes' own APIs with the library's Rust client.

use std::time::Duration;

use tmpnet_fixture::helpers::avalanchego::{api, apis, wait_for_balance};
use tmpnet_fixture::kinds::avalanchego::funded_keys;
use tmpnet_fixture::{tmpnet_test, TestEnvironment, TestResult};

/// How long a change may take to reach every node.
const SPREAD: Duration = Duration::from_secs(60);

#[tmpnet_test(timeout = "3m")]
async fn every_node_is_connected_to_the_others_and_all_validate(
    env: &TestEnvironment,
) -> TestResult {
    let network = env.network();
    let apis = apis(network).await?;
    let mut ids = Vec::new();
    for api in &apis {
        ids.push(api.node_id().await?);
    }
    let mut all = ids.clone();
    all.sort();
    for (api, id) in apis.iter().zip(&ids) {
        let others: Vec<String> = all.iter().filter(|o| *o != id).cloned().collect();
        env.wait_until(
            &format!("{id} connected to every other node"),
            SPREAD,
            || async { api.peers().await.map(|peers| peers == others) },
        )
        .await?;
        let validators = api.validators().await?;
        if validators != all {
            return Err(format!("{id} reports validators {validators:?}, not {all:?}").into());
        }
    }
    Ok(())
}

#[tmpnet_test(timeout = "3m")]
async fn a_transfer_sent_to_one_node_is_seen_on_every_node(env: &TestEnvironment) -> TestResult {
    let network = env.network();
    let keys = funded_keys(network.dir())?;
    // Keys 0 and 1 are this test's: no other test of the suite signs with
    // them, so nonces never race.
    let (from, to) = (&keys[0], keys[1].c_address());
    let apis = apis(network).await?;
    let before = apis[0].c_balance(&to).await?;
    let value = 123_456_789_000;
    apis[apis.len() - 1].send_transfer(from, &to, value).await?;
    wait_for_balance(&apis, &to, before + value, SPREAD).await?;
    Ok(())
}

#[tmpnet_test(timeout = "4m")]
async fn an_ephemeral_node_bootstraps_the_chain_and_is_not_a_validator(
    env: &TestEnvironment,
) -> TestResult {
    let network = env.network();
    let keys = funded_keys(network.dir())?;
    let (from, to) = (&keys[2], keys[3].c_address());
    let validators = apis(network).await?;
    let before = validators[0].c_balance(&to).await?;
    let value = 5_000_000_000;
    validators[0].send_transfer(from, &to, value).await?;
    wait_for_balance(&validators, &to, before + value, SPREAD).await?;

    let joined = env.add_ephemeral_node().await?;
    let ephemeral = api(&joined).await?;
    wait_for_balance(
        std::slice::from_ref(&ephemeral),
        &to,
        before + value,
        SPREAD,
    )
    .await?;
    let id = ephemeral.node_id().await?;
    let staking = ephemeral.validators().await?;
    if staking.contains(&id) || staking.len() != network.nodes().len() {
        return Err(format!("the ephemeral node {id} sees validators {staking:?}").into());
    }
    Ok(())
}

#[tmpnet_test(nodes = 2, timeout = "4m")]
async fn a_restart_keeps_the_chain(env: &TestEnvironment) -> TestResult {
    let network = env.network();
    let keys = funded_keys(network.dir())?;
    let (from, to) = (&keys[0], keys[4].c_address());
    let apis_before = apis(network).await?;
    let before = apis_before[0].c_balance(&to).await?;
    let value = 42_000_000_000;
    apis_before[1].send_transfer(from, &to, value).await?;
    wait_for_balance(&apis_before, &to, before + value, SPREAD).await?;
    env.restart_network().await?;
    // Addresses may change with a restart (a pod's IP): ask again.
    let after = apis(network).await?;
    wait_for_balance(&after, &to, before + value, SPREAD).await?;
    Ok(())
}

tmpnet_fixture::main!();
