//! Operating-system utilities with no tmpnet types in them: atomic file
//! writes, process identity and signals, loopback port allocation, deadlines,
//! ELF build ids.

#[cfg(feature = "kube")]
pub(crate) mod elf;
pub(crate) mod files;
pub(crate) mod pids;
pub(crate) mod ports;
pub(crate) mod signals;

use std::time::Duration;

/// `path` as one word a POSIX shell reads back as that path: as it is when
/// it holds only characters no shell treats specially, else in single
/// quotes. Every path the tool puts into a command a user may paste (the
/// advice in an error) goes through here, so pasting it never runs
/// anything. (The export line always quotes: scripts read it.)
pub(crate) fn shell_word(path: &std::path::Path) -> String {
    let text = path.to_string_lossy();
    let plain = |c: char| c.is_ascii_alphanumeric() || "/._-+:,@%=".contains(c);
    if !text.is_empty() && text.chars().all(plain) {
        return text.into_owned();
    }
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// `now + timeout`, or a year from now when that overflows (a timeout can
/// come from user input).
pub(crate) fn deadline_after(timeout: Duration) -> tokio::time::Instant {
    let now = tokio::time::Instant::now();
    now.checked_add(timeout)
        .unwrap_or_else(|| now + Duration::from_secs(365 * 24 * 3600))
}
