#![allow(unused)]
use tmpnet_fixture::{tmpnet_test, TestEnvironment};

#[tmpnet_test]
struct NotAFunction;

fn main() {}
