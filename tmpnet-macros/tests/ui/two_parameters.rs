#![allow(unused)]
use tmpnet_fixture::{tmpnet_test, TestEnvironment};

#[tmpnet_test]
async fn two_parameters(env: &TestEnvironment, extra: u32) {}

fn main() {}
