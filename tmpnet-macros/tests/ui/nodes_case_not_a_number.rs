#![allow(unused)]
use tmpnet_fixture::{tmpnet_test, TestEnvironment};

#[tmpnet_test]
#[case(3)]
#[case(0)]
#[case(usize::MAX)]
async fn nodes_case_not_a_number(env: &TestEnvironment, #[case] nodes: usize) {}

fn main() {}
