//! `#[tmpnet_test]`: registers an `async fn` as a test of the tmpnet harness.
//!
//! ```no_run
//! use tmpnet_fixture::{tmpnet_test, TestEnvironment, TestResult};
//!
//! #[tmpnet_test(timeout = "90s")]
//! async fn value_propagates(env: &TestEnvironment) -> TestResult {
//!     let uris = env.node_uris().await?;
//!     assert!(!uris.is_empty());
//!     Ok(())
//! }
//! # fn main() {}
//! ```
//!
//! Options: `ignore`, `timeout = "90s"` (default 2 minutes), `nodes = N` (a
//! private network of N nodes for this test alone), `serial` (never runs
//! at the same time as another test). The function takes one
//! `&TestEnvironment` and returns `()`, `TestResult` (any error works with
//! `?`) or `Result<(), E>` with `E: Display`.
//!
//! Its other parameters are filled the rstest way: `#[case]` parameters from
//! `#[case(...)]` attributes (one test per case, `#[case::name(...)]` names
//! it), `#[values(...)]` parameters one test per value (times the other
//! lists), and the rest from rstest `#[fixture]`s by rstest's own
//! expansion. A `#[case]` or `#[values]` parameter named `nodes` gives each
//! test a private network of that many nodes:
//!
//! ```no_run
//! use tmpnet_fixture::{tmpnet_test, TestEnvironment, TestResult};
//!
//! #[tmpnet_test]
//! #[case::one_node(1)]
//! #[case::three_nodes(3)]
//! async fn all_nodes_agree(env: &TestEnvironment, #[case] nodes: usize) -> TestResult {
//!     assert_eq!(env.node_uris().await?.len(), nodes);
//!     Ok(())
//! }
//! # fn main() {}
//! ```
//!
//! The macro is a thin shim over the `expand` module, which holds the logic.

mod cases;
mod errors;
mod expand;
mod options;
mod params;

use proc_macro::TokenStream;

/// Registers an `async fn(&TestEnvironment)` with the tmpnet harness. See the
/// crate documentation for the options.
#[proc_macro_attribute]
pub fn tmpnet_test(attr: TokenStream, item: TokenStream) -> TokenStream {
    expand::expand(attr.into(), item.into()).into()
}
