//! `tmpnet-bootstrap-monitor`: the bootstrap monitor in the node's pod.
//! `init` runs before the node (resolve the tag, resume or start a test);
//! `wait-for-completion` runs beside it (record the sync, follow the tag).
//!
//! A thin shell over `tmpnet_fixture::bootstrap_monitor`: parse, call the
//! library. Every failure is one line on stderr and exit code 1.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use tmpnet_fixture::bootstrap_monitor::cluster::{Cluster, ResolveSettings};
use tmpnet_fixture::bootstrap_monitor::probe::NodeProbe;
use tmpnet_fixture::bootstrap_monitor::run::{InitOutcome, Monitor, Settings};
use tmpnet_fixture::bootstrap_monitor::synced::SyncedCheck;
use tmpnet_fixture::model::KubeSettings;

/// The bootstrap monitor's jobs in the node's pod.
#[derive(Debug, Parser)]
#[command(name = "tmpnet-bootstrap-monitor", version)]
struct Cli {
    #[command(subcommand)]
    job: Job,
}

#[derive(Debug, Subcommand)]
enum Job {
    /// Before the node starts: resolve a moving tag (and replace the pod), or resume the test on the volume, or start a new one on wiped node data.
    Init(Common),
    /// Beside the node: record its restarts and its sync, then pin the StatefulSet to each new digest of the tag.
    WaitForCompletion(Wait),
}

#[derive(Debug, Args)]
struct Common {
    /// This pod's name.
    #[arg(long, env = "POD_NAME")]
    pod: String,
    /// This pod's namespace.
    #[arg(long, env = "POD_NAMESPACE")]
    namespace: String,
    /// The node container's name.
    #[arg(long, default_value = "node")]
    container: String,
    /// Where the data volume is mounted here.
    #[arg(long, default_value = "/volume")]
    volume: PathBuf,
    /// The node's data directory, relative to the volume.
    #[arg(long, default_value = "node")]
    node_data: PathBuf,
    /// The tag to follow (default: the node image's own tag, else latest).
    #[arg(long)]
    tag: Option<String>,
    /// The resolver pod's pull policy (IfNotPresent where images are loaded into the cluster).
    #[arg(long, default_value = "Always")]
    pull_policy: String,
    /// Arguments to the node image's entrypoint that print its version and exit, space separated.
    #[arg(long, default_value = "--version", allow_hyphen_values = true)]
    version_args: String,
    /// The user the resolver pod runs as.
    #[arg(long, default_value_t = 10001)]
    run_as: i64,
    /// How long a resolver pod may take, in seconds.
    #[arg(long, default_value_t = 300)]
    resolve_timeout_secs: u64,
}

#[derive(Debug, Args)]
struct Wait {
    #[command(flatten)]
    common: Common,
    /// What "synced" means: `health`, or `<request>:<pointer>=<JSON or pointer>[,...]`.
    #[arg(long, default_value = "health")]
    synced: String,
    /// Seconds between looks for a new digest of the tag, once synced.
    #[arg(long, default_value_t = 300)]
    poll_secs: u64,
    /// Seconds between checks of the node while it syncs.
    #[arg(long, default_value_t = 5)]
    check_secs: u64,
    /// The network's state ConfigMap, mounted.
    #[arg(long)]
    network_state: PathBuf,
    /// The network's Secret, mounted (absent when the kind has none).
    #[arg(long)]
    network_secret: Option<PathBuf>,
    /// The monitor's ConfigMap with the node's config.json and flags.json, mounted.
    #[arg(long)]
    node_files: PathBuf,
}

fn settings(c: &Common, poll: u64, check: u64) -> Settings {
    let mut s = Settings::new(&c.pod, &c.container, &c.volume, &c.node_data);
    s.tag = c.tag.clone();
    s.resolve = ResolveSettings::new(
        c.version_args
            .split_whitespace()
            .map(str::to_owned)
            .collect(),
        &c.pull_policy,
        c.run_as,
        Duration::from_secs(c.resolve_timeout_secs),
    );
    s.poll = Duration::from_secs(poll);
    s.check_every = Duration::from_secs(check);
    s
}

async fn run(job: Job) -> tmpnet_fixture::Result<ExitCode> {
    let common = match &job {
        Job::Init(c) => c,
        Job::WaitForCompletion(w) => &w.common,
    };
    // In the pod: the service account's token, mounted for the monitor.
    let cluster = Cluster::connect(&KubeSettings::new(&common.namespace, "")).await?;
    match job {
        Job::Init(c) => {
            let monitor = Monitor::new(cluster, settings(&c, 0, 0));
            match monitor.init().await? {
                InitOutcome::Replaced { image } => {
                    // The node must not start in this pod: wait for its
                    // deletion, which stops this container.
                    tracing::info!(%image, "waiting for this pod to be replaced");
                    tokio::select! {
                        () = terminated() => Ok(ExitCode::SUCCESS),
                        () = tokio::time::sleep(Duration::from_secs(600)) => {
                            eprintln!("error: this pod was deleted to start on {image} but is still here after 600s; check the StatefulSet's events (kubectl describe statefulset)");
                            Ok(ExitCode::FAILURE)
                        }
                    }
                }
                _ => Ok(ExitCode::SUCCESS),
            }
        }
        Job::WaitForCompletion(w) => {
            let check: SyncedCheck = w.synced.parse()?;
            let probe = NodeProbe::from_mounts(
                &w.network_state,
                w.network_secret.as_deref(),
                &w.node_files,
                check,
            )?;
            let monitor = Monitor::new(cluster, settings(&w.common, w.poll_secs, w.check_secs));
            monitor.wait_for_completion(&probe, terminated()).await?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Completes on SIGTERM or SIGINT (the kubelet stopping the pod).
async fn terminated() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tmpnet_fixture::cli::init_tracing("info");
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.job)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
