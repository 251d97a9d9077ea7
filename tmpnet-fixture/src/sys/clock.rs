//! The machine's local time zone, for log times written without one.

use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds the local zone (the `TZ` environment variable, else the
/// system's) is ahead of UTC at `t`; 0 when it cannot be known.
pub(crate) fn local_offset(t: SystemTime) -> i64 {
    // time_t is 64 bits on every target this builds for.
    let time: libc::time_t = match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX),
    };
    // SAFETY: `tm` is plain integers and a pointer, for which all zeros is a
    // valid value; localtime_r writes only into it, and both references
    // live for the call.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    if unsafe { libc::localtime_r(&time, &mut tm) }.is_null() {
        return 0;
    }
    tm.tm_gmtoff
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_offset_is_whole_minutes_within_a_day() {
        let offset = local_offset(SystemTime::now());
        assert!(offset.abs() < 24 * 3600 && offset % 60 == 0, "{offset}");
    }
}
