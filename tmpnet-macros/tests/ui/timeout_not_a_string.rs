#![allow(unused)]
use tmpnet_fixture::{tmpnet_test, TestEnvironment};

#[tmpnet_test(timeout = 90)]
async fn timeout_not_a_string(env: &TestEnvironment) {}

fn main() {}
