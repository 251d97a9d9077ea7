//! A 3-member etcd cluster: one membership and one leader, a write that
//! reaches every member, and a restart that keeps it.

use std::time::Duration;

use tmpnet_example_etcd::Client;
use tmpnet_fixture::{tmpnet_test, TestEnvironment, TestResult};

async fn clients(env: &TestEnvironment) -> TestResult<Vec<Client>> {
    Ok(env
        .node_uris()
        .await?
        .into_iter()
        .map(Client::new)
        .collect())
}

/// Every member lists every node of the network and follows the same
/// leader: they are connected to each other.
#[tmpnet_test(nodes = 3, timeout = "60s")]
async fn members_know_each_other_and_agree_on_a_leader(env: &TestEnvironment) -> TestResult {
    let mut ids: Vec<String> = env.nodes().iter().map(|n| n.id().to_owned()).collect();
    ids.sort();
    let mut leaders = Vec::new();
    for client in clients(env).await? {
        let names = client.member_names().await?;
        if names != ids {
            return Err(format!("a member sees {names:?}, the network has {ids:?}").into());
        }
        leaders.push(client.leader().await?);
    }
    leaders.dedup();
    if leaders.len() != 1 || leaders[0] == "0" {
        return Err(format!("members follow different leaders: {leaders:?}").into());
    }
    Ok(())
}

async fn everyone_has(env: &TestEnvironment, key: &str, value: &str) -> TestResult {
    let clients = clients(env).await?;
    env.wait_until(
        &format!("every member has {key}={value}"),
        Duration::from_secs(10),
        || async {
            for c in &clients {
                if c.get_local(key).await?.as_deref() != Some(value) {
                    return Ok::<_, String>(false);
                }
            }
            Ok(true)
        },
    )
    .await?;
    Ok(())
}

/// What etcd exists for: a write committed through one member is in every
/// member's own copy; after a restart of the whole network it still is.
#[tmpnet_test(nodes = 3, timeout = "90s")]
async fn a_write_reaches_every_member_and_survives_a_restart(env: &TestEnvironment) -> TestResult {
    let first = clients(env).await?.remove(0);
    first.put("greeting", "hello from member 0").await?;
    everyone_has(env, "greeting", "hello from member 0").await?;
    env.restart_network().await?;
    everyone_has(env, "greeting", "hello from member 0").await?;
    // The restarted cluster still takes writes.
    let last = clients(env).await?.remove(2);
    last.put("after", "restart").await?;
    everyone_has(env, "after", "restart").await
}
