//! Failure detection, the same wherever nodes run.

use std::time::Duration;

use tmpnet_fixture::{tmpnet_test, TestEnvironment, TestResult};

/// A node that crashes (the reference node exits at once when asked to) is
/// reported unhealthy by the next health checks, by process or by pod.
#[tmpnet_test(nodes = 2)]
async fn a_crashed_node_is_detected(env: &TestEnvironment) -> TestResult {
    let victim = &env.nodes()[1];
    if !victim.health().await?.is_healthy() {
        return Err("the victim was not healthy before the crash".into());
    }
    let uri = victim.uri().await?;
    reqwest::Client::new()
        .post(format!("{uri}/ext/fault/crash"))
        .send()
        .await?;
    env.wait_until(
        "the crashed node reported unhealthy",
        Duration::from_secs(10),
        || async { victim.health().await.map(|h| !h.is_healthy()) },
    )
    .await?;
    Ok(())
}
