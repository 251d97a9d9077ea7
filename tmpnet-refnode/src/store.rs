//! The replicated key-value store: last writer wins by (version, origin),
//! persisted atomically in `<db-dir>/kv.json` after every change.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// One stored value with its version stamp.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    pub key: String,
    pub value: String,
    /// A Lamport clock: larger than every version the writer had seen.
    pub version: u64,
    /// The node that wrote it; breaks ties between equal versions.
    pub origin: String,
}

impl Entry {
    fn newer_than(&self, other: &Entry) -> bool {
        (self.version, &self.origin) > (other.version, &other.origin)
    }
}

/// The store.
#[derive(Debug)]
pub struct Store {
    path: PathBuf,
    entries: BTreeMap<String, Entry>,
    clock: u64,
}

impl Store {
    /// Opens (or creates) the store in `db_dir`.
    pub fn open(db_dir: &Path) -> Result<Store, String> {
        std::fs::create_dir_all(db_dir)
            .map_err(|e| format!("cannot create {}: {e}", db_dir.display()))?;
        let path = db_dir.join("kv.json");
        let entries: BTreeMap<String, Entry> = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| format!("{} is corrupt: {e}", path.display()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
        };
        let clock = entries.values().map(|e| e.version).max().unwrap_or(0);
        Ok(Store {
            path,
            entries,
            clock,
        })
    }

    /// Writes a value locally; returns the new entry to gossip.
    pub fn put(&mut self, key: &str, value: String, origin: &str) -> Result<Entry, String> {
        self.clock = self
            .clock
            .checked_add(1)
            .ok_or("the version clock is exhausted")?;
        let entry = Entry {
            key: key.to_owned(),
            value,
            version: self.clock,
            origin: origin.to_owned(),
        };
        self.entries.insert(key.to_owned(), entry.clone());
        self.persist()?;
        Ok(entry)
    }

    /// Applies an entry from a peer; returns true if it was new.
    pub fn merge(&mut self, entry: Entry) -> Result<bool, String> {
        if entry.version == u64::MAX {
            return Err(format!("entry {:?} has an exhausted version", entry.key));
        }
        self.clock = self.clock.max(entry.version);
        if let Some(current) = self.entries.get(&entry.key) {
            if !entry.newer_than(current) {
                return Ok(false);
            }
        }
        self.entries.insert(entry.key.clone(), entry);
        self.persist()?;
        Ok(true)
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries.get(key).map(|e| e.value.as_str())
    }

    /// Every entry, for syncing a new peer.
    pub fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.entries.values()
    }

    /// The number of keys.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    fn persist(&self) -> Result<(), String> {
        let tmp = self.path.with_extension("json.tmp");
        let write = || -> std::io::Result<()> {
            // Atomic (temp + rename) but not fsynced: a test node trades
            // power-loss durability for not stalling its one thread.
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&serde_json::to_vec(&self.entries).map_err(std::io::Error::other)?)?;
            std::fs::rename(&tmp, &self.path)
        };
        write().map_err(|e| format!("cannot write {}: {e}", self.path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_writer_wins_and_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let mut a = Store::open(dir.path()).unwrap();
        let e1 = a.put("k", "one".into(), "a").unwrap();
        let older = Entry {
            version: 0,
            ..e1.clone()
        };
        assert!(!a.merge(older).unwrap());
        let tie_bigger_origin = Entry {
            value: "two".into(),
            origin: "b".into(),
            ..e1.clone()
        };
        assert!(a.merge(tie_bigger_origin).unwrap());
        assert_eq!(a.get("k"), Some("two"));
        let e3 = a.put("k", "three".into(), "a").unwrap();
        assert!(e3.version > e1.version, "clock moves past seen versions");
        drop(a);
        let b = Store::open(dir.path()).unwrap();
        assert_eq!(b.get("k"), Some("three"));
        assert_eq!(b.len(), 1);
    }

    #[test]
    fn an_exhausted_version_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut a = Store::open(dir.path()).unwrap();
        let entry = Entry {
            key: "k".into(),
            value: "v".into(),
            version: u64::MAX,
            origin: "evil".into(),
        };
        assert!(a.merge(entry).is_err());
        assert!(a.put("k", "ok".into(), "a").is_ok());
    }

    #[test]
    fn corrupt_db_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("kv.json"), "{").unwrap();
        let err = Store::open(dir.path()).unwrap_err();
        assert!(err.contains("kv.json"), "{err}");
    }
}
