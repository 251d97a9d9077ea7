//! avalanchego, Avalanche's node: the identities the library makes for it.

pub mod genesis;
pub mod identity;
