//! A harness target with a plain `#[test]` in it, which would never run:
//! the harness must refuse to start and name it.

use tmpnet_fixture::{tmpnet_test, TestEnvironment};

#[tmpnet_test]
async fn registered(_env: &TestEnvironment) {}

#[test]
fn forgotten() {}

tmpnet_fixture::main!();
