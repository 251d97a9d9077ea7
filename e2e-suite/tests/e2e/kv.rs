//! Replication on the shared network.

use std::time::Duration;

use e2e_suite::KvClient;
use tmpnet_fixture::{tmpnet_test, TestEnvironment, TestResult};

#[tmpnet_test]
async fn value_written_on_one_node_is_read_on_all(env: &TestEnvironment) -> TestResult {
    let uris = env.node_uris().await?;
    // The slot keeps this key apart from any test running at the same time.
    let key = format!("greeting-{}", env.slot());
    KvClient::new(&env.random_node_uri().await?)
        .put(&key, "hello")
        .await?;
    for uri in &uris {
        KvClient::new(uri)
            .wait_for(&key, "hello", Duration::from_secs(1))
            .await?;
    }
    Ok(())
}

#[tmpnet_test]
async fn every_node_of_the_shared_network_is_healthy(env: &TestEnvironment) -> TestResult {
    e2e_suite::all_healthy(env.network()).await
}
