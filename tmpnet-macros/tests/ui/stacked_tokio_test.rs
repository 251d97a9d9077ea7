#![allow(unused)]
use tmpnet_fixture::{tmpnet_test, TestEnvironment};

#[tmpnet_test]
#[tokio::test]
async fn stacked_tokio_test(env: &TestEnvironment) {}

fn main() {}
