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
//! The macro is a thin shim over the `expand` module, which holds the logic.

mod expand;
mod options;

use proc_macro::TokenStream;

/// Registers an `async fn(&TestEnvironment)` with the tmpnet harness. See the
/// crate documentation for the options.
#[proc_macro_attribute]
pub fn tmpnet_test(attr: TokenStream, item: TokenStream) -> TokenStream {
    expand::expand(attr.into(), item.into()).into()
}
