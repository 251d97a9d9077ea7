#![allow(unused)]
use tmpnet_fixture::{tmpnet_test, TestEnvironment};

#[tmpnet_test]
#[rstest::rstest]
#[case(1)]
async fn rstest_with_cases(env: &TestEnvironment, #[case] n: u32) {}

fn main() {}
