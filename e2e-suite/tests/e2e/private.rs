//! A network of a test's own, next to the shared one.

use std::time::Duration;

use e2e_suite::KvClient;
use tmpnet_fixture::{tmpnet_test, TestEnvironment, TestResult};

#[tmpnet_test]
async fn a_private_network_is_isolated_from_the_shared_one(env: &TestEnvironment) -> TestResult {
    let private = env.start_private_network(2).await?;
    let private_uris = private.node_uris().await?;
    let key = format!("private-{}", env.slot());
    KvClient::new(&private_uris[0]).put(&key, "mine").await?;
    KvClient::new(&private_uris[1])
        .wait_for(&key, "mine", Duration::from_secs(1))
        .await?;
    for uri in env.node_uris().await? {
        if KvClient::new(&uri).get(&key).await?.is_some() {
            return Err(format!("{uri} of the shared network saw a private write").into());
        }
    }
    Ok(())
}
