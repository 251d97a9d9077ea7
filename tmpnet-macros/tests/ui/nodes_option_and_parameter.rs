#![allow(unused)]
use tmpnet_fixture::{tmpnet_test, TestEnvironment};

#[tmpnet_test(nodes = 2)]
async fn nodes_option_and_parameter(env: &TestEnvironment, #[values(1, 3)] nodes: usize) {}

fn main() {}
