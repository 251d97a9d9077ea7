//! Plain data: node flags, node and network records, runtime settings, and
//! every on-disk name. No orchestration and no daemon knowledge lives here;
//! everything else in the library is built on these types.

pub mod flags;
#[doc(hidden)]
pub mod layout;
pub mod network;
pub mod node;
pub mod time_format;

pub use flags::Flags;
pub use network::{
    KubeOwner, KubeSettings, NetworkConfig, ProcessSettings, RuntimeSettings, SchedulingLabel,
    DEFAULT_NODE_COUNT, MAX_NODES, MIN_VOLUME_GIB, SCHEMA_VERSION,
};
pub use node::{
    Endpoint, Health, LaunchRecord, Node, NodeConfig, NodeState, Peer, ProcessContext, SecretFiles,
};
pub use time_format::TimeFormat;
