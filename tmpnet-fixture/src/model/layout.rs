//! Where networks live on disk: the root directory, network directory names
//! and the `latest` link.
//!
//! ```text
//! <root>/networks/<YYYYMMDD-HHMMSS.ffffff>/   one network
//! <root>/networks/latest -> <name>            relative link to the network `tmpnetctl start-network` last made or started
//! ```

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::{Error, Result};
use crate::sys::files;

/// Environment variable naming the root directory (default `~/.tmpnet`).
pub const ROOT_DIR_ENV: &str = "TMPNET_ROOT_DIR";
/// Environment variable naming one network directory.
pub const NETWORK_DIR_ENV: &str = "TMPNET_NETWORK_DIR";
/// The directory under the root that holds networks.
pub const NETWORKS_DIR: &str = "networks";
/// The link to the newest started network.
pub const LATEST_LINK: &str = "latest";

/// The root directory: `explicit`, else `$TMPNET_ROOT_DIR`, else `~/.tmpnet`.
pub fn root_dir(explicit: Option<&Path>) -> Result<PathBuf> {
    if let Some(dir) = explicit {
        return Ok(dir.to_owned());
    }
    if let Some(dir) = std::env::var_os(ROOT_DIR_ENV).filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    let home = std::env::var_os("HOME").filter(|v| !v.is_empty()).ok_or_else(|| {
        Error::Environment(
            "HOME is not set, so the default root ~/.tmpnet is unknown; pass --root-dir or set TMPNET_ROOT_DIR".into(),
        )
    })?;
    Ok(PathBuf::from(home).join(".tmpnet"))
}

/// `export TMPNET_NETWORK_DIR=<dir>` as a line a POSIX shell reads back
/// exactly, whatever the path holds (spaces, quotes, `$(...)`): the path is
/// single-quoted, each `'` in it written as `'\''`.
pub fn export_line(dir: &Path) -> String {
    let quoted = dir.to_string_lossy().replace('\'', r"'\''");
    format!("export {NETWORK_DIR_ENV}='{quoted}'")
}

/// The root of a network directory `<root>/networks/<name>`; `None` for a
/// directory elsewhere.
pub fn root_of(network_dir: &Path) -> Option<PathBuf> {
    let parent = network_dir.parent()?;
    (parent.file_name()? == NETWORKS_DIR).then(|| parent.parent().map(Path::to_owned))?
}

/// The root a network directory belongs to: its own ([`root_of`]), else
/// the root from the environment ([`root_dir`]).
pub fn root_for(network_dir: &Path) -> Result<PathBuf> {
    root_of(network_dir).map_or_else(|| root_dir(None), Ok)
}

/// `<root>/networks`.
pub fn networks_dir(root: &Path) -> PathBuf {
    root.join(NETWORKS_DIR)
}

/// `<root>/locks`: the harness's lock files, `<name>.lock`.
pub(crate) fn locks_dir(root: &Path) -> PathBuf {
    root.join("locks")
}

/// The name of a nextest run's shared network: its link in `networks/`
/// and its lock in `locks/` (both go when the run has ended).
pub(crate) fn nextest_run_name(run_id: &str) -> String {
    format!("{NEXTEST_RUN_PREFIX}{run_id}")
}

/// What [`nextest_run_name`] starts with.
pub(crate) const NEXTEST_RUN_PREFIX: &str = "nextest-";

/// The network to act on: `explicit`, else `$TMPNET_NETWORK_DIR`, else
/// `<root>/networks/latest`. The result is canonical (links resolved), so
/// paths stay valid when `latest` moves.
pub fn network_dir(explicit: Option<&Path>, root: &Path) -> Result<PathBuf> {
    choose_network_dir(explicit, std::env::var_os(NETWORK_DIR_ENV), root)
}

fn choose_network_dir(
    explicit: Option<&Path>,
    from_env: Option<std::ffi::OsString>,
    root: &Path,
) -> Result<PathBuf> {
    let chosen = match explicit {
        Some(dir) => dir.to_owned(),
        None => match from_env.filter(|v| !v.is_empty()) {
            Some(dir) => PathBuf::from(dir),
            None => {
                let latest = networks_dir(root).join(LATEST_LINK);
                if fs::symlink_metadata(&latest).is_err() || !latest.exists() {
                    return Err(Error::NoNetwork { latest });
                }
                latest
            }
        },
    };
    fs::canonicalize(&chosen).map_err(|e| Error::NotANetwork {
        path: chosen.clone(),
        reason: e.to_string(),
    })
}

/// Creates a new, empty network directory under `<root>/networks` named by
/// the current UTC time with microseconds. Two creators racing for the same
/// name never share a directory: the loser takes a `-N` suffix.
pub(crate) fn create_network_dir(root: &Path) -> Result<PathBuf> {
    let parent = networks_dir(root);
    files::create_dir_all(&parent)?;
    let parent = fs::canonicalize(&parent).map_err(|e| Error::io("cannot resolve", &parent, e))?;
    if parent.to_str().is_none() {
        return Err(Error::InvalidInput(format!(
            "the root directory {} is not valid UTF-8 (node daemons take paths as text); choose another with --root-dir or TMPNET_ROOT_DIR",
            parent.display()
        )));
    }
    let base = timestamp_name(SystemTime::now());
    for attempt in 0..1000u32 {
        let name = if attempt == 0 {
            base.clone()
        } else {
            format!("{base}-{attempt}")
        };
        let dir = parent.join(name);
        match std::os::unix::fs::DirBuilderExt::mode(&mut fs::DirBuilder::new(), 0o755).create(&dir)
        {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(Error::io("cannot create", &dir, e)),
        }
    }
    Err(Error::Environment(format!(
        "cannot find a free network directory name under {}; remove old networks",
        parent.display()
    )))
}

/// Points `<root>/networks/latest` at `dir` with a relative link, atomically.
pub fn update_latest(root: &Path, dir: &Path) -> Result<()> {
    let name = dir
        .file_name()
        .ok_or_else(|| Error::InvalidInput(format!("{} has no name", dir.display())))?;
    files::replace_symlink(Path::new(name), &networks_dir(root).join(LATEST_LINK))
}

/// Every network directory under `<root>/networks`, oldest first.
pub fn list_network_dirs(root: &Path) -> Result<Vec<PathBuf>> {
    let parent = networks_dir(root);
    let entries = match fs::read_dir(&parent) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io("cannot read", &parent, e)),
    };
    let mut dirs: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().map(|t| t.is_dir()).unwrap_or(false))
        .map(|e| e.path())
        .collect();
    dirs.sort();
    Ok(dirs)
}

/// Whether `name` is one [`create_network_dir`] gives:
/// `YYYYMMDD-HHMMSS.ffffff`, or that with a `-N` suffix.
pub(crate) fn is_made_name(name: &str) -> bool {
    let (stamp, suffix) = match name.split_once('.') {
        Some((date_time, rest)) => (date_time, rest),
        None => return false,
    };
    let (micros, n) = suffix.split_once('-').unwrap_or((suffix, "0"));
    let digits = |s: &str, len: usize| s.len() == len && s.bytes().all(|b| b.is_ascii_digit());
    let Some((date, time)) = stamp.split_once('-') else {
        return false;
    };
    digits(date, 8)
        && digits(time, 6)
        && digits(micros, 6)
        && !n.is_empty()
        && n.bytes().all(|b| b.is_ascii_digit())
}

/// `YYYYMMDD-HHMMSS.ffffff` in UTC.
pub(crate) fn timestamp_name(t: SystemTime) -> String {
    // RFC 3339 with microseconds, e.g. 2026-11-22T14:53:01.123456Z.
    let rfc = humantime::format_rfc3339_micros(t.max(UNIX_EPOCH)).to_string();
    let digits: String = rfc.chars().filter(char::is_ascii_digit).collect();
    format!("{}-{}.{}", &digits[..8], &digits[8..14], &digits[14..20])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_tool_gives_are_told_from_others() {
        assert!(is_made_name("20261207-151830.868986"));
        assert!(is_made_name("20261207-151830.868986-2"));
        for other in [
            "my-notes",
            "20261207-151830",
            "20261207-151830.86898",
            "20261207-151830.868986-",
            "latest",
            "x20261207-151830.868986",
        ] {
            assert!(!is_made_name(other), "{other}");
        }
    }
    use std::time::Duration;

    #[test]
    fn timestamp_names_sort_by_time() {
        let t = UNIX_EPOCH + Duration::from_micros(1_795_359_181_123_456);
        assert_eq!(timestamp_name(t), "20261122-145301.123456");
        assert_eq!(timestamp_name(UNIX_EPOCH), "19700101-000000.000000");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert!(timestamp_name(leap).starts_with("20000229-"));
    }

    #[test]
    fn racing_creators_get_distinct_dirs() {
        let root = tempfile::tempdir().unwrap();
        let dirs: Vec<PathBuf> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|_| s.spawn(|| create_network_dir(root.path()).unwrap()))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let mut unique = dirs.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), 8);
    }

    #[test]
    fn latest_is_relative_and_resolves() {
        let root = tempfile::tempdir().unwrap();
        let dir = create_network_dir(root.path()).unwrap();
        update_latest(root.path(), &dir).unwrap();
        let link = networks_dir(root.path()).join(LATEST_LINK);
        assert!(fs::read_link(&link).unwrap().is_relative());
        assert_eq!(network_dir(Some(&link), root.path()).unwrap(), dir);
    }

    #[test]
    fn the_export_line_survives_any_path_in_a_shell() {
        for dir in [
            "/plain/dir",
            "/a dir/with space",
            "/it's/quoted",
            "/$(touch pwned)/`x`",
        ] {
            let line = export_line(Path::new(dir));
            let script = format!("{line}\nprintf %s \"$TMPNET_NETWORK_DIR\"");
            let out = std::process::Command::new("sh")
                .args(["-c", &script])
                .output()
                .unwrap();
            assert_eq!(String::from_utf8_lossy(&out.stdout), dir, "{line}");
        }
    }

    #[test]
    fn a_root_that_is_not_utf8_is_refused_with_the_fix() {
        use std::os::unix::ffi::OsStrExt;
        let scratch = tempfile::tempdir().unwrap();
        let root = scratch
            .path()
            .join(std::ffi::OsStr::from_bytes(b"bad\xffroot"));
        let err = create_network_dir(&root).unwrap_err().to_string();
        assert!(
            err.contains("not valid UTF-8") && err.contains("--root-dir"),
            "{err}"
        );
    }

    #[test]
    fn missing_latest_is_a_clear_error() {
        let root = tempfile::tempdir().unwrap();
        let msg = choose_network_dir(None, None, root.path())
            .unwrap_err()
            .to_string();
        assert!(msg.contains("start-network"), "{msg}");
        let msg = choose_network_dir(None, Some("/nonexistent/net".into()), root.path())
            .unwrap_err()
            .to_string();
        assert!(msg.contains("/nonexistent/net"), "{msg}");
    }
}
