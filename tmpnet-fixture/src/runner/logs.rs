//! Following the runner's log: every line once, in order, even when the
//! stream drops and is opened again.
//!
//! Lines are asked for with their timestamps. A resumed stream starts at
//! the second of the last line shown (the API's `sinceTime` has second
//! precision), and the lines it repeats are skipped: those before the last
//! timestamp shown, and as many at that timestamp as were shown already.

use k8s_openapi::jiff::Timestamp;

/// What has been shown so far.
#[derive(Debug, Default, Clone)]
pub struct Cursor {
    last: Option<Timestamp>,
    /// Lines shown with exactly `last` as their timestamp.
    at_last: usize,
}

/// One stream's progress against the cursor.
#[derive(Debug)]
pub struct Connection {
    /// Lines at the cursor's last timestamp still to skip.
    repeat: usize,
    /// The cursor's last timestamp when the stream opened.
    from: Option<Timestamp>,
}

impl Cursor {
    /// The `sinceTime` of the next stream: the second of the last line.
    pub fn since(&self) -> Option<Timestamp> {
        self.last
            .and_then(|t| Timestamp::from_second(t.as_second()).ok())
    }

    /// Starts following a new stream.
    pub fn open(&self) -> Connection {
        Connection {
            repeat: self.at_last,
            from: self.last,
        }
    }

    /// The text of a `<timestamp> <text>` line to show, or `None` when it
    /// was shown already. A line without a timestamp is always shown.
    pub fn accept<'a>(&mut self, connection: &mut Connection, line: &'a str) -> Option<&'a str> {
        let Some((ts, text)) = line
            .split_once(' ')
            .and_then(|(ts, text)| Some((ts.parse::<Timestamp>().ok()?, text)))
            .or_else(|| line.parse::<Timestamp>().ok().map(|ts| (ts, "")))
        else {
            return Some(line);
        };
        if let Some(from) = connection.from {
            if ts < from {
                return None;
            }
            if ts == from && connection.repeat > 0 {
                connection.repeat -= 1;
                return None;
            }
        }
        if self.last == Some(ts) {
            self.at_last += 1;
        } else {
            self.last = Some(ts);
            self.at_last = 1;
        }
        Some(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shown(cursor: &mut Cursor, lines: &[&str]) -> Vec<String> {
        let mut c = cursor.open();
        lines
            .iter()
            .filter_map(|l| cursor.accept(&mut c, l).map(str::to_owned))
            .collect()
    }

    #[test]
    fn a_resumed_stream_shows_each_line_once() {
        let mut cursor = Cursor::default();
        let first = shown(
            &mut cursor,
            &[
                "2026-12-02T01:00:00.5Z a",
                "2026-12-02T01:00:01.25Z b",
                "2026-12-02T01:00:01.25Z b",
            ],
        );
        assert_eq!(first, ["a", "b", "b"]);
        assert_eq!(cursor.since().unwrap().to_string(), "2026-12-02T01:00:01Z");
        // The API answers from that second: the lines shown come again.
        let second = shown(
            &mut cursor,
            &[
                "2026-12-02T01:00:01.25Z b",
                "2026-12-02T01:00:01.25Z b",
                "2026-12-02T01:00:01.25Z b",
                "2026-12-02T01:00:02Z c",
            ],
        );
        assert_eq!(second, ["b", "c"], "the third line at 01.25 is new, and c");
        assert_eq!(
            shown(&mut cursor, &["2026-12-02T01:00:02Z c", "no timestamp"]),
            ["no timestamp"]
        );
    }
}
