//! Process liveness and signals (Linux `/proc`): by recorded pid, and by
//! the mark (an environment variable) every spawned node carries, so a
//! node whose state files are gone is still found.
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

/// Whether `pid` is a live process (not a zombie), whatever its start.
pub fn is_live(pid: u32) -> bool {
    matches!(stat(pid), Some((state, _)) if state != 'Z' && state != 'X')
}

/// Why a recorded process counts as gone: it exited, or its pid now
/// belongs to another program (a different start time), which is never
/// signalled.
pub fn describe_gone(pid: u32) -> String {
    match stat(pid) {
        Some((state, _)) if state != 'Z' && state != 'X' => format!(
            "process {pid} exited; the pid now belongs to another program, which is left alone"
        ),
        _ => format!("process {pid} is gone"),
    }
}

/// Sends `signal` to `pid`. A process that is already gone is not an error.
pub fn send(pid: u32, signal: i32) -> Result<()> {
    let raw = libc::pid_t::try_from(pid).map_err(|_| Error::Signal {
        pid,
        source: std::io::Error::from(std::io::ErrorKind::InvalidInput),
    })?;
    kill(pid, raw, signal)
}

/// Sends `signal` to every process of the group `pgid` (a node and anything
/// it forked). A group that is already gone is not an error. A caller that
/// is itself in the group (a command run by a node, or from one of its
/// scripts) signals the other members one by one (see [`group_members`]),
/// so a stop never ends the command half-way.
pub fn send_group(pgid: u32, signal: i32) -> Result<()> {
    let raw = libc::pid_t::try_from(pgid)
        .ok()
        .filter(|p| *p > 1)
        .ok_or_else(|| Error::Signal {
            pid: pgid,
            source: std::io::Error::from(std::io::ErrorKind::InvalidInput),
        })?;
    if group_of(std::process::id()) == Some(pgid) {
        for pid in group_members(pgid) {
            send(pid, signal)?;
        }
        return Ok(());
    }
    kill(pgid, -raw, signal)
}

/// The process group of `pid`, if it is alive.
pub fn group_of(pid: u32) -> Option<u32> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &text[text.rfind(')')? + 1..];
    rest.split_whitespace().nth(2)?.parse().ok()
}

/// Live (non-zombie) processes in the group `pgid`, from `/proc`, other
/// than this process: a command run inside a node's group (by the node or
/// its scripts) waits for and signals the others, never itself. Its
/// ancestors in the group are the node's processes and are counted.
pub fn group_members(pgid: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let me = std::process::id();
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| *pid != me)
        .filter(|pid| {
            let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                return false;
            };
            let Some(rest) = text.rfind(')').map(|i| &text[i + 1..]) else {
                return false;
            };
            // Fields after the command: state (3), ppid (4), pgrp (5).
            let mut fields = rest.split_whitespace();
            let state = fields.next().unwrap_or("Z");
            let pgrp = fields.nth(1).and_then(|f| f.parse::<u32>().ok());
            state != "Z" && state != "X" && pgrp == Some(pgid)
        })
        .collect()
}

/// The environment variable that marks a node process and everything it
/// forks: `<network uuid>/<node id>`.
pub const MARK_ENV: &str = "TMPNET_NODE_MARK";

/// The environment variable that gives a node process, and everything it
/// forks, its node directory (absolute): how the processes of a network
/// whose records cannot be read are still found.
pub const NODE_DIR_ENV: &str = "TMPNET_NODE_DIR";

/// Every live (non-zombie) marked process this user may see (its
/// environment is readable: the processes it started), by mark.
pub fn marks() -> std::collections::HashMap<String, Vec<u32>> {
    carrying(MARK_ENV)
}

/// Every live process that carries a node directory, by that directory.
pub fn node_dirs() -> std::collections::HashMap<String, Vec<u32>> {
    carrying(NODE_DIR_ENV)
}

/// Every live process this user may see whose working directory is inside
/// `dir` (not this process nor its ancestors).
pub fn working_in(dir: &std::path::Path) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let spared = self_and_ancestors();
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| !spared.contains(pid) && is_live(*pid))
        .filter(|pid| {
            std::fs::read_link(format!("/proc/{pid}/cwd")).is_ok_and(|cwd| cwd.starts_with(dir))
        })
        .collect()
}

/// Every live (non-zombie) process this user may see whose environment
/// holds `var`, by its value. Never this process nor one of its ancestors:
/// a command run from a shell that inherited a node's variables must not
/// signal that shell, nor itself.
fn carrying(var: &str) -> std::collections::HashMap<String, Vec<u32>> {
    let mut found: std::collections::HashMap<String, Vec<u32>> = Default::default();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return found;
    };
    let prefix = format!("{var}=");
    let spared = self_and_ancestors();
    for pid in entries.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok()) {
        if spared.contains(&pid) {
            continue;
        }
        let Ok(environ) = std::fs::read(format!("/proc/{pid}/environ")) else {
            continue;
        };
        let Some(value) = environ
            .split(|b| *b == 0)
            .find_map(|entry| entry.strip_prefix(prefix.as_bytes()))
        else {
            continue;
        };
        if is_live(pid) {
            found
                .entry(String::from_utf8_lossy(value).into_owned())
                .or_default()
                .push(pid);
        }
    }
    found
}

/// This process and its ancestors, up to the first process.
fn self_and_ancestors() -> Vec<u32> {
    let mut chain = vec![std::process::id()];
    while let Some(parent) = chain.last().copied().and_then(parent_of) {
        if parent == 0 || chain.contains(&parent) {
            break;
        }
        chain.push(parent);
    }
    chain
}

/// The parent of `pid` (field 4 of `/proc/<pid>/stat`).
fn parent_of(pid: u32) -> Option<u32> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &text[text.rfind(')')? + 1..];
    rest.split_whitespace().nth(1)?.parse().ok()
}

fn kill(shown: u32, target: libc::pid_t, signal: i32) -> Result<()> {
    let pid = shown;
    // SAFETY: kill(2) has no memory-safety preconditions.
    let rc = unsafe { libc::kill(target, signal) };
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

    /// Waits up to 5 s for `found` (a child's environment is its parent's
    /// until it has exec'd, so a fresh child is not found at once).
    fn eventually<T>(mut probe: impl FnMut() -> T, found: impl Fn(&T) -> bool) -> T {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            let value = probe();
            if found(&value) || std::time::Instant::now() > deadline {
                return value;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }

    #[test]
    fn a_recycled_pid_is_described_as_another_program() {
        let me = std::process::id();
        assert!(
            describe_gone(me).contains("another program"),
            "{}",
            describe_gone(me)
        );
        assert!(describe_gone(u32::MAX - 1).ends_with("is gone"));
    }

    #[test]
    fn processes_are_found_by_the_node_directory_they_carry() {
        let root = tempfile::tempdir().unwrap();
        let network = root.path().join("networks/n1");
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .env(NODE_DIR_ENV, network.join("node-a"))
            .spawn()
            .unwrap();
        let pid = child.id();
        let node = network.join("node-a").to_string_lossy().into_owned();
        let found = eventually(|| node_dirs().get(&node).cloned(), Option::is_some);
        assert_eq!(found, Some(vec![pid]));
        assert!(self_and_ancestors().contains(&std::process::id()));
        assert!(self_and_ancestors().len() > 1, "this test has a parent");
        send(pid, libc::SIGKILL).unwrap();
        child.wait().unwrap();
        assert!(
            !node_dirs().contains_key(&node),
            "a dead process is not found"
        );
    }

    #[test]
    fn marked_processes_are_found_by_their_mark() {
        let network = uuid::Uuid::new_v4().to_string();
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .env(MARK_ENV, format!("{network}/node-a"))
            .spawn()
            .unwrap();
        let pid = child.id();
        let of_network =
            |marks: std::collections::HashMap<String, Vec<u32>>| -> Vec<(String, Vec<u32>)> {
                marks
                    .into_iter()
                    .filter(|(m, _)| m.starts_with(&network))
                    .collect()
            };
        assert_eq!(
            eventually(|| of_network(marks()), |m| !m.is_empty()),
            vec![(format!("{network}/node-a"), vec![pid])]
        );
        send(pid, libc::SIGKILL).unwrap();
        child.wait().unwrap();
        assert!(
            of_network(marks()).is_empty(),
            "a dead process carries no mark"
        );
    }

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

    #[test]
    fn a_group_signal_reaches_forked_children() {
        use std::os::unix::process::CommandExt;
        // A shell that forks a sleeper and waits: the sleeper is in the
        // shell's group.
        let mut leader = std::process::Command::new("sh")
            .args(["-c", "sleep 30 & wait"])
            .process_group(0)
            .spawn()
            .unwrap();
        let pgid = leader.id();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while group_members(pgid).len() < 2 {
            assert!(
                std::time::Instant::now() < deadline,
                "the sleeper never started"
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let member = *group_members(pgid).iter().find(|p| **p != pgid).unwrap();
        assert_eq!(group_of(member), Some(pgid));
        send_group(pgid, libc::SIGKILL).unwrap();
        leader.wait().unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while !group_members(pgid).is_empty() {
            assert!(
                std::time::Instant::now() < deadline,
                "group members survived"
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert!(
            send_group(1, libc::SIGTERM).is_err(),
            "init's group is refused"
        );
    }

    /// The caller's part of `a_caller_in_the_group_spares_itself`, run in
    /// a copy of this test binary that leads its own group: forks a
    /// sleeper into its group, stops the group, and says whether it
    /// survived and how the sleeper ended.
    fn stop_own_group(sleeper_file: &str) {
        let mut sleeper = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        std::fs::write(sleeper_file, sleeper.id().to_string()).unwrap();
        let own = group_of(std::process::id()).unwrap();
        assert_eq!(group_of(sleeper.id()), Some(own));
        send_group(own, libc::SIGTERM).unwrap();
        let status = sleeper.wait().unwrap();
        let signal = std::os::unix::process::ExitStatusExt::signal(&status);
        println!("SURVIVED sleeper-signal={signal:?}");
    }

    #[test]
    fn a_caller_in_the_group_spares_itself() {
        use std::os::unix::process::CommandExt;
        const CALLER: &str = "TMPNET_TEST_GROUP_CALLER";
        if let Ok(sleeper_file) = std::env::var(CALLER) {
            return stop_own_group(&sleeper_file);
        }
        let dir = tempfile::tempdir().unwrap();
        let sleeper_file = dir.path().join("sleeper");
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "sys::pids::tests::a_caller_in_the_group_spares_itself",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CALLER, &sleeper_file)
            .process_group(0)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            stdout.contains("SURVIVED sleeper-signal=Some(15)"),
            "the caller must survive its own group's stop and the sleeper get SIGTERM: {:?} {stdout}",
            out.status
        );
        let sleeper: u32 = std::fs::read_to_string(&sleeper_file)
            .unwrap()
            .parse()
            .unwrap();
        assert!(!is_live(sleeper), "the other member was stopped");
    }
}
