#![allow(unused)]
use tmpnet_fixture::{tmpnet_test, TestEnvironment};

#[tmpnet_test]
#[values(1, 3)]
async fn values_not_on_a_parameter(env: &TestEnvironment, nodes: usize) {}

fn main() {}
