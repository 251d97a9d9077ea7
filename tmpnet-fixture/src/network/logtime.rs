//! The time a log line starts with, in the formats daemons write: RFC 3339,
//! a date and a time (`2026-12-02 07:40:25`, Go's `2026/12/02 07:40:25`,
//! Python's `,123` milliseconds), day-month-year (redis), glog
//! (`I1202 07:40:25.546`), syslog (`Dec  2 07:40:25`) and Unix epoch
//! seconds or milliseconds. A time without a zone is the machine's local
//! time (the `TZ` environment variable, else the system's zone), as
//! daemons write them; one without a year is in the last twelve months.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::model::time_format::MONTHS;
use crate::model::TimeFormat;

/// The time `line` starts with: in `format` when the kind names one, else
/// if it starts with one this module reads.
pub(super) fn timestamp_of(line: &str, format: Option<&TimeFormat>) -> Option<SystemTime> {
    let clock = Clock {
        offset: crate::sys::clock::local_offset,
        now: SystemTime::now(),
    };
    match format {
        Some(format) => clock.in_format(line, format),
        None => clock.timestamp(line),
    }
}

/// The local zone (its offset from UTC, seconds ahead, at a given time) and
/// the present, which a time without a year is read against.
pub(super) struct Clock<F: Fn(SystemTime) -> i64> {
    pub(super) offset: F,
    pub(super) now: SystemTime,
}

impl<F: Fn(SystemTime) -> i64> Clock<F> {
    /// See [`timestamp_of`].
    pub(super) fn timestamp(&self, line: &str) -> Option<SystemTime> {
        let words: Vec<&str> = line.split_whitespace().take(5).collect();
        let first = *words.first()?;
        if let Ok(t) = humantime::parse_rfc3339_weak(first) {
            return if zoned(first) { Some(t) } else { self.local(t) };
        }
        if let [date, time, ..] = words[..] {
            if date.len() == 10 && matches!(date.as_bytes()[4], b'/' | b'-') {
                let time = time.replace(',', ".");
                let joined = format!("{}T{time}", date.replace('/', "-"));
                if let Ok(t) = humantime::parse_rfc3339_weak(&joined) {
                    return if zoned(&time) { Some(t) } else { self.local(t) };
                }
            }
        }
        if let Some(t) = epoch(first) {
            return Some(t);
        }
        if let Some(t) = self.glog(&words) {
            return Some(t);
        }
        if let Some(t) = self.syslog(&words) {
            return Some(t);
        }
        words
            .get(..4)
            .and_then(day_month_year)
            .or_else(|| words.get(1..5).and_then(day_month_year))
            .and_then(|wall| self.local(wall))
    }

    /// The time `line` starts with in a kind's own `format`: its zone when
    /// it names one, else local; this year's (or last) without a year.
    pub(super) fn in_format(&self, line: &str, format: &TimeFormat) -> Option<SystemTime> {
        let f = format.read(line)?;
        if let Some(secs) = f.epoch {
            return Some(UNIX_EPOCH + Duration::new(secs, f.nanos));
        }
        let (h, m, s) = f.hms;
        let time = format!("{h:02}:{m:02}:{s:02}.{:09}", f.nanos);
        let Some(year) = f.year else {
            // A zone without a year: read as local, then moved by the
            // difference between the named zone and the local one.
            let local = self.without_year(usize::from(f.month), f.day, &time)?;
            return match f.offset {
                None => Some(local),
                Some(named) => {
                    let shift = (self.offset)(local) - named;
                    let by = Duration::from_secs(shift.unsigned_abs());
                    if shift >= 0 {
                        local.checked_add(by)
                    } else {
                        local.checked_sub(by)
                    }
                }
            };
        };
        let wall =
            humantime::parse_rfc3339_weak(&format!("{year:04}-{:02}-{:02}T{time}", f.month, f.day))
                .ok()?;
        match f.offset {
            None => self.local(wall),
            Some(offset) => {
                let by = Duration::from_secs(offset.unsigned_abs());
                if offset >= 0 {
                    wall.checked_sub(by)
                } else {
                    wall.checked_add(by)
                }
            }
        }
    }

    /// The instant a local wall-clock time (read as if it were UTC) names:
    /// the offset is taken at the instant itself, so a time after a
    /// daylight-saving change gets that day's offset.
    fn local(&self, wall: SystemTime) -> Option<SystemTime> {
        let back = |by: i64| {
            let by_abs = Duration::from_secs(by.unsigned_abs());
            if by >= 0 {
                wall.checked_sub(by_abs)
            } else {
                wall.checked_add(by_abs)
            }
        };
        let guess = back((self.offset)(wall))?;
        back((self.offset)(guess))
    }

    /// A local month, day and time without a year: this year's, or last
    /// year's when this year's is more than a day ahead (a line written on
    /// 31 December read on 1 January).
    fn without_year(&self, month: usize, day: u8, time: &str) -> Option<SystemTime> {
        let local_now = self.now + Duration::from_secs((self.offset)(self.now).max(0) as u64);
        let year: u16 = humantime::format_rfc3339(local_now).to_string()[..4]
            .parse()
            .ok()?;
        let at = |year: u16| {
            let wall =
                humantime::parse_rfc3339_weak(&format!("{year:04}-{month:02}-{day:02}T{time}"))
                    .ok()?;
            self.local(wall)
        };
        let this_year = at(year)?;
        if this_year > self.now + Duration::from_secs(24 * 3600) {
            at(year - 1)
        } else {
            Some(this_year)
        }
    }

    /// glog's `I1202 07:40:25.546408` (severity, month, day; local time).
    fn glog(&self, words: &[&str]) -> Option<SystemTime> {
        let [head, time, ..] = words else {
            return None;
        };
        let (severity, date) = head.split_at_checked(1)?;
        if !matches!(severity, "I" | "W" | "E" | "F") || date.len() != 4 {
            return None;
        }
        let month: usize = date[..2].parse().ok()?;
        let day: u8 = date[2..].parse().ok()?;
        (1..=12).contains(&month).then_some(())?;
        self.without_year(month, day, time)
    }

    /// syslog's `Dec  2 07:40:25` (local time).
    fn syslog(&self, words: &[&str]) -> Option<SystemTime> {
        let [month, day, time, ..] = words else {
            return None;
        };
        let month = MONTHS.iter().position(|m| m == month)? + 1;
        let day: u8 = day.parse().ok()?;
        self.without_year(month, day, time)
    }
}

/// Whether a time names its zone (`Z`); other offsets are not read.
fn zoned(time: &str) -> bool {
    time.ends_with(['Z', 'z'])
}

/// `07 Dec 2026 14:31:21(.123)` as a wall-clock time (read as if UTC).
fn day_month_year(words: &[&str]) -> Option<SystemTime> {
    let [day, month, year, time] = words else {
        return None;
    };
    let day: u8 = day.parse().ok()?;
    let month = MONTHS.iter().position(|m| m == month)? + 1;
    let year: u16 = year.parse().ok()?;
    humantime::parse_rfc3339_weak(&format!("{year:04}-{month:02}-{day:02}T{time}")).ok()
}

/// Unix epoch seconds (`1796669234`, `1796669234.123`) or milliseconds
/// (`1796669234123`), bracketed or not, between 2001 and 2100.
fn epoch(word: &str) -> Option<SystemTime> {
    let word = word
        .trim_start_matches('[')
        .trim_end_matches([']', ':', ',']);
    let (whole, fraction) = word.split_once('.').unwrap_or((word, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if !digits(whole) || !digits(fraction) {
        return None;
    }
    let (secs, nanos) = match whole.len() {
        10 => {
            let fraction = format!("{fraction:0<9}");
            (
                whole.parse::<u64>().ok()?,
                fraction.get(..9)?.parse::<u32>().ok()?,
            )
        }
        13 if fraction.is_empty() => {
            let ms: u64 = whole.parse().ok()?;
            (ms / 1000, (ms % 1000) as u32 * 1_000_000)
        }
        _ => return None,
    };
    (1_000_000_000..4_102_444_800)
        .contains(&secs)
        .then(|| UNIX_EPOCH + Duration::new(secs, nanos))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A clock `offset` seconds ahead of UTC, its present `now` (RFC 3339).
    fn clock(offset: i64, now: &str) -> Clock<impl Fn(SystemTime) -> i64> {
        Clock {
            offset: move |_| offset,
            now: humantime::parse_rfc3339(now).unwrap(),
        }
    }

    fn utc(text: &str) -> SystemTime {
        humantime::parse_rfc3339(text).unwrap()
    }

    #[test]
    fn every_format_names_the_same_instant() {
        let c = clock(0, "2026-12-07T12:00:00Z");
        let noon = utc("2026-12-02T07:40:25Z");
        for line in [
            "2026-12-02T07:40:25Z UpdateTip: new best=...",
            "2026-12-02T07:40:25 no zone, local",
            "2026-12-02 07:40:25 something",
            "2026-12-02 07:40:25Z zoned",
            "2026/12/02 07:40:25 Go's log",
            "02 Dec 2026 07:40:25 started",
            "4242:M 02 Dec 2026 07:40:25.000 * Ready to accept connections tcp",
            "I1202 07:40:25.000000 12345 main.go:12] glog",
            "Dec  2 07:40:25 host daemon[42]: syslog",
            "1796197225 epoch seconds",
            "[1796197225.000] bracketed",
            "1796197225000 epoch milliseconds",
        ] {
            assert_eq!(c.timestamp(line), Some(noon), "{line}");
        }
        // Fractions count, Python's comma too.
        let fine = c.timestamp("2026-12-02 07:40:25,250 INFO x").unwrap();
        assert_eq!(fine, utc("2026-12-02T07:40:25.250Z"));
        assert!(c.timestamp("2026-12-02T07:40:25.546408Z  INFO").unwrap() > noon);
    }

    #[test]
    fn what_is_no_time_is_none() {
        let c = clock(0, "2026-12-07T12:00:00Z");
        for line in [
            "",
            "  continuation of a line",
            "4242:M 32 Dec 2026 07:40:25.546 *",
            "4242:M 02 Dez 2026 07:40:25.546 *",
            "12345 a small number",
            "I9999 07:40:25.0 not a glog date",
            "9999999999999 past 2100 in ms? no: 2286",
            "Dec 99 07:40:25 no such day",
        ] {
            assert_eq!(c.timestamp(line), None, "{line:?}");
        }
    }

    #[test]
    fn times_without_a_zone_are_local_and_zoned_ones_are_not() {
        // A machine five and a half hours ahead of UTC.
        let india = clock(5 * 3600 + 1800, "2026-12-07T12:00:00Z");
        let noon = Some(utc("2026-12-02T12:00:00Z"));
        assert_eq!(india.timestamp("2026-12-02T12:00:00Z x"), noon);
        assert_eq!(india.timestamp("2026-12-02 12:00:00Z x"), noon);
        assert_eq!(india.timestamp("2026-12-02T17:30:00 x"), noon);
        assert_eq!(india.timestamp("2026-12-02 17:30:00 x"), noon);
        assert_eq!(india.timestamp("1:M 02 Dec 2026 17:30:00.000 * x"), noon);
        assert_eq!(india.timestamp("I1202 17:30:00.000 1 x.go:1] x"), noon);
        assert_eq!(india.timestamp("1796212800 epoch is UTC"), noon);
        // West of UTC, and an offset that changes (daylight saving): the
        // offset in force at the time itself.
        let west = clock(-5 * 3600, "2026-12-07T12:00:00Z");
        assert_eq!(west.timestamp("2026-12-02 07:00:00 x"), noon);
        let change = utc("2026-12-02T10:00:00Z");
        let dst = Clock {
            offset: move |t: SystemTime| if t < change { 3600 } else { 7200 },
            now: utc("2026-12-07T12:00:00Z"),
        };
        assert_eq!(dst.timestamp("2026-12-02 14:00:00 x"), noon);
        assert_eq!(
            dst.timestamp("2026-12-02 10:00:00 x"),
            Some(utc("2026-12-02T09:00:00Z"))
        );
    }

    #[test]
    fn a_time_without_a_year_is_in_the_last_twelve_months() {
        let new_year = clock(0, "2027-01-01T00:10:00Z");
        assert_eq!(
            new_year.timestamp("Dec 31 23:59:00 host x: y"),
            Some(utc("2026-12-31T23:59:00Z"))
        );
        assert_eq!(
            new_year.timestamp("I0101 00:05:00.000 1 x.go:1] y"),
            Some(utc("2027-01-01T00:05:00Z"))
        );
    }

    #[test]
    fn a_kind_s_format_takes_its_zone_or_the_local_one_and_a_missing_year() {
        let india = clock(5 * 3600 + 1800, "2026-12-05T00:00:00Z");
        let noon = Some(utc("2026-12-02T12:00:00Z"));
        for (format, line) in [
            ("%b %e %H:%M:%S", "Dec  2 17:30:00 local, no year"),
            ("%b %e %H:%M:%S %z", "Dec  2 12:00:00 Z named, no year"),
            ("%b %e %H:%M:%S %z", "Dec  2 13:00:00 +0100 named, no year"),
            ("%Y%m%d %H%M%S", "20261202 173000 local"),
            ("%Y%m%d %H%M%S %z", "20261202 070000 -0500 named"),
            ("%s.%f", "1796212800.000 epoch"),
        ] {
            let format = TimeFormat::parse(format).unwrap();
            assert_eq!(india.in_format(line, &format), noon, "{line}");
        }
    }
}
