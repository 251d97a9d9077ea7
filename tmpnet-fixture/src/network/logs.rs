//! Every node's log side by side: merged in time order (by the timestamp a
//! line starts with; a line without one, such as a continuation, takes the
//! one before it), filtered by node and age, cut to the last lines, and
//! followed as nodes write, restart and join.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use super::logtime::timestamp_of;
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
                    let unplaced = lines.iter().filter(|l| l.at.is_none()).count();
                    if unplaced > 0 {
                        tracing::warn!(
                            node = node.id(),
                            "{unplaced} of its log lines come before its first timestamp, so the age limit cannot place them: left out"
                        );
                    }
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
        let kind = self.network.kind().clone();
        stamp(node, texts, last, kind.log_time_format())
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

/// Gives each line of `node` its time (see [`LogLine::at`]) in the kind's
/// `format` if it names one, never earlier than a line before it (`last`,
/// carried from call to call), so merging never reorders one node's lines.
fn stamp(
    node: &str,
    texts: Vec<String>,
    last: &mut Option<SystemTime>,
    format: Option<&crate::model::TimeFormat>,
) -> Vec<LogLine> {
    texts
        .into_iter()
        .map(|text| {
            if let Some(at) = timestamp_of(&text, format) {
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
            None,
        );
        let at: Vec<_> = lines.iter().map(|l| l.at).collect();
        let ten = timestamp_of("2026-12-02T10:00:00Z", None);
        assert_eq!(at, [None, ten, ten, ten]);
    }

    #[test]
    fn a_kind_s_own_format_is_the_only_one_read() {
        let format = crate::model::TimeFormat::parse("<%d/%m/%Y %H:%M:%S %z>").unwrap();
        let mut last = None;
        let lines = stamp(
            "n",
            [
                "<02/12/2026 10:00:00 +0100> its own shape",
                // Another shape is not this daemon's time (a payload).
                "2026-12-02T11:00:00Z quoted in a message",
                "<02/12/2026 10:30:00 Z> later",
            ]
            .map(str::to_owned)
            .to_vec(),
            &mut last,
            Some(&format),
        );
        let at: Vec<_> = lines.iter().map(|l| l.at).collect();
        let nine = timestamp_of("2026-12-02T09:00:00Z", None);
        let half_ten = timestamp_of("2026-12-02T10:30:00Z", None);
        assert_eq!(at, [nine, nine, half_ten]);
    }
}
