//! Tests that pass.

use std::time::Duration;

use tmpnet_fixture::{tmpnet_test, TestEnvironment, TestResult};

use crate::record;

#[tmpnet_test]
async fn passes(env: &TestEnvironment) -> TestResult {
    let uris = env.node_uris().await?;
    if uris.is_empty() {
        return Err("no running node".into());
    }
    record::append(
        "networks-seen.txt",
        &env.network().dir().display().to_string(),
    );
    Ok(())
}

/// Sleeps while recording when it ran, for the serial check.
async fn timed(name: &str) {
    let start = record::now();
    tokio::time::sleep(Duration::from_millis(300)).await;
    record::append(
        "intervals.txt",
        &format!("{name} {start} {}", record::now()),
    );
}

#[tmpnet_test(serial)]
async fn serial_alone(_env: &TestEnvironment) {
    timed("serial").await;
}

#[tmpnet_test]
async fn concurrent_a(_env: &TestEnvironment) {
    timed("a").await;
}

#[tmpnet_test]
async fn concurrent_b(_env: &TestEnvironment) {
    timed("b").await;
}

#[tmpnet_test(nodes = 2)]
async fn private(env: &TestEnvironment) -> TestResult {
    let count = env.node_uris().await?.len();
    if count != 2 {
        return Err(format!("the private network has {count} running nodes, not 2").into());
    }
    record::append(
        "private-seen.txt",
        &env.network().dir().display().to_string(),
    );
    Ok(())
}

#[tmpnet_test(ignore)]
async fn skipped(_env: &TestEnvironment) -> Result<(), String> {
    Err("an ignored test ran".into())
}
