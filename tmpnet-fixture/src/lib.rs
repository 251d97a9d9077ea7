//! Temporary multi-node networks of real node processes, for end-to-end
//! tests and for people at a terminal.
//!
//! # Where things live
//!
//! The library is built in layers; each uses only those above it here:
//!
//! - [`model`]: plain data: node flags, node and network records, runtime
//!   settings, every on-disk name.
//! - [`kinds`]: *which* daemon runs: the [`kinds::NodeKind`] core and its
//!   local-process and pod capabilities; the built-in kinds.
//! - `runtime` (internal): *where* nodes run: local processes, Kubernetes.
//! - [`Network`]: orchestration: create, load, bootstrap, stop, restart,
//!   health, render, attach.
//! - [`helpers`]: for test authors: waiting for a condition, per-kind
//!   clients.
//! - The harness: `#[tmpnet_test]`, [`main!`] and [`TestEnvironment`].
//!
//! The project's own programs (`tmpnetctl`, `tmpnet-bootstrap-monitor`)
//! also use modules these pages do not show: `runner` (the remote runner's
//! Jobs), `bootstrap_monitor`, `collector` (the metrics collector),
//! `images` (the images `tmpnetctl image` builds), `cli` (the flags the
//! harness and `tmpnetctl` share), `model::layout` (the root
//! directory's names) and avalanchego's identity and genesis. They are
//! public only so those programs can link them, and are not a stable API.
//!
//! # Writing tests
//!
//! A `harness = false` test target declares its test modules and ends with
//! [`main!`]. Each `#[tmpnet_test]` gets a [`TestEnvironment`] on a network
//! shared by the whole run (or its own with `nodes = N`) and returns a
//! [`TestResult`], so `?` works on any error:
//!
//! ```no_run
//! use std::time::Duration;
//! use tmpnet_fixture::{tmpnet_test, TestEnvironment, TestResult};
//!
//! #[tmpnet_test]
//! async fn every_node_answers(env: &TestEnvironment) -> TestResult {
//!     for node in env.nodes() {
//!         let uri = node.uri().await?;
//!         assert!(uri.starts_with("http://"), "{}: {uri}", node.id());
//!     }
//!     env.restart_network().await?;
//!     env.wait_until("every node is healthy", Duration::from_secs(30), || async {
//!         let status = env.network().check_health().await?;
//!         Ok::<_, tmpnet_fixture::Error>(status.iter().all(|s| s.is_healthy()))
//!     })
//!     .await?;
//!     Ok(())
//! }
//!
//! tmpnet_fixture::main!();
//! ```
//!
//! # Networks without the harness
//!
//! ```no_run
//! # async fn demo() -> tmpnet_fixture::Result<()> {
//! use tmpnet_fixture::{Network, NetworkSpec, DEFAULT_START_TIMEOUT};
//! let network = Network::create(&NetworkSpec::new("/tmp/tmpnet", 3))?;
//! network.start(DEFAULT_START_TIMEOUT).await?;
//! println!("{:?}", network.node_uris().await?);
//! // Any process can load it again from its directory.
//! let again = Network::load(network.dir())?;
//! again.stop().await?;
//! # Ok(()) }
//! ```

#[cfg(feature = "kube")]
#[doc(hidden)]
pub mod bootstrap_monitor;
#[doc(hidden)]
pub mod cli;
#[doc(hidden)]
pub mod collector;
mod error;
mod harness;
pub mod helpers;
#[cfg(feature = "kube")]
#[doc(hidden)]
pub mod images;
pub mod kinds;
pub mod model;
mod network;
#[cfg(feature = "kube")]
#[doc(hidden)]
pub mod runner;
mod runtime;
mod sys;

/// For implementing [`kinds::NodeKind`], whose health check is async.
pub use async_trait::async_trait;
pub use error::{Error, Result, UnhealthyNode};
pub use harness::TestEnvironment;
pub use network::{
    disk_usage, prune, LogFollower, LogLine, LogQuery, Network, NetworkSpec, NodeHandle,
    NodeStatus, Progress, PruneReport, PruneRule, DEFAULT_START_TIMEOUT,
};
pub use tmpnet_macros::tmpnet_test;

/// What a test returns: `Ok(())`, or any error (`?` converts it).
pub type TestResult<T = ()> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// Runs the embedded default node and returns its exit code if this
/// process was started as one; otherwise records that this program can run
/// embedded nodes and returns `None`. Call it first thing in `main` (the
/// [`main!`] macro does), so networks made by the program run their nodes
/// as copies of it and need no separate node binary.
pub fn serve_embedded_node_if_asked() -> Option<std::process::ExitCode> {
    kinds::embedded::serve_if_asked()
}

/// What the `#[tmpnet_test]` and [`main!`] expansions refer to. Not a
/// stable API.
#[doc(hidden)]
pub mod __private {
    pub use crate::harness::registry::{IntoTestResult, TestDescriptor, TestFuture, TESTS};
    pub use crate::harness::{run, Target};
    pub use crate::kinds::registry::{KindFactory, KINDS};
    pub use linkme;
    pub use rstest;
}

/// Registers a node kind defined outside the library, so every process
/// linking the crate that registers it finds it by name: the harness
/// (`--node-kind` / `E2E_NODE_KIND`), [`Network::create`] and
/// [`Network::load`]. The argument is an expression making the kind (a
/// value implementing [`kinds::NodeKind`]); it is evaluated each time the
/// kind is looked up.
///
/// ```
/// # use tmpnet_fixture::kinds::{HealthContext, LaunchContext, NodeKind, Placement};
/// # use tmpnet_fixture::model::{Flags, Health, NodeConfig};
/// #[derive(Debug)]
/// struct MyDaemon;
///
/// #[tmpnet_fixture::async_trait]
/// impl NodeKind for MyDaemon {
///     fn name(&self) -> &str { "mydaemon" }
///     fn new_node(&self, index: usize) -> tmpnet_fixture::Result<NodeConfig> {
///         Ok(tmpnet_fixture::kinds::node_with_random_id("my", index))
///     }
///     fn default_flags(&self, _: Placement) -> Flags { Flags::new() }
///     fn forced_flags(&self, _: &LaunchContext<'_>) -> tmpnet_fixture::Result<Flags> {
///         Ok(Flags::new())
///     }
///     async fn check_health(&self, _: &HealthContext<'_>) -> Health { Health::Healthy }
/// }
///
/// tmpnet_fixture::register_kind!(MyDaemon);
/// # fn main() {
/// assert!(tmpnet_fixture::kinds::known().contains(&"mydaemon".to_owned()));
/// # }
/// ```
#[macro_export]
macro_rules! register_kind {
    ($kind:expr) => {
        const _: () = {
            #[$crate::__private::linkme::distributed_slice($crate::__private::KINDS)]
            #[linkme(crate = $crate::__private::linkme)]
            static KIND: $crate::__private::KindFactory = || ::std::sync::Arc::new($kind);
        };
    };
}

/// Writes the `main` of a `harness = false` test target: put
/// `tmpnet_fixture::main!();` at the end of its `main.rs`, after the `mod`
/// lines of the test modules.
///
/// Settings, each optional, separated by commas, are the suite's defaults
/// (the command line and the environment still choose otherwise):
/// - `node_kind = "etcd"`: the kind its networks run, one registered with
///   [`register_kind!`] (`--node-kind`/`E2E_NODE_KIND` override it);
/// - `kind_file = "path/to/kind.toml"`: a kind file, relative to the
///   package's directory, read from there when it exists and otherwise
///   from the copy compiled into the test binary, so the binary carries it
///   wherever it runs (a runner Job's image) (`--kind-file`/`E2E_KIND_FILE`
///   override it);
/// - `nodes = 3`: the shared network's node count (`--node-count`/
///   `E2E_NODE_COUNT` override it).
///
/// ```no_run
/// // The suite's main.rs, after its `mod` lines.
/// tmpnet_fixture::main!(node_kind = "refnode", nodes = 3);
/// ```
#[macro_export]
macro_rules! main {
    ($($settings:tt)*) => {
        fn main() -> ::std::process::ExitCode {
            if let ::core::option::Option::Some(code) = $crate::serve_embedded_node_if_asked() {
                return code;
            }
            #[allow(unused_mut)]
            let mut target = $crate::__private::Target::new(
                ::core::env!("CARGO_CRATE_NAME"),
                ::core::file!(),
                ::core::env!("CARGO_MANIFEST_DIR"),
            );
            $crate::__main_settings!(target; $($settings)*);
            $crate::__private::run(target)
        }
    };
}

/// The settings of [`main!`], one at a time.
#[doc(hidden)]
#[macro_export]
macro_rules! __main_settings {
    ($target:ident;) => {};
    ($target:ident; kind_file = $file:literal $(, $($rest:tt)*)?) => {
        $target.kind_file = ::core::option::Option::Some((
            $file,
            ::core::include_str!(::core::concat!(::core::env!("CARGO_MANIFEST_DIR"), "/", $file)),
        ));
        $crate::__main_settings!($target; $($($rest)*)?);
    };
    ($target:ident; node_kind = $kind:expr $(, $($rest:tt)*)?) => {
        $target.node_kind = ::core::option::Option::Some($kind);
        $crate::__main_settings!($target; $($($rest)*)?);
    };
    ($target:ident; nodes = $nodes:expr $(, $($rest:tt)*)?) => {
        $target.nodes = ::core::option::Option::Some($nodes);
        $crate::__main_settings!($target; $($($rest)*)?);
    };
    ($target:ident; $other:tt $($rest:tt)*) => {
        ::core::compile_error!(::core::concat!(
            "tmpnet_fixture::main!: `",
            ::core::stringify!($other),
            "` is no setting; use kind_file = \"path\", node_kind = NAME or nodes = N, separated by commas"
        ));
    };
}

// The `rust` examples of the README and of the book (docs/src/), compiled as
// doctests of this crate so they stay true to the API.

#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeSnippets;

#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct CratePageSnippets;

#[cfg(doctest)]
#[doc = include_str!("../../docs/src/guide/writing-tests.md")]
struct WritingTestsSnippets;

#[cfg(doctest)]
#[doc = include_str!("../../docs/src/guide/own-daemon.md")]
struct OwnDaemonSnippets;

#[cfg(doctest)]
#[doc = include_str!("../../docs/src/reference/library.md")]
struct LibrarySnippets;
