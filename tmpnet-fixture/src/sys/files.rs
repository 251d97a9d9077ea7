//! Atomic file writes and JSON reads that name the file on every error.

use std::fs;
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::{Error, Result};

static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A temporary name beside `path`, unique across processes and threads.
fn temp_sibling(path: &Path) -> std::path::PathBuf {
    let n = TMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    let name = path
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.tmp-{}-{n}", std::process::id()))
}

/// Writes `bytes` to `path` atomically: a temporary file in the same
/// directory, flushed to disk, then renamed over `path`. Readers see either
/// the old content or the new one, never a mix. `mode` sets the Unix
/// permission bits of the new file (e.g. `0o600` for secrets).
pub fn atomic_write(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = temp_sibling(path);
    let write = || -> std::io::Result<()> {
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&tmp, path)
    };
    write().map_err(|e| {
        let _ = fs::remove_file(&tmp);
        Error::io("cannot write", path, e)
    })
}

/// Makes a secret file readable by its owner only: when group or others
/// have any access, the mode becomes 0600 and a warning names the file.
/// Returns whether the mode was changed. A missing file is left missing.
pub fn keep_private(path: &Path) -> Result<bool> {
    use std::os::unix::fs::PermissionsExt;
    let mode = match fs::metadata(path) {
        Ok(m) => m.permissions().mode() & 0o777,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(Error::io("cannot read", path, e)),
    };
    if mode & 0o077 == 0 {
        return Ok(false);
    }
    fs::set_permissions(path, fs::Permissions::from_mode(0o600))
        .map_err(|e| Error::io("cannot make private", path, e))?;
    tracing::warn!(
        file = %path.display(),
        "a secret file was readable by others (mode {mode:o}); restored mode 600"
    );
    Ok(true)
}

/// The first executable file named `name` in a directory of `PATH`.
pub fn on_path(name: &str) -> Option<std::path::PathBuf> {
    let paths = std::env::var_os("PATH")?;
    std::env::split_paths(&paths)
        .map(|dir| dir.join(name))
        .find(|p| executable_problem(p).is_none())
}

/// What keeps `path` from being run as a program (`does not exist`, `is
/// not a file`, `is not executable`, or the error reading it); `None` when
/// it can be run.
pub fn executable_problem(path: &Path) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    match fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Some("does not exist".to_owned()),
        Err(e) => Some(e.to_string()),
        Ok(m) if !m.is_file() => Some("is not a file".to_owned()),
        Ok(m) if m.permissions().mode() & 0o111 == 0 => Some("is not executable".to_owned()),
        Ok(_) => None,
    }
}

/// The text of a small file a user names (a kind file, a kubeconfig): only
/// a regular file of at most `max` bytes is read, so a FIFO, a device
/// (`/dev/zero`) or a huge file is refused before a byte is read. The
/// error is the problem, to be said with the path and the fix.
pub fn read_small(path: &Path, max: u64) -> std::result::Result<String, String> {
    let meta = fs::metadata(path).map_err(|e| format!("cannot be read: {e}"))?;
    if let Some(problem) = not_small_file(&meta, max) {
        return Err(problem);
    }
    let mut text = String::new();
    fs::File::open(path)
        .and_then(|f| {
            std::io::Read::read_to_string(&mut std::io::Read::take(f, max + 1), &mut text)
        })
        .map_err(|e| format!("cannot be read: {e}"))?;
    if text.len() as u64 > max {
        return Err(format!("grew past {max} bytes while being read"));
    }
    Ok(text)
}

/// Why a file with metadata `meta` is not read as a small file of at most
/// `max` bytes (no regular file, or too big); `None` when it may be.
pub fn not_small_file(meta: &fs::Metadata, max: u64) -> Option<String> {
    if !meta.is_file() {
        Some("is not a regular file (a directory, a FIFO or a device)".into())
    } else if meta.len() > max {
        Some(format!("is {} bytes; at most {max} are read", meta.len()))
    } else {
        None
    }
}

/// Opens (creating it when missing) a file used only for `flock`-style
/// locking; its content is never read or written.
pub fn open_lock_file(path: &Path) -> Result<fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    fs::OpenOptions::new()
        .mode(0o644)
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(|e| Error::io("cannot open", path, e))
}

/// Serialises `value` as pretty JSON and writes it atomically (mode 0644).
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    write_json_mode(path, value, 0o644)
}

/// Like [`write_json`] with explicit permission bits.
pub fn write_json_mode<T: Serialize>(path: &Path, value: &T, mode: u32) -> Result<()> {
    let mut bytes = serde_json::to_vec_pretty(value).map_err(|e| Error::CorruptFile {
        path: path.to_owned(),
        source: e,
    })?;
    bytes.push(b'\n');
    atomic_write(path, &bytes, mode)
}

/// Reads and parses a JSON file. A missing file is an [`Error::Io`]; a
/// corrupt one is an [`Error::CorruptFile`] naming the file.
pub fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T> {
    let bytes = fs::read(path).map_err(|e| Error::io("cannot read", path, e))?;
    serde_json::from_slice(&bytes).map_err(|e| Error::CorruptFile {
        path: path.to_owned(),
        source: e,
    })
}

/// Like [`read_json`] but a missing file gives `Ok(None)`.
pub fn read_json_opt<T: DeserializeOwned>(path: &Path) -> Result<Option<T>> {
    match fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| Error::CorruptFile {
                path: path.to_owned(),
                source: e,
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io("cannot read", path, e)),
    }
}

/// Removes a file; a file that is already gone is fine.
pub fn remove_if_exists(path: &Path) -> Result<()> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io("cannot remove", path, e)),
    }
}

/// Points the symlink `link` at `target` atomically: a new link under a
/// temporary name, renamed over the old one. A dangling or existing link is
/// replaced; readers never see the link missing.
pub fn replace_symlink(target: &Path, link: &Path) -> Result<()> {
    let tmp = temp_sibling(link);
    std::os::unix::fs::symlink(target, &tmp).map_err(|e| Error::io("cannot create", &tmp, e))?;
    fs::rename(&tmp, link).map_err(|e| {
        let _ = fs::remove_file(&tmp);
        Error::io("cannot replace", link, e)
    })
}

/// Creates a directory and its parents.
pub fn create_dir_all(path: &Path) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    // 0755 at most whatever the umask: no other user may replace a file in
    // a network's directories (a stricter umask is kept).
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(path)
        .map_err(|e| Error::io("cannot create", path, e))
}

/// The last `n` lines of a text file (lossy UTF-8); empty if unreadable.
pub fn tail_lines(path: &Path, n: usize) -> Vec<String> {
    let Ok(bytes) = fs::read(path) else {
        return Vec::new();
    };
    let text = String::from_utf8_lossy(&bytes);
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..]
        .iter()
        .map(|l| l.to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_readable_by_others_is_made_private_again() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret.json");
        assert!(!keep_private(&path).unwrap(), "missing: nothing to do");
        write_json_mode(&path, &"s3cret", 0o600).unwrap();
        assert!(!keep_private(&path).unwrap(), "already private");
        for loose in [0o644, 0o640, 0o604, 0o666] {
            fs::set_permissions(&path, fs::Permissions::from_mode(loose)).unwrap();
            assert!(keep_private(&path).unwrap(), "{loose:o}");
            let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{loose:o}");
        }
        assert_eq!(
            read_json::<String>(&path).unwrap(),
            "s3cret",
            "content kept"
        );
    }

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Doc {
        a: u32,
    }

    #[test]
    fn write_then_read_round_trips_and_leaves_no_temp_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("doc.json");
        write_json(&path, &Doc { a: 1 }).unwrap();
        write_json(&path, &Doc { a: 2 }).unwrap();
        assert_eq!(read_json::<Doc>(&path).unwrap(), Doc { a: 2 });
        let names: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1, "temporary files left behind: {names:?}");
    }

    #[test]
    fn corrupt_file_error_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        fs::write(&path, b"{\"a\": 1").unwrap();
        let err = read_json::<Doc>(&path).unwrap_err();
        assert!(matches!(err, Error::CorruptFile { .. }));
        assert!(err.to_string().contains("config.json"), "{err}");
    }

    #[test]
    fn failed_write_keeps_the_old_content() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("doc.json");
        write_json(&path, &Doc { a: 7 }).unwrap();
        // A directory where the temporary file would go cannot be renamed over a file.
        let blocked = dir.path().join("missing-dir").join("doc.json");
        assert!(write_json(&blocked, &Doc { a: 8 }).is_err());
        assert_eq!(read_json::<Doc>(&path).unwrap(), Doc { a: 7 });
    }

    #[test]
    fn symlink_is_replaced_even_when_dangling() {
        let dir = tempfile::tempdir().unwrap();
        let link = dir.path().join("latest");
        replace_symlink(Path::new("gone"), &link).unwrap();
        fs::create_dir(dir.path().join("b")).unwrap();
        replace_symlink(Path::new("b"), &link).unwrap();
        assert_eq!(fs::read_link(&link).unwrap(), Path::new("b"));
    }

    #[test]
    fn on_path_finds_executables_only() {
        assert!(on_path("sh").is_some_and(|p| p.is_absolute() && p.ends_with("sh")));
        assert_eq!(on_path("no-such-program-anywhere-here"), None);
    }

    #[test]
    fn tail_returns_last_non_empty_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("main.log");
        fs::write(&path, "a\nb\n\nc\nd\n").unwrap();
        assert_eq!(tail_lines(&path, 2), vec!["c", "d"]);
        assert!(tail_lines(&dir.path().join("none"), 2).is_empty());
    }
}
