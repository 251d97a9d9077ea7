//! The local-process capability of a kind: the binary, its arguments, how
//! its ports become known.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::model::{Endpoint, Flags, Node};
use crate::sys::files;

/// How the harness learns a started node's ports.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PortDiscovery {
    /// The node binds port 0 and writes `process.json` once bound. Later
    /// nodes can only be given its address after it is up, so bootstrap
    /// starts the first node alone, then the rest in parallel.
    SelfReported,
    /// The daemon cannot report a port-0 choice: the harness allocates the
    /// named loopback ports before the start (kept in the node's
    /// `config.json`, so they survive restarts), computes the endpoint with
    /// [`LocalDaemon::endpoint`] and writes `process.json` itself. Every
    /// address is known up front, so all nodes start in parallel. The first
    /// name is the API port that must accept connections for the start to
    /// count.
    PreAllocated(Vec<String>),
    /// The node binds port 0 and says which ports it got in its log (or a
    /// file it writes): the harness asks [`LocalDaemon::reported_endpoint`]
    /// until it knows, then writes `process.json` itself. Bootstrap is as
    /// for [`PortDiscovery::SelfReported`].
    Reported,
}

/// How a kind's daemon runs as a local process.
pub trait LocalDaemon: Send + Sync {
    /// The executable's file name, searched for when no path is given.
    fn binary_name(&self) -> &str;

    /// Where the binary is commonly installed, tried after the directory of
    /// the running program and before `PATH`.
    fn known_locations(&self) -> Vec<PathBuf> {
        Vec::new()
    }

    /// How to get the binary, for the error when it cannot be found.
    fn install_hint(&self) -> &str;

    /// Whether programs built on this library embed this daemon, so it runs
    /// as a copy of the program itself.
    fn is_embedded(&self) -> bool {
        false
    }

    /// How the node's ports become known.
    fn port_discovery(&self) -> PortDiscovery;

    /// The binary's arguments, given the written flags file and the flags
    /// in it.
    fn argv(&self, flags_file: &Path, flags: &Flags) -> Vec<OsString>;

    /// The flag that pins the API port (for `reuse_dynamic_ports`).
    fn api_port_flag(&self) -> &str;

    /// For [`PortDiscovery::PreAllocated`] kinds: the endpoint a node has
    /// once started on the ports recorded in its config.
    fn endpoint(&self, _node: &Node) -> Option<Endpoint> {
        None
    }

    /// For [`PortDiscovery::Reported`] kinds: the endpoint the node has
    /// reported so far, given what it logged since this start. `None`
    /// until it has reported every port.
    fn reported_endpoint(&self, _node: &Node, _log_since_start: &str) -> Option<Endpoint> {
        None
    }

    /// Called just before the daemon is spawned, with the flags it gets:
    /// writes what it must find on disk (a config file, its data
    /// directory) and removes what a previous run left that would mislead
    /// this one. The default does nothing.
    fn prepare(&self, _node: &Node, _flags: &Flags) -> Result<()> {
        Ok(())
    }

    /// The signal that asks the daemon to shut down cleanly (SIGKILL
    /// follows after the grace period). The default is SIGTERM.
    fn stop_signal(&self) -> i32 {
        libc::SIGTERM
    }

    /// Whether these log lines show the node failed because a port was
    /// taken (so a start with fresh ports may succeed).
    fn is_port_conflict(&self, _log_tail: &[String]) -> bool {
        false
    }
}

/// Finds the node binary: `explicit` if given (it must be an executable
/// file), else the kind's binary next to the running program, one directory
/// up (cargo's `deps/` layout for test binaries), at the kind's known
/// locations, or on `PATH`. The result is absolute.
pub(crate) fn locate_binary(
    kind: &str,
    local: &dyn LocalDaemon,
    explicit: Option<&Path>,
) -> Result<PathBuf> {
    if let Some(path) = explicit {
        check_executable(kind, path)?;
        return std::path::absolute(path).map_err(|e| Error::io("cannot resolve", path, e));
    }
    let name = local.binary_name();
    let mut candidates = Vec::new();
    if let Ok(exe) = std::env::current_exe() {
        if let Some(dir) = exe.parent() {
            candidates.push(dir.join(name));
            if let Some(up) = dir.parent() {
                candidates.push(up.join(name));
            }
        }
    }
    candidates.extend(local.known_locations());
    if let Some(path) = std::env::var_os("PATH") {
        candidates.extend(std::env::split_paths(&path).map(|d| d.join(name)));
    }
    candidates
        .into_iter()
        .find(|c| check_executable(kind, c).is_ok())
        .map(|c| std::path::absolute(&c).unwrap_or(c))
        .ok_or_else(|| Error::NodeBinaryNotFound {
            kind: kind.to_owned(),
            binary: name.to_owned(),
            hint: local.install_hint().to_owned(),
        })
}

fn check_executable(kind: &str, path: &Path) -> Result<()> {
    match files::executable_problem(path) {
        None => Ok(()),
        Some(problem) => Err(Error::NodeBinary {
            path: path.to_owned(),
            problem,
            kind: kind.to_owned(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::{bitcoind, refnode, NodeKind};

    /// A daemon installed nowhere.
    struct Nowhere;

    impl LocalDaemon for Nowhere {
        fn binary_name(&self) -> &str {
            "tmpnet-no-such-daemon"
        }
        fn known_locations(&self) -> Vec<PathBuf> {
            vec!["/nonexistent/tmpnet-no-such-daemon".into()]
        }
        fn install_hint(&self) -> &str {
            "install it with `apt-get install nowhere`"
        }
        fn port_discovery(&self) -> PortDiscovery {
            PortDiscovery::SelfReported
        }
        fn argv(&self, _: &Path, _: &Flags) -> Vec<OsString> {
            Vec::new()
        }
        fn api_port_flag(&self) -> &str {
            "port"
        }
    }

    #[test]
    fn a_missing_daemon_names_itself_and_how_to_install_it() {
        let err = locate_binary("nowhere", &Nowhere, None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("tmpnet-no-such-daemon"), "{err}");
        assert!(err.contains("apt-get install nowhere"), "{err}");
        assert!(err.contains("--node-path"), "{err}");
        let litecoin = bitcoind::Bitcoind;
        let hint = litecoin.local().map(|l| l.install_hint().to_owned());
        assert!(hint
            .unwrap_or_default()
            .contains("apt-get install litecoind"));
    }

    #[test]
    fn explicit_binary_must_exist_and_be_executable() {
        use std::os::unix::fs::PermissionsExt;
        let kind = refnode::RefNode;
        let local = kind.local().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope");
        let err = locate_binary("refnode", local, Some(&missing))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("does not exist") && err.contains("--node-path"),
            "{err}"
        );

        let plain = dir.path().join("plain");
        std::fs::write(&plain, "x").unwrap();
        std::fs::set_permissions(&plain, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = locate_binary("refnode", local, Some(&plain))
            .unwrap_err()
            .to_string();
        assert!(err.contains("not executable"), "{err}");

        let err = locate_binary("refnode", local, Some(dir.path()))
            .unwrap_err()
            .to_string();
        assert!(err.contains("not a file"), "{err}");

        std::fs::set_permissions(&plain, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(
            locate_binary("refnode", local, Some(&plain)).unwrap(),
            plain
        );
    }
}
