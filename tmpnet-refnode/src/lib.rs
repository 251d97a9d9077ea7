//! The embedded reference node.
//!
//! A small but real peer-to-peer daemon: it binds an HTTP API and a p2p
//! listener (port 0 by default), writes `process.json` once bound, connects
//! to its bootstrap peers, and replicates a key-value store to them by
//! gossip. [`run`] is its whole `main`: the `tmpnet-refnode` binary calls it,
//! and so does any program embedding the node (tmpnetctl and every tmpnet
//! harness binary, see `tmpnet_fixture::embedded`).
//! Usage: `tmpnet-refnode --flags-file <flags.json>`.

mod api;
mod config;
mod node;
mod p2p;
mod store;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use tmpnet_contract::ProcessContext;
use tokio::net::TcpListener;
use tokio::signal::unix::{signal, SignalKind};

use crate::config::Config;
use crate::node::Node;

const USAGE: &str =
    "usage: tmpnet-refnode --flags-file <flags.json> | --flag <name>=<value>... | --version";

/// Runs the node with its command-line arguments (without the program
/// name) until SIGTERM or SIGINT; returns its exit code.
pub fn run(args: impl IntoIterator<Item = String>) -> ExitCode {
    let args: Vec<String> = args.into_iter().collect();
    let loaded = match args.as_slice() {
        [flag] if flag == "--version" => {
            println!("tmpnet-refnode {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        [flag, path] if flag == "--flags-file" => Config::load(&PathBuf::from(path)),
        // Flags on the command line, e.g. in a pod whose values come from
        // the downward API.
        [first, ..] if first == "--flag" => match flags_from_args(&args) {
            Some(flags) => Config::from_flags(&flags),
            None => Err(format!("bad arguments; {USAGE}")),
        },
        _ => {
            eprintln!("FATAL bad arguments; {USAGE}");
            return ExitCode::from(2);
        }
    };
    let config = match loaded {
        Ok(c) => c,
        Err(e) => {
            eprintln!("FATAL {e}");
            return ExitCode::FAILURE;
        }
    };
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_new(&config.log_level)
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .try_init();
    if let Some(code) = config.faults.exit_during_start {
        eprintln!("exiting during start with code {code} (fault-exit-during-start)");
        return ExitCode::from(u8::try_from(code).unwrap_or(1));
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("FATAL cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("FATAL {e}");
            ExitCode::FAILURE
        }
    }
}

/// `--flag k=v --flag k2=v2 ...` as a map; `None` if malformed.
fn flags_from_args(args: &[String]) -> Option<std::collections::BTreeMap<String, String>> {
    let mut flags = std::collections::BTreeMap::new();
    for pair in args.chunks(2) {
        match pair {
            [flag, kv] if flag == "--flag" => {
                let (k, v) = kv.split_once('=')?;
                flags.insert(k.to_owned(), v.to_owned());
            }
            _ => return None,
        }
    }
    Some(flags)
}

/// Resolves when SIGTERM or SIGINT arrives; with `ignore_sigterm`, only
/// on SIGINT (SIGTERM is logged and ignored).
async fn shutdown_signal(ignore_sigterm: bool) -> Result<(), String> {
    let mut term =
        signal(SignalKind::terminate()).map_err(|e| format!("cannot watch SIGTERM: {e}"))?;
    let mut int =
        signal(SignalKind::interrupt()).map_err(|e| format!("cannot watch SIGINT: {e}"))?;
    loop {
        tokio::select! {
            _ = term.recv() => {
                if !ignore_sigterm {
                    return Ok(());
                }
                tracing::warn!("ignoring SIGTERM (fault-ignore-sigterm)");
            }
            _ = int.recv() => return Ok(()),
        }
    }
}

async fn serve(config: Config) -> Result<(), String> {
    if let Some(delay) = config.faults.start_delay {
        tracing::info!(?delay, "delaying start (fault-start-delay-ms)");
        tokio::time::sleep(delay).await;
    }
    if let Some(text) = &config.faults.fatal {
        eprintln!("FATAL {text}");
        shutdown_signal(config.faults.ignore_sigterm).await?;
        return Err("stopped after a fatal fault".into());
    }
    let store = store::Store::open(&config.db_dir)?;
    let http = bind(&config.http_addr).await?;
    let p2p = bind(&config.p2p_addr).await?;
    let http_addr = http
        .local_addr()
        .map_err(|e| format!("cannot read the HTTP listener's address: {e}"))?;
    let p2p_addr = p2p
        .local_addr()
        .map_err(|e| format!("cannot read the p2p listener's address: {e}"))?;
    let announced = match &config.p2p_advertise_host {
        Some(host) => format!("{host}:{}", p2p_addr.port()),
        None => p2p_addr.to_string(),
    };
    let node = Arc::new(Node::new(config, announced.clone(), store));
    write_process_context(&node.config.process_context_file, &http_addr, &announced)?;
    tracing::info!(node = %node.config.node_id, %http_addr, %p2p_addr, "serving");

    tokio::spawn(p2p::accept(node.clone(), p2p));
    for peer in node.config.bootstrap_peers.clone() {
        tokio::spawn(p2p::keep_connected(node.clone(), peer));
    }
    let ignore_sigterm = node.config.faults.ignore_sigterm;
    let served = axum::serve(http, api::router(node.clone()))
        .with_graceful_shutdown(async move {
            if let Err(e) = shutdown_signal(ignore_sigterm).await {
                tracing::error!(error = %e, "cannot watch for signals");
            }
        })
        .await;
    let _ = std::fs::remove_file(&node.config.process_context_file);
    tracing::info!("stopped");
    served.map_err(|e| format!("HTTP server failed: {e}"))
}

async fn bind(addr: &str) -> Result<TcpListener, String> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))
}

/// Writes `process.json` (the harness reads it with the same type).
fn write_process_context(
    path: &Path,
    http: &std::net::SocketAddr,
    p2p: &str,
) -> Result<(), String> {
    ProcessContext::new(std::process::id(), format!("http://{http}"), p2p)
        .write_to(path)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_from_the_command_line() {
        let args: Vec<String> = ["--flag", "node-id=a", "--flag", "db-dir=/d=x"]
            .map(String::from)
            .to_vec();
        let flags = flags_from_args(&args).unwrap();
        assert_eq!(flags["node-id"], "a");
        assert_eq!(flags["db-dir"], "/d=x");
        assert!(flags_from_args(&["--flag".to_owned()]).is_none());
        assert!(flags_from_args(&["--flag".to_owned(), "novalue".to_owned()]).is_none());
    }
}
