//! Failure detection.

use std::time::Duration;

use tmpnet_fixture::{tmpnet_test, TestEnvironment};

#[tmpnet_test(nodes = 2)]
async fn a_killed_node_is_detected(env: &TestEnvironment) -> Result<(), String> {
    let network = env.network();
    let victim = &network.nodes()[1];
    let pid = victim
        .launch_record()
        .map_err(|e| e.to_string())?
        .ok_or("the node has no launch record")?
        .pid;
    let killed = std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .map_err(|e| e.to_string())?;
    if !killed.success() {
        return Err(format!("kill -9 {pid} failed"));
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let health = network.check_health().await.map_err(|e| e.to_string())?;
        let (_, verdict) = health
            .iter()
            .find(|(id, _)| id == victim.id())
            .ok_or("the victim is missing from the health report")?;
        if !verdict.is_healthy() && verdict.to_string().contains("not running") {
            return Ok(());
        }
        if tokio::time::Instant::now() > deadline {
            return Err(format!("the killed node is still reported as {verdict}"));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
