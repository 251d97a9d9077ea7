//! Kinds described by a TOML file, for daemons whose owners write no Rust:
//! the binary, how flags reach it, its ports, its peers, its data
//! directory, its health check, its fatal log lines and how it runs in a
//! pod. docs/src/reference/kind-file.md explains every field.
//!
//! A network of a file kind keeps a copy of the file as [`KIND_FILE`] in
//! its directory (written by [`NodeKind::init_network`]), so every later
//! process (another test process, `tmpnetctl`, a Job in the cluster) loads
//! the same kind from the network alone.

mod check;
mod parse;
mod peers;
mod spec;
mod template;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;

use spec::{Check, ConfigFormat, Discovery, FlagsVia, KindSpec};
use template::PortPattern;

use super::{
    node_with_random_id, HealthContext, LaunchContext, LocalDaemon, NodeKind, Placement, PodDaemon,
    PodProfile, PortDiscovery, POD_IP,
};
use crate::error::{Error, Result};
use crate::model::{Endpoint, Flags, Health, Node, NodeConfig, TimeFormat};
use crate::sys::files;

/// The copy of the kind file in a network directory.
pub const KIND_FILE: &str = "kind.toml";

/// How long a `check = "command"` health check may run.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(5);

/// A kind read from a kind file.
#[derive(Debug, Clone)]
pub struct FileKind {
    spec: KindSpec,
    /// The file's text, copied into each network of the kind.
    text: String,
    /// `binary.path`, resolved against the file's directory.
    binary_path: Option<PathBuf>,
    /// `logs.port_conflict`, lowercased.
    port_conflicts: Vec<String>,
    /// `logs.time_format`, read.
    time_format: Option<TimeFormat>,
}

impl FileKind {
    /// Reads and checks the kind file at `path`, for a new network: every
    /// mistake is one [`Error::KindFile`] naming the file, the field and
    /// the fix, including what this machine lacks (a `binary.path` that is
    /// not an executable file, a health command's program not on `PATH`).
    pub fn load(path: &Path) -> Result<FileKind> {
        let kind = FileKind::read(path)?;
        kind.check_here(path)?;
        Ok(kind)
    }

    /// Reads and checks the kind file at `path` for a new network on
    /// Kubernetes: as written, asking this machine for nothing (the
    /// daemon and its health command's program are the image's).
    pub fn load_for_pods(path: &Path) -> Result<FileKind> {
        FileKind::read(path)
    }

    /// Reads and checks the kind file at `path` as written, without asking
    /// this machine for anything (a network's own copy: it must load
    /// wherever the network is stopped).
    fn read(path: &Path) -> Result<FileKind> {
        let (spec, text) = parse::read(path)?;
        let base = path.parent().unwrap_or(Path::new("."));
        let binary_path = spec.binary.path.as_ref().map(|p| base.join(p));
        let port_conflicts = spec
            .logs
            .port_conflict
            .iter()
            .map(|s| s.to_lowercase())
            .collect();
        // Checked with the rest of the file: it reads.
        let time_format = spec
            .logs
            .time_format
            .as_deref()
            .and_then(|t| TimeFormat::parse(t).ok());
        Ok(FileKind {
            spec,
            text,
            binary_path,
            port_conflicts,
            time_format,
        })
    }

    /// What the kind file at `path` needs of this machine: its binary, when
    /// given by path, and the program of its health command.
    fn check_here(&self, path: &Path) -> Result<()> {
        let refuse = |field: &str, problem: String, fix: &str| Error::KindFile {
            path: path.to_owned(),
            field: field.to_owned(),
            problem,
            fix: fix.to_owned(),
        };
        if let Some(binary) = &self.binary_path {
            if let Some(problem) = files::executable_problem(binary) {
                return Err(refuse(
                    "binary.path",
                    format!("{} {problem}", binary.display()),
                    "give the path of the daemon's executable (relative to the kind file)",
                ));
            }
        }
        let program = self.spec.health.command.first();
        if let (Check::Command, Some(program)) = (self.spec.health.check, program) {
            if let Some(problem) = program_problem(program) {
                return Err(refuse(
                    "health.command",
                    problem,
                    "install it, or give the program's absolute path",
                ));
            }
        }
        Ok(())
    }

    fn allocated(&self) -> bool {
        self.spec.ports.discovery == Discovery::Allocate
    }

    fn port_names(&self) -> Vec<String> {
        let p = &self.spec.ports;
        std::iter::once(p.api.clone())
            .chain(p.p2p.clone())
            .chain(p.other.iter().cloned())
            .collect()
    }

    fn p2p_name(&self) -> &str {
        self.spec
            .ports
            .p2p
            .as_deref()
            .unwrap_or(&self.spec.ports.api)
    }

    fn data_dir(&self, node_dir: &Path) -> PathBuf {
        node_dir.join(&self.spec.launch.data_dir)
    }

    fn config_file(&self, node_dir: &Path) -> PathBuf {
        node_dir.join(&self.spec.launch.config_file)
    }

    /// The value of a node-level placeholder.
    fn node_value(&self, launch: &LaunchContext<'_>, name: &str) -> Option<String> {
        let node = launch.node;
        let pod = launch.placement == Placement::Pod;
        let pod_data = self.spec.kubernetes.as_ref().map(|k| k.data_path.clone());
        let path = |p: PathBuf| p.display().to_string();
        Some(match name {
            "node_id" => node.id().to_owned(),
            "node_index" => node.config.index.to_string(),
            "node_dir" if pod => pod_data?,
            "data_dir" if pod => pod_data?,
            "node_dir" => path(node.dir.clone()),
            "data_dir" => path(self.data_dir(&node.dir)),
            "network_dir" => path(launch.network_dir.to_owned()),
            "network_name" => launch
                .network_dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            "host" if pod => POD_IP.to_owned(),
            "bind" if pod => "0.0.0.0".to_owned(),
            "host" | "bind" => "127.0.0.1".to_owned(),
            "config_file" => path(self.config_file(&node.dir)),
            _ => {
                let port = name.strip_prefix("port.")?;
                if pod {
                    self.spec.kubernetes.as_ref()?.ports.get(port)?.to_string()
                } else {
                    node.config.ports.get(port)?.to_string()
                }
            }
        })
    }

    /// The daemon's arguments: `launch.args`, then each flag through
    /// `launch.flag_args` (a value with several lines repeats the flag).
    fn args(&self, flags: &Flags, value: impl Fn(&str) -> Option<String>) -> Vec<String> {
        let launch = &self.spec.launch;
        let mut args: Vec<String> = launch
            .args
            .iter()
            .map(|a| template::expand(a, &value))
            .collect();
        if launch.flags_via == FlagsVia::Args {
            for (name, v) in flags {
                let values: Vec<&str> = if v.contains('\n') {
                    v.lines().filter(|l| !l.trim().is_empty()).collect()
                } else {
                    vec![v.as_str()]
                };
                for one in values {
                    args.extend(launch.flag_args.iter().map(|t| {
                        template::expand(t, |n| match n {
                            "name" => Some(name.clone()),
                            "value" => Some(one.to_owned()),
                            _ => None,
                        })
                    }));
                }
            }
        }
        args
    }

    fn config_text(&self, flags: &Flags) -> Result<String> {
        Ok(match self.spec.launch.config_format {
            ConfigFormat::Json => {
                serde_json::to_string_pretty(flags).map_err(|e| Error::Serialize {
                    what: "a config file",
                    source: Box::new(e),
                })? + "\n"
            }
            ConfigFormat::Ini | ConfigFormat::Space => {
                let between = if self.spec.launch.config_format == ConfigFormat::Ini {
                    "="
                } else {
                    " "
                };
                flags
                    .iter()
                    .flat_map(|(k, v)| {
                        let lines: Vec<&str> = if v.contains('\n') {
                            v.lines().filter(|l| !l.trim().is_empty()).collect()
                        } else {
                            vec![v.as_str()]
                        };
                        lines.into_iter().map(move |l| format!("{k}{between}{l}\n"))
                    })
                    .collect()
            }
        })
    }

    async fn check_http(&self, ctx: &HealthContext<'_>) -> Health {
        let h = &self.spec.health;
        let url = format!("{}{}", ctx.endpoint.uri, h.path);
        let resp = match ctx.http.get(&url).send().await {
            Ok(resp) => resp,
            Err(e) => return Health::Unhealthy(format!("no answer from {url}: {e}")),
        };
        let status = resp.status().as_u16();
        if status != h.status {
            let body = resp.text().await.unwrap_or_default();
            let said = body_excerpt(&body);
            let said = if said.is_empty() {
                String::new()
            } else {
                format!(": {said}")
            };
            return Health::Unhealthy(format!(
                "{url} answered HTTP {status}, not {}{said}",
                h.status
            ));
        }
        let Some(pointer) = &h.json_pointer else {
            return Health::Healthy;
        };
        let body: serde_json::Value = match resp.json().await {
            Ok(body) => body,
            Err(e) => return Health::Unhealthy(format!("{url} did not answer JSON: {e}")),
        };
        let Some(found) = body.pointer(pointer) else {
            return Health::Unhealthy(format!("{url} answered without {pointer}"));
        };
        match &h.json_equals {
            None => Health::Healthy,
            Some(want) => {
                let want = serde_json::to_value(want).unwrap_or_default();
                if *found == want {
                    Health::Healthy
                } else {
                    Health::Unhealthy(format!("{pointer} is {found}, not {want}"))
                }
            }
        }
    }

    async fn check_tcp(&self, ctx: &HealthContext<'_>) -> Health {
        let address = api_address(&ctx.endpoint.uri);
        match tokio::time::timeout(COMMAND_TIMEOUT, tokio::net::TcpStream::connect(address)).await {
            Ok(Ok(_)) => Health::Healthy,
            Ok(Err(e)) => Health::Unhealthy(format!("cannot connect to {address}: {e}")),
            Err(_) => Health::Unhealthy(format!(
                "no connection to {address} within {COMMAND_TIMEOUT:?}"
            )),
        }
    }

    async fn check_command(&self, ctx: &HealthContext<'_>) -> Health {
        if let (Some(pod), Some(k)) = (ctx.in_pod, &self.spec.kubernetes) {
            return self.check_command_in_pod(ctx, pod, k).await;
        }
        let value = |n: &str| {
            Some(match n {
                "uri" => ctx.endpoint.uri.clone(),
                "api_address" => api_address(&ctx.endpoint.uri).to_owned(),
                "node_id" => ctx.node.id().to_owned(),
                "node_dir" => ctx.node.dir.display().to_string(),
                "data_dir" => self.data_dir(&ctx.node.dir).display().to_string(),
                _ => return None,
            })
        };
        let argv = self.health_argv(value);
        let Some((program, args)) = argv.split_first() else {
            return Health::Unhealthy("no health command".into());
        };
        let mut cmd = tokio::process::Command::new(program);
        cmd.args(args)
            .current_dir(&ctx.node.dir)
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true);
        match tokio::time::timeout(COMMAND_TIMEOUT, cmd.output()).await {
            Ok(Ok(out)) if out.status.success() => Health::Healthy,
            Ok(Ok(out)) => {
                let said = String::from_utf8_lossy(&out.stderr);
                let said = said
                    .lines()
                    .rev()
                    .find(|l| !l.trim().is_empty())
                    .unwrap_or("");
                Health::Unhealthy(format!(
                    "{program} exited with {}: {}",
                    out.status,
                    said.trim()
                ))
            }
            Ok(Err(e)) => Health::Unhealthy(format!("cannot run {program}: {e}")),
            Err(_) => Health::Unhealthy(format!(
                "{program} did not finish within {COMMAND_TIMEOUT:?}"
            )),
        }
    }
}

impl FileKind {
    /// The health command, its placeholders given by `value`.
    fn health_argv(&self, value: impl Fn(&str) -> Option<String>) -> Vec<String> {
        self.spec
            .health
            .command
            .iter()
            .map(|a| template::expand(a, &value))
            .collect()
    }

    /// The health command inside the node's pod, next to its daemon: its
    /// URI there is the loopback address and the pod's API port, its
    /// directories the data volume.
    async fn check_command_in_pod(
        &self,
        ctx: &HealthContext<'_>,
        pod: &dyn crate::kinds::PodExec,
        k: &spec::Kubernetes,
    ) -> Health {
        let port = k
            .ports
            .get(&self.spec.ports.api)
            .copied()
            .unwrap_or_default();
        let address = format!("127.0.0.1:{port}");
        let value = |n: &str| {
            Some(match n {
                "uri" => format!("{}://{address}", self.spec.ports.scheme),
                "api_address" => address.clone(),
                "node_id" => ctx.node.id().to_owned(),
                "node_dir" | "data_dir" => k.data_path.clone(),
                _ => return None,
            })
        };
        let argv = self.health_argv(value);
        match tokio::time::timeout(COMMAND_TIMEOUT, pod.exec(&argv)).await {
            Ok(Ok(())) => Health::Healthy,
            Ok(Err(why)) => Health::Unhealthy(why),
            Err(_) => Health::Unhealthy(format!(
                "{} did not finish within {COMMAND_TIMEOUT:?} in the node's pod",
                argv.first().map_or("", String::as_str)
            )),
        }
    }
}

/// At most [`EXCERPT_CHARS`] characters of an answer's body, on one line:
/// what an unhealthy daemon said, for the error that names it.
fn body_excerpt(body: &str) -> String {
    let line = body.split_whitespace().collect::<Vec<_>>().join(" ");
    match line.char_indices().nth(EXCERPT_CHARS) {
        Some((cut, _)) => format!("{}…", &line[..cut]),
        None => line,
    }
}

/// How much of an unhealthy answer's body an error quotes.
const EXCERPT_CHARS: usize = 200;

/// `host:port` of a URI.
fn api_address(uri: &str) -> &str {
    let rest = uri.split_once("://").map_or(uri, |(_, r)| r);
    rest.split('/').next().unwrap_or(rest)
}

#[async_trait]
impl NodeKind for FileKind {
    fn name(&self) -> &str {
        &self.spec.name
    }

    fn new_node(&self, index: usize) -> Result<NodeConfig> {
        let prefix = self.spec.id_prefix.as_deref().unwrap_or(&self.spec.name);
        let mut node = node_with_random_id(prefix, index);
        if let Some(role) = self.role_of(index) {
            node.flags = role.flags.clone();
        }
        Ok(node)
    }

    fn init_network(&self, dir: &Path, _nodes: &[Node]) -> Result<()> {
        // Its flags table may hold secrets, as the network's config does.
        files::atomic_write(&dir.join(KIND_FILE), self.text.as_bytes(), 0o600)
    }

    fn default_flags(&self, _: Placement) -> Flags {
        self.spec.flags.clone()
    }

    fn forced_flags(&self, launch: &LaunchContext<'_>) -> Result<Flags> {
        let mut forced: Flags = self
            .spec
            .forced_flags
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    template::expand(v, |n| self.node_value(launch, n)),
                )
            })
            .collect();
        if launch.placement == Placement::Pod {
            if let Some(k) = &self.spec.kubernetes {
                forced.extend(k.flags.iter().map(|(name, value)| {
                    (
                        name.clone(),
                        template::expand(value, |n| self.node_value(launch, n)),
                    )
                }));
            }
        }
        if let (Some(flag), Some(value)) = (&self.spec.peers.flag, self.peers_value(launch)) {
            forced.insert(flag.clone(), value);
        }
        Ok(forced)
    }

    fn is_fatal_log_line(&self, line: &str) -> bool {
        self.spec
            .logs
            .fatal
            .iter()
            .any(|f| line.contains(f.as_str()))
    }

    fn metrics_path(&self) -> Option<String> {
        self.spec.metrics.as_ref().map(|m| m.path.clone())
    }

    async fn check_health(&self, ctx: &HealthContext<'_>) -> Health {
        match self.spec.health.check {
            Check::Http => self.check_http(ctx).await,
            Check::Tcp => self.check_tcp(ctx).await,
            Check::Command => self.check_command(ctx).await,
        }
    }

    fn local(&self) -> Option<&dyn LocalDaemon> {
        Some(self)
    }

    fn log_time_format(&self) -> Option<&TimeFormat> {
        self.time_format.as_ref()
    }

    fn pod(&self) -> Option<&dyn PodDaemon> {
        self.spec
            .kubernetes
            .as_ref()
            .map(|_| self as &dyn PodDaemon)
    }
}

impl LocalDaemon for FileKind {
    fn binary_name(&self) -> &str {
        match (&self.spec.binary.name, &self.binary_path) {
            (Some(name), _) => name,
            (None, Some(path)) => path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default(),
            (None, None) => "",
        }
    }

    fn known_locations(&self) -> Vec<PathBuf> {
        self.binary_path.iter().cloned().collect()
    }

    fn install_hint(&self) -> &str {
        self.spec
            .binary
            .install_hint
            .as_deref()
            .unwrap_or("install it (binary.install_hint in the kind file can say how)")
    }

    fn port_discovery(&self) -> PortDiscovery {
        match self.spec.ports.discovery {
            Discovery::Allocate => PortDiscovery::PreAllocated(self.port_names()),
            Discovery::Log | Discovery::File => PortDiscovery::Reported,
        }
    }

    fn argv(&self, flags_file: &Path, flags: &Flags) -> Vec<OsString> {
        let node_dir = flags_file.parent().unwrap_or(Path::new("."));
        let value = |n: &str| {
            Some(match n {
                "node_dir" => node_dir.display().to_string(),
                "data_dir" => self.data_dir(node_dir).display().to_string(),
                "config_file" => self.config_file(node_dir).display().to_string(),
                _ => return None,
            })
        };
        self.args(flags, value)
            .into_iter()
            .map(OsString::from)
            .collect()
    }

    fn api_port_flag(&self) -> &str {
        self.spec.ports.api_flag.as_deref().unwrap_or_default()
    }

    fn endpoint(&self, node: &Node) -> Option<Endpoint> {
        if !self.allocated() {
            return None;
        }
        let api = node.config.ports.get(&self.spec.ports.api)?;
        let p2p = node.config.ports.get(self.p2p_name())?;
        Some(Endpoint::new(
            format!("{}://127.0.0.1:{api}", self.spec.ports.scheme),
            format!("127.0.0.1:{p2p}"),
        ))
    }

    fn reported_endpoint(&self, node: &Node, log_since_start: &str) -> Option<Endpoint> {
        let ports = &self.spec.ports;
        let text;
        let source = match (&ports.discovery, &ports.file) {
            (Discovery::File, Some(file)) => {
                text = std::fs::read_to_string(node.dir.join(file)).ok()?;
                text.as_str()
            }
            _ => log_since_start,
        };
        let find = |name: &str| {
            PortPattern::parse(ports.patterns.get(name)?)
                .ok()?
                .find_in(source)
        };
        let api = find(&ports.api)?;
        let p2p = find(self.p2p_name())?;
        Some(Endpoint::new(
            format!("{}://127.0.0.1:{api}", ports.scheme),
            format!("127.0.0.1:{p2p}"),
        ))
    }

    fn prepare(&self, node: &Node, flags: &Flags) -> Result<()> {
        // Every path here was checked to lie inside the node directory,
        // clear of the tool's own files, when the kind file was read.
        files::create_dir_all(&self.data_dir(&node.dir))?;
        if let (Discovery::File, Some(file)) = (&self.spec.ports.discovery, &self.spec.ports.file) {
            // A ports file of the previous run must not be read as this one's.
            let path = node.dir.join(file);
            make_parent(&path)?;
            files::remove_if_exists(&path)?;
        }
        if self.spec.launch.flags_via == FlagsVia::File {
            // Flags may hold secrets: the file is private.
            let text = self.config_text(flags)?;
            let path = self.config_file(&node.dir);
            make_parent(&path)?;
            files::atomic_write(&path, text.as_bytes(), 0o600)?;
        }
        Ok(())
    }

    fn stop_signal(&self) -> i32 {
        self.spec.launch.stop_signal.number()
    }

    fn is_port_conflict(&self, log_tail: &[String]) -> bool {
        log_tail.iter().any(|line| {
            let line = line.to_lowercase();
            self.port_conflicts
                .iter()
                .any(|c| line.contains(c.as_str()))
        })
    }
}

impl PodDaemon for FileKind {
    fn profile(&self) -> PodProfile {
        let Some(k) = &self.spec.kubernetes else {
            return PodProfile::new("", 0, 0);
        };
        let port = |name: &str| k.ports.get(name).copied().unwrap_or_default();
        let mut profile =
            PodProfile::new(&k.image, port(&self.spec.ports.api), port(self.p2p_name()))
                .with_data_path(&k.data_path)
                .with_scheme(&self.spec.ports.scheme);
        if let Some(path) = &k.probe_path {
            profile = profile.with_readiness_path(path);
        }
        profile
    }

    fn args(&self, flags: &Flags) -> Vec<String> {
        let data = self
            .spec
            .kubernetes
            .as_ref()
            .map(|k| k.data_path.clone())
            .unwrap_or_default();
        FileKind::args(self, flags, |n| match n {
            "node_dir" | "data_dir" => Some(data.clone()),
            _ => None,
        })
    }

    fn needs_exec(&self) -> bool {
        self.spec.health.check == Check::Command
    }

    fn needs_members(&self) -> bool {
        self.names_peers_by_place()
    }
}

/// What an image of a kind's daemon takes from its kind file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageFacts {
    /// The daemon's file name: `binary.name`, or `binary.path`'s.
    pub daemon: String,
    /// `binary.path`, resolved against the kind file's directory.
    pub binary_path: Option<PathBuf>,
    /// `kubernetes.image`, without `[kubernetes]` none.
    pub image: Option<String>,
    /// `kubernetes.data_path`, or `/data`.
    pub data_path: String,
}

/// Reads and checks the kind file at `path` (as written, asking this
/// machine for nothing) for what an image of its daemon needs.
pub fn image_facts(path: &Path) -> Result<ImageFacts> {
    let kind = FileKind::read(path)?;
    let daemon = kind.binary_name().to_owned();
    let k = kind.spec.kubernetes.as_ref();
    Ok(ImageFacts {
        daemon,
        binary_path: kind.binary_path.clone(),
        image: k.map(|k| k.image.clone()),
        data_path: k.map_or_else(|| "/data".to_owned(), |k| k.data_path.clone()),
    })
}

/// Reads the kind of a network directory that holds a [`KIND_FILE`].
pub fn load_from_network(dir: &Path) -> Result<Option<FileKind>> {
    let path = dir.join(KIND_FILE);
    if !path.is_file() {
        return Ok(None);
    }
    FileKind::read(&path).map(Some)
}

/// Why the health command's `program` cannot run here, if it cannot: a
/// path that is not an executable file, or a name not on `PATH`. A
/// program given by a placeholder or a relative path is left to the start.
fn program_problem(program: &str) -> Option<String> {
    if program.contains('{') {
        return None;
    }
    if program.starts_with('/') {
        return files::executable_problem(Path::new(program)).map(|p| format!("{program} {p}"));
    }
    if program.contains('/') {
        return None;
    }
    files::on_path(program)
        .is_none()
        .then(|| format!("{program:?} is not on PATH"))
}

/// Makes the directory `path` goes in.
fn make_parent(path: &Path) -> Result<()> {
    match path.parent() {
        Some(parent) => files::create_dir_all(parent),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::kinds::PodExec;

    /// A pod that records what it is asked to run and answers as told.
    #[derive(Debug)]
    struct FakePod {
        ran: Mutex<Vec<String>>,
        answer: std::result::Result<(), String>,
    }

    #[async_trait::async_trait]
    impl PodExec for FakePod {
        async fn exec(&self, argv: &[String]) -> std::result::Result<(), String> {
            *self.ran.lock().unwrap() = argv.to_vec();
            self.answer.clone()
        }
    }

    #[tokio::test]
    async fn a_health_command_runs_in_the_node_s_pod_with_the_pod_s_address() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.toml");
        std::fs::write(
            &path,
            "name = \"r\"\n[binary]\nname = \"redis-server\"\n[ports]\napi = \"redis\"\nscheme = \"redis\"\n\
             [health]\ncheck = \"command\"\ncommand = [\"redis-cli\", \"-u\", \"{uri}\", \"--dir={data_dir}\", \"ping\"]\n\
             [kubernetes]\nimage = \"me/r:1\"\nports = { redis = 6379 }\ndata_path = \"/var/lib/r\"\n",
        )
        .unwrap();
        // Its program need not be on this machine: the pod has it.
        let kind = FileKind::load_for_pods(&path).unwrap();
        assert!(kind.needs_exec());
        let node = Node {
            dir: dir.path().join("r-0"),
            config: NodeConfig::new("r-0".to_owned(), 0),
        };
        let endpoint = Endpoint::new("redis://127.0.0.1:41234", "10.244.0.7:6379");
        let http = reqwest::Client::new();
        for (answer, want) in [
            (Ok(()), Health::Healthy),
            (
                Err("redis-cli in pod p: exit code 1: Could not connect".to_owned()),
                Health::Unhealthy("redis-cli in pod p: exit code 1: Could not connect".into()),
            ),
        ] {
            let pod = FakePod {
                ran: Mutex::new(Vec::new()),
                answer,
            };
            let ctx = HealthContext {
                http: &http,
                network_dir: dir.path(),
                node: &node,
                endpoint: &endpoint,
                in_pod: Some(&pod),
            };
            assert_eq!(kind.check_health(&ctx).await, want);
            assert_eq!(
                *pod.ran.lock().unwrap(),
                [
                    "redis-cli",
                    "-u",
                    "redis://127.0.0.1:6379",
                    "--dir=/var/lib/r",
                    "ping"
                ]
            );
        }
    }

    #[tokio::test]
    async fn an_unhealthy_answer_is_quoted_in_the_reason() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf).await;
            let body = "{\"healthy\": false,\n \"reason\": \"not connected to peer a\"}";
            let answer = format!(
                "HTTP/1.1 503 Service Unavailable\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            s.write_all(answer.as_bytes()).await.unwrap();
        });
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.toml");
        std::fs::write(
            &path,
            "name = \"h\"\n[binary]\nname = \"sh\"\n[ports]\napi = \"http\"\n[health]\npath = \"/health\"\n",
        )
        .unwrap();
        let kind = FileKind::load(&path).unwrap();
        let node = Node {
            dir: dir.path().join("h-0"),
            config: NodeConfig::new("h-0".to_owned(), 0),
        };
        let uri = format!("http://127.0.0.1:{port}");
        let endpoint = Endpoint::new(&uri, "127.0.0.1:1");
        let http = reqwest::Client::new();
        let ctx = HealthContext {
            http: &http,
            network_dir: dir.path(),
            node: &node,
            endpoint: &endpoint,
            in_pod: None,
        };
        assert_eq!(
            kind.check_health(&ctx).await,
            Health::Unhealthy(format!(
                "{uri}/health answered HTTP 503, not 200: {{\"healthy\": false, \"reason\": \"not connected to peer a\"}}"
            ))
        );
    }

    #[test]
    fn a_long_body_is_cut_on_a_character() {
        let body = "é".repeat(EXCERPT_CHARS + 5);
        let cut = body_excerpt(&body);
        assert_eq!(cut.chars().count(), EXCERPT_CHARS + 1);
        assert!(cut.ends_with('…'));
        assert_eq!(body_excerpt("  a\n b  "), "a b");
    }
}
