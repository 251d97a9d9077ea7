#![allow(unused)]
use tmpnet_fixture::{tmpnet_test, TestEnvironment};

#[tmpnet_test(serial, serial)]
async fn duplicate_option(env: &TestEnvironment) {}

fn main() {}
