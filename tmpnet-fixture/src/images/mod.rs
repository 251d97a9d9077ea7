//! Images for Kubernetes made from a user's own workspace: the runner
//! image of a suite (its test binaries built with `cargo test`'s profile,
//! the files it reads at run time, the libraries they load) and a node
//! image of a kind file's daemon (a binary built here, or Debian
//! packages). Built with docker when a daemon answers, else with buildah,
//! and loaded where pods find them: the local cluster's containerd, a kind
//! cluster, or an OCI layout (the simulator's `--image-dir`).

mod command;
mod node;
mod suite;
mod tool;

use std::path::PathBuf;

pub use node::{build_node, NodeImage};
pub use suite::{build_suite, context_dir, SuiteImage, RUNNER_DOCKERFILE};
pub use tool::{Load, Tool};

/// The image both are built on. Where no registry can be reached,
/// buildah's copy is made from Debian's packages (debootstrap).
pub const BASE_IMAGE: &str = "debian:bookworm-slim";

/// The newest C library version [`BASE_IMAGE`] has: a binary that needs a
/// newer one would fail at its start in the image, so it is refused here.
pub const BASE_GLIBC: (u32, u32) = (2, 36);

/// Fails when `binary` needs a newer C library than [`BASE_IMAGE`] has,
/// naming it as `shown`.
fn check_glibc(binary: &std::path::Path, shown: &str) -> crate::error::Result<()> {
    let needed = crate::sys::elf::glibc_needed(binary)
        .map_err(|e| crate::error::Error::io("cannot read", binary, e))?;
    match needed {
        Some((major, minor)) if (major, minor) > BASE_GLIBC => {
            let (base_major, base_minor) = BASE_GLIBC;
            Err(crate::error::Error::Environment(format!(
                "{shown} needs glibc {major}.{minor}, newer than the image's {base_major}.{base_minor} (Debian bookworm); build it on a machine with glibc {base_major}.{base_minor} or older (e.g. in a rust:1-bookworm container)"
            )))
        }
        _ => Ok(()),
    }
}

/// An image built.
#[derive(Debug, Clone)]
pub struct Built {
    /// Its name.
    pub tag: String,
    /// Its id, as the tool gives it.
    pub id: String,
    /// The tool that built it.
    pub tool: Tool,
    /// The build context, when it is kept (a suite's, under the target
    /// directory, to see what went in).
    pub context: Option<PathBuf>,
    /// What went in, one line each (the test binaries, the files).
    pub contents: Vec<String>,
}
