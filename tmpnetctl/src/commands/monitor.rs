//! `tmpnetctl bootstrap-monitor`: render, deploy, read and remove a
//! bootstrap monitor, over `tmpnet_fixture::bootstrap_monitor`.

use std::process::ExitCode;
use std::time::Duration;

use tmpnet_fixture::bootstrap_monitor::cluster::Cluster;
use tmpnet_fixture::bootstrap_monitor::deploy;
use tmpnet_fixture::bootstrap_monitor::manifests::MonitorSpec;
use tmpnet_fixture::Result;

use super::load;
use crate::cli::{MonitorCommand, MonitorDeployArgs};
use crate::output::{note, out};

/// How long `remove` waits for the monitor's pods and claim to go.
const REMOVE_TIMEOUT: Duration = Duration::from_secs(180);

fn spec(args: &MonitorDeployArgs) -> Result<MonitorSpec> {
    let mut spec = MonitorSpec::new(&args.name, &args.monitor_image);
    spec.node_image = args.node_image.clone();
    spec.synced = args.synced.parse()?;
    spec.version_args = args
        .version_args
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    spec.tag = args.tag.clone();
    spec.pull_policy = args.pull_policy.clone();
    spec.poll_secs = args.poll_secs;
    spec.run_as = args.run_as;
    spec.check()?;
    Ok(spec)
}

/// Runs one `bootstrap-monitor` command.
pub async fn run(command: MonitorCommand) -> Result<ExitCode> {
    match command {
        MonitorCommand::Render(args) => {
            let spec = spec(&args)?;
            let network = load(&args.target)?;
            let objects = deploy::render(&network, &spec, None).await?;
            crate::output::write(format_args!("{}", deploy::to_yaml(&objects)?))?;
        }
        MonitorCommand::Deploy(args) => {
            let spec = spec(&args)?;
            let network = load(&args.target)?;
            let settings = deploy::kube_settings(&network)?;
            let cluster = Cluster::connect(settings).await?;
            deploy::deploy(&cluster, &network, &spec).await?;
            note!(
                "deployed bootstrap monitor {} in namespace {}; follow it with `tmpnetctl bootstrap-monitor status --name {} --kube-namespace {}`",
                spec.name,
                settings.namespace,
                spec.name,
                settings.namespace
            );
        }
        MonitorCommand::Status(args) => {
            let cluster = Cluster::connect(&args.monitor.kube.resolve()).await?;
            let status = deploy::status(&cluster, &args.monitor.name).await?;
            if args.json {
                out!("{}", deploy::status_json(&status));
            } else {
                for line in deploy::describe(&args.monitor.name, &status) {
                    out!("{line}");
                }
            }
        }
        MonitorCommand::Remove(args) => {
            let cluster = Cluster::connect(&args.kube.resolve()).await?;
            deploy::remove(&cluster, &args.name, REMOVE_TIMEOUT).await?;
            note!("removed bootstrap monitor {}", args.name);
        }
    }
    Ok(ExitCode::SUCCESS)
}
