//! `tmpnet-kubesim serve --kubeconfig-out FILE`: runs the simulator until
//! SIGINT or SIGTERM, with a kubeconfig for it written to FILE, so any
//! client (`KUBECONFIG=FILE cargo test ...`, kubectl, the Python client)
//! can use it as it would a real cluster.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// A Kubernetes API simulator for tests (everything it proves is simulated).
#[derive(Debug, Parser)]
#[command(name = "tmpnet-kubesim", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve until interrupted.
    Serve {
        /// Where to write the kubeconfig for the simulator.
        #[arg(long, value_name = "FILE")]
        kubeconfig_out: PathBuf,
        /// Address to listen on (loopback only).
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: String,
        /// What a container image runs: IMAGE=PATH (repeatable).
        #[arg(long = "image-map", value_name = "IMAGE=PATH")]
        image_map: Vec<String>,
        /// Run containers of the images in this OCI image layout from the images themselves (as scripts/build-images.sh writes it).
        #[arg(long, value_name = "DIR")]
        image_dir: Option<PathBuf>,
        /// Create the objects of this YAML file at start, as `kubectl apply` would (repeatable).
        #[arg(long, value_name = "FILE")]
        apply: Vec<PathBuf>,
        /// Write a kubeconfig acting as a ServiceAccount: NAMESPACE/NAME=FILE (repeatable).
        #[arg(long = "service-account-kubeconfig", value_name = "NS/NAME=FILE")]
        service_account_kubeconfig: Vec<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        // Colour codes only for a terminal, never into a file or a pipe.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
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
    let Command::Serve {
        kubeconfig_out,
        listen,
        image_map,
        image_dir,
        apply,
        service_account_kubeconfig,
    } = cli.command;
    let mut accounts = Vec::new();
    for entry in &service_account_kubeconfig {
        match entry.split_once('=').and_then(|(who, file)| {
            let (ns, name) = who.split_once('/')?;
            (!ns.is_empty() && !name.is_empty() && !file.is_empty())
                .then(|| (ns.to_owned(), name.to_owned(), PathBuf::from(file)))
        }) {
            Some(account) => accounts.push(account),
            None => {
                eprintln!("error: --service-account-kubeconfig {entry:?} is not NAMESPACE/NAME=FILE; write e.g. --service-account-kubeconfig tmpnet/tmpnet=/tmp/sa.kubeconfig");
                return ExitCode::FAILURE;
            }
        }
    }
    if let Some(dir) = image_dir
        .as_ref()
        .filter(|d| !d.join("index.json").is_file())
    {
        eprintln!("error: --image-dir {} is not an OCI image layout (no index.json); build the images with scripts/build-images.sh", dir.display());
        return ExitCode::FAILURE;
    }
    let mut options = tmpnet_kubesim::Options {
        listen: listen.clone(),
        image_dir,
        ..Default::default()
    };
    for entry in &image_map {
        match entry.split_once('=') {
            Some((image, path)) if !image.is_empty() && std::path::Path::new(path).is_file() => {
                options = options.image(image, path);
            }
            _ => {
                eprintln!("error: --image-map {entry:?} is not IMAGE=PATH of an existing file; write e.g. --image-map tmpnet/refnode=/usr/local/bin/tmpnet-refnode");
                return ExitCode::FAILURE;
            }
        }
    }
    runtime.block_on(async move {
        if !listen.starts_with("127.")
            && !listen.starts_with("[::1]")
            && !listen.starts_with("localhost")
        {
            eprintln!("error: --listen {listen} is not a loopback address; use 127.0.0.1:<port>");
            return ExitCode::FAILURE;
        }
        let sim = match tmpnet_kubesim::Simulator::start_with(options).await {
            Ok(sim) => sim,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
        };
        for file in &apply {
            let applied = std::fs::read_to_string(file)
                .map_err(|e| format!("cannot read {}: {e}", file.display()))
                .and_then(|text| sim.apply(&text).map_err(|e| e.to_string()));
            if let Err(e) = applied {
                eprintln!("error: --apply {}: {e}", file.display());
                return ExitCode::FAILURE;
            }
        }
        for (ns, name, file) in &accounts {
            if let Err(e) = sim.write_service_account_kubeconfig(ns, name, file) {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
        }
        // Written last: a script waiting for this file finds everything ready.
        if let Err(e) = sim.write_kubeconfig(&kubeconfig_out) {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
        eprintln!(
            "serving the simulated API at {} (kubeconfig: {})",
            sim.url(),
            kubeconfig_out.display()
        );
        use tokio::signal::unix::{signal, SignalKind};
        let (Ok(mut int), Ok(mut term)) = (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) else {
            eprintln!("error: cannot watch for signals");
            return ExitCode::FAILURE;
        };
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
        }
        sim.shutdown().await;
        eprintln!("stopped");
        ExitCode::SUCCESS
    })
}
