//! Stopping a node's processes: the stop signal to its process group and
//! to every process carrying its mark, the wait for them to go (SIGKILL
//! after the grace period), strays of nodes no longer listed, and the
//! cached scan for marked processes.

use std::time::{Duration, Instant};

use super::{ProcessRuntime, POLL};
use crate::error::{Error, Result};
use crate::model::{LaunchRecord, Node};
use crate::sys::{files, pids};

/// How long a scan of `/proc` for marked processes is reused.
const MARK_SCAN_TTL: Duration = Duration::from_millis(50);
/// How long to wait for a SIGKILLed process to disappear.
const KILL_WAIT: Duration = Duration::from_secs(5);

/// When marked processes were last looked for, and what was found.
pub(super) type MarkScan = (Option<Instant>, std::collections::HashMap<String, Vec<u32>>);

impl ProcessRuntime {
    /// Sends the kind's stop signal to the node's process group and to
    /// every process carrying its mark; removes stale state files when
    /// nothing runs.
    pub(super) fn signal_stop(&self, node: &Node) -> Result<()> {
        let signal = self.local()?.stop_signal();
        let leader = Self::live_record(node).map(|r| r.pid);
        if let Some(pid) = leader {
            // The whole process group: a wrapper script's daemon too.
            pids::send_group(pid, signal)?;
        }
        // Whatever the state files say, every process carrying the node's
        // mark is the node's (outside the group: one that left it).
        let mut found = false;
        for pid in self.marked(node) {
            found = true;
            if leader.is_none_or(|l| pids::group_of(pid) != Some(l)) {
                pids::send(pid, signal)?;
            }
        }
        if leader.is_none() && !found {
            // Nothing runs: records left by a dead node are stale.
            if node.launch_path().exists() || node.process_path().exists() {
                tracing::info!(
                    node = node.id(),
                    "removing the state files of a stopped node"
                );
                self.remove_state_files(node)?;
            }
        }
        Ok(())
    }

    /// Waits for the node's processes to exit, SIGKILLs what is left after
    /// the grace period, then removes its state files.
    pub(super) async fn await_stopped(&self, node: &Node) -> Result<()> {
        let record = node.launch_record().ok().flatten();
        let leader_alive = || {
            record
                .as_ref()
                .is_some_and(|r| pids::is_alive(r.pid, r.start_ticks))
        };
        let deadline = Instant::now() + self.grace();
        while leader_alive() && Instant::now() < deadline {
            tokio::time::sleep(POLL).await;
        }
        // What else is left of the node: processes it forked into its group
        // (a wrapper script's daemon) and any carrying its mark. They get
        // the rest of the grace period, then SIGKILL.
        let left = || {
            let mut pids = self.marked(node);
            if let Some(r) = &record {
                if leader_alive() {
                    pids.push(r.pid);
                }
                pids.extend(pids::group_members(r.pid));
            }
            pids.sort_unstable();
            pids.dedup();
            pids
        };
        let signal = self.local()?.stop_signal();
        if !leader_alive() && !left().is_empty() {
            if let Some(r) = &record {
                pids::send_group(r.pid, signal)?;
            }
            for pid in self.marked(node) {
                pids::send(pid, signal)?;
            }
            while !left().is_empty() && Instant::now() < deadline {
                tokio::time::sleep(POLL * 5).await;
            }
        }
        let survivors = left();
        if !survivors.is_empty() {
            tracing::warn!(
                node = node.id(),
                pids = ?survivors,
                "no exit after {:?}; sending SIGKILL",
                self.grace()
            );
            if let Some(r) = &record {
                pids::send_group(r.pid, libc::SIGKILL)?;
            }
            for pid in &survivors {
                pids::send(*pid, libc::SIGKILL)?;
            }
            let deadline = Instant::now() + KILL_WAIT;
            while !left().is_empty() && Instant::now() < deadline {
                tokio::time::sleep(POLL).await;
            }
            if let Some(pid) = left().first() {
                return Err(Error::StopFailed {
                    node: node.id().to_owned(),
                    pid: *pid,
                    reason: format!("still alive {KILL_WAIT:?} after SIGKILL"),
                });
            }
        }
        self.remove_state_files(node)
    }

    /// Stops the processes marked as the network's whose node is not in
    /// `known`; returns their pids.
    pub(super) async fn stop_strays(&self, known: &[String]) -> Result<Vec<u32>> {
        let prefix = format!("{}/", self.network.uuid);
        let strays = || -> Vec<u32> {
            pids::marks()
                .into_iter()
                .filter(|(mark, _)| {
                    mark.strip_prefix(&prefix)
                        .is_some_and(|id| !known.iter().any(|k| k == id))
                })
                .flat_map(|(_, pids)| pids)
                .collect()
        };
        let what = || {
            format!(
                "(a node of {} whose directory is gone)",
                self.network_dir.display()
            )
        };
        let signal = self.local()?.stop_signal();
        stop_found(strays, signal, self.grace(), what).await
    }

    /// The mark the node's processes carry.
    pub(super) fn mark(&self, node: &Node) -> String {
        format!("{}/{}", self.network.uuid, node.id())
    }

    /// Processes carrying the node's mark, from a scan of `/proc` at most
    /// [`MARK_SCAN_TTL`] old (many nodes asking at once share one scan).
    pub(super) fn marked(&self, node: &Node) -> Vec<u32> {
        let mut cache = self.mark_scan.lock().unwrap_or_else(|p| p.into_inner());
        if cache.0.is_none_or(|at| at.elapsed() > MARK_SCAN_TTL) {
            *cache = (Some(Instant::now()), pids::marks());
        }
        // A process of the scan may have exited since.
        cache
            .1
            .get(&self.mark(node))
            .map(|pids| pids.iter().copied().filter(|p| pids::is_live(*p)).collect())
            .unwrap_or_default()
    }

    /// The node's recorded process if it is alive (an unreadable record
    /// counts as none: the mark still finds the process).
    pub(super) fn live_record(node: &Node) -> Option<LaunchRecord> {
        node.launch_record()
            .ok()
            .flatten()
            .filter(|r| pids::is_alive(r.pid, r.start_ticks))
    }

    pub(super) fn remove_state_files(&self, node: &Node) -> Result<()> {
        files::remove_if_exists(&node.process_path())?;
        files::remove_if_exists(&node.launch_path())
    }
}

/// Sends `signal` to the processes `find` finds, waits up to `grace` for
/// them to go, SIGKILLs those left and waits for them; returns the pids
/// first found (none, at once, when nothing is found). `what` names them
/// in the error when some survive.
pub(crate) async fn stop_found(
    find: impl Fn() -> Vec<u32>,
    signal: i32,
    grace: Duration,
    what: impl FnOnce() -> String,
) -> Result<Vec<u32>> {
    let found = find();
    if found.is_empty() {
        return Ok(found);
    }
    for pid in &found {
        pids::send(*pid, signal)?;
    }
    let deadline = Instant::now() + grace;
    while !find().is_empty() && Instant::now() < deadline {
        tokio::time::sleep(POLL * 5).await;
    }
    for pid in find() {
        pids::send(pid, libc::SIGKILL)?;
    }
    let deadline = Instant::now() + KILL_WAIT;
    while !find().is_empty() && Instant::now() < deadline {
        tokio::time::sleep(POLL).await;
    }
    match find().first() {
        Some(pid) => Err(Error::StopFailed {
            node: what(),
            pid: *pid,
            reason: format!("still alive {KILL_WAIT:?} after SIGKILL"),
        }),
        None => Ok(found),
    }
}
