//! Persistence across restarts, on a network of the test's own.

use std::time::Duration;

use e2e_suite::KvClient;
use tmpnet_fixture::{tmpnet_test, TestEnvironment, TestResult};

#[tmpnet_test(nodes = 2, timeout = "60s")]
async fn state_survives_a_node_restart(env: &TestEnvironment) -> TestResult {
    let uris = env.node_uris().await?;
    KvClient::new(&uris[0]).put("color", "blue").await?;
    KvClient::new(&uris[1])
        .wait_for("color", "blue", Duration::from_secs(1))
        .await?;
    env.restart_network().await?;
    for uri in env.node_uris().await? {
        let value = KvClient::new(&uri).get("color").await?;
        if value.as_deref() != Some("blue") {
            return Err(format!("{uri} lost the value after restart: {value:?}").into());
        }
    }
    Ok(())
}
