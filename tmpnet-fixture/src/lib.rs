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

pub mod error;
pub mod flags;
pub mod fsutil;
pub mod kinds;
pub mod layout;
pub mod network;
pub mod node;
pub mod runtime;

pub use error::{Error, Result};
pub use network::{Network, NetworkSpec, Progress, DEFAULT_START_TIMEOUT};
