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

static CAPABLE: AtomicBool = AtomicBool::new(false);

/// Runs the embedded node and returns its exit code if this process was
/// started as one; otherwise records that this program can serve embedded
/// nodes and returns `None`.
pub fn serve_if_asked() -> Option<ExitCode> {
    match std::env::var(EMBEDDED_NODE_ENV).ok().as_deref() {
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
