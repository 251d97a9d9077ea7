#![allow(unused)]
use tmpnet_fixture::{tmpnet_test, TestEnvironment};

#[tmpnet_test]
#[case(1)]
async fn case_without_parameter(env: &TestEnvironment) {}

fn main() {}
