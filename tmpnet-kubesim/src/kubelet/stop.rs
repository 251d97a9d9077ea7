//! How container processes end: reaping an exited one, signalling a
//! process group, and stopping a deleted pod within its grace period.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::process::Child;

use crate::store::now_rfc3339;

use super::{Container, PodRun};

/// Records the exit of a container whose process ended, once its last
/// output is in its log (a follower reading to the end then has it all).
pub(super) fn reap(c: &mut Container) {
    /// How long the copy of the last output may take.
    const LOG_DRAIN: Duration = Duration::from_secs(2);
    let Some(child) = c.child.as_mut() else {
        return;
    };
    if let Ok(Some(status)) = child.try_wait() {
        use std::os::unix::process::ExitStatusExt as _;
        let code = status
            .code()
            .unwrap_or_else(|| 128 + status.signal().unwrap_or(0));
        let (code, since) = *c.exited.get_or_insert_with(|| {
            // Whatever the container left running in its group goes with
            // it (and closes the output pipes it held).
            if let Some(group) = c.group {
                signal_group(group, libc::SIGKILL);
            }
            (code, Instant::now())
        });
        if c.log_writers.iter().any(|w| !w.is_finished()) && since.elapsed() < LOG_DRAIN {
            return;
        }
        let reason = if code == 0 { "Completed" } else { "Error" };
        c.terminated = Some((code, reason, now_rfc3339()));
        c.child = None;
        c.pid = None;
        c.exited = None;
        c.ready = false;
        c.log_writers.clear();
    }
}

pub(super) fn signal_group(pid: u32, signal: i32) {
    if let Ok(pid) = libc::pid_t::try_from(pid) {
        if pid > 1 {
            // SAFETY: kill(2) has no memory-safety preconditions.
            unsafe {
                libc::kill(-pid, signal);
            }
        }
    }
}

/// Stops a pod's processes: SIGTERM to each container's group, then
/// SIGKILL after `grace`.
pub(super) async fn stop_pod(
    mut run: PodRun,
    grace: Duration,
    groups: Arc<std::sync::Mutex<std::collections::HashSet<u32>>>,
) {
    let mut children: Vec<(u32, Child)> = run
        .init
        .iter_mut()
        .chain(run.containers.iter_mut())
        .filter_map(|c| Some((c.pid?, c.child.take()?)))
        .collect();
    for (pid, _) in &children {
        signal_group(*pid, libc::SIGTERM);
    }
    let deadline = Instant::now() + grace;
    for (pid, child) in &mut children {
        let left = deadline.saturating_duration_since(Instant::now());
        if tokio::time::timeout(left, child.wait()).await.is_err() {
            signal_group(*pid, libc::SIGKILL);
            let _ = child.wait().await;
        }
    }
    // Anything left in any group a container of this pod ever had.
    let mut known = groups.lock().unwrap_or_else(|p| p.into_inner());
    for group in run
        .init
        .iter()
        .chain(run.containers.iter())
        .filter_map(|c| c.group)
    {
        signal_group(group, libc::SIGKILL);
        known.remove(&group);
    }
}
