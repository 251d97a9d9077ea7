//! Turning registered tests into libtest-mimic trials, and running one:
//! its network, its slot, its timeout, its cleanups, its failure report.

use std::fs::File;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use libtest_mimic::{Failed, Trial};
use tokio::runtime::Handle;
use tokio::sync::OnceCell;

use super::env::{stop_owned, TestEnvironment};
use super::owner::{self, OwnedNetworks, Owner};
use super::registry::{TestDescriptor, TESTS};
use super::shared::{self, SharedNetwork};
use crate::error::Error;
use crate::network::{LogLine, LogQuery, Network};

/// A test's timeout unless it sets one.
pub const DEFAULT_TEST_TIMEOUT: Duration = Duration::from_secs(120);
/// Log lines copied per node into a failed test's artifacts.
const ARTIFACT_LOG_LINES: usize = 200;
/// Log lines of all nodes printed, merged, when a test fails.
const MERGED_LOG_LINES: usize = 30;

/// What every trial shares.
pub struct State {
    handle: Handle,
    pub(super) shared: SharedNetwork,
    pub(super) owned: Arc<OwnedNetworks>,
    network: OnceCell<Result<Network, Arc<Error>>>,
    slots: Mutex<Vec<bool>>,
}

impl State {
    pub fn new(handle: Handle, shared: SharedNetwork) -> State {
        State {
            handle,
            owned: shared.owned.clone(),
            shared,
            network: OnceCell::new(),
            slots: Mutex::new(Vec::new()),
        }
    }

    /// The shared network, created (or attached to) by the first test that
    /// needs it. A failure is remembered: later tests fail with it at once.
    async fn shared_network(&self) -> Result<Network, Arc<Error>> {
        self.network
            .get_or_init(|| async { self.shared.acquire().await.map_err(Arc::new) })
            .await
            .clone()
    }

    /// The shared network, if a test started it.
    pub fn shared_if_started(&self) -> Option<Network> {
        self.network.get().and_then(|r| r.as_ref().ok()).cloned()
    }

    fn take_slot(&self) -> Slot<'_> {
        if let Some(slot) = std::env::var("NEXTEST_TEST_GLOBAL_SLOT")
            .ok()
            .and_then(|v| v.parse().ok())
        {
            return Slot {
                state: None,
                index: slot,
            };
        }
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        let index = slots.iter().position(|used| !used).unwrap_or(slots.len());
        if index == slots.len() {
            slots.push(true);
        } else {
            slots[index] = true;
        }
        Slot {
            state: Some(self),
            index,
        }
    }

    /// Serial tests hold the suite's lock exclusively, the others shared,
    /// across every process of the run.
    fn serial_lock(&self, exclusive: bool) -> Result<File, Error> {
        let name = format!("{}.serial", self.shared.suite);
        shared::lock_blocking(&self.shared.spec.root_dir, &name, exclusive)
    }
}

/// A slot index held for one test.
struct Slot<'a> {
    state: Option<&'a State>,
    index: usize,
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        if let Some(state) = self.state {
            let mut slots = state.slots.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(used) = slots.get_mut(self.index) {
                *used = false;
            }
        }
    }
}

/// Trials for `--list`: names and ignore flags only, nothing started.
pub fn listing() -> Vec<Trial> {
    TESTS
        .iter()
        .map(|d| Trial::test(d.full_name(), || Ok(())).with_ignored_flag(d.ignore))
        .collect()
}

/// Trials that run the tests.
pub fn runnable(state: &Arc<State>) -> Vec<Trial> {
    TESTS
        .iter()
        .map(|d| {
            let state = state.clone();
            Trial::test(d.full_name(), move || run_one(&state, d)).with_ignored_flag(d.ignore)
        })
        .collect()
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a non-text panic".into())
}

fn run_one(state: &State, d: &'static TestDescriptor) -> Result<(), Failed> {
    let _serial = state.serial_lock(d.serial).map_err(|e| e.to_string())?;
    let slot = state.take_slot();
    let timeout = match d.timeout_ms {
        0 => DEFAULT_TEST_TIMEOUT,
        ms => Duration::from_millis(ms),
    };
    let env = state
        .handle
        .block_on(prepare(state, d, slot.index, timeout))?;
    let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| {
        state
            .handle
            .block_on(async { tokio::time::timeout(timeout, (d.run)(&env)).await })
    }));
    let verdict = match outcome {
        Ok(Ok(Ok(()))) => Ok(()),
        Ok(Ok(Err(message))) => Err(message),
        Ok(Err(_)) => Err(format!(
            "timed out after {timeout:?} (set #[tmpnet_test(timeout = \"...\")] to allow longer)"
        )),
        Err(payload) => Err(format!("panicked: {}", panic_message(payload.as_ref()))),
    };
    if let Err(message) = &verdict {
        report_failure(&env, d, message);
        state.handle.block_on(print_merged_logs(&env, message));
    }
    state.handle.block_on(env.finish());
    if d.nodes > 0 {
        state
            .handle
            .block_on(stop_owned(&state.owned, env.network()));
    }
    drop(slot);
    verdict.map_err(Failed::from)
}

/// The test's network (shared, or private with `nodes = N`) and environment.
async fn prepare(
    state: &State,
    d: &TestDescriptor,
    slot: usize,
    timeout: Duration,
) -> Result<TestEnvironment, String> {
    let spec = state.shared.spec.clone();
    let network = if d.nodes > 0 {
        let mut private = spec.clone();
        private.node_count = d.nodes;
        private.owner = d.full_name();
        let owner = Owner::me();
        owner::start_owned(&private, owner.as_ref(), &state.owned, state.shared.timeout)
            .await
            .map_err(|e| format!("cannot start the test's private network: {e}"))?
    } else {
        state
            .shared_network()
            .await
            .map_err(|e| format!("cannot start the shared network: {e}"))?
    };
    TestEnvironment::new(
        network,
        d.full_name(),
        slot,
        spec,
        timeout,
        state.owned.clone(),
    )
    .map_err(|e| e.to_string())
}

/// Prints the last lines of every node of the test's networks, merged in
/// time order, each prefixed with its node, so a failure reads as what the
/// network did (node by node, the nodes the failure names first, when time
/// order would leave a node out).
async fn print_merged_logs(env: &TestEnvironment, failure: &str) {
    let query = LogQuery {
        tail: Some(MERGED_LOG_LINES),
        ..LogQuery::default()
    };
    for network in env.networks() {
        let Ok((lines, _)) = network.logs(&query).await else {
            continue;
        };
        let width = lines.iter().map(|l| l.node.len()).max().unwrap_or(0);
        let (shown, order) = last_lines(&lines, MERGED_LOG_LINES, failure);
        let mut text = format!(
            "  last {} log lines of {} (all nodes, {order}):\n",
            shown.len(),
            network.dir().display()
        );
        for line in shown {
            text.push_str(&format!("    {:<width$} | {}\n", line.node, line.text));
        }
        eprint!("{text}");
    }
}

/// The last `count` of `lines` (merged in time order) and how they are
/// ordered: in time order when every node's lines carry times and each
/// node has lines among the last; else node by node, each node's last
/// lines in its own order, the nodes `failure` names first, so that no
/// node is crowded out (by a chatty one, or by lines whose time is
/// unknown).
fn last_lines<'a>(
    lines: &'a [LogLine],
    count: usize,
    failure: &str,
) -> (Vec<&'a LogLine>, &'static str) {
    let mut nodes: Vec<&str> = Vec::new();
    for line in lines {
        if !nodes.contains(&line.node.as_str()) {
            nodes.push(&line.node);
        }
    }
    let timed = |node: &str| lines.iter().any(|l| l.node == node && l.at.is_some());
    let window = &lines[lines.len().saturating_sub(count)..];
    let in_window = |node: &str| window.iter().any(|l| l.node == node);
    if nodes.iter().all(|n| timed(n) && in_window(n)) {
        return (window.iter().collect(), "in time order");
    }
    let why = if nodes.iter().all(|n| timed(n)) {
        "node by node, the failing first, as some nodes wrote more"
    } else {
        "node by node, the failing first, as not every line carries a timestamp"
    };
    // Stable: the named nodes first, each group in its first order.
    nodes.sort_by_key(|node| !failure.contains(node));
    let share = (count / nodes.len().max(1)).max(1);
    let shown = nodes
        .iter()
        .flat_map(|node| {
            let own: Vec<&LogLine> = lines.iter().filter(|l| l.node == *node).collect();
            own[own.len().saturating_sub(share)..].to_vec()
        })
        .collect();
    (shown, why)
}

/// Names the network dirs, marks them failed (so they are kept) and copies
/// each node's log tail into the test's artifact dir.
fn report_failure(env: &TestEnvironment, d: &TestDescriptor, message: &str) {
    let logs = env.test_dir().join("logs");
    let _ = std::fs::create_dir_all(&logs);
    for network in env.networks() {
        // Kept for diagnosis when the run ends.
        if let Err(e) = crate::network::mark_failed(&network, env.test_name()) {
            tracing::warn!(network = %network.dir().display(), error = %e, "cannot mark a network failed");
        }
        eprintln!(
            "test {} ({}:{}) failed: {message}\n  network: {}\n  artifacts: {}",
            env.test_name(),
            d.file,
            d.line,
            network.dir().display(),
            env.test_dir().display()
        );
        let mut nodes = network.node_records();
        nodes.extend(network.ephemeral_records().unwrap_or_default());
        for node in nodes {
            let tail = node.log_tail(ARTIFACT_LOG_LINES).join("\n");
            let _ = std::fs::write(logs.join(format!("{}.log", node.id())), tail + "\n");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(node: &str, at: Option<u64>, text: &str) -> LogLine {
        LogLine {
            node: node.into(),
            at: at.map(|s| std::time::UNIX_EPOCH + Duration::from_secs(s)),
            text: text.into(),
        }
    }

    #[test]
    fn a_failure_report_shows_every_node_even_when_times_are_unknown() {
        // A line before a node's first timestamp (a banner) has no time;
        // the node's others do: still time order.
        let timed = [
            line("b", None, "banner"),
            line("a", Some(1), "a1"),
            line("b", Some(2), "b1"),
            line("a", Some(3), "a2"),
        ];
        let (shown, order) = last_lines(&timed, 3, "");
        assert_eq!(order, "in time order");
        assert_eq!(
            shown.iter().map(|l| l.text.as_str()).collect::<Vec<_>>(),
            ["a1", "b1", "a2"]
        );
        // Node b's lines have no time (they sort first in the merge): each
        // node still gets its share, its last lines in its own order.
        let mixed = [
            line("b", None, "b1"),
            line("b", None, "b2"),
            line("b", None, "b3"),
            line("a", Some(1), "a1"),
            line("a", Some(2), "a2"),
            line("a", Some(3), "a3"),
        ];
        let (shown, order) = last_lines(&mixed, 4, "");
        assert!(order.starts_with("node by node"), "{order}");
        assert_eq!(
            shown.iter().map(|l| l.text.as_str()).collect::<Vec<_>>(),
            ["b2", "b3", "a2", "a3"]
        );
        // Every line timed, but a chatty node would crowd the failing one
        // out: node by node, the node the failure names first.
        let chatty = [
            line("quiet", Some(1), "q1"),
            line("loud", Some(2), "l1"),
            line("loud", Some(3), "l2"),
            line("loud", Some(4), "l3"),
            line("loud", Some(5), "l4"),
        ];
        let (shown, order) = last_lines(&chatty, 4, "node quiet failed to start");
        assert!(order.contains("some nodes wrote more"), "{order}");
        assert_eq!(
            shown.iter().map(|l| l.text.as_str()).collect::<Vec<_>>(),
            ["q1", "l3", "l4"]
        );
        let (shown, _) = last_lines(&mixed, 4, "a is down");
        assert_eq!(
            shown.iter().map(|l| l.text.as_str()).collect::<Vec<_>>(),
            ["a2", "a3", "b2", "b3"]
        );
    }
}
