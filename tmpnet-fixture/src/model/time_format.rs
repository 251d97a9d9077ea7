//! A log's time format as a kind file names it (`logs.time_format`), for a
//! daemon whose lines start with a time in a shape the tool does not read
//! by itself: `strftime`'s directives, matched at the start of a line.

/// One piece of a format.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    /// This text, as it is (a space matches one or more spaces).
    Text(String),
    /// `%Y`: a four-digit year.
    Year,
    /// `%m`: the month, 01 to 12.
    Month,
    /// `%b`: the month's English abbreviation (`Dec`).
    MonthName,
    /// `%d`, `%e`: the day, two digits or space-padded.
    Day,
    /// `%H`: the hour, 00 to 23.
    Hour,
    /// `%M`: the minute.
    Minute,
    /// `%S`: the second.
    Second,
    /// `%f`: a fraction of a second, any number of digits.
    Fraction,
    /// `%z`: `Z`, or an offset `+hhmm` / `+hh:mm`.
    Zone,
    /// `%s`: Unix epoch seconds.
    Epoch,
}

/// A log time format (see the module).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeFormat {
    pieces: Vec<Piece>,
    text: String,
}

/// What a line's time says, before a zone or a year is supplied.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TimeFields {
    /// The year, if the format has one.
    pub year: Option<u16>,
    /// The month, 1 to 12.
    pub month: u8,
    /// The day of the month.
    pub day: u8,
    /// Hours, minutes, seconds.
    pub hms: (u8, u8, u8),
    /// Nanoseconds.
    pub nanos: u32,
    /// The offset from UTC in seconds, if the line names its zone.
    pub offset: Option<i64>,
    /// Unix epoch seconds, for `%s` (the rest is then unused).
    pub epoch: Option<u64>,
}

/// The months' English abbreviations, as logs write them.
pub(crate) const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

impl TimeFormat {
    /// Reads a format; the error names the directive that is wrong and
    /// the ones there are.
    pub fn parse(text: &str) -> Result<TimeFormat, String> {
        let mut pieces = Vec::new();
        let mut literal = String::new();
        let mut chars = text.chars();
        while let Some(c) = chars.next() {
            if c != '%' {
                literal.push(c);
                continue;
            }
            let piece = match chars.next() {
                Some('%') => {
                    literal.push('%');
                    continue;
                }
                Some('Y') => Piece::Year,
                Some('m') => Piece::Month,
                Some('b') => Piece::MonthName,
                Some('d' | 'e') => Piece::Day,
                Some('H') => Piece::Hour,
                Some('M') => Piece::Minute,
                Some('S') => Piece::Second,
                Some('f') => Piece::Fraction,
                Some('z') => Piece::Zone,
                Some('s') => Piece::Epoch,
                other => {
                    let what = other.map_or("a lone %".to_owned(), |c| format!("%{c}"));
                    return Err(format!(
                        "{what} is not a directive it reads; use %Y %m %b %d %e %H %M %S %f %z %s, or %% for a %"
                    ));
                }
            };
            if !literal.is_empty() {
                pieces.push(Piece::Text(std::mem::take(&mut literal)));
            }
            pieces.push(piece);
        }
        if !literal.is_empty() {
            pieces.push(Piece::Text(literal));
        }
        let has = |p: &Piece| pieces.contains(p);
        let dated = has(&Piece::Month) || has(&Piece::MonthName);
        let complete = has(&Piece::Epoch)
            || (dated && has(&Piece::Day) && has(&Piece::Hour) && has(&Piece::Minute));
        if !complete {
            return Err(
                "names no whole time; give %s, or a month (%m or %b), a day (%d), %H and %M"
                    .to_owned(),
            );
        }
        Ok(TimeFormat {
            pieces,
            text: text.to_owned(),
        })
    }

    /// The format as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The time `line` starts with, in this format (leading spaces
    /// skipped).
    pub fn read(&self, line: &str) -> Option<TimeFields> {
        let mut rest = line.trim_start();
        let mut fields = TimeFields::default();
        for piece in &self.pieces {
            match piece {
                Piece::Text(text) => {
                    for part in text.split_inclusive(' ') {
                        let (word, spaced) = match part.strip_suffix(' ') {
                            Some(word) => (word, true),
                            None => (part, false),
                        };
                        rest = rest.strip_prefix(word)?;
                        if spaced {
                            let trimmed = rest.trim_start_matches(' ');
                            (trimmed.len() < rest.len()).then_some(())?;
                            rest = trimmed;
                        }
                    }
                }
                Piece::Year => fields.year = Some(number(&mut rest, 4, 4)?),
                Piece::Month => fields.month = number(&mut rest, 1, 2)?,
                Piece::MonthName => {
                    let at = MONTHS.iter().position(|m| rest.starts_with(m))?;
                    rest = &rest[3..];
                    fields.month = at as u8 + 1;
                }
                Piece::Day => {
                    rest = rest.trim_start_matches(' ');
                    fields.day = number(&mut rest, 1, 2)?;
                }
                Piece::Hour => fields.hms.0 = number(&mut rest, 1, 2)?,
                Piece::Minute => fields.hms.1 = number(&mut rest, 2, 2)?,
                Piece::Second => fields.hms.2 = number(&mut rest, 2, 2)?,
                Piece::Fraction => {
                    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
                    (digits > 0).then_some(())?;
                    let padded = format!("{:0<9}", &rest[..digits.min(9)]);
                    fields.nanos = padded.parse().ok()?;
                    rest = &rest[digits..];
                }
                Piece::Zone => {
                    if let Some(after) = rest.strip_prefix(['Z', 'z']) {
                        fields.offset = Some(0);
                        rest = after;
                    } else {
                        let sign = match rest.as_bytes().first()? {
                            b'+' => 1,
                            b'-' => -1,
                            _ => return None,
                        };
                        rest = &rest[1..];
                        let hours: i64 = number(&mut rest, 2, 2)?;
                        rest = rest.strip_prefix(':').unwrap_or(rest);
                        let minutes: i64 = number(&mut rest, 2, 2)?;
                        fields.offset = Some(sign * (hours * 3600 + minutes * 60));
                    }
                }
                Piece::Epoch => {
                    fields.epoch = Some(number(&mut rest, 9, 10)?);
                    // Milliseconds are not seconds.
                    if rest.starts_with(|c: char| c.is_ascii_digit()) {
                        return None;
                    }
                }
            }
        }
        let valid = fields.epoch.is_some()
            || ((1..=12).contains(&fields.month)
                && (1..=31).contains(&fields.day)
                && fields.hms.0 < 24
                && fields.hms.1 < 60
                && fields.hms.2 < 61);
        valid.then_some(fields)
    }
}

/// Takes `min` to `max` digits from the front of `rest`.
fn number<T: std::str::FromStr>(rest: &mut &str, min: usize, max: usize) -> Option<T> {
    let digits = rest
        .bytes()
        .take(max)
        .take_while(u8::is_ascii_digit)
        .count();
    (digits >= min).then_some(())?;
    let value = rest[..digits].parse().ok()?;
    *rest = &rest[digits..];
    Some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_read_the_times_they_name() {
        let bracketed = TimeFormat::parse("[%Y-%m-%d %H:%M:%S.%f]").unwrap();
        let f = bracketed.read("[2026-12-07 14:31:21.25] started").unwrap();
        assert_eq!(
            (f.year, f.month, f.day, f.hms, f.nanos, f.offset),
            (Some(2026), 12, 7, (14, 31, 21), 250_000_000, None)
        );
        let zoned = TimeFormat::parse("%d.%m.%Y %H:%M:%S %z |").unwrap();
        let f = zoned.read("07.12.2026 14:31:21 +05:30 | x").unwrap();
        assert_eq!(f.offset, Some(5 * 3600 + 30 * 60));
        let f = zoned.read("07.12.2026 14:31:21 -0100 | x").unwrap();
        assert_eq!(f.offset, Some(-3600));
        // A space matches a run of spaces; %e a padded day; no year.
        let syslogish = TimeFormat::parse("%b %e %H:%M:%S myd").unwrap();
        let f = syslogish.read("Dec  7 09:05:01 myd[12]: up").unwrap();
        assert_eq!((f.year, f.month, f.day, f.hms), (None, 12, 7, (9, 5, 1)));
        let epoch = TimeFormat::parse("ts=%s ").unwrap();
        assert_eq!(
            TimeFormat::parse("%s").unwrap().read("1796669234123 ms"),
            None
        );
        assert_eq!(
            epoch.read("ts=1796669234 msg").unwrap().epoch,
            Some(1_796_669_234)
        );
        for (format, line) in [
            (&bracketed, "2026-12-07 14:31:21.25 no bracket"),
            (&bracketed, "[2026-13-07 14:31:21.25] month 13"),
            (&zoned, "07.12.2026 14:31:21 CET | a name"),
            (&syslogish, "Foo  7 09:05:01 myd"),
            (&epoch, "ts=12 short"),
        ] {
            assert_eq!(format.read(line), None, "{line}");
        }
    }

    #[test]
    fn a_format_that_cannot_work_is_refused_naming_why() {
        for (text, says) in [
            ("%Y-%m-%d %H:%M:%Q", "%Q is not a directive"),
            ("%H:%M:%S %", "a lone % is not a directive"),
            ("%H:%M:%S", "names no whole time"),
            ("plain text", "names no whole time"),
        ] {
            let err = TimeFormat::parse(text).unwrap_err();
            assert!(err.contains(says), "{text}: {err}");
        }
        assert_eq!(TimeFormat::parse("%s").unwrap().as_str(), "%s");
        assert!(TimeFormat::parse("100%% %s")
            .unwrap()
            .read("100% 1796669234")
            .is_some());
    }
}
