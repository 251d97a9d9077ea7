#![allow(unused)]
use tmpnet_fixture::{tmpnet_test, TestEnvironment};

#[tmpnet_test]
async fn generic<T: Send>(env: &TestEnvironment) {}

fn main() {}
