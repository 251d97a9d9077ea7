//! avalanchego, Avalanche's node: the identities the library makes for it.

pub mod identity;
