#![allow(unused)]
use tmpnet_fixture::{tmpnet_test, TestEnvironment};

#[tmpnet_test]
fn not_async(env: &TestEnvironment) {}

fn main() {}
