//! [`TestEnvironment`]: what each `#[tmpnet_test]` receives.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::owner::{self, OwnedNetworks, Owner};
use crate::error::{Error, Result};
use crate::helpers;
use crate::network::{Network, NetworkSpec, NodeHandle};
use crate::sys::files;

type Cleanup = Box<dyn FnOnce() -> Pin<Box<dyn Future<Output = ()> + Send>> + Send>;

/// A test's view of its network, the same whatever the runtime.
pub struct TestEnvironment {
    network: Network,
    name: String,
    slot: usize,
    test_dir: PathBuf,
    spec: NetworkSpec,
    timeout: Duration,
    owned: Arc<OwnedNetworks>,
    cleanups: Mutex<Vec<Cleanup>>,
    private: Mutex<Vec<Network>>,
}

impl std::fmt::Debug for TestEnvironment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestEnvironment")
            .field("test", &self.name)
            .field("network", &self.network.dir())
            .field("slot", &self.slot)
            .finish_non_exhaustive()
    }
}

impl TestEnvironment {
    pub(crate) fn new(
        network: Network,
        name: String,
        slot: usize,
        spec: NetworkSpec,
        timeout: Duration,
        owned: Arc<OwnedNetworks>,
    ) -> Result<TestEnvironment> {
        let safe: String = name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let test_dir = network.dir().join("tests").join(safe);
        files::create_dir_all(&test_dir)?;
        Ok(TestEnvironment {
            network,
            name,
            slot,
            test_dir,
            spec,
            timeout,
            owned,
            cleanups: Mutex::new(Vec::new()),
            private: Mutex::new(Vec::new()),
        })
    }

    /// The network this test runs against (the shared one, or the test's
    /// private one with `#[tmpnet_test(nodes = N)]`).
    pub fn network(&self) -> &Network {
        &self.network
    }

    /// The test's full name, e.g. `kv::value_propagates`.
    pub fn test_name(&self) -> &str {
        &self.name
    }

    /// A number no other test running at the same time has (from 0; reused
    /// once that test ends), for picking keys or accounts that must not be
    /// shared. Under nextest it is `NEXTEST_TEST_GLOBAL_SLOT`.
    pub fn slot(&self) -> usize {
        self.slot
    }

    /// A directory for this test's artifacts; on failure the harness copies
    /// each node's log tail into `logs/` here.
    pub fn test_dir(&self) -> &Path {
        &self.test_dir
    }

    /// Handles on the network's bootstrap nodes, in order: each with its
    /// id, URI and health.
    pub fn nodes(&self) -> Vec<NodeHandle> {
        self.network.nodes()
    }

    /// The API URIs of the network's running nodes, reachable from here.
    pub async fn node_uris(&self) -> Result<Vec<String>> {
        self.network.node_uris().await
    }

    /// Restarts every node of the network and waits until all are healthy
    /// again, within the test's start timeout.
    pub async fn restart_network(&self) -> Result<()> {
        self.network.restart(self.timeout).await
    }

    /// Waits until `check` returns `Ok(true)`, asking again every 20 ms; an
    /// `Err` counts as not yet (a node restarting refuses connections). On
    /// timeout the error names `what` and the last error seen.
    pub async fn wait_until<F, Fut, E>(&self, what: &str, timeout: Duration, check: F) -> Result<()>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = std::result::Result<bool, E>>,
        E: std::fmt::Display,
    {
        helpers::wait_until(what, timeout, check).await
    }

    /// The API URI of one running node, chosen at random.
    pub async fn random_node_uri(&self) -> Result<String> {
        let uris = self.node_uris().await?;
        if uris.is_empty() {
            return Err(Error::NoRunningNode {
                dir: self.network.dir().to_owned(),
            });
        }
        let pick = (uuid::Uuid::new_v4().as_u128() % uris.len() as u128) as usize;
        Ok(uris[pick].clone())
    }

    /// Starts a network of `nodes` nodes for this test alone; it is stopped
    /// when the test ends, whatever the outcome.
    pub async fn start_private_network(&self, nodes: usize) -> Result<Network> {
        let mut spec = self.spec.clone();
        spec.node_count = nodes;
        spec.owner = self.name.clone();
        let network =
            owner::start_owned(&spec, Owner::me().as_ref(), &self.owned, self.timeout).await?;
        self.private
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(network.clone());
        Ok(network)
    }

    /// Adds a node that is not a bootstrap peer to the network, healthy and
    /// connected; it is stopped when the test ends.
    pub async fn add_ephemeral_node(&self) -> Result<NodeHandle> {
        let node = self.network.create_ephemeral_node()?;
        let stopped = node.clone();
        self.cleanup(move || async move {
            if let Err(e) = stopped.stop().await {
                tracing::warn!(node = stopped.id(), error = %e, "cannot stop an ephemeral node");
            }
        });
        self.network
            .start_ephemeral_node(&node, self.timeout)
            .await?;
        Ok(node)
    }

    /// Registers work to run when the test ends (pass or fail), in reverse
    /// order of registration.
    pub fn cleanup<F, Fut>(&self, f: F)
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.cleanups
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(Box::new(move || Box::pin(f())));
    }

    /// Every network this test used: its own, then its private ones.
    pub(crate) fn networks(&self) -> Vec<Network> {
        let mut all = vec![self.network.clone()];
        all.extend(
            self.private
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .iter()
                .cloned(),
        );
        all
    }

    /// Runs the registered cleanups (last first), then stops the private
    /// networks started through [`TestEnvironment::start_private_network`].
    /// A cleanup that panics is reported and the others still run.
    pub(crate) async fn finish(&self) {
        let cleanups =
            std::mem::take(&mut *self.cleanups.lock().unwrap_or_else(|p| p.into_inner()));
        for cleanup in cleanups.into_iter().rev() {
            if let Err(e) = tokio::spawn(cleanup()).await {
                eprintln!("a cleanup of test {} failed: {e}", self.name);
            }
        }
        let private = std::mem::take(&mut *self.private.lock().unwrap_or_else(|p| p.into_inner()));
        for network in private {
            stop_owned(&self.owned, &network).await;
        }
    }
}

/// Stops a network this process owns at the end of its use; its owner
/// record is released and it leaves the interrupt list only once the stop
/// succeeded; its directory goes unless a failed test ran on it.
pub(crate) async fn stop_owned(owned: &OwnedNetworks, network: &Network) {
    if let Err(e) = owner::retire(owned, network).await {
        eprintln!("error: cannot stop {}: {e}", network.dir().display());
    }
}
