//! How a network of pods is set up and reached: the [`Access`] mode
//! (port-forward, pod IP or ingress, from [`ACCESS_ENV`]) and the checked
//! Kubernetes settings of a new network.

use std::path::Path;

use crate::error::{Error, Result};
use crate::kinds::{self, NodeKind};
use crate::model::{KubeSettings, MIN_VOLUME_GIB};

/// Env var choosing how nodes are reached: `port-forward`, `pod-ip` or
/// `ingress` (default: `ingress` with an ingress host, else `pod-ip` in a
/// pod, else `port-forward`).
pub const ACCESS_ENV: &str = "TMPNET_KUBE_ACCESS";
/// Where a pod finds its service account (present only inside a cluster).
const SERVICE_ACCOUNT_TOKEN: &str = "/var/run/secrets/kubernetes.io/serviceaccount/token";

/// How this process reaches node APIs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// A loopback listener per node, carried over the API server's
    /// port-forward (works from anywhere the API server is reachable).
    PortForward,
    /// The pod IP directly (inside the cluster).
    PodIp,
    /// Through the Ingress on the configured ingress host.
    Ingress,
}

impl Access {
    /// Parses [`ACCESS_ENV`]'s value.
    pub fn parse(text: &str) -> Result<Access> {
        match text {
            "port-forward" => Ok(Access::PortForward),
            "pod-ip" => Ok(Access::PodIp),
            "ingress" => Ok(Access::Ingress),
            other => Err(Error::InvalidInput(format!(
                "{ACCESS_ENV}={other:?} is not an access mode; use port-forward, pod-ip or ingress"
            ))),
        }
    }

    /// The access mode for this process: [`ACCESS_ENV`] if set, else
    /// ingress when an ingress host is configured, else the pod IP inside a
    /// cluster, else port-forward.
    pub fn detect(settings: &KubeSettings) -> Result<Access> {
        let access = match std::env::var(ACCESS_ENV) {
            Ok(v) if !v.is_empty() => Access::parse(&v)?,
            _ if settings.ingress_host.is_some() => Access::Ingress,
            // In a pod, and talking to that pod's own cluster (no kubeconfig
            // naming another one).
            _ if settings.kubeconfig.is_none()
                && std::env::var_os("KUBECONFIG").is_none()
                && std::env::var_os("KUBERNETES_SERVICE_HOST").is_some()
                && Path::new(SERVICE_ACCOUNT_TOKEN).is_file() =>
            {
                Access::PodIp
            }
            _ => Access::PortForward,
        };
        if access == Access::Ingress && settings.ingress_host.is_none() {
            return Err(Error::InvalidInput(format!(
                "{ACCESS_ENV}=ingress needs an ingress host; pass --kube-ingress-host"
            )));
        }
        Ok(access)
    }
}

/// Validates the Kubernetes settings of a new network and fills in the
/// kind's default image; fails when the kind cannot run in a pod.
pub(crate) fn settings_for(kind: &dyn NodeKind, kube: &KubeSettings) -> Result<KubeSettings> {
    let pod = kinds::pod_of(kind)?;
    if kube.volume_size_gib < MIN_VOLUME_GIB {
        return Err(Error::InvalidInput(format!(
            "--kube-volume-size {} is below the minimum; use {MIN_VOLUME_GIB} (GiB) or more",
            kube.volume_size_gib
        )));
    }
    if !is_dns_label(&kube.namespace) {
        return Err(Error::InvalidInput(format!(
            "--kube-namespace {:?} is not a valid namespace name; use lower-case letters, digits and '-', e.g. tmpnet",
            kube.namespace
        )));
    }
    if let Some(s) = &kube.exclusive_scheduling {
        if s.key.is_empty() || s.value.is_empty() {
            return Err(Error::InvalidInput(
                "exclusive scheduling needs a label key and value; pass --kube-scheduling-label-key and --kube-scheduling-label-value".into(),
            ));
        }
    }
    if let Some(path) = kube.kubeconfig.as_deref().filter(|p| !p.is_file()) {
        let problem = if path.exists() {
            "is not a regular file (a directory, a FIFO or a device)"
        } else {
            "does not exist"
        };
        return Err(Error::InvalidInput(format!(
            "the kubeconfig {} {problem}; pass --kubeconfig FILE or set KUBECONFIG",
            path.display()
        )));
    }
    if kube.ingress_secret.is_some() && kube.ingress_host.is_none() {
        return Err(Error::InvalidInput(
            "--kube-ingress-secret needs --kube-ingress-host".into(),
        ));
    }
    let mut kube = kube.clone();
    if kube.image.is_empty() {
        kube.image = pod.profile().default_image;
    }
    Ok(kube)
}

/// Whether `name` is a valid namespace name (an RFC 1123 label).
fn is_dns_label(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.starts_with('-')
        && !name.ends_with('-')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(ingress_host: Option<&str>) -> KubeSettings {
        KubeSettings {
            kubeconfig: Some("/k".into()),
            context: None,
            namespace: "tmpnet".into(),
            image: "i".into(),
            volume_size_gib: 2,
            exclusive_scheduling: None,
            ingress_host: ingress_host.map(str::to_owned),
            ingress_secret: None,
            ready_timeout_secs: 1,
            stop_grace_secs: 1,
            owner: None,
        }
    }

    #[test]
    fn access_modes_parse_and_an_ingress_host_chooses_the_ingress() {
        assert_eq!(Access::parse("pod-ip").unwrap(), Access::PodIp);
        assert_eq!(Access::parse("port-forward").unwrap(), Access::PortForward);
        let err = Access::parse("vpn").unwrap_err().to_string();
        assert!(
            err.contains(ACCESS_ENV) && err.contains("port-forward"),
            "{err}"
        );
        if std::env::var_os(ACCESS_ENV).is_none() {
            // A kubeconfig names the cluster: never pod IPs from here.
            assert_eq!(
                Access::detect(&settings(None)).unwrap(),
                Access::PortForward
            );
            assert_eq!(
                Access::detect(&settings(Some("localhost:30791"))).unwrap(),
                Access::Ingress
            );
        }
    }
}
