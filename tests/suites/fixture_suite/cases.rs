//! Cases, value lists and fixtures. Each test records what it was given,
//! so the acceptance tests can check every case ran with its own values
//! (and on its own network where it asked for one).

use std::sync::atomic::{AtomicUsize, Ordering};

use rstest::fixture;
use tmpnet_fixture::{tmpnet_test, TestEnvironment, TestResult};

use crate::record;

/// The second case fails on purpose; the others must still pass.
#[tmpnet_test]
#[case(1, "one")]
#[case::fails(2, "two")]
#[case::third(3, "three")]
async fn numbered(env: &TestEnvironment, #[case] n: u32, #[case] word: &str) -> TestResult {
    record::append("cases.txt", &format!("{} {n} {word}", env.test_name()));
    if n == 2 {
        return Err(format!("deliberate failure of case {n}").into());
    }
    Ok(())
}

/// Two lists: one test per pair; `nodes` sizes each test's network.
#[tmpnet_test]
async fn matrix(
    env: &TestEnvironment,
    #[values(1, 2)] nodes: usize,
    #[values('a', 'b')] letter: char,
) -> TestResult {
    let running = env.node_uris().await?.len();
    record::append(
        "matrix.txt",
        &format!(
            "{} {nodes} {letter} {running} {}",
            env.test_name(),
            env.network().dir().display()
        ),
    );
    Ok(())
}

static MADE: AtomicUsize = AtomicUsize::new(0);

/// Counts how many times it was made.
#[fixture]
fn counter() -> usize {
    MADE.fetch_add(1, Ordering::SeqCst) + 1
}

#[fixture]
async fn greeting() -> String {
    tokio::task::yield_now().await;
    "hello".to_owned()
}

/// A string case value parsed with `FromStr`, a sync and an async fixture.
#[tmpnet_test]
#[case("127.0.0.1:80")]
async fn filled(
    env: &TestEnvironment,
    #[case] addr: std::net::SocketAddr,
    counter: usize,
    #[future(awt)] greeting: String,
) -> TestResult {
    record::append(
        "filled.txt",
        &format!("{} {} {counter} {greeting}", env.test_name(), addr.port()),
    );
    Ok(())
}
