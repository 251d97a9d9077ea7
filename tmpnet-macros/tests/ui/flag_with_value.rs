#![allow(unused)]
use tmpnet_fixture::{tmpnet_test, TestEnvironment};

#[tmpnet_test(ignore = true)]
async fn flag_with_value(env: &TestEnvironment) {}

fn main() {}
