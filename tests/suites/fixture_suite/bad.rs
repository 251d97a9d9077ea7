//! Tests that fail on purpose.

use tmpnet_fixture::{tmpnet_test, TestEnvironment, TestResult};

/// Any `E: Display` works as the error type.
#[tmpnet_test]
async fn fails(_env: &TestEnvironment) -> Result<(), String> {
    Err("deliberate failure".into())
}

#[tmpnet_test]
async fn panics(_env: &TestEnvironment) {
    panic!("deliberate panic");
}

#[tmpnet_test(nodes = 2)]
async fn fails_on_a_private_network(env: &TestEnvironment) -> TestResult {
    let extra = env.start_private_network(1).await?;
    crate::record::append("private-seen.txt", &extra.dir().display().to_string());
    Err("deliberate failure on a private network".into())
}
