//! Command-line arguments shared by the test harness and `tmpnetctl`:
//! where nodes run and the Kubernetes settings, each also settable by an
//! environment variable.

mod kube;

use clap::builder::BoolishValueParser;
use clap::{ArgAction, Args, ValueEnum};

pub use kube::KubeArgs;

use crate::model::KubeSettings;

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
