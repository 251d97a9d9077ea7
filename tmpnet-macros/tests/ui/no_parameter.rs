#![allow(unused)]
use tmpnet_fixture::{tmpnet_test, TestEnvironment};

#[tmpnet_test]
async fn no_parameter() {}

fn main() {}
