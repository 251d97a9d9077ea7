#![allow(unused)]
use tmpnet_fixture::{tmpnet_test, TestEnvironment};

#[tmpnet_test]
async fn wrong_parameter_type(env: TestEnvironment) {}

fn main() {}
