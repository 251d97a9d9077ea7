//! Who owns a network the harness created, so a later run can reap what a
//! killed run left behind.
//!
//! `<network dir>/owner.json` names the process whose end should stop the
//! network: the harness itself under `cargo test`, the nextest runner under
//! nextest. A network whose owner is gone is stopped by the next harness run
//! under the same root (and, under nextest, by the reaper as soon as the run
//! ends). Networks kept on purpose (`--reuse-network`) have no owner.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::model::layout;
use crate::network::{Network, NetworkSpec};
use crate::sys::{files, pids};

/// File name of the owner record.
pub const OWNER_FILE: &str = "owner.json";

/// File name of the record of the runner Job a relaunch made for the
/// network (deleted with the network when its owner is gone).
#[cfg(feature = "kube")]
pub const RUNNER_FILE: &str = "runner-job.json";

/// The runner Job a relaunch runs against a network it owns.
#[cfg(feature = "kube")]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunnerRecord {
    /// The Job's name.
    pub job: String,
}

/// A process, identified beyond its pid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Owner {
    /// Its pid.
    pub pid: u32,
    /// Its start time in clock ticks since boot.
    pub start_ticks: u64,
}

impl Owner {
    /// The process `pid`, if it is alive.
    pub fn of(pid: u32) -> Option<Owner> {
        pids::start_ticks(pid).map(|start_ticks| Owner { pid, start_ticks })
    }

    /// This process.
    pub fn me() -> Option<Owner> {
        Owner::of(std::process::id())
    }

    /// Whether the process is still alive (and is the same process).
    pub fn alive(&self) -> bool {
        pids::is_alive(self.pid, self.start_ticks)
    }
}

/// Records `owner` as the owner of the network in `dir`.
pub fn claim(dir: &Path, owner: &Owner) -> Result<()> {
    files::write_json(&dir.join(OWNER_FILE), owner)
}

/// Removes the owner record (the network was stopped on purpose).
pub fn release(dir: &Path) -> Result<()> {
    files::remove_if_exists(&dir.join(OWNER_FILE))
}

/// Networks this process started and must stop if it is interrupted, and
/// whether their directories are kept when they pass. Once closed by an
/// interrupt, no network is added: a test still running when the signal
/// came cannot start a network nobody would stop.
#[derive(Debug, Default)]
pub(crate) struct OwnedNetworks(Mutex<Owned>, std::sync::atomic::AtomicBool);

#[derive(Debug, Default)]
struct Owned {
    networks: Vec<Network>,
    /// Closed by a signal: the exit code that reports it.
    closed: Option<u8>,
}

impl OwnedNetworks {
    /// Keeps (or not) the directories of networks no failed test ran on.
    pub(crate) fn keep_directories(&self, keep: bool) {
        self.1.store(keep, std::sync::atomic::Ordering::Relaxed);
    }

    /// Registers a network; refused once closed by an interrupt.
    pub(crate) fn add(&self, network: &Network) -> Result<()> {
        let mut owned = self.lock();
        if let Some(exit_code) = owned.closed {
            return Err(Error::Interrupted { exit_code });
        }
        owned.networks.push(network.clone());
        Ok(())
    }

    pub(crate) fn remove(&self, dir: &Path) {
        self.lock().networks.retain(|n| n.dir() != dir);
    }

    /// On an interrupt (reported by `exit_code`): the networks to stop;
    /// none is added after this.
    pub(crate) fn close(&self, exit_code: u8) -> Vec<Network> {
        let mut owned = self.lock();
        owned.closed = Some(exit_code);
        std::mem::take(&mut owned.networks)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Owned> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Creates a network for `spec` owned by `owner`, registered in `owned`
/// before it starts (so a run interrupted or killed during the start stops
/// it, now or on the next run), then starts it. A failed start has stopped
/// its nodes: the owner record is released and the network leaves `owned`.
pub(crate) async fn start_owned(
    spec: &NetworkSpec,
    owner: Option<&Owner>,
    owned: &OwnedNetworks,
    timeout: Duration,
) -> Result<Network> {
    // A cluster out of reach fails here, before a directory is made.
    spec.check().await?;
    let network = Network::create(spec)?;
    if let Some(owner) = owner {
        claim(network.dir(), owner)?;
    }
    // Nothing of it runs yet: after an interrupt it is never started.
    owned.add(&network)?;
    let since = crate::collector::now_ms();
    if let Err(e) = network.start(timeout).await {
        if network.running_nodes().await.is_ok_and(|r| r.is_empty()) {
            release(network.dir())?;
            owned.remove(network.dir());
        }
        return Err(e);
    }
    if let Err(e) = crate::collector::write_links(&network, since) {
        tracing::warn!(network = %network.dir().display(), error = %e, "cannot write the metrics links");
    }
    Ok(network)
}

/// Stops a network this process owns; its owner record is released and it
/// leaves `owned` only once the stop succeeded.
pub(crate) async fn stop_and_release(owned: &OwnedNetworks, network: &Network) -> Result<()> {
    network.stop().await?;
    release(network.dir())?;
    owned.remove(network.dir());
    Ok(())
}

/// Stops a network at the end of its use (not on an interrupt): as
/// [`stop_and_release`], then its directory is removed unless a failed
/// test ran on it or directories are kept (`--keep-networks`).
pub(crate) async fn retire(owned: &OwnedNetworks, network: &Network) -> Result<()> {
    stop_and_release(owned, network).await?;
    if !owned.1.load(std::sync::atomic::Ordering::Relaxed) {
        crate::network::discard_if_passed(network)?;
    }
    Ok(())
}

/// Stops every network under `root` whose owner is gone; returns their
/// directories. Problems with one network are logged and do not stop the
/// sweep.
pub async fn sweep(root: &Path) -> Vec<PathBuf> {
    let Ok(dirs) = layout::list_network_dirs(root) else {
        return Vec::new();
    };
    let mut reaped = Vec::new();
    for dir in dirs {
        let Ok(Some(owner)) = files::read_json_opt::<Owner>(&dir.join(OWNER_FILE)) else {
            continue;
        };
        if owner.alive() {
            continue;
        }
        match Network::load(&dir) {
            Ok(network) => match delete_runner_job(&network)
                .await
                .and(network.stop().await)
                .and_then(|()| release(&dir))
            {
                Ok(()) => reaped.push(dir),
                Err(e) => tracing::warn!(dir = %dir.display(), error = %e, "cannot reap"),
            },
            Err(e) => {
                tracing::warn!(dir = %dir.display(), error = %e, "cannot load an orphaned network to reap it");
            }
        }
    }
    reaped
}

/// A build without Kubernetes made no runner Job.
#[cfg(not(feature = "kube"))]
async fn delete_runner_job(_: &Network) -> Result<()> {
    Ok(())
}

/// Deletes the runner Job recorded for `network` (a relaunch killed before
/// it could), if any.
#[cfg(feature = "kube")]
async fn delete_runner_job(network: &Network) -> Result<()> {
    let path = network.dir().join(RUNNER_FILE);
    let (Some(record), crate::model::RuntimeSettings::Kube(settings)) = (
        files::read_json_opt::<RunnerRecord>(&path)?,
        &network.config().runtime,
    ) else {
        return Ok(());
    };
    crate::runner::Runner::connect(settings)
        .await?
        .delete(&record.job)
        .await?;
    files::remove_if_exists(&path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_network_is_added_once_an_interrupt_closed_the_list() {
        let root = tempfile::tempdir().unwrap();
        let spec = NetworkSpec::new(root.path(), 1).with_node_path("/bin/true");
        let (a, b) = (
            Network::create(&spec).unwrap(),
            Network::create(&spec).unwrap(),
        );
        let owned = OwnedNetworks::default();
        owned.add(&a).unwrap();
        let to_stop = owned.close(130);
        assert_eq!(to_stop.len(), 1);
        assert!(matches!(
            owned.add(&b),
            Err(Error::Interrupted { exit_code: 130 })
        ));
        assert!(owned.close(130).is_empty(), "b was never registered");
    }

    #[test]
    fn owner_identity_survives_only_while_the_process_lives() {
        let me = Owner::me().unwrap();
        assert!(me.alive());
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        assert!(Owner::of(pid).is_none());
        let impostor = Owner {
            pid: me.pid,
            start_ticks: me.start_ticks + 7,
        };
        assert!(!impostor.alive());
    }

    #[test]
    fn claim_and_release() {
        let dir = tempfile::tempdir().unwrap();
        claim(dir.path(), &Owner::me().unwrap()).unwrap();
        assert!(dir.path().join(OWNER_FILE).is_file());
        release(dir.path()).unwrap();
        release(dir.path()).unwrap();
        assert!(!dir.path().join(OWNER_FILE).exists());
    }
}
