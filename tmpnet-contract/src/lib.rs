//! What a node and the tmpnet harness exchange through files.
//!
//! A node writes [`ProcessContext`] as [`PROCESS_FILE`] in its directory
//! once it serves; the harness reads it to learn the node's pid, API URI
//! and p2p address. Both sides use this type, so the file's shape has one
//! definition.
#![doc = include_str!("../README.md")]

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The file a node writes in its directory once it serves.
pub const PROCESS_FILE: &str = "process.json";

/// The contents of `process.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
#[serde(rename_all = "camelCase")]
pub struct ProcessContext {
    /// The node's pid.
    pub pid: u32,
    /// Its HTTP API base URI, e.g. `http://127.0.0.1:41234`.
    pub uri: String,
    /// Its p2p listen address, e.g. `127.0.0.1:41235`.
    pub p2p_address: String,
}

impl ProcessContext {
    /// The context of a node serving its API at `uri` and peers at
    /// `p2p_address`.
    pub fn new(pid: u32, uri: impl Into<String>, p2p_address: impl Into<String>) -> Self {
        ProcessContext {
            pid,
            uri: uri.into(),
            p2p_address: p2p_address.into(),
        }
    }

    /// Writes it to `path` (a node's [`PROCESS_FILE`], or the path its
    /// kind gave it), atomically: a reader sees the old file or the whole
    /// new one, never a part.
    pub fn write_to(&self, path: &Path) -> std::io::Result<()> {
        let tmp = temp_sibling(path);
        let write = || -> std::io::Result<()> {
            let mut file = std::fs::File::create(&tmp)?;
            file.write_all(&serde_json::to_vec(self).map_err(std::io::Error::other)?)?;
            file.sync_all()?;
            std::fs::rename(&tmp, path)
        };
        write().inspect_err(|_| {
            let _ = std::fs::remove_file(&tmp);
        })
    }

    /// Reads it from `path`; `None` when the node has not written it.
    pub fn read_from(path: &Path) -> std::io::Result<Option<ProcessContext>> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(std::io::Error::other),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// A temporary name beside `path`, unique to this process.
fn temp_sibling(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".tmp.{}", std::process::id()));
    path.with_file_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_has_the_camel_case_shape_nodes_of_any_language_write() {
        let dir = tempfile::tempdir().unwrap();
        ProcessContext::new(7, "http://127.0.0.1:1", "127.0.0.1:2")
            .write_to(&dir.path().join(PROCESS_FILE))
            .unwrap();
        let text = std::fs::read_to_string(dir.path().join(PROCESS_FILE)).unwrap();
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            value,
            serde_json::json!({"pid": 7, "uri": "http://127.0.0.1:1", "p2pAddress": "127.0.0.1:2"})
        );
        // Nothing else is left in the directory.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_missing_file_is_none_and_a_broken_one_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(PROCESS_FILE);
        assert_eq!(ProcessContext::read_from(&path).unwrap(), None);
        std::fs::write(&path, "{\"pid\":").unwrap();
        assert!(ProcessContext::read_from(&path).is_err());
    }
}
