#![allow(unused)]
use tmpnet_fixture::{tmpnet_test, TestEnvironment};

#[tmpnet_test(timeout = "soon")]
async fn bad_timeout(env: &TestEnvironment) {}

fn main() {}
