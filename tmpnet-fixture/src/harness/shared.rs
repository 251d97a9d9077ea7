//! The network shared by every test of a run, and how processes agree on it.
//!
//! | mode | which network | after the run |
//! |---|---|---|
//! | `--network-dir D` | exactly `D` (started if stopped) | left running |
//! | `--reuse-network` / `--restart-network` | `<root>/networks/reuse-<suite>` (created if missing) | left running |
//! | nextest (`NEXTEST_RUN_ID`) | one per nextest run: the first test process creates it under a file lock, the others attach | stopped by a reaper process when the nextest run ends |
//! | `cargo test` | created by the first test that needs it | stopped by the harness |

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::owner::{self, OwnedNetworks, Owner};
use crate::error::{Error, Result};
use crate::model::layout;
use crate::model::network::CONFIG_FILE;
use crate::network::{Network, NetworkSpec};
use crate::sys::files;

/// Environment variable that turns a harness binary into a reaper.
pub const REAP_DIR_ENV: &str = "TMPNET_HARNESS_REAP_DIR";

/// Where the shared network comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// Exactly this directory, restarted first if asked.
    Explicit {
        /// The network directory.
        dir: PathBuf,
        /// Restart its nodes before use.
        restart: bool,
    },
    /// The suite's reusable network, restarted first if asked.
    Reuse {
        /// Restart its nodes before use.
        restart: bool,
    },
    /// One network per nextest run, owned by the nextest process.
    Nextest {
        /// `NEXTEST_RUN_ID`.
        run_id: String,
        /// The nextest process (this process's parent).
        runner: u32,
    },
    /// Created and stopped by this process.
    Owned,
    /// A Kubernetes network attached to by name: the runner in a Job. It
    /// stops the network at the end only when the Job owns it.
    Attached {
        /// The network's name (its state ConfigMap).
        name: String,
        /// Whether this process stops it at the end.
        owned: bool,
    },
}

impl Source {
    /// Whether this process must stop the network at the end of the run.
    pub fn owned(&self) -> bool {
        matches!(self, Source::Owned | Source::Attached { owned: true, .. })
    }
}

/// Everything needed to find or create the shared network.
#[derive(Debug, Clone)]
pub struct SharedNetwork {
    /// Where it comes from.
    pub source: Source,
    /// The spec of a new one (root dir, kind, count, binary).
    pub spec: NetworkSpec,
    /// The suite's name (the test binary's crate name).
    pub suite: String,
    /// How long a start may take.
    pub timeout: Duration,
    /// Networks this process must stop if it is interrupted.
    pub owned: Arc<OwnedNetworks>,
    /// Keep every network directory (`--keep-networks`), not only those a
    /// failed test ran on.
    pub keep_networks: bool,
}

/// Takes a lock on `<root>/locks/<name>.lock` (exclusive, or shared),
/// waiting for it; it is held until the file is dropped.
pub(crate) fn lock_blocking(root: &Path, name: &str, exclusive: bool) -> Result<File> {
    let dir = layout::locks_dir(root);
    files::create_dir_all(&dir)?;
    let path = dir.join(format!("{name}.lock"));
    let file = files::open_lock_file(&path)?;
    let locked = if exclusive {
        file.lock()
    } else {
        file.lock_shared()
    };
    locked.map_err(|e| Error::io("cannot lock", &path, e))?;
    Ok(file)
}

/// Takes an exclusive lock on `<root>/locks/<name>.lock`, waiting for it
/// off the async threads.
async fn lock(root: &Path, name: &str) -> Result<File> {
    let (root, name) = (root.to_owned(), name.to_owned());
    tokio::task::spawn_blocking(move || lock_blocking(&root, &name, true))
        .await
        .map_err(|e| Error::Task {
            what: "file lock",
            source: e,
        })?
}

impl SharedNetwork {
    /// The link naming the suite's reusable network.
    pub fn reuse_link(&self) -> PathBuf {
        layout::networks_dir(&self.spec.root_dir).join(format!("reuse-{}", self.suite))
    }

    fn nextest_link(&self, run_id: &str) -> PathBuf {
        layout::networks_dir(&self.spec.root_dir).join(layout::nextest_run_name(run_id))
    }

    /// Finds or creates the shared network and makes sure it runs.
    pub async fn acquire(&self) -> Result<Network> {
        match &self.source {
            Source::Explicit { dir, restart } => {
                let network = Network::load(dir)?;
                let _guard = lock(&self.spec.root_dir, &lock_name(network.dir())).await?;
                self.ensure_running(network, *restart).await
            }
            Source::Reuse { restart } => {
                let _guard = lock(&self.spec.root_dir, &format!("reuse-{}", self.suite)).await?;
                match self.follow(&self.reuse_link())? {
                    Some(network) => self.ensure_running(network, *restart).await,
                    None => {
                        // Owned while it starts, so an interrupted or killed
                        // start is stopped; kept (no owner) once it runs.
                        let network = self.create(Owner::me().as_ref()).await?;
                        self.owned.remove(network.dir());
                        owner::release(network.dir())?;
                        files::replace_symlink(network.dir(), &self.reuse_link())?;
                        Ok(network)
                    }
                }
            }
            Source::Nextest { run_id, runner } => {
                let _guard = lock(&self.spec.root_dir, &layout::nextest_run_name(run_id)).await?;
                let link = self.nextest_link(run_id);
                if let Some(network) = self.follow(&link)? {
                    return Ok(network);
                }
                let owner = Owner::of(*runner).ok_or_else(|| Error::NotRunning {
                    node: format!("nextest runner {runner}"),
                    detail: "it ended before the shared network was made".into(),
                    log_tail: Vec::new(),
                })?;
                let network = self.create(Some(&owner)).await?;
                files::replace_symlink(network.dir(), &link)?;
                spawn_reaper(network.dir(), *runner, run_id)?;
                self.owned.remove(network.dir());
                Ok(network)
            }
            Source::Owned => self.create(Owner::me().as_ref()).await,
            Source::Attached { name, owned } => {
                let settings = self.spec.kube.as_ref().ok_or_else(|| {
                    Error::InvalidInput(format!(
                        "attaching to network {name} needs Kubernetes; set E2E_USE_KUBERNETES=true"
                    ))
                })?;
                let network = Network::attach(settings, name, &self.spec.root_dir).await?;
                if *owned {
                    self.owned.add(&network)?;
                }
                Ok(network)
            }
        }
    }

    /// The network the link points at, if the link and network exist.
    fn follow(&self, link: &Path) -> Result<Option<Network>> {
        match std::fs::read_link(link) {
            Ok(target) if target.join(CONFIG_FILE).is_file() => Network::load(&target).map(Some),
            _ => Ok(None),
        }
    }

    /// Starts what is stopped; restarts when asked, but under nextest only
    /// once per run (every test process would otherwise restart it under
    /// the feet of the others). Called under the network's lock.
    async fn ensure_running(&self, network: Network, restart: bool) -> Result<Network> {
        let marker = std::env::var("NEXTEST_RUN_ID")
            .ok()
            .map(|run| network.dir().join(format!("restarted-by-{run}")));
        let restart = restart && !marker.as_ref().is_some_and(|m| m.exists());
        let running = network.running_nodes().await?.len();
        if restart || (running > 0 && running < network.node_records().len()) {
            network.restart(self.timeout).await?;
            if let Some(marker) = marker {
                files::atomic_write(&marker, b"", 0o644)?;
            }
        } else if running == 0 {
            network.start(self.timeout).await?;
        }
        Ok(network)
    }

    /// Creates and starts a network, recording `owner` and registering it
    /// for interruption before the start, so that a run interrupted or
    /// killed during the start stops it (now, or on the next run).
    pub async fn create(&self, owner: Option<&Owner>) -> Result<Network> {
        owner::start_owned(&self.spec, owner, &self.owned, self.timeout).await
    }

    /// Stops the reusable network (or the explicit one); returns its dir.
    pub async fn stop_reusable(&self) -> Result<Option<PathBuf>> {
        let network = match &self.source {
            Source::Explicit { dir, .. } => Some(Network::load(dir)?),
            _ => self.follow(&self.reuse_link())?,
        };
        let Some(network) = network else {
            return Ok(None);
        };
        network.stop().await?;
        if !matches!(self.source, Source::Explicit { .. }) {
            files::remove_if_exists(&self.reuse_link())?;
        }
        Ok(Some(network.dir().to_owned()))
    }
}

/// A lock name for one network directory.
fn lock_name(dir: &Path) -> String {
    let name: String = dir
        .to_string_lossy()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    format!("dir-{name}")
}

/// Starts a detached copy of this binary that stops the network in `dir`
/// once process `watch` has ended, then removes the nextest run's link and
/// lock. Its output goes to `<dir>/reaper.log`, so it holds none of the
/// runner's pipes.
fn spawn_reaper(dir: &Path, watch: u32, run_id: &str) -> Result<()> {
    use std::os::unix::process::CommandExt;
    let exe =
        std::env::current_exe().map_err(|e| Error::io("cannot find", "the test binary", e))?;
    let log_path = dir.join("reaper.log");
    let log = File::create(&log_path).map_err(|e| Error::io("cannot create", &log_path, e))?;
    let log_err = log
        .try_clone()
        .map_err(|e| Error::io("cannot open", &log_path, e))?;
    std::process::Command::new(exe)
        .env(REAP_DIR_ENV, dir)
        .env("TMPNET_HARNESS_REAP_WATCH", watch.to_string())
        .env(REAP_RUN_ENV, run_id)
        .stdin(std::process::Stdio::null())
        .stdout(log)
        .stderr(log_err)
        .process_group(0)
        .spawn()
        .map_err(|e| Error::io("cannot start the reaper from", dir, e))?;
    Ok(())
}

/// The reaper's whole life: wait for the owner to end, then stop the network.
pub async fn reap_when_done(dir: &Path) -> Result<()> {
    let watch: u32 = std::env::var("TMPNET_HARNESS_REAP_WATCH")
        .ok()
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| {
            Error::Environment(
                "TMPNET_HARNESS_REAP_WATCH is not a pid; it is set only by the harness for its reaper".into(),
            )
        })?;
    if let Some(owner) = Owner::of(watch) {
        while owner.alive() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    eprintln!(
        "reaper {}: owner {watch} ended; stopping {}",
        std::process::id(),
        dir.display()
    );
    let network = Network::load(dir)?;
    network.stop().await?;
    owner::release(dir)?;
    // The run is over: its network goes unless a failed test ran on it.
    let keep = std::env::var(KEEP_NETWORKS_ENV)
        .is_ok_and(|v| matches!(v.to_ascii_lowercase().as_str(), "1" | "true" | "yes" | "on"));
    if !keep {
        crate::network::discard_if_passed(&network)?;
    }
    // No process of the run is left to take the run's lock or follow its
    // link: both go (a run killed before this is cleaned by prune).
    if let (Some(run_id), Some(root)) = (std::env::var_os(REAP_RUN_ENV), layout::root_of(dir)) {
        let name = layout::nextest_run_name(&run_id.to_string_lossy());
        files::remove_if_exists(&layout::networks_dir(&root).join(&name))?;
        files::remove_if_exists(&layout::locks_dir(&root).join(format!("{name}.lock")))?;
    }
    Ok(())
}

/// The nextest run id the reaper cleans up after.
const REAP_RUN_ENV: &str = "TMPNET_HARNESS_REAP_RUN";

/// The variable of `--keep-networks`, read by the reaper too.
pub const KEEP_NETWORKS_ENV: &str = "E2E_KEEP_NETWORKS";
