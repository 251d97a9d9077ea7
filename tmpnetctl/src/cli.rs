//! Command-line syntax.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use tmpnet_fixture::cli::{KubeArgs, RuntimeArgs};

use crate::output::note;

/// Start, stop, restart and inspect temporary networks of real node processes.
#[derive(Debug, Parser)]
#[command(name = "tmpnetctl", version)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create and start a new network (or start a stopped one with --network-dir), wait until all nodes are healthy, and leave it running.
    StartNetwork(StartArgs),
    /// Stop every node of a network (SIGTERM, then SIGKILL after the grace period).
    StopNetwork(TargetArgs),
    /// Restart every node of a network (starting stopped ones) and wait until all are healthy.
    RestartNetwork(RestartArgs),
    /// Exit 0 only if every node is healthy; name the unhealthy ones.
    CheckHealth(TargetArgs),
    /// Show each node: id, pid, URI, health.
    Status(TargetArgs),
    /// List the networks under the root directory: kind, nodes, how many run, disk used.
    List(RootArgs),
    /// Remove stopped network directories: never a running, kept (latest, reuse-*) or recently changed one; the newest failed ones are kept.
    Prune(PruneArgs),
    /// Make a local network directory for a network running on Kubernetes, from its state ConfigMap, so the other commands can act on it.
    Attach(AttachArgs),
    /// Print every Kubernetes manifest a new network would create, without touching a cluster (needs --runtime kube).
    Render(RenderArgs),
    /// Print every node's log merged in time order, each line prefixed with its node (coloured on a terminal).
    Logs(LogsArgs),
    /// Start a local Prometheus that scrapes every running node under the root (a no-op when one runs).
    StartMetricsCollector(CollectorArgs),
    /// Stop the root's metrics collector.
    StopMetricsCollector(RootArgs),
    /// Exit 0 only if the metrics collector scrapes every node of a network (up == 1); name the ones it does not.
    CheckMetrics(CheckMetricsArgs),
    /// Runner Jobs: suites running inside the cluster (ENV_JOB_IMAGE): list, logs, wait, delete.
    #[command(subcommand)]
    Runner(RunnerCommand),
    /// The bootstrap monitor: a node that syncs a network on Kubernetes from scratch, again for every new image of its tag: render, deploy, status, remove.
    #[command(subcommand)]
    BootstrapMonitor(MonitorCommand),
    /// Images for Kubernetes from your own workspace: a suite's runner image, a kind file's node image.
    #[command(subcommand)]
    Image(ImageCommand),
}

/// Which image to build.
#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// Build the runner image of a suite (ENV_JOB_IMAGE): its test binaries built as `cargo test` builds them, stripped, the files it reads at their own paths, their libraries.
    Suite(SuiteImageArgs),
    /// Build a node image of a kind file's daemon: a binary built here or Debian packages, run as an unprivileged user.
    Node(NodeImageArgs),
}

/// The builder and where the image goes, for both images.
#[derive(Debug, Args)]
pub struct ImageOutArgs {
    /// The builder [default: docker when its daemon answers, else buildah]
    #[arg(long, value_name = "TOOL")]
    pub tool: Option<tmpnet_fixture::images::Tool>,
    /// Also load the image into: local-cluster, kind, kind=NAME, or oci=DIR (an OCI layout) (repeatable).
    #[arg(long = "load", value_name = "PLACE")]
    pub loads: Vec<tmpnet_fixture::images::Load>,
}

/// Arguments of `image suite`.
#[derive(Debug, Args)]
pub struct SuiteImageArgs {
    /// The workspace's or package's Cargo.toml [default: cargo's own search from here]
    #[arg(long, value_name = "PATH")]
    pub manifest_path: Option<PathBuf>,
    /// A package whose test binaries go in (repeatable) [default: cargo's default packages]
    #[arg(short, long = "package", value_name = "PKG")]
    pub packages: Vec<String>,
    /// Features to build with, as cargo test takes them (repeatable).
    #[arg(long, value_name = "FEATURES")]
    pub features: Vec<String>,
    /// Build with --locked.
    #[arg(long)]
    pub locked: bool,
    /// A file or directory the tests read, copied to the same absolute path in the image (repeatable).
    #[arg(long = "file", value_name = "PATH")]
    pub files: Vec<PathBuf>,
    /// The image's name.
    #[arg(long, value_name = "NAME", default_value = "tmpnet/runner:latest")]
    pub tag: String,
    #[command(flatten)]
    pub out: ImageOutArgs,
}

/// Arguments of `image node`.
#[derive(Debug, Args)]
pub struct NodeImageArgs {
    /// The kind file: the daemon's name, its data path, and the image's name ([kubernetes] image).
    #[arg(long, value_name = "FILE")]
    pub kind_file: PathBuf,
    /// The daemon's executable, built here [default: the kind's binary.path]
    #[arg(long, value_name = "PATH")]
    pub binary: Option<PathBuf>,
    /// A Debian package to install: the daemon's own, or what a binary needs (repeatable).
    #[arg(long = "deb", value_name = "PACKAGE")]
    pub debs: Vec<String>,
    /// The image's name [default: the kind file's kubernetes.image]
    #[arg(long, value_name = "NAME")]
    pub tag: Option<String>,
    #[command(flatten)]
    pub out: ImageOutArgs,
}

/// What to do with a bootstrap monitor.
#[derive(Debug, Subcommand)]
pub enum MonitorCommand {
    /// Print the monitor's manifests (ServiceAccount, Role, RoleBinding, ConfigMap, StatefulSet) as YAML, creating nothing (the network must run: the node joins its nodes).
    Render(MonitorDeployArgs),
    /// Create or update the monitor beside the network's nodes (deleted with the network).
    Deploy(MonitorDeployArgs),
    /// Show the monitor's pod, its current test and the past ones (--json: the records as JSON).
    Status(MonitorStatusArgs),
    /// Delete the monitor and everything it made (pods, claim, results), waiting until they are gone.
    Remove(MonitorName),
}

/// Arguments of `bootstrap-monitor render` and `deploy`.
#[derive(Debug, Args)]
pub struct MonitorDeployArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// The monitor's name (its StatefulSet, ServiceAccount, Role, ConfigMaps).
    #[arg(long, value_name = "NAME")]
    pub name: String,
    /// The monitor's image (init container and sidecar).
    #[arg(
        long,
        value_name = "IMAGE",
        default_value = "tmpnet/bootstrap-monitor:latest"
    )]
    pub monitor_image: String,
    /// The node's image: a moving tag (resolved to a digest at the first start) or a digest [default: the network's image]
    #[arg(long, value_name = "IMAGE")]
    pub node_image: Option<String>,
    /// What "synced" means: `health` (the kind's health check), or `<request>:<pointer>=<JSON or pointer>[,...]` on the kind's API, e.g. `getblockchaininfo:/initialblockdownload=false,/blocks=/headers`.
    #[arg(long, value_name = "CHECK", default_value = "health")]
    pub synced: String,
    /// Arguments to the node image's entrypoint that print its version and exit, space separated.
    #[arg(
        long,
        value_name = "ARGS",
        default_value = "--version",
        allow_hyphen_values = true
    )]
    pub version_args: String,
    /// The tag to follow [default: the node image's own tag]
    #[arg(long, value_name = "TAG")]
    pub tag: Option<String>,
    /// How the resolver pod pulls the tag: Always against a registry, IfNotPresent for images loaded into the cluster.
    #[arg(long, value_name = "POLICY", default_value = "Always")]
    pub pull_policy: String,
    /// Seconds between looks for a new digest of the tag, once synced.
    #[arg(long, value_name = "SECS", default_value_t = 300)]
    pub poll_secs: u64,
    /// The user every container of the pod runs as (the node image's).
    #[arg(long, value_name = "UID", default_value_t = 10001)]
    pub run_as: i64,
}

/// Arguments naming one monitor.
#[derive(Debug, Args)]
pub struct MonitorName {
    /// The monitor's name.
    #[arg(long, value_name = "NAME")]
    pub name: String,
    #[command(flatten)]
    pub kube: KubeArgs,
}

/// Arguments of `bootstrap-monitor status`.
#[derive(Debug, Args)]
pub struct MonitorStatusArgs {
    #[command(flatten)]
    pub monitor: MonitorName,
    /// Print the records as JSON (`current`, `history`, `lastError`, `pod`).
    #[arg(long)]
    pub json: bool,
}

/// What to do with runner Jobs.
#[derive(Debug, Subcommand)]
pub enum RunnerCommand {
    /// List the runner Jobs of the namespace, oldest first.
    List(RunnerKube),
    /// Print a runner's log; with --follow, until it ends (then exit with its exit code).
    Logs(RunnerLogs),
    /// Wait for a runner to end; the exit code is its tests' result.
    Wait(RunnerJob),
    /// Delete a runner Job (its pod, its Secret, and a network it owns).
    Delete(RunnerJob),
}

/// Arguments of `logs`.
#[derive(Debug, Args)]
pub struct LogsArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Keep printing lines as the nodes write them (also of nodes that restart or join), until interrupted.
    #[arg(long, short = 'f')]
    pub follow: bool,
    /// Only lines written this long ago or later (e.g. 5m, 30s).
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub since: Option<std::time::Duration>,
    /// Only this node (repeatable).
    #[arg(long = "node", value_name = "ID")]
    pub nodes: Vec<String>,
    /// Only the last N lines of each node.
    #[arg(long, value_name = "N")]
    pub tail: Option<usize>,
}

/// Arguments of `start-metrics-collector`.
#[derive(Debug, Args)]
pub struct CollectorArgs {
    #[command(flatten)]
    pub root: RootArgs,
    /// The Prometheus binary (default: `prometheus` on PATH).
    #[arg(long, env = "TMPNET_PROMETHEUS_PATH", value_name = "PATH")]
    pub prometheus_path: Option<PathBuf>,
}

/// Arguments of `check-metrics`.
#[derive(Debug, Args)]
pub struct CheckMetricsArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// How long to wait for every node to be scraped.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = humantime::parse_duration)]
    pub timeout: std::time::Duration,
}

/// Arguments of `runner list`.
#[derive(Debug, Args)]
pub struct RunnerKube {
    #[command(flatten)]
    pub kube: KubeArgs,
}

/// Arguments naming one runner Job.
#[derive(Debug, Args)]
pub struct RunnerJob {
    /// The Job's name (as `tmpnetctl runner list` prints it).
    pub job: String,
    #[command(flatten)]
    pub kube: KubeArgs,
}

/// Arguments of `runner logs`.
#[derive(Debug, Args)]
pub struct RunnerLogs {
    #[command(flatten)]
    pub job: RunnerJob,
    /// Keep printing as the runner writes, until it ends.
    #[arg(long, short = 'f')]
    pub follow: bool,
}

/// `prune` arguments.
#[derive(Debug, Args)]
pub struct PruneArgs {
    #[command(flatten)]
    pub root: RootArgs,
    /// Keep this many of the newest networks a failed test ran on.
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub keep_failed: usize,
    /// Only networks unchanged for this long (e.g. 90s, 2h, 7d).
    #[arg(long, value_name = "DURATION", default_value = "1m", value_parser = humantime::parse_duration)]
    pub older_than: std::time::Duration,
    /// Say what would be removed; remove nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// `attach` arguments.
#[derive(Debug, Args)]
pub struct AttachArgs {
    /// The network's name on the cluster (tmpnet-<first 8 of its uuid>, as printed at start).
    #[arg(long, value_name = "NAME")]
    pub network_name: String,
    #[command(flatten)]
    pub root: RootArgs,
    #[command(flatten)]
    pub kube: KubeArgs,
}

/// `render` arguments.
#[derive(Debug, Args)]
pub struct RenderArgs {
    /// Number of nodes (1 to 256).
    #[arg(
        long,
        env = "TMPNET_NODE_COUNT",
        value_name = "N",
        default_value_t = tmpnet_fixture::model::DEFAULT_NODE_COUNT
    )]
    pub node_count: usize,
    /// The node kind.
    #[arg(
        long,
        env = "TMPNET_NODE_KIND",
        value_name = "KIND",
        default_value = "refnode"
    )]
    pub node_kind: String,
    /// A kind file (TOML) describing the daemon, instead of --node-kind
    #[arg(long, env = "TMPNET_KIND_FILE", value_name = "FILE")]
    pub kind_file: Option<PathBuf>,
    /// A flag for every node, KEY=VALUE (repeatable).
    #[arg(long = "flag", value_name = "KEY=VALUE")]
    pub flags: Vec<String>,
    /// Free-text owner.
    #[arg(long, value_name = "NAME")]
    pub owner: Option<String>,
    #[command(flatten)]
    pub runtime: RuntimeArgs,
}

/// The root directory.
#[derive(Debug, Args)]
pub struct RootArgs {
    /// Root directory; networks live in <root>/networks [default: ~/.tmpnet]
    #[arg(long, env = "TMPNET_ROOT_DIR", value_name = "DIR")]
    pub root_dir: Option<PathBuf>,
}

/// Which existing network to act on.
#[derive(Debug, Args)]
pub struct TargetArgs {
    /// The network directory [default: $TMPNET_NETWORK_DIR, then <root>/networks/latest]
    #[arg(long, env = "TMPNET_NETWORK_DIR", value_name = "DIR")]
    pub network_dir: Option<PathBuf>,
    #[command(flatten)]
    pub root: RootArgs,
}

/// `restart-network` arguments.
#[derive(Debug, Args)]
pub struct RestartArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Seconds to wait for all nodes to be healthy (1 to 86400).
    #[arg(long, default_value_t = 120, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub start_timeout: u64,
}

/// `start-network` arguments.
#[derive(Debug, Args)]
pub struct StartArgs {
    /// Number of nodes (1 to 256) [default: 5]
    #[arg(long, env = "TMPNET_NODE_COUNT", value_name = "N")]
    pub node_count: Option<usize>,
    /// The node kind [default: refnode]
    #[arg(long, env = "TMPNET_NODE_KIND", value_name = "KIND")]
    pub node_kind: Option<String>,
    /// A kind file (TOML) describing the daemon; the network keeps a copy
    #[arg(long, env = "TMPNET_KIND_FILE", value_name = "FILE")]
    pub kind_file: Option<PathBuf>,
    /// The node binary [default: the kind's binary next to tmpnetctl, or on PATH]
    #[arg(long, env = "TMPNET_NODE_PATH", value_name = "PATH")]
    pub node_path: Option<PathBuf>,
    #[command(flatten)]
    pub root: RootArgs,
    /// Start this existing, stopped network instead of creating one.
    #[arg(long, value_name = "DIR")]
    pub network_dir: Option<PathBuf>,
    /// A flag for every node, KEY=VALUE (repeatable).
    #[arg(long = "flag", value_name = "KEY=VALUE")]
    pub flags: Vec<String>,
    /// Keep each node's API port across restarts.
    #[arg(long)]
    pub reuse_dynamic_ports: bool,
    /// Free-text owner recorded in config.json.
    #[arg(long, value_name = "NAME")]
    pub owner: Option<String>,
    /// Seconds to wait for all nodes to be healthy (1 to 86400).
    #[arg(long, default_value_t = 120, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub start_timeout: u64,
    #[command(flatten)]
    pub runtime: RuntimeArgs,
    /// The options for a new network given on the command line (not from
    /// the environment), as `--name`.
    #[arg(skip)]
    pub given: Vec<String>,
}

/// Parses the command line. For `start-network`, records which options
/// only a new network takes were given on the command line: an exported
/// `TMPNET_NODE_COUNT` is a default for new networks, not a request that
/// `--network-dir` must refuse.
pub fn parse() -> Result<Cli, clap::Error> {
    use clap::parser::ValueSource;
    use clap::{CommandFactory, FromArgMatches};
    // An empty variable is an unset one, not an empty value.
    tmpnet_fixture::cli::ignore_empty_env(&Cli::command());
    let matches = Cli::command().try_get_matches()?;
    let mut cli = Cli::from_arg_matches(&matches)?;
    if let (Command::StartNetwork(args), Some(sub)) = (
        &mut cli.command,
        matches.subcommand_matches("start-network"),
    ) {
        let new_only = [
            ("flags", "--flag"),
            ("node_path", "--node-path"),
            ("node_count", "--node-count"),
            ("node_kind", "--node-kind"),
            ("kind_file", "--kind-file"),
            ("owner", "--owner"),
            ("reuse_dynamic_ports", "--reuse-dynamic-ports"),
            ("runtime", "--runtime"),
            ("use_kubernetes", "--use-kubernetes"),
        ];
        args.given = new_only
            .iter()
            .filter(|(id, _)| sub.value_source(id) == Some(ValueSource::CommandLine))
            .map(|(_, flag)| (*flag).to_owned())
            .collect();
    }
    Ok(cli)
}

/// Prints a parse error as one line (help and version as clap renders them)
/// and returns the exit code: 0 for help and version, 1 otherwise.
pub fn usage_error(e: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            let _ = e.print();
            ExitCode::SUCCESS
        }
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand | ErrorKind::MissingSubcommand => {
            let _ = e.print();
            ExitCode::FAILURE
        }
        _ => {
            use clap::CommandFactory;
            let line = tmpnet_fixture::cli::one_line(&e, &Cli::command());
            note!("error: {line}; see `tmpnetctl --help`");
            ExitCode::FAILURE
        }
    }
}
