//! The bootstrap monitor's decisions, for continuous "can the new version
//! still sync this network" testing: one node in a StatefulSet syncs a
//! persistent network from its data volume; before the node starts, the
//! monitor decides whether the volume holds a test of the same image
//! (resume) or must be wiped (start), and whether a moving tag must first
//! be resolved to a digest.
//!
//! Pure parts: image references ([`image`]), the test record kept on the
//! volume ([`record`]), the decision of a start ([`plan`]) and the synced
//! check ([`synced`]). On the cluster: the monitor's API calls
//! ([`cluster`]), the node probe through its kind ([`probe`]), the init
//! container's and sidecar's jobs ([`run`]), and what `tmpnetctl
//! bootstrap-monitor` renders and deploys ([`manifests`], [`deploy`]).
//! Everything daemon-specific comes from the node's kind and a few
//! settings.

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
