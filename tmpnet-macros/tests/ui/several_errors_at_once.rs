#![allow(unused)]
use tmpnet_fixture::{tmpnet_test, TestEnvironment};

#[tmpnet_test(nodes = 300, wibble)]
fn several_errors_at_once() {}

fn main() {}
