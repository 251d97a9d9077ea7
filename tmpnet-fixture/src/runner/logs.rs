//! Following the runner's log: every line once, even when the stream drops
//! and is opened again.
//!
//! Lines are asked for with their timestamps. A resumed stream starts at
//! the second of the newest line shown (the API's `sinceTime` has second
//! precision), so it begins with lines shown already: exactly those shown
//! whose timestamp is at or after that second, in the order they were
//! shown (the API serves a log in its order, filtered by time). That many
//! are skipped. Timestamps need not grow line by line (stdout and stderr
//! are stamped apart), so the count, not the last timestamp, decides.

use k8s_openapi::jiff::Timestamp;

/// What has been shown so far.
#[derive(Debug, Default, Clone)]
pub struct Cursor {
    /// The newest timestamp shown.
    newest: Option<Timestamp>,
    /// The timestamps shown at or after the second of `newest`.
    recent: Vec<Timestamp>,
}

/// One stream's progress against the cursor.
#[derive(Debug)]
pub struct Connection {
    /// Lines of this stream still to skip (shown by an earlier one).
    repeat: usize,
}

impl Cursor {
    /// The `sinceTime` of the next stream: the second of the newest line.
    pub fn since(&self) -> Option<Timestamp> {
        self.newest
            .and_then(|t| Timestamp::from_second(t.as_second()).ok())
    }

    /// Starts following a new stream.
    pub fn open(&self) -> Connection {
        Connection {
            repeat: self.recent.len(),
        }
    }

    /// The text of a `<timestamp> <text>` line to show, or `None` when an
    /// earlier stream showed it. A line without a timestamp is shown.
    pub fn accept<'a>(&mut self, connection: &mut Connection, line: &'a str) -> Option<&'a str> {
        let parsed = match line.split_once(' ') {
            Some((ts, text)) => ts.parse::<Timestamp>().ok().map(|ts| (ts, text)),
            None => line.parse::<Timestamp>().ok().map(|ts| (ts, "")),
        };
        let Some((ts, text)) = parsed else {
            return Some(line);
        };
        if connection.repeat > 0 {
            connection.repeat -= 1;
            return None;
        }
        if self.newest.is_none_or(|n| ts > n) {
            self.newest = Some(ts);
            if let Some(since) = self.since() {
                self.recent.retain(|t| *t >= since);
            }
        }
        if self.since().is_some_and(|since| ts >= since) {
            self.recent.push(ts);
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

    #[test]
    fn timestamps_out_of_order_neither_repeat_nor_drop_lines() {
        let mut cursor = Cursor::default();
        // stderr stamped before a stdout line written first.
        let first = shown(
            &mut cursor,
            &["2026-12-02T01:00:05.9Z out", "2026-12-02T01:00:05.1Z err"],
        );
        assert_eq!(first, ["out", "err"]);
        let second = shown(
            &mut cursor,
            &[
                "2026-12-02T01:00:05.9Z out",
                "2026-12-02T01:00:05.1Z err",
                "2026-12-02T01:00:05.5Z next",
            ],
        );
        assert_eq!(second, ["next"]);
    }
}
