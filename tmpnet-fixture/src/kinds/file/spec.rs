//! The kind file's fields as serde reads them, and their defaults.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::model::Flags;

/// A kind file, as written.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct KindSpec {
    /// The kind's name (lowercase letters, digits and `-`).
    pub name: String,
    /// The prefix of node ids; the name when absent.
    #[serde(default)]
    pub id_prefix: Option<String>,
    /// The daemon's executable.
    pub binary: Binary,
    /// How the daemon is started.
    #[serde(default)]
    pub launch: Launch,
    /// Its ports.
    pub ports: Ports,
    /// How it is told of its peers.
    #[serde(default)]
    pub peers: Peers,
    /// How to tell it is healthy.
    #[serde(default)]
    pub health: HealthCheck,
    /// What its log says.
    #[serde(default)]
    pub logs: Logs,
    /// Default flags: the network's and the node's flags override them.
    #[serde(default)]
    pub flags: Flags,
    /// Flags set whatever the user asked (placeholders allowed).
    #[serde(default)]
    pub forced_flags: Flags,
    /// How it runs on Kubernetes; without it the kind runs only locally.
    #[serde(default)]
    pub kubernetes: Option<Kubernetes>,
    /// Where its Prometheus metrics are; without it it exports none.
    #[serde(default)]
    pub metrics: Option<Metrics>,
    /// Nodes that differ from the others, by index (a primary and its
    /// replicas, seeds and followers).
    #[serde(default)]
    pub roles: Vec<Role>,
}

/// `[[roles]]`: the first role takes the first `nodes` nodes, the next the
/// nodes after them; a role without `nodes` (the last) takes the rest. A
/// node keeps its role, as its index, across restarts.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Role {
    /// Its name, as another role's `peers` names it.
    pub name: String,
    /// How many nodes take it; the rest when absent (the last role only).
    #[serde(default)]
    pub nodes: Option<usize>,
    /// Its nodes' own flags (recorded in each node's `config.json` when
    /// the node is made, so `--flag` and `[flags]` come under them).
    #[serde(default)]
    pub flags: Flags,
    /// Which nodes its nodes are given as peers: `"earlier"`, `"members"`,
    /// `"first"`, `"none"`, or the name of a role (that role's nodes, the
    /// node itself left out); `peers.of` when absent.
    #[serde(default)]
    pub peers: Option<String>,
}

/// `[metrics]`
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Metrics {
    /// The HTTP path of the metrics on the API port, e.g. `/metrics`.
    pub path: String,
}

/// `[binary]`
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Binary {
    /// The file name, looked for next to the program and on `PATH`.
    #[serde(default)]
    pub name: Option<String>,
    /// A path (relative to the kind file's directory when relative).
    #[serde(default)]
    pub path: Option<PathBuf>,
    /// How to install it, for the error when it is missing.
    #[serde(default)]
    pub install_hint: Option<String>,
}

/// How the composed flags reach the daemon.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FlagsVia {
    /// Each flag rendered by `launch.flag_args`.
    #[default]
    Args,
    /// Written to `launch.config_file` in `launch.config_format`.
    File,
}

/// The format of a written config file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ConfigFormat {
    /// `name=value` lines; a value with several lines repeats the name.
    #[default]
    Ini,
    /// One JSON object of strings.
    Json,
    /// `name value` lines (as `redis.conf` and many daemons' files); a
    /// value with several lines repeats the name.
    Space,
}

/// The signal that stops the daemon cleanly.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
pub enum StopSignal {
    /// SIGTERM.
    #[default]
    #[serde(rename = "SIGTERM")]
    Term,
    /// SIGINT (Ctrl-C).
    #[serde(rename = "SIGINT")]
    Int,
    /// SIGQUIT.
    #[serde(rename = "SIGQUIT")]
    Quit,
    /// SIGHUP.
    #[serde(rename = "SIGHUP")]
    Hup,
}

impl StopSignal {
    /// The signal number.
    pub fn number(self) -> i32 {
        match self {
            StopSignal::Term => libc::SIGTERM,
            StopSignal::Int => libc::SIGINT,
            StopSignal::Quit => libc::SIGQUIT,
            StopSignal::Hup => libc::SIGHUP,
        }
    }
}

/// `[launch]`
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Launch {
    /// Arguments before the flags (switches such as `--regtest`).
    #[serde(default)]
    pub args: Vec<String>,
    /// How one flag becomes arguments, with `{name}` and `{value}`.
    #[serde(default = "default_flag_args")]
    pub flag_args: Vec<String>,
    /// How flags reach the daemon.
    #[serde(default)]
    pub flags_via: FlagsVia,
    /// The config file written for `flags_via = "file"`, in the node
    /// directory.
    #[serde(default = "default_config_file")]
    pub config_file: String,
    /// Its format.
    #[serde(default)]
    pub config_format: ConfigFormat,
    /// The data directory, in the node directory.
    #[serde(default = "default_data_dir")]
    pub data_dir: String,
    /// The clean-stop signal.
    #[serde(default)]
    pub stop_signal: StopSignal,
}

impl Default for Launch {
    fn default() -> Self {
        Launch {
            args: Vec::new(),
            flag_args: default_flag_args(),
            flags_via: FlagsVia::default(),
            config_file: default_config_file(),
            config_format: ConfigFormat::default(),
            data_dir: default_data_dir(),
            stop_signal: StopSignal::default(),
        }
    }
}

fn default_flag_args() -> Vec<String> {
    vec!["--{name}={value}".into()]
}
fn default_config_file() -> String {
    "node.conf".into()
}
fn default_data_dir() -> String {
    "data".into()
}

/// How the harness learns the ports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Discovery {
    /// Allocated before the start, substituted as `{port.NAME}`.
    #[default]
    Allocate,
    /// Found in the daemon's log by `ports.patterns`.
    Log,
    /// Found in `ports.file` by `ports.patterns`.
    File,
}

/// `[ports]`
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Ports {
    /// The name of the API port (the node's URI).
    pub api: String,
    /// The name of the port peers dial; the API port when absent.
    #[serde(default)]
    pub p2p: Option<String>,
    /// More ports to allocate.
    #[serde(default)]
    pub other: Vec<String>,
    /// How ports become known.
    #[serde(default)]
    pub discovery: Discovery,
    /// The file with the ports, for `discovery = "file"`, in the node
    /// directory.
    #[serde(default)]
    pub file: Option<String>,
    /// Per port name, the line that reports it, with `{port}`.
    #[serde(default)]
    pub patterns: BTreeMap<String, String>,
    /// The flag that pins the API port, for reuse of dynamic ports.
    #[serde(default)]
    pub api_flag: Option<String>,
    /// The scheme of the node's URI.
    #[serde(default = "default_scheme")]
    pub scheme: String,
}

fn default_scheme() -> String {
    "http".into()
}

/// Which nodes a node is told of.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PeerSet {
    /// The nodes started before it (all others on a restart).
    #[default]
    Earlier,
    /// Every bootstrap node, itself included (a static membership).
    Members,
    /// The first node (node 0), for every node after it; node 0 gets none,
    /// on every start and restart.
    First,
    /// None.
    None,
}

/// The nodes one node is given as peers: a set, or a role's nodes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerChoice {
    /// One of the sets.
    Set(PeerSet),
    /// The nodes of the role of this name (the node itself left out).
    Role(String),
}

impl PeerChoice {
    /// A role's `peers` value: a set's name, else a role's.
    pub fn parse(value: &str) -> PeerChoice {
        match value {
            "earlier" => PeerChoice::Set(PeerSet::Earlier),
            "members" => PeerChoice::Set(PeerSet::Members),
            "first" => PeerChoice::Set(PeerSet::First),
            "none" => PeerChoice::Set(PeerSet::None),
            role => PeerChoice::Role(role.to_owned()),
        }
    }

    /// Whether it needs every node's address up front (the members).
    pub fn needs_members(&self) -> bool {
        !matches!(
            self,
            PeerChoice::Set(PeerSet::Earlier) | PeerChoice::Set(PeerSet::None)
        )
    }
}

/// `[peers]`
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Peers {
    /// The flag that carries them; peers are not given when absent.
    #[serde(default)]
    pub flag: Option<String>,
    /// One peer, with `{id}`, `{address}` (`host:port`), `{host}` and
    /// `{port}` (its p2p port).
    #[serde(default = "default_item")]
    pub item: String,
    /// Joins the peers into one value; without it the flag is repeated.
    #[serde(default)]
    pub separator: Option<String>,
    /// The value when there are no peers; the flag is left out when absent.
    #[serde(default)]
    pub when_none: Option<String>,
    /// Which nodes.
    #[serde(default)]
    pub of: PeerSet,
}

impl Default for Peers {
    fn default() -> Self {
        Peers {
            flag: None,
            item: default_item(),
            separator: None,
            when_none: None,
            of: PeerSet::default(),
        }
    }
}

fn default_item() -> String {
    "{address}".into()
}

/// The kind of health check.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Check {
    /// An HTTP GET of `path` on the API port.
    #[default]
    Http,
    /// A TCP connect to the API port.
    Tcp,
    /// A command that exits 0 when healthy.
    Command,
}

/// `[health]`
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HealthCheck {
    /// Which check.
    #[serde(default)]
    pub check: Check,
    /// The HTTP path.
    #[serde(default = "default_path")]
    pub path: String,
    /// The expected HTTP status.
    #[serde(default = "default_status")]
    pub status: u16,
    /// A JSON pointer (`/status`) into the response that must exist.
    #[serde(default)]
    pub json_pointer: Option<String>,
    /// The value it must have.
    #[serde(default)]
    pub json_equals: Option<toml::Value>,
    /// The command, with `{uri}`, `{api_address}`, `{node_id}`,
    /// `{node_dir}` and `{data_dir}`.
    #[serde(default)]
    pub command: Vec<String>,
}

impl Default for HealthCheck {
    fn default() -> Self {
        HealthCheck {
            check: Check::default(),
            path: default_path(),
            status: default_status(),
            json_pointer: None,
            json_equals: None,
            command: Vec::new(),
        }
    }
}

fn default_path() -> String {
    "/".into()
}
fn default_status() -> u16 {
    200
}

/// `[logs]`
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Logs {
    /// Text whose appearance in a line means the daemon failed.
    #[serde(default = "default_fatal")]
    pub fatal: Vec<String>,
    /// Text (any case) meaning a port was taken, so a start on fresh
    /// ports may succeed.
    #[serde(default = "default_port_conflict")]
    pub port_conflict: Vec<String>,
    /// The time its lines start with, as `strftime` directives
    /// ([`crate::model::TimeFormat`]), for a shape not read by itself.
    #[serde(default)]
    pub time_format: Option<String>,
}

impl Default for Logs {
    fn default() -> Self {
        Logs {
            fatal: default_fatal(),
            port_conflict: default_port_conflict(),
            time_format: None,
        }
    }
}

fn default_fatal() -> Vec<String> {
    vec!["FATAL".into()]
}
fn default_port_conflict() -> Vec<String> {
    vec!["address already in use".into()]
}

/// `[kubernetes]`
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Kubernetes {
    /// The image.
    pub image: String,
    /// Where the data volume is mounted.
    #[serde(default = "default_pod_data")]
    pub data_path: String,
    /// The port numbers inside the pod, by name; the API port (and the p2p
    /// port) must be among them.
    pub ports: BTreeMap<String, u16>,
    /// The readiness probe's HTTP path on the API port; a TCP probe when
    /// absent.
    #[serde(default)]
    pub probe_path: Option<String>,
    /// Flags forced in pods only, over `forced_flags` (placeholders
    /// allowed, `{port.NAME}` giving the pod's port).
    #[serde(default)]
    pub flags: Flags,
}

fn default_pod_data() -> String {
    "/data".into()
}
