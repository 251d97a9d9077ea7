//! Temporary multi-node networks of real node processes, for end-to-end
//! tests and for people at a terminal.
//!
//! A network lives in a directory that any process can load
//! ([`Network::load`]); nodes are started by a [`runtime::NodeRuntime`] and
//! what depends on the daemon is a [`kinds::NodeKind`].
//!
//! ```no_run
//! # async fn demo() -> tmpnet_fixture::Result<()> {
//! use tmpnet_fixture::{Network, NetworkSpec, DEFAULT_START_TIMEOUT};
//! let mut network = Network::create(&NetworkSpec::new("/tmp/tmpnet", 3))?;
//! network.start(DEFAULT_START_TIMEOUT, &|p| eprintln!("{p:?}")).await?;
//! println!("{:?}", network.node_uris().await?);
//! network.stop().await?;
//! # Ok(()) }
//! ```

pub mod embedded;
pub mod env;
pub mod error;
pub mod flags;
pub mod fsutil;
pub mod harness;
pub mod kinds;
pub mod layout;
pub mod network;
pub mod node;
pub mod runtime;

pub use env::TestEnvironment;
pub use error::{Error, Result};
pub use tmpnet_macros::tmpnet_test;

/// What the `#[tmpnet_test]` expansion refers to. Not a stable API.
#[doc(hidden)]
pub mod __private {
    pub use crate::harness::registry::{IntoTestResult, TestDescriptor, TestFuture, TESTS};
    pub use linkme;
}

/// Writes the `main` of a `harness = false` test target: put
/// `tmpnet_fixture::main!();` at the end of its `main.rs`, after the `mod`
/// lines of the test modules.
#[macro_export]
macro_rules! main {
    () => {
        fn main() -> ::std::process::ExitCode {
            if let ::core::option::Option::Some(code) = $crate::embedded::serve_if_asked() {
                return code;
            }
            $crate::harness::run($crate::harness::Target {
                crate_name: ::core::env!("CARGO_CRATE_NAME"),
                main_file: ::core::file!(),
                manifest_dir: ::core::env!("CARGO_MANIFEST_DIR"),
            })
        }
    };
}
pub use network::{Network, NetworkSpec, Progress, DEFAULT_START_TIMEOUT};
