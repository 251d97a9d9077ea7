//! Disk over time: which network directories may be removed, what each
//! takes on disk, and removing them. Never a network with a running node,
//! one another command holds, a kept one (`latest`, `reuse-*`), one changed
//! in the last moments, or one that cannot be read.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::Network;
use crate::error::{Error, Result};
use crate::model::layout;
use crate::model::network::LOCK_FILE;
use crate::sys::files;

/// Written into a network's directory when a test on it failed: such
/// directories are kept for diagnosis (up to `PruneRule::keep_failed`).
const FAILED_MARK: &str = "failed.json";

/// What [`prune`] may remove.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PruneRule {
    /// How many of the newest networks a failed test ran on to keep.
    pub keep_failed: usize,
    /// Only networks unchanged for at least this long (a network being
    /// created by another program is left alone).
    pub min_age: Duration,
    /// Only networks a failed test ran on (the harness's own clean-up:
    /// directories of passing runs are removed as they finish).
    pub failed_only: bool,
}

impl Default for PruneRule {
    /// Keep the 10 newest failed networks; remove every other stopped one
    /// unchanged for a minute.
    fn default() -> Self {
        PruneRule {
            keep_failed: 10,
            min_age: Duration::from_secs(60),
            failed_only: false,
        }
    }
}

/// What [`prune`] did (or, in a dry run, would do).
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct PruneReport {
    /// Removed directories and the bytes each took.
    pub removed: Vec<(PathBuf, u64)>,
    /// Directories left, and why.
    pub kept: Vec<(PathBuf, String)>,
}

/// What `dir` takes on disk, in bytes (allocated blocks, as `du` counts).
pub fn disk_usage(dir: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let mut total = 0;
    let mut stack = vec![dir.to_owned()];
    while let Some(path) = stack.pop() {
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        total += meta.blocks() * 512;
        if meta.is_dir() {
            if let Ok(entries) = std::fs::read_dir(&path) {
                stack.extend(entries.flatten().map(|e| e.path()));
            }
        }
    }
    total
}

/// The networks the `latest` and `reuse-*` links point at.
fn kept_by_links(root: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(layout::networks_dir(root)) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name == layout::LATEST_LINK || name.starts_with("reuse-")
        })
        .filter_map(|e| std::fs::canonicalize(e.path()).ok())
        .collect()
}

/// Removes the links under `<root>/networks` whose network is gone.
fn remove_dangling_links(root: &Path) {
    let Ok(entries) = std::fs::read_dir(layout::networks_dir(root)) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_symlink() && !path.exists() {
            let _ = std::fs::remove_file(&path);
        }
    }
}

/// Why `dir` must stay, if it must.
async fn reason_to_keep(dir: &Path, kept: &[PathBuf], min_age: Duration) -> Option<String> {
    let config = dir.join(crate::model::network::CONFIG_FILE);
    // A link keeps a network; what is left without config.json is none,
    // and goes by the rule below even when `latest` names it.
    if kept.iter().any(|k| k == dir) && config.exists() {
        return Some("kept (latest or reused)".into());
    }
    // Without its config.json (a start cut off before writing it, a
    // removal cut off after), the directory's own time is its age.
    let changed = std::fs::metadata(&config)
        .or_else(|_| std::fs::metadata(dir))
        .and_then(|m| m.modified())
        .unwrap_or(SystemTime::now());
    let age = SystemTime::now()
        .duration_since(changed)
        .unwrap_or(Duration::ZERO);
    if age < min_age {
        return Some(format!("changed {}s ago", age.as_secs()));
    }
    let made = dir
        .file_name()
        .and_then(|n| n.to_str())
        .is_some_and(layout::is_made_name);
    if !config.exists() && !made {
        return Some("not a network directory the tool made; left alone".into());
    }
    if !config.exists() {
        // Never a network of its own: what remains of an interrupted start
        // or removal goes, unless a process still runs from it (carrying
        // one of its node directories, or working inside it).
        let mut left = super::rescue::processes_of(dir);
        left.extend(crate::sys::pids::working_in(
            &std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_owned()),
        ));
        left.sort_unstable();
        left.dedup();
        return (!left.is_empty()).then(|| {
            format!(
                "it has no config.json, but {} process(es) run from it; stop them first (`tmpnetctl stop-network --network-dir {}` stops its nodes)",
                left.len(),
                crate::error::shell_word(dir)
            )
        });
    }
    let network = match Network::load(dir) {
        Ok(network) => network,
        Err(e) => {
            return Some(format!(
                "unreadable ({e}); remove it by hand once sure nothing of it runs"
            ))
        }
    };
    match network.running_nodes().await {
        Ok(running) if !running.is_empty() => {
            return Some(format!("{} node(s) running", running.len()))
        }
        Ok(_) => {}
        Err(e) => return Some(format!("its state cannot be read ({e})")),
    }
    // Another command may be starting or stopping it right now.
    match files::open_lock_file(&dir.join(LOCK_FILE)).map(|f| f.try_lock().is_ok()) {
        Ok(true) => None,
        _ => Some("in use by another command".into()),
    }
}

/// Removes the network directories under `root` that `rule` lets go
/// (only lists them when `dry_run`).
pub async fn prune(root: &Path, rule: &PruneRule, dry_run: bool) -> Result<PruneReport> {
    let kept_links = kept_by_links(root);
    let mut report = PruneReport::default();
    let mut failed = Vec::new();
    for dir in layout::list_network_dirs(root)? {
        if let Some(why) = reason_to_keep(&dir, &kept_links, rule.min_age).await {
            report.kept.push((dir, why));
            continue;
        }
        if dir.join(FAILED_MARK).is_file() {
            failed.push(dir);
        } else if rule.failed_only {
            report.kept.push((dir, "not from a failed test".into()));
        } else {
            remove(&dir, dry_run, &mut report)?;
        }
    }
    // Directories are named by creation time: the newest come last.
    let surplus = failed.len().saturating_sub(rule.keep_failed);
    for (i, dir) in failed.into_iter().enumerate() {
        if i < surplus {
            remove(&dir, dry_run, &mut report)?;
        } else {
            report.kept.push((dir, "a failed test ran on it".into()));
        }
    }
    if !dry_run {
        remove_dangling_links(root);
        remove_idle_run_locks(root, rule.min_age);
    }
    Ok(report)
}

/// Removes the locks of nextest runs that are over (killed before their
/// reaper cleaned up): no link of the run is left, no process holds the
/// lock, and it is older than `min_age`.
fn remove_idle_run_locks(root: &Path, min_age: Duration) {
    let Ok(entries) = std::fs::read_dir(layout::locks_dir(root)) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let Some(run) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".lock"))
            .filter(|n| n.starts_with(layout::NEXTEST_RUN_PREFIX))
        else {
            continue;
        };
        let link = layout::networks_dir(root).join(run);
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .is_ok_and(|t| t.elapsed().is_ok_and(|age| age >= min_age));
        if link.symlink_metadata().is_ok() || !old {
            continue;
        }
        // Removed while held here, so no process waits on it meanwhile.
        if let Ok(file) = std::fs::File::open(&path) {
            if file.try_lock().is_ok() {
                let _ = std::fs::remove_file(&path);
            }
        }
    }
}

fn remove(dir: &Path, dry_run: bool, report: &mut PruneReport) -> Result<()> {
    let bytes = disk_usage(dir);
    if !dry_run {
        std::fs::remove_dir_all(dir).map_err(|e| Error::io("cannot remove", dir, e))?;
    }
    report.removed.push((dir.to_owned(), bytes));
    Ok(())
}

/// Removes the directory of a stopped network no failed test ran on (what
/// the harness does with the networks of passing runs). Returns whether it
/// did.
pub fn discard_if_passed(network: &Network) -> Result<bool> {
    let dir = network.dir();
    if dir.join(FAILED_MARK).exists() {
        return Ok(false);
    }
    std::fs::remove_dir_all(dir).map_err(|e| Error::io("cannot remove", dir, e))?;
    Ok(true)
}

/// Records in the network's directory that `test` failed on it.
pub fn mark_failed(network: &Network, test: &str) -> Result<()> {
    let record = serde_json::json!({
        "test": test,
        "at": humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
    });
    files::write_json(&network.dir().join(FAILED_MARK), &record)
}
