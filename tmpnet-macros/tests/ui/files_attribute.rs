#![allow(unused)]
use tmpnet_fixture::{tmpnet_test, TestEnvironment};

#[tmpnet_test]
async fn files_attribute(env: &TestEnvironment, #[files("*.txt")] path: std::path::PathBuf) {}

fn main() {}
