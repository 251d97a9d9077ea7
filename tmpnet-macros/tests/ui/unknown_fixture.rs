#![allow(unused)]
use tmpnet_fixture::{tmpnet_test, TestEnvironment};

/// `database` is no fixture in scope.
#[tmpnet_test]
async fn unknown_fixture(env: &TestEnvironment, database: u32) {}

fn main() {}
