//! Where pods' files live on the simulator's disk, and how a mounted
//! volume's path reaches a container.

use std::path::{Path, PathBuf};

/// `KUBESIM_MOUNT_<NAME>`: upper case, non-alphanumerics as `_`.
pub fn mount_env(volume: &str) -> String {
    let name: String = volume
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("KUBESIM_MOUNT_{name}")
}

/// Where a pod's logs and volumes live.
pub fn pod_dir(state: &Path, namespace: &str, name: &str, uid: &str) -> PathBuf {
    state.join("pods").join(namespace).join(name).join(uid)
}
