//! Process liveness and signals, by recorded pid only (Linux `/proc`).
//!
//! A pid alone is not an identity: after `kill -9` and enough time, the OS
//! may give the same pid to another program. A process is taken to be ours
//! only when its start time (in clock ticks since boot) equals the one we
//! recorded when we spawned it. Zombies count as dead.

use crate::error::{Error, Result};

/// The state letter and start time of a live process, from
/// `/proc/<pid>/stat`; `None` if there is no such process.
fn stat(pid: u32) -> Option<(char, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may contain spaces and parentheses; the
    // fields after the last ')' are fixed: state is field 3, starttime 22.
    let rest = &text[text.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let start = fields.nth(18)?.parse().ok()?;
    Some((state, start))
}

/// The start time of `pid`, for a launch record; `None` if it is gone.
pub fn start_ticks(pid: u32) -> Option<u64> {
    stat(pid).map(|(_, ticks)| ticks)
}

/// Whether `pid` is alive, not a zombie, and started at `start_ticks`.
pub fn is_alive(pid: u32, start_ticks: u64) -> bool {
    matches!(stat(pid), Some((state, ticks)) if state != 'Z' && state != 'X' && ticks == start_ticks)
}

/// Sends `signal` to `pid`. A process that is already gone is not an error.
pub fn send(pid: u32, signal: i32) -> Result<()> {
    let raw = libc::pid_t::try_from(pid).map_err(|_| Error::Signal {
        pid,
        source: std::io::Error::from(std::io::ErrorKind::InvalidInput),
    })?;
    // SAFETY: kill(2) has no memory-safety preconditions.
    let rc = unsafe { libc::kill(raw, signal) };
    if rc == 0 {
        return Ok(());
    }
    let err = std::io::Error::last_os_error();
    if err.raw_os_error() == Some(libc::ESRCH) {
        Ok(())
    } else {
        Err(Error::Signal { pid, source: err })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_process_is_alive_with_its_ticks_only() {
        let me = std::process::id();
        let ticks = start_ticks(me).unwrap();
        assert!(is_alive(me, ticks));
        assert!(!is_alive(me, ticks + 1), "a recycled pid must not match");
    }

    #[test]
    fn exited_and_zombie_children_are_dead() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let pid = child.id();
        let ticks = start_ticks(pid).unwrap();
        assert!(is_alive(pid, ticks));
        send(pid, libc::SIGKILL).unwrap();
        // Not yet reaped: a zombie, which must count as dead.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while is_alive(pid, ticks) {
            assert!(std::time::Instant::now() < deadline, "zombie seen as alive");
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        child.wait().unwrap();
        assert!(!is_alive(pid, ticks));
        send(pid, libc::SIGTERM).unwrap();
    }
}
