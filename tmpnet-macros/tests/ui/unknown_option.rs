#![allow(unused)]
use tmpnet_fixture::{tmpnet_test, TestEnvironment};

#[tmpnet_test(timout = "90s")]
async fn unknown_option(env: &TestEnvironment) {}

fn main() {}
