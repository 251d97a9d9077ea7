#![allow(unused)]
use tmpnet_fixture::{tmpnet_test, TestEnvironment};

#[tmpnet_test]
#[test]
async fn stacked_test(env: &TestEnvironment) {}

fn main() {}
