//! The library's error type.
//!
//! Every variant renders as one line that names the problem and, where the
//! user can act, the fix. The CLI prints that line as is.

use std::path::PathBuf;

mod text;

pub(crate) use text::shell_word;
use text::{clip, describe_unhealthy, distinct, feature_hint, format_tail, io_fix, signal_name};
#[cfg(feature = "kube")]
pub(crate) use text::{kube_answer_unparsed, kube_reason};

/// Errors returned by `tmpnet-fixture`.
///
/// Variants keep their sources ([`std::error::Error::source`]); a failed
/// Kubernetes call keeps kube's error, so [`Error::kube_status`] tells a 403
/// from a 409.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file or directory could not be read, written or created.
    #[error("{action} {}: {source}{}", path.display(), io_fix(source))]
    Io {
        /// What was being done, e.g. "cannot write".
        action: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// A JSON file is corrupt, half-written or of the wrong shape.
    #[error("{} is not valid ({source}); fix or delete the file, or recreate the network", path.display())]
    CorruptFile {
        /// The file that failed to parse.
        path: PathBuf,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },

    /// A file was written by a newer (or unknown) version of the tool.
    #[error("{} has schema version {found}, this tool reads version {supported}; use a matching tmpnet version", path.display())]
    SchemaVersion {
        /// The file.
        path: PathBuf,
        /// The version found in the file.
        found: u32,
        /// The version this build reads.
        supported: u32,
    },

    /// A node's directory was given where a network's is expected.
    #[error("{} is a node directory, not a network directory; pass its network, --network-dir {}", path.display(), shell_word(network))]
    NodeDirGiven {
        /// The node directory given.
        path: PathBuf,
        /// The network it belongs to.
        network: PathBuf,
    },

    /// The given directory is not a network directory.
    #[error("{} is not a network directory ({reason}); pass the directory printed by start-network, or run `tmpnetctl list`", path.display())]
    NotANetwork {
        /// The directory that was given.
        path: PathBuf,
        /// Why it is not a network.
        reason: String,
    },

    /// A network directory whose `config.json` is gone while its node
    /// directories remain (a start cut off, or the file deleted).
    #[error("{} has node directories but no config.json (a start cut off, or the file deleted); `tmpnetctl stop-network --network-dir {}` stops whatever of it runs, and `tmpnetctl prune` removes it once nothing does", path.display(), shell_word(path))]
    RecordsGone {
        /// The network directory.
        path: PathBuf,
    },

    /// No network was named and none could be found.
    #[error("no network given and {} does not exist; pass --network-dir, set TMPNET_NETWORK_DIR, or start one with `tmpnetctl start-network`", latest.display())]
    NoNetwork {
        /// The `latest` link that was looked for.
        latest: PathBuf,
    },

    /// The node kind name is not known.
    #[error("unknown node kind {name:?}; use one of: {}, register your own with tmpnet_fixture::register_kind! in a crate this program links, or describe it in a kind file (--kind-file)", known.join(", "))]
    UnknownNodeKind {
        /// The name that was given.
        name: String,
        /// The kinds this program knows.
        known: Vec<String>,
    },

    /// A network's kind is not one this program has.
    #[error("network {} runs node kind {name:?}, which this program does not have (it has {}); use a program that registers the kind (the test binary of the crate that defines it, or your own tool linking it)", dir.display(), known.join(", "))]
    KindNotInProgram {
        /// The network directory.
        dir: PathBuf,
        /// The kind the network records.
        name: String,
        /// The kinds this program has.
        known: Vec<String>,
    },

    /// Nodes the network records have lost their directories.
    #[error("network {} records node(s) {} whose directories are gone; `tmpnetctl stop-network` stops whatever of them still runs (found by their mark), then remove the network directory", dir.display(), missing.join(", "))]
    NodesMissing {
        /// The network directory.
        dir: PathBuf,
        /// The missing nodes.
        missing: Vec<String>,
    },

    /// A kind file is wrong: names the file, the field and the fix.
    /// The field and the problem are cut to a readable length when shown:
    /// they may quote the file, and the error is one line.
    #[error("kind file {}: {}: {}; {fix}", path.display(), clip(field), clip(problem))]
    KindFile {
        /// The kind file.
        path: PathBuf,
        /// The field at fault (`ports.api`), or the line for a syntax error.
        field: String,
        /// What is wrong.
        problem: String,
        /// How to fix it.
        fix: String,
    },

    /// The node binary is missing or cannot be executed.
    #[error("node binary {}: {problem}; pass --node-path with the path of an executable {kind} binary", path.display())]
    NodeBinary {
        /// The path tried.
        path: PathBuf,
        /// What is wrong with it.
        problem: String,
        /// The node kind.
        kind: String,
    },

    /// The binary an existing network records cannot be run.
    #[error("the node binary of network {} ({}) {problem}; rebuild or reinstall it there, or set runtime.process.nodePath in {}", dir.display(), path.display(), dir.join("config.json").display())]
    NetworkBinary {
        /// The network directory.
        dir: PathBuf,
        /// The recorded binary.
        path: PathBuf,
        /// What is wrong with it.
        problem: String,
    },

    /// The node binary was not given and could not be found.
    #[error("cannot find the {kind} binary {binary:?} next to this program, in its usual places or on PATH; {hint}, or pass --node-path")]
    NodeBinaryNotFound {
        /// The node kind.
        kind: String,
        /// The binary name searched for.
        binary: String,
        /// How to get it.
        hint: String,
    },

    /// Nodes kept failing because their ports were taken.
    #[error("ports kept being taken by other programs ({attempts} attempts): {last}")]
    PortsTaken {
        /// How many starts were tried.
        attempts: usize,
        /// The last failure.
        last: Box<Error>,
    },

    /// A setting given by the user is outside its allowed range or badly
    /// formed; the text names the setting and the fix.
    #[error("{0}")]
    InvalidInput(String),

    /// A node id that the network does not have.
    #[error("network {} has no node {node:?}; its nodes are {} (`tmpnetctl status` lists them)", network.display(), known.join(", "))]
    UnknownNode {
        /// The network directory.
        network: PathBuf,
        /// The id asked for.
        node: String,
        /// The ids it has.
        known: Vec<String>,
    },

    /// This machine or process lacks what the operation needs (a program,
    /// an environment variable, a file the tool expects); the text names
    /// it and the fix.
    #[error("{0}")]
    Environment(String),

    /// The metrics collector (Prometheus) could not be started or asked;
    /// the text says why and what to do.
    #[error("{0}")]
    Collector(String),

    /// Making a key, a certificate or a signature failed.
    #[error("cannot {what}: {reason}")]
    Crypto {
        /// What was being made.
        what: String,
        /// Why it failed.
        reason: String,
    },

    /// The node kind lacks the capability the network needs (e.g. a kind
    /// that cannot run in a pod, on Kubernetes).
    #[error("node kind {kind:?} cannot {what}; {fix}")]
    KindCannot {
        /// The node kind.
        kind: String,
        /// What it cannot do.
        what: String,
        /// What to do instead.
        fix: &'static str,
    },

    /// A condition did not hold within its time limit.
    #[error("{what} did not happen within {timeout:?}{}", last.as_ref().map(|l| format!(" (last: {l})")).unwrap_or_default())]
    Timeout {
        /// What was waited for.
        what: String,
        /// How long.
        timeout: std::time::Duration,
        /// The last observation or error, if any.
        last: Option<String>,
    },

    /// A task of the library panicked or was cancelled (a bug, or the
    /// async runtime shutting down).
    #[error("a {what} task failed: {source}")]
    Task {
        /// What the task did.
        what: &'static str,
        /// The join error.
        #[source]
        source: tokio::task::JoinError,
    },

    /// The HTTP client could not be built (TLS or resolver setup).
    #[error("cannot build an HTTP client: {0}")]
    HttpClient(#[source] reqwest::Error),

    /// A manifest or document could not be serialised.
    #[error("cannot serialise {what}: {source}")]
    Serialize {
        /// What was being serialised.
        what: &'static str,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },

    /// The network (or a node of it) is already running.
    #[error("network {} is already running (nodes: {}); stop it with `tmpnetctl stop-network --network-dir {}` or use restart-network", dir.display(), nodes.join(", "), shell_word(dir))]
    AlreadyRunning {
        /// The network directory.
        dir: PathBuf,
        /// The running nodes.
        nodes: Vec<String>,
    },

    /// No node of the network is running.
    #[error("no node of {} is running; start it with `tmpnetctl start-network --network-dir {}`", dir.display(), shell_word(dir))]
    NoRunningNode {
        /// The network directory.
        dir: PathBuf,
    },

    /// A node failed to start.
    #[error("node {node} failed to start: {reason}{}", format_tail(log_tail))]
    StartFailed {
        /// The node id.
        node: String,
        /// Why.
        reason: String,
        /// The last lines of its log.
        log_tail: Vec<String>,
    },

    /// A node that should run is not running.
    #[error("node {node} is not running ({detail}){}", format_tail(log_tail))]
    NotRunning {
        /// The node id.
        node: String,
        /// What was found instead.
        detail: String,
        /// The last lines of its log.
        log_tail: Vec<String>,
    },

    /// A running node reported a failure it will not recover from.
    #[error("node {node} failed: {detail}{}", format_tail(log_tail))]
    Failed {
        /// The node id.
        node: String,
        /// What it reported.
        detail: String,
        /// The last lines of its log.
        log_tail: Vec<String>,
    },

    /// Nodes did not become healthy in time.
    #[error("{} of {total} nodes not healthy after {timeout:?}: {}", unhealthy.len(), describe_unhealthy(unhealthy))]
    NotHealthy {
        /// Number of nodes waited for.
        total: usize,
        /// The timeout that expired.
        timeout: std::time::Duration,
        /// Each unhealthy node with its reason and log tail.
        unhealthy: Vec<UnhealthyNode>,
    },

    /// A node could not be stopped.
    #[error("node {node} (pid {pid}) did not stop: {reason}")]
    StopFailed {
        /// The node id.
        node: String,
        /// Its pid.
        pid: u32,
        /// Why.
        reason: String,
    },

    /// A signal could not be delivered.
    #[error("cannot signal pid {pid}: {source}")]
    Signal {
        /// The pid.
        pid: u32,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },

    /// A node's RPC call failed (e.g. a bitcoind JSON-RPC method).
    #[error("RPC {method} at {url} failed: {message}")]
    Rpc {
        /// The node's RPC URL.
        url: String,
        /// The method called.
        method: String,
        /// The error the node returned, or why there was no answer.
        message: String,
    },

    /// A Kubernetes API call failed. The source is kube's error; match on
    /// the HTTP status with [`Error::kube_status`].
    #[cfg(feature = "kube")]
    #[error("Kubernetes: cannot {action}: {}", kube_reason(source))]
    KubeApi {
        /// What was being done.
        action: String,
        /// The API error.
        #[source]
        source: Box<kube::Error>,
    },

    /// What was asked needs a Cargo feature of this library that the
    /// program was built without (e.g. Kubernetes mode without `kube`).
    #[error("{needed_for} needs tmpnet-fixture's `{feature}` feature, which this program was built without; enable it in Cargo.toml (features = [\"{feature}\"]){}", feature_hint(feature))]
    FeatureDisabled {
        /// The feature.
        feature: &'static str,
        /// What needed it.
        needed_for: String,
    },

    /// Kubernetes could not be used: no configuration, or the cluster lacks
    /// what was asked for (e.g. no network of that name).
    #[error("Kubernetes: cannot {action}: {reason}")]
    Kube {
        /// What was being done.
        action: String,
        /// Why it failed, and what to do.
        reason: String,
    },

    /// The remote runner (the test binary run in the cluster as a Job) did
    /// not start, or was killed before its tests ended.
    #[error("runner Job {job} (pod {pod}): {reason}")]
    Runner {
        /// The Job's name.
        job: String,
        /// Its pod's name (`none` when it made none).
        pod: String,
        /// What its status says, and what to do.
        reason: String,
    },

    /// The operation was interrupted (Ctrl-C, SIGTERM or a closed
    /// terminal); what it started was stopped.
    #[error("interrupted by {}; the network's nodes were stopped", signal_name(*exit_code))]
    Interrupted {
        /// The exit code that reports the signal (128 + its number).
        exit_code: u8,
    },

    /// Several errors happened at once (e.g. while stopping many nodes);
    /// shown once each (five nodes failing alike say it once).
    #[error("{}", distinct(.0).join("; "))]
    Multiple(Vec<Error>),
}

/// A node that was not healthy when a wait ended.
#[derive(Debug, Clone)]
pub struct UnhealthyNode {
    /// The node id.
    pub node: String,
    /// The last health verdict.
    pub reason: String,
    /// The last lines of its log.
    pub log_tail: Vec<String>,
}

impl Error {
    /// Builds an [`Error::Io`].
    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            action,
            path: path.into(),
            source,
        }
    }

    /// The HTTP status of a failed Kubernetes API call (403, 404, 409, ...),
    /// if this is one.
    pub fn kube_status(&self) -> Option<u16> {
        match self {
            #[cfg(feature = "kube")]
            Error::KubeApi { source, .. } => match source.as_ref() {
                kube::Error::Api(status) => Some(status.code),
                _ => None,
            },
            _ => None,
        }
    }

    /// The error for `needed_for`, which needs the Cargo feature `feature`.
    pub(crate) fn feature_disabled(feature: &'static str, needed_for: impl Into<String>) -> Self {
        Error::FeatureDisabled {
            feature,
            needed_for: needed_for.into(),
        }
    }

    /// Joins several errors into one, or returns `Ok` when there are none.
    pub fn join(mut errors: Vec<Error>) -> Result<()> {
        match errors.len() {
            0 => Ok(()),
            1 => Err(errors.remove(0)),
            _ => Err(Error::Multiple(errors)),
        }
    }
}

/// The library's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests;
