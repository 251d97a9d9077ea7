//! The kind file's fields, its defaults, and the checks that turn each
//! mistake into one line naming the file, the field and the fix.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::template::{self, PortPattern};
use crate::error::{Error, Result};
use crate::model::Flags;

/// Where a reader finds every field explained.
const SEE: &str = "see docs/src/reference/kind-file.md";

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
}

/// `[peers]`
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Peers {
    /// The flag that carries them; peers are not given when absent.
    #[serde(default)]
    pub flag: Option<String>,
    /// One peer, with `{id}` and `{address}`.
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
}

impl Default for Logs {
    fn default() -> Self {
        Logs {
            fatal: default_fatal(),
            port_conflict: default_port_conflict(),
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

/// The placeholders every node-level template may use.
pub(super) const NODE_PLACEHOLDERS: &[&str] = &[
    "node_id",
    "node_index",
    "node_dir",
    "data_dir",
    "network_dir",
    "network_name",
    "host",
    "bind",
    "config_file",
];
/// The placeholders of `launch.args`.
pub(super) const ARG_PLACEHOLDERS: &[&str] = &["node_dir", "data_dir", "config_file"];
/// The placeholders of `health.command`.
pub(super) const COMMAND_PLACEHOLDERS: &[&str] =
    &["uri", "api_address", "node_id", "node_dir", "data_dir"];

/// Reads and checks a kind file; returns its settings and its text.
pub(super) fn read(path: &Path) -> Result<(KindSpec, String)> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::KindFile {
        path: path.to_owned(),
        field: "the file".into(),
        problem: format!("cannot be read: {e}"),
        fix: "give the path of a TOML kind file (--kind-file)".into(),
    })?;
    Ok((parse(path, &text)?, text))
}

/// Parses and checks a kind file's text.
pub(super) fn parse(path: &Path, text: &str) -> Result<KindSpec> {
    let spec: KindSpec = toml::from_str(text).map_err(|e| syntax_error(path, text, &e))?;
    Checker { path, spec: &spec }.check()?;
    Ok(spec)
}

fn syntax_error(path: &Path, text: &str, e: &toml::de::Error) -> Error {
    let (field, excerpt) = match e.span() {
        // A whole table (a missing field): name it, not its first line.
        Some(span)
            if e.message().starts_with("missing field")
                || text
                    .get(span.clone())
                    .unwrap_or("")
                    .trim_end()
                    .contains('\n') =>
        {
            let first = text
                .get(span.start..)
                .unwrap_or("")
                .lines()
                .next()
                .unwrap_or("");
            if span.start == 0 {
                ("the top level".into(), String::new())
            } else {
                (format!("table {}", first.trim()), String::new())
            }
        }
        Some(span) => {
            let line_no = text[..span.start.min(text.len())].matches('\n').count() + 1;
            let line = text.lines().nth(line_no - 1).unwrap_or("").trim();
            (format!("line {line_no}"), format!(" (`{line}`)"))
        }
        None => ("the file".into(), String::new()),
    };
    let message = e.message().replace('\n', " ");
    Error::KindFile {
        path: path.to_owned(),
        field: format!("{field}{excerpt}"),
        problem: message.trim().trim_end_matches('.').to_owned(),
        fix: format!("correct it ({SEE})"),
    }
}

struct Checker<'a> {
    path: &'a Path,
    spec: &'a KindSpec,
}

impl Checker<'_> {
    fn fail(&self, field: &str, problem: impl Into<String>, fix: impl Into<String>) -> Error {
        Error::KindFile {
            path: self.path.to_owned(),
            field: field.to_owned(),
            problem: problem.into(),
            fix: fix.into(),
        }
    }

    fn check(&self) -> Result<()> {
        let s = self.spec;
        let valid_name = |n: &str| {
            !n.is_empty()
                && n.len() <= 40
                && n.starts_with(|c: char| c.is_ascii_lowercase())
                && n.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        };
        if !valid_name(&s.name) {
            return Err(self.fail(
                "name",
                format!("{:?} is not a kind name", s.name),
                "use up to 40 lowercase letters, digits and '-', starting with a letter",
            ));
        }
        if super::super::registry::BUILT_IN.contains(&s.name.as_str()) {
            return Err(self.fail(
                "name",
                format!("{:?} is a built-in kind", s.name),
                "give your kind a name of its own",
            ));
        }
        if let Some(prefix) = &s.id_prefix {
            if !valid_name(prefix) {
                return Err(self.fail(
                    "id_prefix",
                    format!("{prefix:?} cannot start a node id"),
                    "use lowercase letters, digits and '-', starting with a letter",
                ));
            }
        }
        if s.binary.name.as_deref().is_none_or(str::is_empty) && s.binary.path.is_none() {
            return Err(self.fail(
                "binary",
                "names no executable",
                "set binary.name (looked for on PATH) or binary.path",
            ));
        }
        if let Some(name) = &s.binary.name {
            if name.contains('/') {
                return Err(self.fail(
                    "binary.name",
                    format!("{name:?} is a path"),
                    "put paths in binary.path; binary.name is a file name looked for on PATH",
                ));
            }
        }
        if let Some(m) = &s.metrics {
            if !m.path.starts_with('/') {
                return Err(self.fail(
                    "metrics.path",
                    format!("{:?} is not an HTTP path", m.path),
                    "write the path on the API port, starting with '/', e.g. \"/metrics\"",
                ));
            }
        }
        self.check_ports()?;
        self.check_templates()?;
        self.check_peers()?;
        self.check_health()?;
        self.check_kubernetes()
    }

    fn port_names(&self) -> Vec<&str> {
        let p = &self.spec.ports;
        let mut names = vec![p.api.as_str()];
        names.extend(p.p2p.as_deref());
        names.extend(p.other.iter().map(String::as_str));
        names
    }

    fn check_ports(&self) -> Result<()> {
        let p = &self.spec.ports;
        let names = self.port_names();
        for (i, name) in names.iter().enumerate() {
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            {
                return Err(self.fail(
                    "ports",
                    format!("{name:?} is not a port name"),
                    "name ports with letters, digits, '_' and '-' (e.g. api = \"rpc\")",
                ));
            }
            if names[..i].contains(name) {
                return Err(self.fail(
                    "ports",
                    format!("port {name:?} is named twice"),
                    "give each port one name",
                ));
            }
        }
        if p.scheme != "http" && p.scheme != "https" {
            return Err(self.fail(
                "ports.scheme",
                format!("{:?} is not a scheme", p.scheme),
                "use \"http\" or \"https\"",
            ));
        }
        match p.discovery {
            Discovery::Allocate => {
                if !p.patterns.is_empty() {
                    return Err(self.fail(
                        "ports.patterns",
                        "is given, but ports are allocated (discovery = \"allocate\")",
                        "set ports.discovery = \"log\" or \"file\", or remove the patterns",
                    ));
                }
            }
            Discovery::Log | Discovery::File => {
                if p.discovery == Discovery::File && p.file.as_deref().is_none_or(str::is_empty) {
                    return Err(self.fail(
                        "ports.file",
                        "is missing, but discovery = \"file\"",
                        "name the file the daemon writes its ports to (relative to the node directory)",
                    ));
                }
                for name in [Some(p.api.as_str()), p.p2p.as_deref()]
                    .into_iter()
                    .flatten()
                {
                    let Some(pattern) = p.patterns.get(name) else {
                        return Err(self.fail(
                            &format!("ports.patterns.{name}"),
                            "is missing, so the port can never be found",
                            format!("give the line that reports port {name:?}, with {{port}} where the number is"),
                        ));
                    };
                    PortPattern::parse(pattern).map_err(|problem| {
                        self.fail(
                            &format!("ports.patterns.{name}"),
                            problem,
                            "put {port} exactly once where the port number is printed",
                        )
                    })?;
                }
                if let Some(extra) = p.patterns.keys().find(|k| !names.contains(&k.as_str())) {
                    return Err(self.fail(
                        &format!("ports.patterns.{extra}"),
                        format!("names no port (the ports are {})", names.join(", ")),
                        "name one of the ports",
                    ));
                }
            }
        }
        Ok(())
    }

    /// Checks a template's placeholders: each must be in `allowed`, or
    /// `port.NAME` of a known port when `ports_known`.
    fn check_template(
        &self,
        field: &str,
        template: &str,
        allowed: &[&str],
        ports_known: bool,
    ) -> Result<()> {
        let used = template::placeholders(template).map_err(|problem| {
            self.fail(field, problem, "write '{{' and '}}' for literal braces")
        })?;
        for name in used {
            if allowed.contains(&name.as_str()) {
                continue;
            }
            if let Some(port) = name.strip_prefix("port.") {
                if !ports_known {
                    return Err(self.fail(
                        field,
                        format!("uses {{{name}}}, but ports are not known before the start here (discovery = \"{}\")", discovery_name(self.spec.ports.discovery)),
                        "use discovery = \"allocate\", or bind port 0 and let the patterns find it",
                    ));
                }
                if !self.port_names().contains(&port) {
                    return Err(self.fail(
                        field,
                        format!("uses {{{name}}}, but no port is named {port:?}"),
                        format!(
                            "use one of: {}",
                            self.port_names()
                                .iter()
                                .map(|p| format!("{{port.{p}}}"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    ));
                }
                continue;
            }
            let mut all: Vec<String> = allowed.iter().map(|a| format!("{{{a}}}")).collect();
            if ports_known {
                all.push("{port.NAME}".into());
            }
            return Err(self.fail(
                field,
                format!("{{{name}}} is not a placeholder here"),
                format!("use one of: {}", all.join(", ")),
            ));
        }
        Ok(())
    }

    fn check_templates(&self) -> Result<()> {
        let s = self.spec;
        let allocated = s.ports.discovery == Discovery::Allocate;
        for (name, value) in &s.forced_flags {
            self.check_template(
                &format!("forced_flags.{name}"),
                value,
                NODE_PLACEHOLDERS,
                allocated,
            )?;
        }
        for (i, arg) in s.launch.args.iter().enumerate() {
            self.check_template(&format!("launch.args[{i}]"), arg, ARG_PLACEHOLDERS, false)?;
        }
        if s.launch.flag_args.is_empty() && s.launch.flags_via == FlagsVia::Args {
            return Err(self.fail(
                "launch.flag_args",
                "is empty, so no flag would reach the daemon",
                "use e.g. [\"--{name}={value}\"], or flags_via = \"file\"",
            ));
        }
        let mut names_it = false;
        for (i, arg) in s.launch.flag_args.iter().enumerate() {
            self.check_template(
                &format!("launch.flag_args[{i}]"),
                arg,
                &["name", "value"],
                false,
            )?;
            names_it |= arg.contains("{name}");
        }
        if !names_it && s.launch.flags_via == FlagsVia::Args {
            return Err(self.fail(
                "launch.flag_args",
                "has no {name}, so every flag would look the same",
                "use e.g. [\"--{name}={value}\"]",
            ));
        }
        for (field, value) in [
            ("launch.data_dir", &s.launch.data_dir),
            ("launch.config_file", &s.launch.config_file),
        ] {
            let p = Path::new(value);
            if value.is_empty()
                || p.is_absolute()
                || p.components().any(|c| c == std::path::Component::ParentDir)
            {
                return Err(self.fail(
                    field,
                    format!("{value:?} is not a path inside the node directory"),
                    "give a relative path without '..' (e.g. \"data\")",
                ));
            }
        }
        Ok(())
    }

    fn check_peers(&self) -> Result<()> {
        let peers = &self.spec.peers;
        self.check_template("peers.item", &peers.item, &["id", "address"], false)?;
        if peers.of == PeerSet::Members && self.spec.ports.discovery != Discovery::Allocate {
            return Err(self.fail(
                "peers.of",
                "is \"members\", but members are known up front only with allocated ports",
                "set ports.discovery = \"allocate\", or peers.of = \"earlier\"",
            ));
        }
        if peers.flag.is_none() && (peers.when_none.is_some() || peers.separator.is_some()) {
            return Err(self.fail(
                "peers.flag",
                "is missing, so the other peers settings do nothing",
                "name the flag that carries the peers (e.g. flag = \"add-peer\")",
            ));
        }
        Ok(())
    }

    fn check_health(&self) -> Result<()> {
        let h = &self.spec.health;
        if !(100..=599).contains(&h.status) {
            return Err(self.fail(
                "health.status",
                format!("{} is not an HTTP status", h.status),
                "use a status from 100 to 599 (e.g. 200)",
            ));
        }
        if !h.path.starts_with('/') {
            return Err(self.fail(
                "health.path",
                format!("{:?} does not start with '/'", h.path),
                "give the path of the URL, e.g. \"/health\"",
            ));
        }
        if let Some(pointer) = &h.json_pointer {
            if !pointer.starts_with('/') {
                return Err(self.fail(
                    "health.json_pointer",
                    format!("{pointer:?} is not a JSON pointer"),
                    "start it with '/', e.g. \"/status\" or \"/result/synced\"",
                ));
            }
        } else if h.json_equals.is_some() {
            return Err(self.fail(
                "health.json_equals",
                "is given without health.json_pointer",
                "say which field must have the value (json_pointer = \"/status\")",
            ));
        }
        match h.check {
            Check::Command if h.command.is_empty() => {
                return Err(self.fail(
                    "health.command",
                    "is empty, but check = \"command\"",
                    "give the command and its arguments, e.g. [\"mydaemon-cli\", \"--url={uri}\", \"ping\"]",
                ))
            }
            Check::Command => {
                for (i, arg) in h.command.iter().enumerate() {
                    self.check_template(
                        &format!("health.command[{i}]"),
                        arg,
                        COMMAND_PLACEHOLDERS,
                        false,
                    )?;
                }
            }
            _ if !h.command.is_empty() => {
                return Err(self.fail(
                    "health.command",
                    "is given, but the check is not \"command\"",
                    "set health.check = \"command\", or remove the command",
                ))
            }
            _ => {}
        }
        Ok(())
    }

    fn check_kubernetes(&self) -> Result<()> {
        let Some(k) = &self.spec.kubernetes else {
            return Ok(());
        };
        if k.image.trim().is_empty() {
            return Err(self.fail(
                "kubernetes.image",
                "is empty",
                "give the image the pods run (e.g. \"registry.example/mydaemon:1.2\")",
            ));
        }
        for name in [
            Some(self.spec.ports.api.as_str()),
            self.spec.ports.p2p.as_deref(),
        ]
        .into_iter()
        .flatten()
        {
            if !k.ports.contains_key(name) {
                return Err(self.fail(
                    "kubernetes.ports",
                    format!("has no port {name:?}"),
                    format!("give the number of port {name:?} inside the pod (e.g. {name} = 8080)"),
                ));
            }
        }
        if !k.data_path.starts_with('/') {
            return Err(self.fail(
                "kubernetes.data_path",
                format!("{:?} is not an absolute path", k.data_path),
                "give where the data volume is mounted in the container, e.g. \"/data\"",
            ));
        }
        if self.spec.launch.flags_via == FlagsVia::File {
            return Err(self.fail(
                "launch.flags_via",
                "is \"file\", which pods cannot use (a pod has only its image and arguments)",
                "use flags_via = \"args\" for a kind that runs on Kubernetes, or remove [kubernetes]",
            ));
        }
        for (name, value) in &k.flags {
            self.check_template(
                &format!("kubernetes.flags.{name}"),
                value,
                NODE_PLACEHOLDERS,
                true,
            )?;
        }
        Ok(())
    }
}

fn discovery_name(d: Discovery) -> &'static str {
    match d {
        Discovery::Allocate => "allocate",
        Discovery::Log => "log",
        Discovery::File => "file",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error_of(text: &str) -> String {
        parse(Path::new("k.toml"), text).unwrap_err().to_string()
    }

    #[test]
    fn syntax_errors_name_the_line_or_the_table() {
        let err = error_of("[binary]\nname = \"x\"\n[ports]\napi = \"rpc\"");
        assert!(err.contains("missing field `name`"), "{err}");
        assert!(err.contains("top level"), "{err}");
        let err = error_of("name = \"x\"\n[binary]\nname = \"x\"\n[ports]\nscheme = \"http\"");
        assert!(err.contains("missing field `api`"), "{err}");
        assert!(err.contains("table [ports]"), "{err}");
        let err = error_of("name = \"x\"\n[binary]\nname = 3\n[ports]\napi = \"rpc\"");
        assert!(err.contains("line 3 (`name = 3`)"), "{err}");
        assert!(!err.contains('\n'), "{err}");
    }

    #[test]
    fn defaults_fill_what_is_left_out() {
        let spec = parse(
            Path::new("k.toml"),
            "name = \"mini\"\n[binary]\nname = \"mini\"\n[ports]\napi = \"rpc\"",
        )
        .unwrap();
        assert_eq!(spec.launch.flag_args, ["--{name}={value}"]);
        assert_eq!(spec.launch.data_dir, "data");
        assert_eq!(spec.launch.stop_signal, StopSignal::Term);
        assert_eq!(spec.ports.discovery, Discovery::Allocate);
        assert_eq!(spec.health.check, Check::Http);
        assert_eq!(spec.health.status, 200);
        assert_eq!(spec.logs.fatal, ["FATAL"]);
        assert!(spec.kubernetes.is_none());
    }
}
