//! The harness's command-line arguments: every libtest option libtest-mimic
//! supports, plus the network options, each also settable by an environment
//! variable (nextest passes no custom arguments). Boolean variables accept
//! `true/false/1/0/yes/no/on/off`. ("Flags", in this library, are a node's.)

use std::path::PathBuf;

use clap::builder::BoolishValueParser;
use clap::{ArgAction, Parser};

use crate::cli::RuntimeArgs;
use crate::error::{Error, Result};
use crate::model::KubeSettings;

/// The harness's arguments.
#[derive(Debug, Parser)]
// Without `kube` nothing reads the runner's settings; they are still
// parsed, so a command line stays valid in every build.
#[cfg_attr(not(feature = "kube"), allow(dead_code))]
#[command(about = "Runs tmpnet end-to-end tests against a temporary network", long_about = None)]
pub struct HarnessArgs {
    /// libtest's own options (filters, --list, --exact, --ignored, ...).
    #[command(flatten)]
    pub libtest: libtest_mimic::Arguments,

    /// Where nodes run.
    #[command(flatten)]
    pub runtime: RuntimeArgs,

    /// The node kind of new networks [default: the suite's, else refnode]
    #[arg(long, env = "E2E_NODE_KIND")]
    pub node_kind: Option<String>,

    /// A kind file (TOML) describing the daemon of new networks; overrides --node-kind.
    #[arg(long, env = "E2E_KIND_FILE")]
    pub kind_file: Option<PathBuf>,

    /// The node binary [default: found like tmpnetctl finds it]
    #[arg(long, env = "E2E_NODE_PATH")]
    pub node_path: Option<PathBuf>,

    /// Nodes in the shared network [default: the suite's, main!(nodes = N), else 5]
    #[arg(long, env = "E2E_NODE_COUNT")]
    pub node_count: Option<usize>,

    /// Root directory of networks [default: ~/.tmpnet]
    #[arg(long, env = "TMPNET_ROOT_DIR")]
    pub root_dir: Option<PathBuf>,

    /// Reuse the network a previous run left (or create one), and leave it running.
    #[arg(long, env = "E2E_REUSE_NETWORK", action = ArgAction::SetTrue, value_parser = BoolishValueParser::new())]
    pub reuse_network: bool,

    /// Like --reuse-network, but restart its nodes first.
    #[arg(long, env = "E2E_RESTART_NETWORK", action = ArgAction::SetTrue, value_parser = BoolishValueParser::new())]
    pub restart_network: bool,

    /// Stop the reusable network (or --network-dir) and exit without running tests.
    #[arg(long, env = "E2E_STOP_NETWORK", action = ArgAction::SetTrue, value_parser = BoolishValueParser::new())]
    pub stop_network: bool,

    /// Start the reusable network, print how to target it, and exit.
    #[arg(long, env = "E2E_START_NETWORK", action = ArgAction::SetTrue, value_parser = BoolishValueParser::new())]
    pub start_network: bool,

    /// Use exactly this network (started if stopped, left running).
    #[arg(long, env = "TMPNET_NETWORK_DIR")]
    pub network_dir: Option<PathBuf>,

    /// Keep the directories of networks that passed too (by default only
    /// those a failed test ran on are kept, the newest 10).
    #[arg(long, env = "E2E_KEEP_NETWORKS", action = ArgAction::SetTrue, value_parser = BoolishValueParser::new())]
    pub keep_networks: bool,

    /// Run the suite inside the cluster as a Job from this runner image
    /// (kube mode; build it with scripts/build-images.sh).
    #[arg(long, env = "ENV_JOB_IMAGE", value_name = "IMAGE")]
    pub job_image: Option<String>,

    /// With --job-image: return once the runner runs, printing how to follow it; the Job then owns a network this run created.
    #[arg(long, env = "DETACH_RUNNER", action = ArgAction::SetTrue, value_parser = BoolishValueParser::new())]
    pub detach: bool,

    /// The ServiceAccount the runner Job runs as.
    #[arg(
        long,
        env = "TMPNET_RUNNER_SERVICE_ACCOUNT",
        default_value = "tmpnet",
        value_name = "NAME"
    )]
    pub runner_service_account: String,

    /// How long the runner Job may run before the cluster kills it (e.g. 30m, 2h).
    #[arg(long, env = "TMPNET_RUNNER_DEADLINE", default_value = "1h", value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub runner_deadline: std::time::Duration,

    /// Forward this process's variables whose names start with PREFIX to the runner (comma-separated or repeated); their values travel in a Secret owned by the Job, never in its spec.
    #[arg(
        long,
        env = "TMPNET_RUNNER_ENV",
        value_delimiter = ',',
        value_name = "PREFIX"
    )]
    pub runner_env: Vec<String>,

    /// Seconds to wait before stopping the network at the end of the run.
    #[arg(long, env = "E2E_DELAY_NETWORK_SHUTDOWN", value_name = "SECS")]
    pub delay_network_shutdown: Option<u64>,
}

impl HarnessArgs {
    /// Whether Kubernetes was asked for, by either flag.
    pub fn wants_kube(&self) -> bool {
        self.runtime.wants_kube()
    }

    /// Rejects contradictory flags.
    pub fn validate(&self) -> Result<()> {
        if self.stop_network && self.start_network {
            return Err(Error::InvalidInput(
                "--stop-network and --start-network contradict each other; pass one".into(),
            ));
        }
        if self.node_kind.is_some() && self.kind_file.is_some() {
            return Err(Error::InvalidInput(
                "--node-kind (E2E_NODE_KIND) and --kind-file (E2E_KIND_FILE) both choose the kind; pass one".into(),
            ));
        }
        #[cfg(not(feature = "kube"))]
        if self.wants_kube() {
            return Err(Error::feature_disabled(
                "kube",
                "nodes on Kubernetes (--use-kubernetes, E2E_USE_KUBERNETES)",
            ));
        }
        if self.wants_kube() && self.node_path.is_some() {
            return Err(Error::InvalidInput("--node-path names a local binary, but nodes run on Kubernetes; choose the image with --kube-image (TMPNET_KUBE_IMAGE) instead".into()));
        }
        Ok(())
    }

    /// The Kubernetes settings when Kubernetes was asked for.
    pub fn kube_settings(&self) -> Option<KubeSettings> {
        self.runtime.kube_settings()
    }

    /// The runner image, when the suite is to run in the cluster (an empty
    /// `ENV_JOB_IMAGE` is none).
    pub fn job_image(&self) -> Option<&str> {
        self.job_image.as_deref().filter(|i| !i.is_empty())
    }

    /// Whether a reusable network is asked for.
    pub fn reuse(&self) -> bool {
        self.reuse_network || self.restart_network || self.start_network
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> HarnessArgs {
        HarnessArgs::try_parse_from(std::iter::once("e2e").chain(args.iter().copied())).unwrap()
    }

    #[test]
    fn libtest_and_harness_flags_mix() {
        let f = parse(&[
            "--reuse-network",
            "kv",
            "--exact",
            "--node-count",
            "3",
            "--list",
        ]);
        assert!(f.reuse_network && f.reuse());
        assert!(f.libtest.exact && f.libtest.list);
        assert_eq!(f.libtest.filter.as_deref(), Some("kv"));
        assert_eq!(f.node_count, Some(3));
    }

    #[test]
    #[cfg(feature = "kube")]
    fn kube_and_contradictions_are_refused_with_a_fix() {
        let f = parse(&["--use-kubernetes", "--kube-namespace", "e2e"]);
        assert!(f.wants_kube() && f.validate().is_ok());
        assert_eq!(f.kube_settings().unwrap().namespace, "e2e");
        assert!(parse(&["--runtime", "kube"]).wants_kube());
        assert!(parse(&[]).kube_settings().is_none());
        let err = parse(&["--runtime", "kube", "--node-path", "/bin/x"])
            .validate()
            .unwrap_err();
        assert!(err.to_string().contains("--kube-image"), "{err}");
        let f = parse(&["--stop-network", "--start-network"]);
        assert!(f.validate().unwrap_err().to_string().contains("contradict"));
        assert!(parse(&[]).validate().is_ok());
    }

    /// Without the `kube` feature, Kubernetes mode is refused up front,
    /// naming the feature, and the other checks still hold.
    #[test]
    #[cfg(not(feature = "kube"))]
    fn kube_without_the_feature_is_refused_naming_it() {
        for args in [&["--use-kubernetes"][..], &["--runtime", "kube"]] {
            let err = parse(args).validate().unwrap_err().to_string();
            assert!(
                err.contains("`kube` feature") && err.contains("k8s-openapi"),
                "{err}"
            );
        }
        let f = parse(&["--stop-network", "--start-network"]);
        assert!(f.validate().unwrap_err().to_string().contains("contradict"));
        assert!(parse(&[]).validate().is_ok());
    }

    #[test]
    fn boolean_values_are_boolish() {
        let parser = BoolishValueParser::new();
        let cmd = clap::Command::new("x");
        for (text, expected) in [
            ("1", true),
            ("yes", true),
            ("true", true),
            ("0", false),
            ("no", false),
            ("false", false),
        ] {
            let value = clap::builder::TypedValueParser::parse_ref(
                &parser,
                &cmd,
                None,
                std::ffi::OsStr::new(text),
            )
            .unwrap();
            assert_eq!(value, expected, "{text}");
        }
    }
}
