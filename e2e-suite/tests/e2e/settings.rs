//! A suite's own settings come from its environment, the same whether the
//! tests run here or in a runner Job: forward them to the Job with
//! `TMPNET_RUNNER_ENV=E2E_` (their values travel in a Secret owned by the
//! Job, never in its spec).

use tmpnet_fixture::{tmpnet_test, TestEnvironment, TestResult};

/// `E2E_MIN_NODES`: the fewest nodes this suite accepts in its shared
/// network (default 1).
#[tmpnet_test]
async fn the_shared_network_is_as_large_as_the_suite_expects(env: &TestEnvironment) -> TestResult {
    let min: usize = match std::env::var("E2E_MIN_NODES") {
        Ok(text) => text
            .parse()
            .map_err(|_| format!("E2E_MIN_NODES={text:?} is not a number"))?,
        Err(_) => 1,
    };
    let nodes = env.nodes().len();
    if nodes < min {
        return Err(format!("the shared network has {nodes} nodes, the suite expects at least {min} (E2E_MIN_NODES)").into());
    }
    Ok(())
}
