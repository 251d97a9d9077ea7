//! The example end-to-end suite users copy.
//!
//! It will hold `#[tmpnet_test]` tests run by the tmpnet harness
//! (`harness = false`). Until that harness exists, networks are driven
//! through [`tmpnet_fixture::Network`] directly; see the README.

pub use tmpnet_fixture;
