//! The node's settings, read from its flags file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A bootstrap peer: its id and p2p address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootstrapPeer {
    pub id: String,
    pub address: String,
}

/// Fault injection, for testing the harness itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Faults {
    /// Exit with this code before binding anything.
    pub exit_during_start: Option<i32>,
    /// Sleep this long before binding.
    pub start_delay: Option<Duration>,
    /// Log `FATAL <text>` and hang.
    pub fatal: Option<String>,
    /// Health always answers 503.
    pub unhealthy: bool,
    /// Ignore SIGTERM (only SIGINT or SIGKILL stop it), like a hung daemon.
    pub ignore_sigterm: bool,
}

/// Everything the node reads from its flags.
#[derive(Debug, Clone)]
pub struct Config {
    pub node_id: String,
    pub db_dir: PathBuf,
    pub process_context_file: PathBuf,
    pub http_addr: String,
    pub p2p_addr: String,
    /// The host announced to peers instead of the bound one (a node bound
    /// on 0.0.0.0 in a pod announces its pod IP).
    pub p2p_advertise_host: Option<String>,
    pub bootstrap_peers: Vec<BootstrapPeer>,
    pub log_level: String,
    pub faults: Faults,
}

fn get<'a>(flags: &'a BTreeMap<String, String>, name: &str) -> Result<&'a str, String> {
    flags
        .get(name)
        .map(String::as_str)
        .ok_or_else(|| format!("flag {name:?} is missing"))
}

fn parse<T: std::str::FromStr>(
    flags: &BTreeMap<String, String>,
    name: &str,
) -> Result<Option<T>, String> {
    flags
        .get(name)
        .filter(|v| !v.is_empty())
        .map(|v| {
            v.parse()
                .map_err(|_| format!("flag {name:?} has a bad value {v:?}"))
        })
        .transpose()
}

impl Config {
    /// Reads and checks the flags file.
    pub fn load(path: &Path) -> Result<Config, String> {
        let bytes =
            std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let flags: BTreeMap<String, String> = serde_json::from_slice(&bytes)
            .map_err(|e| format!("{} is not a JSON object of strings: {e}", path.display()))?;
        Config::from_flags(&flags)
    }

    /// Builds the config from a flag map.
    pub fn from_flags(flags: &BTreeMap<String, String>) -> Result<Config, String> {
        let host = |name: &str| flags.get(name).map(String::as_str).unwrap_or("127.0.0.1");
        let port = |name: &str| parse::<u16>(flags, name).map(|p| p.unwrap_or(0));
        let bootstrap_peers = flags
            .get("bootstrap-peers")
            .map(String::as_str)
            .unwrap_or("")
            .split(',')
            .filter(|s| !s.trim().is_empty())
            .map(|s| match s.trim().split_once('@') {
                Some((id, address)) if !id.is_empty() && !address.is_empty() => Ok(BootstrapPeer {
                    id: id.to_owned(),
                    address: address.to_owned(),
                }),
                _ => Err(format!("bootstrap peer {s:?} is not id@host:port")),
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Config {
            node_id: get(flags, "node-id")?.to_owned(),
            db_dir: get(flags, "db-dir")?.into(),
            process_context_file: get(flags, "process-context-file")?.into(),
            http_addr: format!("{}:{}", host("http-host"), port("http-port")?),
            p2p_addr: format!("{}:{}", host("p2p-host"), port("p2p-port")?),
            p2p_advertise_host: flags
                .get("p2p-advertise-host")
                .filter(|h| !h.is_empty())
                .cloned(),
            bootstrap_peers,
            log_level: flags
                .get("log-level")
                .cloned()
                .unwrap_or_else(|| "info".into()),
            faults: Faults {
                exit_during_start: parse(flags, "fault-exit-during-start")?,
                start_delay: parse::<u64>(flags, "fault-start-delay-ms")?
                    .map(Duration::from_millis),
                fatal: flags.get("fault-fatal").filter(|v| !v.is_empty()).cloned(),
                unhealthy: parse::<bool>(flags, "fault-unhealthy")?.unwrap_or(false),
                ignore_sigterm: parse::<bool>(flags, "fault-ignore-sigterm")?.unwrap_or(false),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn reads_required_and_default_flags() {
        let c = Config::from_flags(&flags(&[
            ("node-id", "a"),
            ("db-dir", "/d"),
            ("process-context-file", "/p.json"),
            ("bootstrap-peers", "b@127.0.0.1:1, c@127.0.0.1:2"),
            ("fault-start-delay-ms", "50"),
        ]))
        .unwrap();
        assert_eq!(c.http_addr, "127.0.0.1:0");
        assert_eq!(c.bootstrap_peers.len(), 2);
        assert_eq!(c.bootstrap_peers[1].id, "c");
        assert_eq!(c.faults.start_delay, Some(Duration::from_millis(50)));
        assert!(!c.faults.unhealthy);
    }

    #[test]
    fn bad_flags_are_named() {
        let err = Config::from_flags(&flags(&[("db-dir", "/d")])).unwrap_err();
        assert!(err.contains("node-id"), "{err}");
        let err = Config::from_flags(&flags(&[
            ("node-id", "a"),
            ("db-dir", "/d"),
            ("process-context-file", "/p"),
            ("http-port", "http"),
        ]))
        .unwrap_err();
        assert!(err.contains("http-port"), "{err}");
        let err = Config::from_flags(&flags(&[
            ("node-id", "a"),
            ("db-dir", "/d"),
            ("process-context-file", "/p"),
            ("bootstrap-peers", "nohost"),
        ]))
        .unwrap_err();
        assert!(err.contains("nohost"), "{err}");
    }
}
