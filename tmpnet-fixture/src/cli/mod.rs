//! Command-line arguments shared by the test harness and `tmpnetctl`:
//! where nodes run and the Kubernetes settings, each also settable by an
//! environment variable; and the logging every binary of the project sets
//! up the same way.

mod errors;
mod kube;

use clap::builder::BoolishValueParser;
use clap::{ArgAction, Args, ValueEnum};

pub use errors::{ignore_empty_env, one_line};
pub use kube::KubeArgs;

pub use crate::sys::signals::ending_signal;

use crate::model::KubeSettings;

/// Sends `tracing` events to stderr, filtered by `RUST_LOG` or else by
/// `default_filter` (e.g. `"warn"`), with colour only on a terminal. Does
/// nothing if this process already has a subscriber.
///
/// Without `RUST_LOG`, kube's client does not log the requests that fail:
/// each failure reaches the user once, as the one-line error of the call.
pub fn init_tracing(default_filter: &str) {
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
                tracing_subscriber::EnvFilter::new(format!(
                    "{default_filter},{QUIET_FAILED_REQUESTS}"
                ))
            }),
        )
        .try_init();
}

/// The directive that keeps kube's client from logging each failed request
/// (an `ERROR` line before the error that says it).
const QUIET_FAILED_REQUESTS: &str = "kube_client::client::builder=off";

/// Where nodes run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RuntimeChoice {
    /// Local processes.
    Process,
    /// Kubernetes.
    Kube,
}

/// Where a new network's nodes run: `--runtime`, `--use-kubernetes` and the
/// `--kube-*` settings.
#[derive(Debug, Clone, Args)]
#[non_exhaustive]
pub struct RuntimeArgs {
    /// Where nodes run: local processes or Kubernetes pods.
    #[arg(long, env = "E2E_RUNTIME", value_enum, default_value = "process")]
    pub runtime: RuntimeChoice,

    /// Run nodes on Kubernetes (same as --runtime kube).
    #[arg(long, env = "E2E_USE_KUBERNETES", action = ArgAction::SetTrue, value_parser = BoolishValueParser::new())]
    pub use_kubernetes: bool,

    /// Kubernetes settings (used with --use-kubernetes).
    #[command(flatten)]
    pub kube: KubeArgs,
}

impl RuntimeArgs {
    /// Whether Kubernetes was asked for, by either flag.
    pub fn wants_kube(&self) -> bool {
        self.use_kubernetes || self.runtime == RuntimeChoice::Kube
    }

    /// The Kubernetes settings, when Kubernetes was asked for.
    pub fn kube_settings(&self) -> Option<KubeSettings> {
        self.wants_kube().then(|| self.kube.resolve())
    }
}
