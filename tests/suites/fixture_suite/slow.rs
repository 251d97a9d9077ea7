//! Tests that take long: to be interrupted, or to overrun their timeout.

use std::time::Duration;

use tmpnet_fixture::{tmpnet_test, TestEnvironment};

use crate::record;

#[tmpnet_test(timeout = "120s")]
async fn hangs(env: &TestEnvironment) {
    let private = env.start_private_network(1).await;
    record::append("hang-started.txt", &format!("{}", private.is_ok()));
    tokio::time::sleep(Duration::from_secs(100)).await;
}

#[tmpnet_test(timeout = "300ms")]
async fn overruns(_env: &TestEnvironment) {
    tokio::time::sleep(Duration::from_secs(30)).await;
}
