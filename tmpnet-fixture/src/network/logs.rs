//! Every node's log side by side: merged in time order (by the timestamp a
//! line starts with; a line without one, such as a continuation, takes the
//! one before it), filtered by node and age, cut to the last lines, and
//! followed as nodes write, restart and join.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use super::Network;
use crate::error::{Error, Result};
use crate::model::Node;

/// One line of one node's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// The node's id.
    pub node: String,
    /// When it was written: the latest leading timestamp of its node's
    /// lines up to it (its own, or one before it when it has none or an
    /// earlier one), so a node's lines stay in the order it wrote them.
    pub at: Option<SystemTime>,
    /// The line, as the node wrote it.
    pub text: String,
}

/// Which lines to show.
#[derive(Debug, Clone, Default)]
pub struct LogQuery {
    /// These nodes only (bootstrap or ephemeral ids); empty for all.
    pub nodes: Vec<String>,
    /// Lines written this long ago or later.
    pub since: Option<Duration>,
    /// The last this many lines of each node.
    pub tail: Option<usize>,
}

/// Reads on from where [`Network::logs`] stopped: new lines of every
/// selected node, and of ephemeral nodes that join.
#[derive(Debug)]
pub struct LogFollower {
    network: Network,
    query: LogQuery,
    cursors: BTreeMap<String, u64>,
    last_at: BTreeMap<String, Option<SystemTime>>,
}

/// The time a log line starts with: an RFC 3339 timestamp
/// (`2026-12-02T07:40:25.546408Z`, `2026-12-02T07:40:25Z`),
/// `2026-12-02 07:40:25`, or a day-month-year one as redis and others
/// write it (`07 Dec 2026 14:31:21.123`, after a `pid:role` word or not).
/// Times without a zone are the machine's local time (the `TZ`
/// environment variable, else the system's zone), as daemons write them.
pub fn timestamp_of(line: &str) -> Option<SystemTime> {
    timestamp_in(line, crate::sys::clock::local_offset)
}

/// [`timestamp_of`] with the local zone's offset from UTC (seconds ahead,
/// at a given time) given.
fn timestamp_in(line: &str, offset: impl Fn(SystemTime) -> i64) -> Option<SystemTime> {
    let local = |wall: SystemTime| from_local(wall, &offset);
    let first = line.split_whitespace().next()?;
    if let Ok(t) = humantime::parse_rfc3339_weak(first) {
        return Some(if first.ends_with(['Z', 'z']) {
            t
        } else {
            local(t)?
        });
    }
    let two: String = line.chars().take(19).collect();
    if let Ok(t) = humantime::parse_rfc3339_weak(&two) {
        let zoned = line.chars().nth(19).is_some_and(|c| c == 'Z' || c == 'z');
        return if zoned { Some(t) } else { local(t) };
    }
    let words: Vec<&str> = line.split_whitespace().take(5).collect();
    words
        .get(..4)
        .and_then(day_month_year)
        .or_else(|| words.get(1..5).and_then(day_month_year))
        .and_then(local)
}

/// The instant a local wall-clock time (read as if it were UTC) names: the
/// offset is taken at the instant itself, so a time after a daylight-saving
/// change gets that day's offset.
fn from_local(wall: SystemTime, offset: impl Fn(SystemTime) -> i64) -> Option<SystemTime> {
    let back = |by: i64| {
        let by_abs = std::time::Duration::from_secs(by.unsigned_abs());
        if by >= 0 {
            wall.checked_sub(by_abs)
        } else {
            wall.checked_add(by_abs)
        }
    };
    let guess = back(offset(wall))?;
    back(offset(guess))
}

/// `07 Dec 2026 14:31:21(.123)` as a wall-clock time (read as if UTC).
fn day_month_year(words: &[&str]) -> Option<SystemTime> {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let [day, month, year, time] = words else {
        return None;
    };
    let day: u8 = day.parse().ok()?;
    let month = MONTHS.iter().position(|m| m == month)? + 1;
    let year: u16 = year.parse().ok()?;
    humantime::parse_rfc3339_weak(&format!("{year:04}-{month:02}-{day:02}T{time}")).ok()
}

impl Network {
    /// The nodes `query` selects, bootstrap nodes first; an unknown id is
    /// an error naming the known ones.
    fn log_nodes(&self, query: &LogQuery) -> Result<Vec<Node>> {
        let mut all = self.node_records();
        all.extend(self.ephemeral_records()?);
        for wanted in &query.nodes {
            if !all.iter().any(|n| n.id() == wanted) {
                return Err(Error::UnknownNode {
                    network: self.dir().to_owned(),
                    node: wanted.clone(),
                    known: all.iter().map(|n| n.id().to_owned()).collect(),
                });
            }
        }
        Ok(all
            .into_iter()
            .filter(|n| query.nodes.is_empty() || query.nodes.iter().any(|w| w == n.id()))
            .collect())
    }

    /// The selected lines of every selected node, merged in time order
    /// (lines of the same time in node order), and a follower that reads
    /// on from there.
    pub async fn logs(&self, query: &LogQuery) -> Result<(Vec<LogLine>, LogFollower)> {
        let nodes = self.log_nodes(query)?;
        let since = query.since.and_then(|d| SystemTime::now().checked_sub(d));
        let mut follower = LogFollower {
            network: self.clone(),
            query: query.clone(),
            cursors: BTreeMap::new(),
            last_at: BTreeMap::new(),
        };
        let mut merged: Vec<(usize, LogLine)> = Vec::new();
        for (order, node) in nodes.iter().enumerate() {
            let (texts, cursor) = self.runtime().read_log(node, 0).await;
            follower.cursors.insert(node.id().to_owned(), cursor);
            let mut lines = follower.stamp(node.id(), texts);
            if let Some(since) = since {
                if lines.iter().any(|l| l.at.is_some()) {
                    lines.retain(|l| l.at.is_some_and(|at| at >= since));
                } else if !lines.is_empty() {
                    // Better every line than none: an empty answer would
                    // read as "nothing happened".
                    tracing::warn!(
                        node = node.id(),
                        "its log lines carry no timestamp this tool reads, so the age limit cannot choose among them: all are shown"
                    );
                }
            }
            if let Some(tail) = query.tail {
                lines.drain(..lines.len().saturating_sub(tail));
            }
            merged.extend(lines.into_iter().map(|l| (order, l)));
        }
        merged.sort_by_key(|(order, l)| (l.at, *order));
        Ok((merged.into_iter().map(|(_, l)| l).collect(), follower))
    }
}

impl LogFollower {
    /// Gives each line its time, carrying the node's times on.
    fn stamp(&mut self, node: &str, texts: Vec<String>) -> Vec<LogLine> {
        let last = self.last_at.entry(node.to_owned()).or_insert(None);
        stamp(node, texts, last)
    }

    /// The lines written since the last call, in time order; a node that
    /// joined since is read from its start.
    pub async fn poll(&mut self) -> Result<Vec<LogLine>> {
        let nodes = self.network.log_nodes(&self.query)?;
        let mut merged: Vec<(usize, LogLine)> = Vec::new();
        for (order, node) in nodes.iter().enumerate() {
            let cursor = self.cursors.get(node.id()).copied().unwrap_or(0);
            let (texts, next) = self.network.runtime().read_log(node, cursor).await;
            self.cursors.insert(node.id().to_owned(), next);
            let lines = self.stamp(node.id(), texts);
            merged.extend(lines.into_iter().map(|l| (order, l)));
        }
        merged.sort_by_key(|(order, l)| (l.at, *order));
        Ok(merged.into_iter().map(|(_, l)| l).collect())
    }
}

/// Gives each line of `node` its time (see [`LogLine::at`]), never
/// earlier than a line before it (`last`, carried from call to call), so
/// merging never reorders one node's lines.
fn stamp(node: &str, texts: Vec<String>, last: &mut Option<SystemTime>) -> Vec<LogLine> {
    texts
        .into_iter()
        .map(|text| {
            if let Some(at) = timestamp_of(&text) {
                *last = (*last).max(Some(at));
            }
            LogLine {
                node: node.to_owned(),
                at: *last,
                text,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_of_common_log_formats_are_read() {
        let utc = |line: &str| timestamp_in(line, |_| 0);
        let refnode = utc("2026-12-02T07:40:25.546408Z  INFO tmpnet_refnode: serving");
        let bitcoind = utc("2026-12-02T07:40:25Z UpdateTip: new best=...");
        let spaced = utc("2026-12-02 07:40:25 something");
        let redis = utc("4242:M 02 Dec 2026 07:40:25.546 * Ready to accept connections tcp");
        let bare = utc("02 Dec 2026 07:40:25 started");
        assert_eq!(redis, utc("2026-12-02T07:40:25.546Z"));
        assert_eq!(bare, spaced);
        assert!(redis.is_some());
        assert_eq!(utc("4242:M 32 Dec 2026 07:40:25.546 *"), None);
        assert_eq!(utc("4242:M 02 Dez 2026 07:40:25.546 *"), None);
        assert!(refnode.is_some() && bitcoind.is_some() && spaced.is_some());
        assert!(refnode > bitcoind, "fractions count");
        assert_eq!(bitcoind, spaced);
        assert_eq!(utc("  continuation of a line"), None);
        assert_eq!(utc(""), None);
    }

    #[test]
    fn a_node_s_lines_keep_their_order_whatever_their_times() {
        let mut last = None;
        let lines = stamp(
            "n",
            [
                "untimed first",
                "2026-12-02T10:00:00Z late",
                "2026-12-02T09:00:00Z earlier",
                "untimed last",
            ]
            .map(str::to_owned)
            .to_vec(),
            &mut last,
        );
        let at: Vec<_> = lines.iter().map(|l| l.at).collect();
        let ten = timestamp_in("2026-12-02T10:00:00Z", |_| 0);
        assert_eq!(at, [None, ten, ten, ten]);
    }

    #[test]
    fn times_without_a_zone_are_local_and_zoned_ones_are_not() {
        // A machine five and a half hours ahead of UTC.
        let india = |line: &str| timestamp_in(line, |_| 5 * 3600 + 1800);
        let utc = |line: &str| timestamp_in(line, |_| 0).unwrap();
        let hours = |h: u64| std::time::Duration::from_secs(h * 3600);
        let noon = utc("2026-12-02T12:00:00Z");
        assert_eq!(india("2026-12-02T12:00:00Z x"), Some(noon));
        assert_eq!(india("2026-12-02 12:00:00Z x"), Some(noon));
        assert_eq!(india("2026-12-02T17:30:00 x"), Some(noon));
        assert_eq!(india("2026-12-02 17:30:00 x"), Some(noon));
        assert_eq!(india("1:M 02 Dec 2026 17:30:00.000 * x"), Some(noon));
        // West of UTC, and an offset that changes (daylight saving): the
        // offset in force at the time itself.
        let west = |line: &str| timestamp_in(line, |_| -5 * 3600);
        assert_eq!(west("2026-12-02 07:00:00 x"), Some(noon));
        let change = noon - hours(2);
        let dst = |line: &str| timestamp_in(line, |t| if t < change { 3600 } else { 7200 });
        assert_eq!(dst("2026-12-02 14:00:00 x"), Some(noon));
        assert_eq!(
            dst("2026-12-02 10:00:00 x"),
            Some(utc("2026-12-02T09:00:00Z"))
        );
    }
}
