#![allow(unused)]
use tmpnet_fixture::{tmpnet_test, TestEnvironment};

#[tmpnet_test]
async fn case_parameter_without_case(env: &TestEnvironment, #[case] n: u32) {}

fn main() {}
