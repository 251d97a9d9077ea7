//! Failure detection, the same wherever nodes run.

use std::time::Duration;

use tmpnet_fixture::{tmpnet_test, TestEnvironment};

/// A node that crashes (the reference node exits at once when asked to) is
/// reported unhealthy by the next health checks, by process or by pod.
#[tmpnet_test(nodes = 2)]
async fn a_crashed_node_is_detected(env: &TestEnvironment) -> Result<(), String> {
    let network = env.network();
    let victim = &network.nodes()[1];
    let verdict_of = |health: &[(String, tmpnet_fixture::kinds::Health)]| {
        health
            .iter()
            .find(|(id, _)| id == victim.id())
            .map(|(_, h)| h.clone())
            .ok_or_else(|| "the victim is missing from the health report".to_owned())
    };
    let before = network.check_health().await.map_err(|e| e.to_string())?;
    if !verdict_of(&before)?.is_healthy() {
        return Err("the victim was not healthy before the crash".into());
    }
    let uri = network
        .runtime()
        .accessible_uri(victim)
        .await
        .map_err(|e| e.to_string())?
        .ok_or("the victim has no URI")?;
    reqwest::Client::new()
        .post(format!("{uri}/ext/fault/crash"))
        .send()
        .await
        .map_err(|e| format!("asking the node to crash failed: {e}"))?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let health = network.check_health().await.map_err(|e| e.to_string())?;
        let verdict = verdict_of(&health)?;
        if !verdict.is_healthy() {
            return Ok(());
        }
        if tokio::time::Instant::now() > deadline {
            return Err(format!("the crashed node is still reported as {verdict}"));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
