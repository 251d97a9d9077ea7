//! The checks of a parsed kind file, each mistake one line naming the file,
//! the field and the fix.

use std::path::Path;

use super::spec::{Check, Discovery, FlagsVia, KindSpec, PeerChoice};
use super::template::{self, PortPattern};
use crate::error::{Error, Result};

/// The placeholders every node-level template may use.
const NODE_PLACEHOLDERS: &[&str] = &[
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
const ARG_PLACEHOLDERS: &[&str] = &["node_dir", "data_dir", "config_file"];
/// The placeholders of `health.command`.
const COMMAND_PLACEHOLDERS: &[&str] = &["uri", "api_address", "node_id", "node_dir", "data_dir"];

/// Checks `spec`, read from the kind file at `path`.
pub(super) fn check(path: &Path, spec: &KindSpec) -> Result<()> {
    Checker { path, spec }.check()
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
        if s.binary.name.is_some() && s.binary.path.is_some() {
            return Err(self.fail(
                "binary",
                "sets both name and path, so one would be ignored",
                "keep binary.path for a file of your own, or binary.name to look on PATH",
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
        if let Some(hint) = &s.binary.install_hint {
            if hint.chars().count() > 200 || hint.chars().any(char::is_control) {
                return Err(self.fail(
                    "binary.install_hint",
                    format!("{} is no short line", quoted(hint)),
                    "say how to install the daemon in one line of at most 200 characters",
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
        for (field, texts) in [
            ("logs.fatal", &s.logs.fatal),
            ("logs.port_conflict", &s.logs.port_conflict),
        ] {
            if texts.iter().any(|t| t.trim().is_empty()) {
                return Err(self.fail(
                    field,
                    "has an empty entry, which every log line contains",
                    "remove it, or give the text a line must contain",
                ));
            }
        }
        if let Some(format) = &s.logs.time_format {
            if let Err(problem) = crate::model::TimeFormat::parse(format) {
                return Err(self.fail(
                    "logs.time_format",
                    format!("{}: {problem}", quoted(format)),
                    "write the time its lines start with, e.g. \"[%Y-%m-%d %H:%M:%S]\"",
                ));
            }
        }
        self.check_flag_names()?;
        self.check_ports()?;
        self.check_node_paths()?;
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
        let scheme_ok = p.scheme.starts_with(|c: char| c.is_ascii_lowercase())
            && p.scheme.chars().all(|c| {
                c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '+' | '-' | '.')
            });
        if !scheme_ok {
            return Err(self.fail(
                "ports.scheme",
                format!("{} is not a URI scheme", quoted(&p.scheme)),
                "use lower-case letters, digits, '+', '-' or '.', starting with a letter (e.g. \"http\", \"tcp\", \"redis\")",
            ));
        }
        let speaks_http = p.scheme == "http" || p.scheme == "https";
        if !speaks_http && self.spec.health.check == Check::Http {
            return Err(self.fail(
                "health.check",
                format!(
                    "is \"http\" (the default), but the API speaks {} (ports.scheme)",
                    quoted(&p.scheme)
                ),
                "set health.check = \"tcp\" or \"command\"",
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
        Ok(())
    }

    /// Every flag a kind file sets has a name a daemon can take.
    fn check_flag_names(&self) -> Result<()> {
        let s = self.spec;
        let pod = s.kubernetes.as_ref().map(|k| &k.flags);
        let tables = [
            ("flags", Some(&s.flags)),
            ("forced_flags", Some(&s.forced_flags)),
            ("kubernetes.flags", pod),
        ];
        for (table, flags) in tables {
            for name in flags.into_iter().flat_map(|f| f.keys()) {
                if let Some(problem) = crate::model::flags::name_problem(name) {
                    return Err(self.fail(
                        table,
                        format!("the flag name {} {problem}", quoted(name)),
                        "name each flag as the daemon spells it, one word (e.g. log-level)",
                    ));
                }
            }
        }
        Ok(())
    }

    /// Every path a kind file names in the node directory, with its field.
    fn node_paths(&self) -> Vec<(&'static str, &str)> {
        let s = self.spec;
        let mut paths = vec![
            ("launch.data_dir", s.launch.data_dir.as_str()),
            ("launch.config_file", s.launch.config_file.as_str()),
        ];
        if let Some(file) = &s.ports.file {
            paths.push(("ports.file", file.as_str()));
        }
        paths
    }

    /// The one rule for a path a kind file names: inside the node
    /// directory (relative, no `..`, not the directory itself), and clear
    /// of the names the tool keeps there for itself; and no two fields
    /// name the same path.
    fn check_node_paths(&self) -> Result<()> {
        let paths = self.node_paths();
        for (i, (field, value)) in paths.iter().enumerate() {
            let inside = node_path(value).ok_or_else(|| {
                self.fail(
                    field,
                    format!("{} is not a path inside the node directory", quoted(value)),
                    "give a relative path below it without '..' (e.g. \"data\")",
                )
            })?;
            if let Some(reserved) = crate::model::node::RESERVED_NAMES
                .iter()
                .find(|r| inside.first().is_some_and(|first| first == *r))
            {
                return Err(self.fail(
                    field,
                    format!(
                        "{} is {reserved:?}, which the tool keeps in the node directory for itself",
                        quoted(value)
                    ),
                    "choose another name (e.g. \"data/node.conf\")",
                ));
            }
            if let Some((other, _)) = paths[..i]
                .iter()
                .find(|(_, v)| node_path(v).as_ref() == Some(&inside))
            {
                return Err(self.fail(
                    field,
                    format!("names the same path as {other}"),
                    "give each its own path",
                ));
            }
        }
        self.check_files_are_files(&paths)
    }

    /// The files a kind file names (`launch.config_file`, `ports.file`) are
    /// files: not written as a directory (`x/`, `x/.`), not a directory the
    /// node has (`launch.data_dir`, the tool's `db`), and no other path
    /// lies inside one.
    fn check_files_are_files(&self, paths: &[(&'static str, &str)]) -> Result<()> {
        let is_file = |field: &str| field == "launch.config_file" || field == "ports.file";
        let mut all: Vec<(&str, Vec<String>)> = paths
            .iter()
            .filter_map(|(field, value)| Some((*field, node_path(value)?)))
            .collect();
        all.push(("the node's db directory", vec!["db".to_owned()]));
        for (field, value) in paths.iter().filter(|(f, _)| is_file(f)) {
            if value.ends_with('/') || value.ends_with("/.") {
                return Err(self.fail(
                    field,
                    format!("{} names a directory, not a file", quoted(value)),
                    "name the file itself (e.g. \"data/node.conf\")",
                ));
            }
            let Some(file) = node_path(value) else {
                continue;
            };
            for (other, path) in all.iter().filter(|(other, _)| other != field) {
                let clash = if *path == file && !is_file(other) {
                    Some(format!("names {other}, a directory"))
                } else if path.len() > file.len() && path.starts_with(&file) {
                    Some(format!("{other} lies inside it, but it is a file"))
                } else {
                    None
                };
                if let Some(problem) = clash {
                    return Err(self.fail(
                        field,
                        format!("{} {problem}", quoted(value)),
                        "give the file a path of its own, outside every directory the node has",
                    ));
                }
            }
        }
        Ok(())
    }

    fn check_peers(&self) -> Result<()> {
        let peers = &self.spec.peers;
        self.check_template(
            "peers.item",
            &peers.item,
            &["id", "address", "host", "port"],
            false,
        )?;
        let allocated = self.spec.ports.discovery == Discovery::Allocate;
        if PeerChoice::Set(peers.of).needs_members() && !allocated {
            return Err(self.fail(
                "peers.of",
                "names nodes by their place in the network, whose addresses are known up front only with allocated ports",
                "set ports.discovery = \"allocate\", or peers.of = \"earlier\"",
            ));
        }
        self.check_roles()?;
        if peers.flag.is_none() && (peers.when_none.is_some() || peers.separator.is_some()) {
            return Err(self.fail(
                "peers.flag",
                "is missing, so the other peers settings do nothing",
                "name the flag that carries the peers (e.g. flag = \"add-peer\")",
            ));
        }
        Ok(())
    }

    /// `[[roles]]`: named once each, each with nodes but the last, its
    /// peers a set or another role, its flags named as flags are.
    fn check_roles(&self) -> Result<()> {
        let roles = &self.spec.roles;
        let allocated = self.spec.ports.discovery == Discovery::Allocate;
        for (i, role) in roles.iter().enumerate() {
            let field = format!("roles[{i}]");
            if role.name.is_empty() || roles[..i].iter().any(|r| r.name == role.name) {
                return Err(self.fail(
                    &field,
                    format!("the name {} is empty or taken", quoted(&role.name)),
                    "give each role a name of its own",
                ));
            }
            match role.nodes {
                Some(0) => {
                    return Err(self.fail(
                        &format!("{field}.nodes"),
                        "is 0",
                        "give the role at least one node, or remove it",
                    ))
                }
                None if i + 1 < roles.len() => {
                    return Err(self.fail(
                        &format!("{field}.nodes"),
                        "is missing, but only the last role takes the rest",
                        "say how many nodes the role takes (e.g. nodes = 1)",
                    ))
                }
                _ => {}
            }
            if let Some(peers) = &role.peers {
                let choice = PeerChoice::parse(peers);
                if let PeerChoice::Role(name) = &choice {
                    if !roles.iter().any(|r| &r.name == name) {
                        return Err(self.fail(
                            &format!("{field}.peers"),
                            format!("{} is no role and no set of nodes", quoted(peers)),
                            "use \"earlier\", \"members\", \"first\", \"none\" or a role's name",
                        ));
                    }
                }
                if choice.needs_members() && !allocated {
                    return Err(self.fail(
                        &format!("{field}.peers"),
                        "names nodes by their place in the network, whose addresses are known up front only with allocated ports",
                        "set ports.discovery = \"allocate\"",
                    ));
                }
            }
            for name in role.flags.keys() {
                if let Some(problem) = crate::model::flags::name_problem(name) {
                    return Err(self.fail(
                        &format!("{field}.flags"),
                        format!("the flag name {} {problem}", quoted(name)),
                        "name each flag as the daemon spells it, one word (e.g. log-level)",
                    ));
                }
            }
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

/// The components of `value` if it names a path strictly inside a
/// directory: relative, without `..`, not the directory itself (`.`
/// components dropped).
fn node_path(value: &str) -> Option<Vec<String>> {
    use std::path::Component;
    let mut parts = Vec::new();
    for component in Path::new(value).components() {
        match component {
            Component::Normal(part) => parts.push(part.to_string_lossy().into_owned()),
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    (!parts.is_empty()).then_some(parts)
}

/// `value` quoted for an error line, cut to a readable length.
fn quoted(value: &str) -> String {
    const MAX: usize = 80;
    match value.char_indices().nth(MAX) {
        Some((at, _)) => format!("{:?}... ({} bytes)", &value[..at], value.len()),
        None => format!("{value:?}"),
    }
}
