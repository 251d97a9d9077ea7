//! Stopping a network whose records cannot be read (its `config.json`
//! corrupt or gone, which [`Network::load`] refuses): its node processes
//! carry their node directory, which is enough to find and stop them.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{lock, Network};
use crate::error::Result;
use crate::model::network::EPHEMERAL_DIR;
use crate::sys::pids;

/// How long processes stopped without their kind's records (which hold its
/// own grace period and stop signal) get after SIGTERM before SIGKILL.
const GRACE: Duration = Duration::from_secs(10);

impl Network {
    /// Stops every process that carries a node directory of the network at
    /// `dir` (a bootstrap or an ephemeral node's): SIGTERM, then SIGKILL
    /// after 10 s, reading none of the network's records. For a network
    /// whose `config.json` is corrupt or gone, which [`Network::load`]
    /// refuses. Holds the network's lock; returns the pids stopped (none
    /// when nothing ran).
    pub async fn stop_unreadable(dir: &Path) -> Result<Vec<u32>> {
        let dir = canonical(dir);
        // Nothing of it runs: nothing to lock or wait for.
        if processes_of(&dir).is_empty() {
            return Ok(Vec::new());
        }
        let _lock = lock::lock(&dir).await?;
        crate::runtime::process::stop_found(
            || processes_of(&dir),
            libc::SIGTERM,
            GRACE,
            || format!("(a node of {})", dir.display()),
        )
        .await
    }
}

/// The live processes that carry a node directory of the network at `dir`
/// (a bootstrap node's, `dir/<id>`, or an ephemeral one's).
pub(super) fn processes_of(dir: &Path) -> Vec<u32> {
    let dir = canonical(dir);
    let ephemeral = dir.join(EPHEMERAL_DIR);
    pids::node_dirs()
        .into_iter()
        .filter(|(node_dir, _)| {
            canonical(Path::new(node_dir))
                .parent()
                .is_some_and(|parent| parent == dir || parent == ephemeral)
        })
        .flat_map(|(_, pids)| pids)
        .collect()
}

/// `path` with its links resolved, or as given when it cannot be.
fn canonical(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned())
}
