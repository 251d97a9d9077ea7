#![allow(unused)]
use tmpnet_fixture::{tmpnet_test, TestEnvironment};

#[tmpnet_test(nodes = 0)]
async fn bad_nodes(env: &TestEnvironment) {}

fn main() {}
