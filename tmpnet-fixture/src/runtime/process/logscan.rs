//! Reading a node's log: the fatal line of its current run (scanning only
//! what was appended since the last look) and what it wrote since an
//! offset.

use super::ProcessRuntime;
use crate::model::{LaunchRecord, Node};

impl ProcessRuntime {
    /// A fatal log line written by this run of the node, if any. Scans only
    /// what was appended since the last call; a finding is remembered. A
    /// last line without its newline is read only once the run has `ended`
    /// (a crashed daemon's last words), else left for the next call.
    pub(super) fn fatal_line(
        &self,
        node: &Node,
        record: &LaunchRecord,
        ended: bool,
    ) -> Option<String> {
        let mut scans = self.log_scans.lock().unwrap_or_else(|p| p.into_inner());
        let scan = scans.entry(node.id().to_owned()).or_default();
        if scan.pid != record.pid {
            *scan = LogScan {
                pid: record.pid,
                offset: record.log_offset,
                fatal: None,
            };
        }
        if scan.fatal.is_none() {
            let (fatal, offset) = scan_log(&node.log_path(), scan.offset, ended, |l| {
                self.kind.is_fatal_log_line(l)
            });
            scan.fatal = fatal;
            scan.offset = offset;
        }
        scan.fatal.clone()
    }
}

/// The bytes of `path` from `offset` on; `None` if it cannot be read.
fn bytes_from(path: &std::path::Path, offset: u64) -> Option<Vec<u8>> {
    use std::io::{Read, Seek, SeekFrom};
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|mut f| {
            f.seek(SeekFrom::Start(offset))?;
            f.read_to_end(&mut bytes)
        })
        .ok()?;
    Some(bytes)
}

/// What `path` holds from `offset` on (lossy UTF-8; empty if unreadable).
pub(super) fn read_from(path: &std::path::Path, offset: u64) -> String {
    String::from_utf8_lossy(&bytes_from(path, offset).unwrap_or_default()).into_owned()
}

/// What the log scan of one run of a node has found so far.
#[derive(Debug, Clone, Default)]
pub(super) struct LogScan {
    pid: u32,
    offset: u64,
    fatal: Option<String>,
}

/// Reads `path` from `offset`: the first line `is_fatal` accepts, and the
/// offset just past the last complete line read (past everything once the
/// writer has `ended`: its unended last line is read too).
fn scan_log(
    path: &std::path::Path,
    offset: u64,
    ended: bool,
    is_fatal: impl Fn(&str) -> bool,
) -> (Option<String>, u64) {
    let Some(bytes) = bytes_from(path, offset) else {
        return (None, offset);
    };
    let complete = if ended {
        bytes.len()
    } else {
        bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1)
    };
    let fatal = String::from_utf8_lossy(&bytes[..complete])
        .lines()
        .find(|l| is_fatal(l))
        .map(|l| l.trim().to_owned());
    (fatal, offset + complete as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_scan_reads_only_complete_lines_after_the_offset() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("main.log");
        let fatal = |l: &str| l.contains("FATAL");
        std::fs::write(&log, "FATAL old run\nok\n").unwrap();
        let start = std::fs::metadata(&log).unwrap().len();
        assert_eq!(scan_log(&log, start, false, fatal), (None, start));
        assert_eq!(
            scan_log(&log, 0, false, fatal).0.as_deref(),
            Some("FATAL old run")
        );
        // A half-written line is left for the next scan while the run lasts.
        std::fs::write(&log, "FATAL old run\nok\nfine\n  FATAL bad").unwrap();
        let (found, next) = scan_log(&log, start, false, fatal);
        assert_eq!((found, next), (None, start + 5));
        // Once it has ended, the unended line is its last words.
        let (found, end) = scan_log(&log, next, true, fatal);
        assert_eq!(found.as_deref(), Some("FATAL bad"));
        assert_eq!(end, std::fs::metadata(&log).unwrap().len());
        std::fs::write(&log, "FATAL old run\nok\nfine\n  FATAL bad flag  \n").unwrap();
        assert_eq!(
            scan_log(&log, next, false, fatal).0.as_deref(),
            Some("FATAL bad flag")
        );
        assert_eq!(
            scan_log(&dir.path().join("none"), 3, true, fatal),
            (None, 3)
        );
    }
}
