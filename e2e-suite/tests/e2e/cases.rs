//! One function, several tests: cases (`#[case]`), value lists
//! (`#[values]`) and rstest fixtures under `#[tmpnet_test]`.

use std::time::Duration;

use e2e_suite::KvClient;
use rstest::fixture;
use tmpnet_fixture::{tmpnet_test, TestEnvironment, TestResult};

/// The same test on networks of 1, 3 and 5 nodes: a parameter named `nodes`
/// gives each case a private network of that many nodes.
#[tmpnet_test(timeout = "3m")]
#[case::one_node(1)]
#[case::three_nodes(3)]
#[case::five_nodes(5)]
async fn a_write_reaches_every_node(env: &TestEnvironment, #[case] nodes: usize) -> TestResult {
    let uris = env.node_uris().await?;
    if uris.len() != nodes {
        return Err(format!("{} running nodes, not {nodes}", uris.len()).into());
    }
    KvClient::new(&uris[0]).put("sized", "yes").await?;
    for uri in &uris {
        KvClient::new(uri)
            .wait_for("sized", "yes", Duration::from_secs(2))
            .await?;
    }
    Ok(())
}

/// One test per key, on the shared network.
#[tmpnet_test]
async fn keys_of_every_shape_replicate(
    env: &TestEnvironment,
    #[values("plain", "with-dash", "UPPER_and_lower", "dots.in.it")] key: &str,
) -> TestResult {
    let key = format!("{key}-{}", env.slot());
    KvClient::new(&env.random_node_uri().await?)
        .put(&key, "shaped")
        .await?;
    for uri in env.node_uris().await? {
        KvClient::new(&uri)
            .wait_for(&key, "shaped", Duration::from_secs(1))
            .await?;
    }
    Ok(())
}

/// Test data, as an rstest fixture (a plain function).
#[fixture]
fn greetings() -> Vec<(&'static str, &'static str)> {
    vec![("en", "hello"), ("fr", "bonjour"), ("de", "hallo")]
}

/// A value built asynchronously, as an async rstest fixture.
#[fixture]
async fn large_value() -> String {
    tokio::task::spawn_blocking(|| "x".repeat(64 * 1024))
        .await
        .unwrap_or_default()
}

/// Fixtures fill the parameters that are neither the environment nor a
/// case: `greetings` by name, `large_value` awaited (`#[future(awt)]`).
#[tmpnet_test]
async fn fixtures_fill_the_test_data(
    env: &TestEnvironment,
    greetings: Vec<(&'static str, &'static str)>,
    #[future(awt)] large_value: String,
) -> TestResult {
    let node = KvClient::new(&env.random_node_uri().await?);
    let slot = env.slot();
    for (lang, word) in &greetings {
        node.put(&format!("greeting-{lang}-{slot}"), word).await?;
    }
    node.put(&format!("large-{slot}"), &large_value).await?;
    for uri in env.node_uris().await? {
        let other = KvClient::new(&uri);
        for (lang, word) in &greetings {
            other
                .wait_for(
                    &format!("greeting-{lang}-{slot}"),
                    word,
                    Duration::from_secs(1),
                )
                .await?;
        }
        other
            .wait_for(
                &format!("large-{slot}"),
                &large_value,
                Duration::from_secs(1),
            )
            .await?;
    }
    Ok(())
}
