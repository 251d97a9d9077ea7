//! The bootstrap monitor's decisions, for continuous "can the new version
//! still sync this network" testing: one node in a StatefulSet syncs a
//! persistent network from its data volume; before the node starts, the
//! monitor decides whether the volume holds a test of the same image
//! (resume) or must be wiped (start), and whether a moving tag must first
//! be resolved to a digest.
//!
//! This layer is the daemon-generic core, with no cluster: image
//! references ([`image`]), the test record kept on the volume
//! ([`record`]) and the decision of a start ([`plan`]). Everything
//! daemon-specific (which container, which data directory, what "synced"
//! means) is a setting of the callers.

pub mod cluster;
pub mod deploy;
pub mod image;
pub mod manifests;
pub mod plan;
pub mod probe;
pub mod record;
pub mod run;
pub mod synced;

#[cfg(test)]
mod contract_tests;
