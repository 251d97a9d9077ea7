//! What the server's parts share: the store, its address, the pods' state
//! directory, RBAC and the process groups still to reap.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};

use crate::rbac::Rbac;
use crate::store::Store;

/// What the server shares between requests.
#[derive(Debug)]
pub struct Shared {
    /// The objects.
    pub store: Store,
    /// `host:port` the server listens on.
    pub address: String,
    /// Where pods' directories and logs live.
    pub state_dir: PathBuf,
    /// Tokens and RBAC.
    pub rbac: Rbac,
    /// Process groups of pod containers that may still have processes.
    pub groups: Arc<Mutex<HashSet<u32>>>,
    /// Requests served so far.
    pub requests: AtomicU64,
}
