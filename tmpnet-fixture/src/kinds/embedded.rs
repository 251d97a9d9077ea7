//! The embedded default node: programs built on this library can run the
//! reference node themselves, so no separate node binary has to be built or
//! found.
//!
//! A program opts in by calling [`serve_if_asked`] first thing in `main`
//! (tmpnetctl does, and so does every harness binary through
//! [`crate::main!`]). A refnode network created by such a program without an
//! explicit node path runs its nodes as copies of that program, started with
//! [`EMBEDDED_NODE_ENV`] set, which makes [`serve_if_asked`] run the node
//! instead of the program. A program that never opted in gets the separate
//! `tmpnet-refnode` binary, found as usual, and never spawns itself; so
//! does a program built without the `embedded-refnode` feature.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};

/// Set on a spawned node: which embedded node to run.
pub const EMBEDDED_NODE_ENV: &str = "TMPNET_EMBEDDED_NODE";
/// The `argv[0]` a spawned embedded node is given. [`EMBEDDED_NODE_ENV`]
/// alone does not make a program a node (a shell may have exported it);
/// only both together do, and no shell sets this `argv[0]` by accident.
pub const NODE_ARG0: &str = "tmpnet-embedded-node";

static CAPABLE: AtomicBool = AtomicBool::new(false);

/// Runs the embedded node and returns its exit code if this process was
/// started as one; otherwise records that this program can serve embedded
/// nodes and returns `None`.
pub fn serve_if_asked() -> Option<ExitCode> {
    let asked = std::env::var(EMBEDDED_NODE_ENV).ok();
    if asked.is_some() && std::env::args_os().next().as_deref() != Some(NODE_ARG0.as_ref()) {
        // Exported by hand, or inherited: this program was not spawned as
        // a node, so it stays itself (and its own nodes get it set anew).
        eprintln!(
            "warning: {EMBEDDED_NODE_ENV} is set in the environment, but this program was not started as an embedded node; ignoring it (unset it)"
        );
        return serve_if_asked_as(None);
    }
    serve_if_asked_as(asked.as_deref())
}

fn serve_if_asked_as(asked: Option<&str>) -> Option<ExitCode> {
    match asked {
        #[cfg(feature = "embedded-refnode")]
        Some(crate::kinds::refnode::NAME) => Some(tmpnet_refnode::run(std::env::args().skip(1))),
        #[cfg(not(feature = "embedded-refnode"))]
        Some(crate::kinds::refnode::NAME) => {
            eprintln!("FATAL {EMBEDDED_NODE_ENV}=refnode, but this program was built without tmpnet-fixture's `embedded-refnode` feature");
            Some(ExitCode::FAILURE)
        }
        Some(other) => {
            eprintln!("FATAL {EMBEDDED_NODE_ENV}={other:?} names no embedded node; this program embeds only refnode");
            Some(ExitCode::FAILURE)
        }
        None => {
            CAPABLE.store(cfg!(feature = "embedded-refnode"), Ordering::Relaxed);
            None
        }
    }
}

/// The program to run an embedded node with: this one, if it opted in.
pub fn program() -> Option<PathBuf> {
    if !CAPABLE.load(Ordering::Relaxed) {
        return None;
    }
    std::env::current_exe().ok()
}
