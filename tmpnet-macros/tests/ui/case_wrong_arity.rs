#![allow(unused)]
use tmpnet_fixture::{tmpnet_test, TestEnvironment};

#[tmpnet_test]
#[case(1, "one")]
#[case(2)]
async fn case_wrong_arity(env: &TestEnvironment, #[case] n: u32, #[case] word: &str) {}

fn main() {}
