//! What each subcommand does.

mod image;
mod monitor;

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use tmpnet_fixture::cli::ending_signal;
use tmpnet_fixture::collector;
use tmpnet_fixture::model::flags::{self, Flags};
use tmpnet_fixture::model::{layout, KubeSettings, NodeState, RuntimeSettings};
use tmpnet_fixture::{Error, LogQuery, Network, NetworkSpec, Progress, PruneRule, Result};

use crate::cli::{Command, LogsArgs, PruneArgs, RenderArgs, RunnerCommand, StartArgs, TargetArgs};
use crate::output::{note, out};

/// Runs one subcommand.
pub async fn run(command: Command) -> Result<ExitCode> {
    match command {
        Command::StartNetwork(args) => start(args).await,
        Command::StopNetwork(target) => {
            let dir = target_dir(&target)?;
            let network = match Network::load(&dir) {
                Ok(network) => network,
                // Its records cannot be read: its processes can still be
                // found by the node directories they carry.
                Err(e @ Error::RecordsGone { .. }) => return stop_unreadable(&dir, e).await,
                Err(e @ Error::CorruptFile { .. }) if corrupt_record_of(&e, &dir) => {
                    return stop_unreadable(&dir, e).await;
                }
                Err(e) => return Err(e),
            };
            let (stopped, signalled) = to_the_end(network.stop()).await;
            stopped?;
            note!("stopped network {}", network.dir().display());
            Ok(signalled.map_or(ExitCode::SUCCESS, ExitCode::from))
        }
        Command::RestartNetwork(args) => {
            let network = load(&args.target)?;
            let timeout = Duration::from_secs(args.start_timeout);
            let since = collector::now_ms();
            interruptible(&network, network.restart_with_progress(timeout, &report)).await?;
            print_network(&network).await?;
            print_links(&network, since)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::CheckHealth(target) => check_health(&load(&target)?).await,
        Command::Status(target) => status(&load(&target)?).await,
        Command::List(root) => list(&layout::root_dir(root.root_dir.as_deref())?).await,
        Command::Prune(args) => prune(args).await,
        Command::Render(args) => render(args),
        Command::Runner(command) => runner(command).await,
        Command::BootstrapMonitor(command) => monitor::run(command).await,
        Command::Image(command) => image::run(command),
        Command::StartMetricsCollector(args) => {
            let root = layout::root_dir(args.root.root_dir.as_deref())?;
            match collector::start(&root, args.prometheus_path.as_deref()).await? {
                collector::Started::New(c) => note!("metrics collector started at {}", c.url),
                collector::Started::AlreadyRunning(c) => {
                    note!("metrics collector already running at {}", c.url)
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::StopMetricsCollector(root) => {
            let root = layout::root_dir(root.root_dir.as_deref())?;
            if collector::stop(&root).await? {
                note!("metrics collector stopped");
            } else {
                note!("no metrics collector runs under {}", root.display());
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Logs(args) => logs(args).await,
        Command::CheckMetrics(args) => check_metrics(&load(&args.target)?, args.timeout).await,
        Command::Attach(args) => {
            let root = layout::root_dir(args.root.root_dir.as_deref())?;
            let network = Network::attach(&args.kube.resolve(), &args.network_name, &root).await?;
            print_network(&network).await?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn runner(command: RunnerCommand) -> Result<ExitCode> {
    use tmpnet_fixture::runner::Runner;
    let exit = |code: i32| ExitCode::from(u8::try_from(code).unwrap_or(1));
    match command {
        RunnerCommand::List(args) => {
            let jobs = Runner::connect(&args.kube.resolve()).await?.list().await?;
            if jobs.is_empty() {
                note!("no runner Jobs in namespace {}", args.kube.kube_namespace);
            }
            for job in jobs {
                println!(
                    "{}  suite {}  network {}  {}",
                    job.name, job.suite, job.network, job.state
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        RunnerCommand::Logs(args) => {
            let runner = Runner::connect(&args.job.kube.resolve()).await?;
            let mut out = std::io::stdout();
            match runner.logs(&args.job.job, args.follow, &mut out).await? {
                Some(code) => Ok(exit(code)),
                None => Ok(ExitCode::SUCCESS),
            }
        }
        RunnerCommand::Wait(args) => {
            let code = Runner::connect(&args.kube.resolve())
                .await?
                .wait(&args.job)
                .await?;
            note!("runner Job {} ended with exit code {code}", args.job);
            Ok(exit(code))
        }
        RunnerCommand::Delete(args) => {
            Runner::connect(&args.kube.resolve())
                .await?
                .delete(&args.job)
                .await?;
            note!("deleted runner Job {}", args.job);
            Ok(ExitCode::SUCCESS)
        }
    }
}

pub(crate) fn load(target: &TargetArgs) -> Result<Network> {
    Network::load(&target_dir(target)?)
}

/// The network directory `target` names (or the newest network's).
fn target_dir(target: &TargetArgs) -> Result<std::path::PathBuf> {
    let root = layout::root_dir(target.root.root_dir.as_deref())?;
    layout::network_dir(target.network_dir.as_deref(), &root)
}

/// Whether `e` is a corrupt record of the network at `dir` (its own
/// config.json or a node's): only then is stopping it by its processes'
/// node directories the answer.
fn corrupt_record_of(e: &Error, dir: &Path) -> bool {
    let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_owned());
    matches!(e, Error::CorruptFile { path, .. } if path.starts_with(&dir))
}

/// Stops what runs of a network whose records cannot be read (`why`):
/// nothing found leaves `why` as the error; else it is said as a warning
/// and the stop succeeds.
async fn stop_unreadable(dir: &Path, why: Error) -> Result<ExitCode> {
    let (stopped, signalled) = to_the_end(Network::stop_unreadable(dir)).await;
    let pids = stopped?;
    if pids.is_empty() {
        return Err(why);
    }
    note!("warning: {why}");
    note!(
        "stopped {} process(es) of {}, found by the node directories they carry",
        pids.len(),
        dir.display()
    );
    Ok(signalled.map_or(ExitCode::SUCCESS, ExitCode::from))
}

fn report(progress: Progress) {
    match progress {
        Progress::Starting { nodes } => note!("starting {nodes} nodes"),
        Progress::Started { node, uri } => note!("node {node} started at {uri}"),
        Progress::Healthy { node } => note!("node {node} healthy"),
        Progress::Stopping => note!("start failed; stopping the nodes started so far"),
        Progress::Retrying { reason } => note!("{reason}; trying again"),
        other => note!("{other:?}"),
    }
}

/// Runs `op`; on Ctrl-C, SIGTERM or a closed terminal stops the network
/// instead (to the end) and fails with [`Error::Interrupted`], whose exit
/// code reports the signal.
async fn interruptible(
    network: &Network,
    op: impl std::future::Future<Output = Result<()>>,
) -> Result<()> {
    tokio::select! {
        result = op => result,
        exit_code = ending_signal() => {
            note!("interrupted; stopping network {}", network.dir().display());
            to_the_end(network.stop()).await.0?;
            Err(Error::Interrupted { exit_code })
        }
    }
}

/// Runs a stop to its end whatever signal comes (a stop cut short would
/// leave nodes running: the grace period, then SIGKILL, bound it); returns
/// its result and the exit code of a signal that came meanwhile.
async fn to_the_end<T>(
    op: impl std::future::Future<Output = Result<T>>,
) -> (Result<T>, Option<u8>) {
    tokio::pin!(op);
    let mut signalled = None;
    loop {
        tokio::select! {
            result = &mut op => return (result, signalled),
            exit_code = ending_signal(), if signalled.is_none() => {
                note!("interrupted; the stop runs to its end first (the grace period, then SIGKILL)");
                signalled = Some(exit_code);
            }
        }
    }
}

async fn start(args: StartArgs) -> Result<ExitCode> {
    let default_flags = args
        .flags
        .iter()
        .map(|f| flags::parse_flag(f))
        .collect::<Result<Flags>>()?;
    let timeout = Duration::from_secs(args.start_timeout);
    let network = match &args.network_dir {
        Some(dir) => {
            // Only what the command line says: exported defaults for new
            // networks do not apply to an existing one.
            if !args.given.is_empty() {
                return Err(Error::InvalidInput(format!(
                    "{} only apply to a new network (an existing one keeps its own); drop them, or omit --network-dir",
                    args.given.join(", ")
                )));
            }
            Network::load(dir)?
        }
        None => {
            let root = layout::root_dir(args.root.root_dir.as_deref())?;
            let mut spec = NetworkSpec::new(root, args.node_count.unwrap_or(5));
            if args.given.iter().any(|g| g == "--node-kind")
                && args.given.iter().any(|g| g == "--kind-file")
            {
                return Err(Error::InvalidInput(
                    "--node-kind and --kind-file both choose the kind; pass one".into(),
                ));
            }
            if let Some(kind) = &args.node_kind {
                spec.node_kind = kind.clone();
            }
            spec.kind_file = args.kind_file.clone();
            spec.node_path = args.node_path.clone();
            spec.default_flags = default_flags;
            spec.reuse_dynamic_ports = args.reuse_dynamic_ports;
            spec.owner = args.owner.clone().unwrap_or_default();
            spec.kube = kube_only(&args)?;
            // A cluster out of reach fails here: no directory, `latest`
            // unmoved.
            spec.check().await?;
            Network::create(&spec)?
        }
    };
    // Before anything runs: a start killed half way leaves `latest` at this
    // network, so plain `stop-network` stops the nodes it started.
    if let Some(root) = layout::root_of(network.dir()) {
        layout::update_latest(&root, network.dir())?;
    }
    // Said only once the start really begins (not for a running network).
    let report = |progress: Progress| match progress {
        Progress::Starting { nodes } => note!(
            "starting {nodes} {} nodes in {}",
            network.config().node_kind,
            network.dir().display()
        ),
        other => report(other),
    };
    let since = collector::now_ms();
    interruptible(&network, network.start_with_progress(timeout, &report)).await?;
    print_network(&network).await?;
    print_links(&network, since)?;
    Ok(ExitCode::SUCCESS)
}

/// Writes the network's `metrics.txt`; prints its links when a collector
/// runs (without one there is nothing to look at). The nodes run whatever
/// happens here: a file that cannot be written (a full disk) is a warning,
/// not a failed start.
fn print_links(network: &Network, since: u128) -> Result<()> {
    match collector::write_links(network, since) {
        Ok(links) => {
            if let Some(graph) = &links.collector {
                out!("metrics: {}", links.grafana);
                out!("collector: {graph}");
            }
        }
        Err(e) => note!("warning: the network runs, but its metrics links were not written: {e}"),
    }
    Ok(())
}

async fn logs(args: LogsArgs) -> Result<ExitCode> {
    let network = load(&args.target)?;
    let query = LogQuery {
        nodes: args.nodes.clone(),
        since: args.since,
        tail: args.tail,
    };
    let (lines, mut follower) = network.logs(&query).await?;
    let mut ids: Vec<String> = network.nodes().iter().map(|n| n.id().to_owned()).collect();
    ids.extend(network.ephemeral_nodes()?.iter().map(|n| n.id().to_owned()));
    let style = crate::output::LogStyle::for_stdout(&ids);
    for line in &lines {
        style.print(line)?;
    }
    if !args.follow {
        return Ok(ExitCode::SUCCESS);
    }
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => return Ok(ExitCode::SUCCESS),
            () = tokio::time::sleep(Duration::from_millis(200)) => {}
        }
        for line in follower.poll().await? {
            style.print(&line)?;
        }
        if crate::output::reader_gone() {
            return Ok(ExitCode::SUCCESS);
        }
    }
}

async fn check_metrics(network: &Network, timeout: Duration) -> Result<ExitCode> {
    let root = layout::root_for(network.dir())?;
    let Some(running) = collector::running(&root)? else {
        return Err(Error::Collector(format!(
            "no metrics collector runs under {}; start one with `tmpnetctl start-metrics-collector`",
            root.display()
        )));
    };
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let missing: Vec<String> = match collector::scraped(&running, network).await? {
            collector::Scraped::NoMetrics { kind } => {
                note!("node kind {kind} exports no metrics over HTTP: nothing to scrape");
                return Ok(ExitCode::SUCCESS);
            }
            collector::Scraped::Nodes(nodes) => nodes
                .into_iter()
                .filter_map(|(id, why)| why.map(|w| format!("{id} ({w})")))
                .collect(),
        };
        if missing.is_empty() {
            out!("every node of {} is scraped", network.dir().display());
            return Ok(ExitCode::SUCCESS);
        }
        if tokio::time::Instant::now() >= deadline {
            note!(
                "error: {} node(s) not scraped after {timeout:?}: {}; see {}/targets",
                missing.len(),
                missing.join("; "),
                running.url
            );
            return Ok(ExitCode::FAILURE);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The Kubernetes settings of a new network, refusing process-only flags.
fn kube_only(args: &StartArgs) -> Result<Option<KubeSettings>> {
    let kube = args.runtime.kube_settings();
    if kube.is_some() && (args.node_path.is_some() || args.reuse_dynamic_ports) {
        return Err(Error::InvalidInput(
            "--node-path and --reuse-dynamic-ports apply to local processes; on Kubernetes choose the image with --kube-image".into(),
        ));
    }
    Ok(kube)
}

fn render(args: RenderArgs) -> Result<ExitCode> {
    let default_flags = args
        .flags
        .iter()
        .map(|f| flags::parse_flag(f))
        .collect::<Result<Flags>>()?;
    let mut spec = NetworkSpec::new(std::env::temp_dir(), args.node_count)
        .with_kind(args.node_kind.clone())
        .with_owner(args.owner.clone().unwrap_or_default());
    spec.kind_file = args.kind_file.clone();
    spec.default_flags = default_flags;
    spec.kube = args.runtime.kube_settings();
    crate::output::write(format_args!("{}", Network::render(&spec)?))?;
    Ok(ExitCode::SUCCESS)
}

async fn print_network(network: &Network) -> Result<()> {
    out!("network dir: {}", network.dir().display());
    if let (RuntimeSettings::Kube(kube), Some(name)) =
        (&network.config().runtime, network.cluster_name())
    {
        out!(
            "on Kubernetes: network {name} in namespace {} (attach from elsewhere with `tmpnetctl attach --network-name {name} --kube-namespace {}`)",
            kube.namespace, kube.namespace
        );
    }
    for s in network.status().await? {
        out!("{}  {}", s.id, s.uri().unwrap_or("-"));
    }
    out!("{}", layout::export_line(network.dir()));
    Ok(())
}

async fn check_health(network: &Network) -> Result<ExitCode> {
    let unhealthy: Vec<String> = network
        .check_health()
        .await?
        .into_iter()
        .filter(|s| !s.is_healthy())
        .map(|s| format!("{} ({})", s.id, s.health))
        .collect();
    if unhealthy.is_empty() {
        out!("all {} nodes healthy", network.nodes().len());
        Ok(ExitCode::SUCCESS)
    } else {
        note!(
            "error: {} of {} nodes unhealthy: {}; see `tmpnetctl status` and each node's logs/main.log in {}",
            unhealthy.len(),
            network.nodes().len(),
            unhealthy.join("; "),
            network.dir().display()
        );
        Ok(ExitCode::FAILURE)
    }
}

async fn status(network: &Network) -> Result<ExitCode> {
    out!("network {}", network.dir().display());
    out!("{:<18} {:>8}  {:<24} HEALTH", "NODE", "PID", "URI");
    for s in network.status().await? {
        // Pods have no local pid.
        let pid = match &s.state {
            NodeState::Running { pid: Some(pid), .. } | NodeState::Stale { pid } => pid.to_string(),
            _ => "-".to_owned(),
        };
        out!(
            "{:<18} {:>8}  {:<24} {}",
            s.id,
            pid,
            s.uri().unwrap_or("-"),
            s.health
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Bytes for people: `512 B`, `3.4 KiB`, `12.0 MiB`, `1.2 GiB`.
fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

async fn prune(args: PruneArgs) -> Result<ExitCode> {
    let root = layout::root_dir(args.root.root_dir.as_deref())?;
    let mut rule = PruneRule::default();
    rule.keep_failed = args.keep_failed;
    rule.min_age = args.older_than;
    let report = tmpnet_fixture::prune(&root, &rule, args.dry_run).await?;
    let verb = if args.dry_run {
        "would remove"
    } else {
        "removed"
    };
    let mut total = 0;
    for (dir, bytes) in &report.removed {
        total += bytes;
        out!("{verb} {} ({})", dir.display(), human_bytes(*bytes));
    }
    for (dir, why) in &report.kept {
        note!("kept {}: {why}", dir.display());
    }
    out!(
        "{verb} {} network(s), {}; kept {}",
        report.removed.len(),
        human_bytes(total),
        report.kept.len()
    );
    Ok(ExitCode::SUCCESS)
}

async fn list(root: &Path) -> Result<ExitCode> {
    let latest = std::fs::canonicalize(layout::networks_dir(root).join(layout::LATEST_LINK)).ok();
    let dirs = layout::list_network_dirs(root)?;
    if dirs.is_empty() {
        out!("no networks under {}", layout::networks_dir(root).display());
        return Ok(ExitCode::SUCCESS);
    }
    out!(
        "{:<30} {:<16} {:<6} {:<8} DISK",
        "NETWORK",
        "KIND",
        "NODES",
        "RUNNING"
    );
    for dir in dirs {
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mark = if latest.as_deref() == Some(dir.as_path()) {
            " (latest)"
        } else {
            ""
        };
        let disk = human_bytes(tmpnet_fixture::disk_usage(&dir));
        match Network::load(&dir) {
            Ok(network) => match network.running_nodes().await {
                Ok(running) => out!(
                    "{:<30} {:<16} {:<6} {:<8} {disk}{mark}",
                    name,
                    network.config().node_kind,
                    network.nodes().len(),
                    format!("{}/{}", running.len(), network.nodes().len()),
                ),
                Err(e) => out!("{name:<30} unreadable: {e}"),
            },
            Err(e) => out!("{name:<30} unreadable: {e}"),
        }
    }
    Ok(ExitCode::SUCCESS)
}
