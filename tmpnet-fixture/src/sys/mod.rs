//! Operating-system utilities with no tmpnet types in them: atomic file
//! writes, process identity and signals, loopback port allocation, deadlines,
//! ELF build ids, the local time zone.

pub(crate) mod clock;
#[cfg(feature = "kube")]
pub(crate) mod elf;
pub(crate) mod files;
pub(crate) mod pids;
pub(crate) mod ports;
pub(crate) mod signals;

use std::time::Duration;

/// `now + timeout`, or a year from now when that overflows (a timeout can
/// come from user input).
pub(crate) fn deadline_after(timeout: Duration) -> tokio::time::Instant {
    let now = tokio::time::Instant::now();
    now.checked_add(timeout)
        .unwrap_or_else(|| now + Duration::from_secs(365 * 24 * 3600))
}
