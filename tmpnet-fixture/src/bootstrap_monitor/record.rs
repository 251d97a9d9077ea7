//! The bootstrap test's record on the node's data volume, so a restarted
//! pod knows what it was doing: the image under test, when its test
//! started, whether it has synced (how long it took, how much disk it
//! used) and every interruption with its reason. Past tests are kept in a
//! bounded history. Every write is atomic (temporary file and rename): a
//! pod killed mid-write leaves the old record or the new one, never half.

use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::sys::files;

/// The monitor's directory on the volume.
pub const RECORD_DIR: &str = "tmpnet-bootstrap";
/// The current test, in [`RECORD_DIR`].
pub const CURRENT_FILE: &str = "test.json";
/// Past tests, newest last, in [`RECORD_DIR`].
pub const HISTORY_FILE: &str = "history.json";
/// Why the last pod stopped while its test was syncing, left by the
/// monitor as it is stopped, in [`RECORD_DIR`].
pub const STOP_NOTE_FILE: &str = "stopped.json";
/// How many past tests the history keeps.
pub const HISTORY_KEEP: usize = 50;

/// One bootstrap test: an image syncing the network from scratch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct TestRecord {
    /// The digest-pinned image under test.
    pub image: String,
    /// What the image's binary says its version is, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// When the test started (seconds since the Unix epoch).
    pub started_at: u64,
    /// Where it stands.
    pub status: TestStatus,
    /// Every time the test was interrupted and resumed, with the reason.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub interruptions: Vec<Interruption>,
}

/// Where a test stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "camelCase")]
#[non_exhaustive]
pub enum TestStatus {
    /// The node is syncing.
    Syncing,
    /// The node reported itself synced.
    #[serde(rename_all = "camelCase")]
    Synced {
        /// When (seconds since the Unix epoch).
        synced_at: u64,
        /// Seconds from the test's start, interruptions included.
        duration_secs: u64,
        /// Bytes the node's data used then.
        disk_bytes: u64,
    },
    /// Replaced by a test of another image before it synced.
    #[serde(rename_all = "camelCase")]
    Superseded {
        /// When.
        at: u64,
        /// The image that replaced it.
        by: String,
    },
}

/// A test interrupted and resumed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Interruption {
    /// When it resumed (seconds since the Unix epoch).
    pub at: u64,
    /// Why it had stopped (the pod's last state, as the monitor saw it).
    pub reason: String,
}

impl TestRecord {
    /// A new test of `image` starting at `now`.
    pub fn start(image: &str, now: u64) -> TestRecord {
        TestRecord {
            image: image.to_owned(),
            version: None,
            started_at: now,
            status: TestStatus::Syncing,
            interruptions: Vec::new(),
        }
    }

    /// Whether the node has synced in this test.
    pub fn is_synced(&self) -> bool {
        matches!(self.status, TestStatus::Synced { .. })
    }
}

impl TestStatus {
    /// One word for it: `syncing`, `synced` or `superseded`.
    pub fn word(&self) -> &'static str {
        match self {
            TestStatus::Syncing => "syncing",
            TestStatus::Synced { .. } => "synced",
            TestStatus::Superseded { .. } => "superseded",
        }
    }
}

impl Interruption {
    /// An interruption at `at` for `reason`.
    pub fn new(at: u64, reason: impl Into<String>) -> Interruption {
        Interruption {
            at,
            reason: reason.into(),
        }
    }
}

/// The monitor's view of a data volume mounted at a directory.
#[derive(Debug, Clone)]
pub struct Volume {
    root: PathBuf,
}

impl Volume {
    /// The volume mounted at `root`.
    pub fn new(root: impl Into<PathBuf>) -> Volume {
        Volume { root: root.into() }
    }

    fn path(&self, file: &str) -> PathBuf {
        self.root.join(RECORD_DIR).join(file)
    }

    /// The current test, if the volume has one.
    pub fn current(&self) -> Result<Option<TestRecord>> {
        files::read_json_opt(&self.path(CURRENT_FILE))
    }

    /// Writes the current test, atomically.
    pub fn write_current(&self, record: &TestRecord) -> Result<()> {
        files::create_dir_all(&self.root.join(RECORD_DIR))?;
        files::write_json(&self.path(CURRENT_FILE), record)
    }

    /// Past tests, oldest first.
    pub fn history(&self) -> Result<Vec<TestRecord>> {
        Ok(files::read_json_opt(&self.path(HISTORY_FILE))?.unwrap_or_default())
    }

    /// Adds a finished or superseded test to the history (the oldest go
    /// beyond [`HISTORY_KEEP`]; the same test twice in a row once),
    /// atomically.
    pub fn archive(&self, record: &TestRecord) -> Result<()> {
        let mut history = self.history()?;
        // A start retried after a crash archives the same test once.
        if history.last() == Some(record) {
            return Ok(());
        }
        history.push(record.clone());
        let excess = history.len().saturating_sub(HISTORY_KEEP);
        history.drain(..excess);
        files::create_dir_all(&self.root.join(RECORD_DIR))?;
        files::write_json(&self.path(HISTORY_FILE), &history)
    }

    /// Leaves a note of why this pod is stopping, read by the next start.
    pub fn write_stop_note(&self, note: &Interruption) -> Result<()> {
        files::create_dir_all(&self.root.join(RECORD_DIR))?;
        files::write_json(&self.path(STOP_NOTE_FILE), note)
    }

    /// The last pod's stop note, if it left one.
    pub fn stop_note(&self) -> Result<Option<Interruption>> {
        files::read_json_opt(&self.path(STOP_NOTE_FILE))
    }

    /// Removes the stop note (once a start has used it).
    pub fn clear_stop_note(&self) -> Result<()> {
        files::remove_if_exists(&self.path(STOP_NOTE_FILE))
    }

    /// Bytes of the files under `relative` (apparent sizes).
    pub fn disk_bytes(&self, relative: &Path) -> u64 {
        fn walk(dir: &Path) -> u64 {
            let Ok(entries) = std::fs::read_dir(dir) else {
                return 0;
            };
            entries
                .flatten()
                .map(|e| match e.file_type() {
                    Ok(t) if t.is_dir() => walk(&e.path()),
                    Ok(t) if t.is_file() => e.metadata().map_or(0, |m| m.len()),
                    _ => 0,
                })
                .sum()
        }
        walk(&self.root.join(relative))
    }

    /// Removes the node's data directory `relative` (under the volume) and
    /// makes it again, empty; the monitor's own records stay.
    pub fn wipe(&self, relative: &Path) -> Result<()> {
        let plain = relative
            .components()
            .all(|c| matches!(c, Component::Normal(_)));
        if !plain || relative.as_os_str().is_empty() || relative.starts_with(RECORD_DIR) {
            return Err(Error::InvalidInput(format!(
                "the node's data directory {:?} must be a plain directory under the volume, not the volume itself or {RECORD_DIR}; give e.g. --node-data node",
                relative.display().to_string()
            )));
        }
        let dir = self.root.join(relative);
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io("cannot remove", &dir, e)),
        }
        files::create_dir_all(&dir)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_survives_the_volume_and_its_json_is_readable() {
        let dir = tempfile::tempdir().unwrap();
        let volume = Volume::new(dir.path());
        assert_eq!(volume.current().unwrap(), None);
        let mut record = TestRecord::start("node@sha256:00", 100);
        record
            .interruptions
            .push(Interruption::new(150, "the pod was deleted"));
        record.status = TestStatus::Synced {
            synced_at: 400,
            duration_secs: 300,
            disk_bytes: 4096,
        };
        volume.write_current(&record).unwrap();
        assert_eq!(volume.current().unwrap(), Some(record.clone()));
        let text = std::fs::read_to_string(dir.path().join(RECORD_DIR).join(CURRENT_FILE)).unwrap();
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(json["status"]["state"], "synced");
        assert_eq!(json["status"]["durationSecs"], 300);
        assert_eq!(json["interruptions"][0]["reason"], "the pod was deleted");
        assert!(record.is_synced());
    }

    #[test]
    fn the_history_keeps_the_newest_tests() {
        let dir = tempfile::tempdir().unwrap();
        let volume = Volume::new(dir.path());
        for i in 0..(HISTORY_KEEP as u64 + 3) {
            volume
                .archive(&TestRecord::start("node@sha256:00", i))
                .unwrap();
        }
        let last = TestRecord::start("node@sha256:00", HISTORY_KEEP as u64 + 2);
        volume.archive(&last).unwrap();
        let history = volume.history().unwrap();
        assert_eq!(history.len(), HISTORY_KEEP, "archived twice, kept once");
        assert_eq!(history[0].started_at, 3);
        assert_eq!(history.last().unwrap().started_at, HISTORY_KEEP as u64 + 2);
    }

    #[test]
    fn a_wipe_empties_the_node_data_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let volume = Volume::new(dir.path());
        volume.write_current(&TestRecord::start("i", 1)).unwrap();
        std::fs::create_dir_all(dir.path().join("node/chain")).unwrap();
        std::fs::write(dir.path().join("node/chain/blocks"), "x").unwrap();
        std::fs::write(dir.path().join("other"), "kept").unwrap();
        volume.wipe(Path::new("node")).unwrap();
        assert!(dir.path().join("node").is_dir());
        assert_eq!(
            std::fs::read_dir(dir.path().join("node")).unwrap().count(),
            0
        );
        assert!(dir.path().join("other").exists());
        assert!(volume.current().unwrap().is_some(), "the record stays");
        for bad in [
            "",
            ".",
            "..",
            "../x",
            "/abs",
            RECORD_DIR,
            "tmpnet-bootstrap/x",
        ] {
            let err = volume.wipe(Path::new(bad)).unwrap_err().to_string();
            assert!(err.contains("plain directory"), "{bad}: {err}");
        }
        assert!(dir.path().join("other").exists());
    }

    #[test]
    fn a_stop_note_stays_until_cleared_and_disk_use_counts_the_node_data() {
        let dir = tempfile::tempdir().unwrap();
        let volume = Volume::new(dir.path());
        assert_eq!(volume.stop_note().unwrap(), None);
        let note = Interruption::new(5, "the pod was deleted");
        volume.write_stop_note(&note).unwrap();
        assert_eq!(volume.stop_note().unwrap(), Some(note.clone()));
        assert_eq!(
            volume.stop_note().unwrap(),
            Some(note),
            "kept until cleared"
        );
        volume.clear_stop_note().unwrap();
        assert_eq!(volume.stop_note().unwrap(), None);
        std::fs::create_dir_all(dir.path().join("node/blocks")).unwrap();
        std::fs::write(dir.path().join("node/blocks/a"), [0u8; 1000]).unwrap();
        std::fs::write(dir.path().join("node/b"), [0u8; 24]).unwrap();
        std::fs::write(dir.path().join("outside"), [0u8; 99]).unwrap();
        assert_eq!(volume.disk_bytes(Path::new("node")), 1024);
    }
}
