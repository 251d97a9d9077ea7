#![allow(unused)]
use tmpnet_fixture::{tmpnet_test, TestEnvironment};

#[tmpnet_test]
#[case(1)]
#[ignore]
#[case(2)]
async fn ignore_attribute(env: &TestEnvironment, #[case] n: u32) {}

fn main() {}
