//! Tests that fail on purpose.

use tmpnet_fixture::{tmpnet_test, TestEnvironment};

#[tmpnet_test]
async fn fails(_env: &TestEnvironment) -> Result<(), String> {
    Err("deliberate failure".into())
}

#[tmpnet_test]
async fn panics(_env: &TestEnvironment) {
    panic!("deliberate panic");
}

#[tmpnet_test(nodes = 2)]
async fn fails_on_a_private_network(env: &TestEnvironment) -> Result<(), String> {
    let extra = env
        .start_private_network(1)
        .await
        .map_err(|e| e.to_string())?;
    crate::record::append("private-seen.txt", &extra.dir().display().to_string());
    Err("deliberate failure on a private network".into())
}
