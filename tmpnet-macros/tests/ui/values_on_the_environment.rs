#![allow(unused)]
use tmpnet_fixture::{tmpnet_test, TestEnvironment};

#[tmpnet_test]
async fn values_on_the_environment(#[values(1, 2)] env: &TestEnvironment) {}

fn main() {}
