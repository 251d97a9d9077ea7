//! The Kubernetes arguments shared by the harness and `tmpnetctl`, each also
//! settable by an environment variable.

use std::path::PathBuf;

use clap::builder::BoolishValueParser;
use clap::{ArgAction, Args};

use crate::model::{KubeSettings, SchedulingLabel, MIN_VOLUME_GIB};

/// Where and how nodes run on Kubernetes.
#[derive(Debug, Clone, Args)]
#[non_exhaustive]
pub struct KubeArgs {
    /// The kubeconfig file [default: KUBECONFIG, then ~/.kube/config, then the in-cluster account]
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,

    /// The kubeconfig context [default: its current context]
    #[arg(long, env = "TMPNET_KUBE_CONTEXT", value_name = "NAME")]
    pub kube_context: Option<String>,

    /// The namespace of the network's objects (created when missing).
    #[arg(long, env = "TMPNET_KUBE_NAMESPACE", default_value = "tmpnet")]
    pub kube_namespace: String,

    /// The node image [default: the node kind's, e.g. tmpnet/refnode:latest]
    #[arg(long, env = "TMPNET_KUBE_IMAGE", value_name = "IMAGE")]
    pub kube_image: Option<String>,

    /// Each node's data volume in GiB (at least 2).
    #[arg(long, env = "TMPNET_KUBE_VOLUME_SIZE", value_name = "GIB", default_value_t = MIN_VOLUME_GIB)]
    pub kube_volume_size: u32,

    /// One node per Kubernetes node, on nodes labelled (and tainted) with the scheduling label.
    #[arg(long, env = "TMPNET_KUBE_EXCLUSIVE_SCHEDULING", action = ArgAction::SetTrue, value_parser = BoolishValueParser::new())]
    pub kube_exclusive_scheduling: bool,

    /// The scheduling label's key (with --kube-exclusive-scheduling).
    #[arg(
        long,
        env = "TMPNET_KUBE_SCHEDULING_LABEL_KEY",
        default_value = "tmpnet.io/node-pool"
    )]
    pub kube_scheduling_label_key: String,

    /// The scheduling label's value (with --kube-exclusive-scheduling).
    #[arg(
        long,
        env = "TMPNET_KUBE_SCHEDULING_LABEL_VALUE",
        default_value = "tmpnet"
    )]
    pub kube_scheduling_label_value: String,

    /// Reach node APIs through an nginx Ingress on this host (e.g. localhost:30791) instead of port-forwarding.
    #[arg(long, env = "TMPNET_KUBE_INGRESS_HOST", value_name = "HOST")]
    pub kube_ingress_host: Option<String>,

    /// The TLS Secret for the ingress host (its URIs become https).
    #[arg(long, env = "TMPNET_KUBE_INGRESS_SECRET", value_name = "SECRET")]
    pub kube_ingress_secret: Option<String>,

    /// Seconds a node's pod may take to become ready.
    #[arg(
        long,
        env = "TMPNET_KUBE_READY_TIMEOUT",
        value_name = "SECS",
        default_value_t = 120
    )]
    pub kube_ready_timeout: u64,
}

impl KubeArgs {
    /// The runtime settings these flags ask for. The kubeconfig in use is
    /// recorded (an explicit one, or `KUBECONFIG` when it names one file),
    /// with its current context when none is given, so later commands on
    /// the network reach the same cluster. An empty image means the node
    /// kind's default; values are checked when the network is created.
    pub fn resolve(&self) -> KubeSettings {
        let kubeconfig = self.kubeconfig.clone().or_else(|| {
            let env = std::env::var_os("KUBECONFIG")?;
            let mut paths = std::env::split_paths(&env);
            let first = paths.next()?;
            (paths.next().is_none() && first.is_file()).then_some(first)
        });
        // Else the file kube-rs would read by default, if there is one.
        let kubeconfig = kubeconfig.or_else(|| {
            if std::env::var_os("KUBECONFIG").is_some() {
                return None;
            }
            let default = std::path::Path::new(&std::env::var_os("HOME")?).join(".kube/config");
            default.is_file().then_some(default)
        });
        let kubeconfig = kubeconfig.map(|p| std::path::absolute(&p).unwrap_or(p));
        #[cfg(feature = "kube")]
        let context = self.kube_context.clone().or_else(|| {
            let file = crate::runtime::kube::client::read_kubeconfig(kubeconfig.as_ref()?).ok()?;
            file.current_context
        });
        // Without kube's config reader the context is only what was given.
        #[cfg(not(feature = "kube"))]
        let context = self.kube_context.clone();
        let mut settings = KubeSettings::new(
            self.kube_namespace.clone(),
            self.kube_image.clone().unwrap_or_default(),
        );
        settings.kubeconfig = kubeconfig;
        settings.context = context;
        settings.volume_size_gib = self.kube_volume_size;
        settings.exclusive_scheduling = self.kube_exclusive_scheduling.then(|| SchedulingLabel {
            key: self.kube_scheduling_label_key.clone(),
            value: self.kube_scheduling_label_value.clone(),
        });
        settings.ingress_host = self.kube_ingress_host.clone();
        settings.ingress_secret = self.kube_ingress_secret.clone();
        settings.ready_timeout_secs = self.kube_ready_timeout;
        settings
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        kube: KubeArgs,
    }

    #[test]
    fn flags_become_settings() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("config");
        std::fs::write(
            &file,
            "apiVersion: v1\nkind: Config\ncurrent-context: here\nclusters: []\ncontexts: []\nusers: []\n",
        )
        .unwrap();
        let cli = Cli::try_parse_from([
            "x",
            "--kubeconfig",
            file.to_str().unwrap(),
            "--kube-namespace",
            "e2e",
            "--kube-volume-size",
            "5",
            "--kube-exclusive-scheduling",
            "--kube-ingress-host",
            "localhost:30791",
        ])
        .unwrap();
        let config = cli.kube.resolve();
        assert_eq!(config.kubeconfig.as_deref(), Some(file.as_path()));
        // The current context is read from the kubeconfig with kube's reader.
        #[cfg(feature = "kube")]
        assert_eq!(config.context.as_deref(), Some("here"));
        #[cfg(not(feature = "kube"))]
        assert_eq!(config.context, None);
        assert_eq!(config.namespace, "e2e");
        assert_eq!(config.volume_size_gib, 5);
        assert_eq!(config.image, "");
        assert_eq!(
            config.exclusive_scheduling,
            Some(SchedulingLabel {
                key: "tmpnet.io/node-pool".into(),
                value: "tmpnet".into()
            })
        );
        assert_eq!(config.ingress_host.as_deref(), Some("localhost:30791"));
    }
}
