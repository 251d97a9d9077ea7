#![allow(unused)]
use tmpnet_fixture::{tmpnet_test, TestEnvironment};

#[tmpnet_test]
async fn wrong_return_type(env: &TestEnvironment) -> u32 {
    7
}

fn main() {}
