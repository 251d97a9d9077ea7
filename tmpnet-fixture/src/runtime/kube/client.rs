//! Connecting to the cluster, and turning API failures into one-line errors
//! that say what to do.

use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};

use crate::error::{Error, Result};

/// Builds a client: from `kubeconfig` when given, else `KUBECONFIG` or
/// `~/.kube/config`, else the in-cluster service account; `context`
/// chooses a kubeconfig context.
pub async fn connect(
    kubeconfig: Option<&std::path::Path>,
    context: Option<&str>,
) -> Result<Client> {
    let options = KubeConfigOptions {
        context: context.map(str::to_owned),
        ..KubeConfigOptions::default()
    };
    let config = match kubeconfig {
        Some(path) => {
            let file = Kubeconfig::read_from(path).map_err(|e| Error::Kube {
                action: format!("read the kubeconfig {}", path.display()),
                reason: format!("{e}; check --kubeconfig / KUBECONFIG"),
            })?;
            Config::from_custom_kubeconfig(file, &options)
                .await
                .map_err(load_error)?
        }
        None if context.is_some() => Config::from_kubeconfig(&options)
            .await
            .map_err(load_error)?,
        None => Config::infer().await.map_err(load_error)?,
    };
    Client::try_from(config).map_err(|e| Error::Kube {
        action: "create a Kubernetes client".into(),
        reason: e.to_string(),
    })
}

fn load_error(e: impl std::fmt::Display) -> Error {
    Error::Kube {
        action: "load the Kubernetes configuration".into(),
        reason: format!("{e}; pass --kubeconfig, set KUBECONFIG, or check --kube-context"),
    }
}

/// The HTTP status of an API error, if it is one.
pub fn status_code(e: &kube::Error) -> Option<u16> {
    match e {
        kube::Error::Api(status) => Some(status.code),
        _ => None,
    }
}

/// Wraps a failed API call, with the fix for the usual causes.
pub fn api_error(action: impl Into<String>, e: kube::Error) -> Error {
    let hint = match status_code(&e) {
        Some(401) => "; the credentials were refused: check --kubeconfig / --kube-context",
        Some(403) => {
            "; the account lacks a permission: apply deploy/rbac.yaml to the namespace (README: Kubernetes mode)"
        }
        Some(_) => "",
        None => "; is the cluster reachable? check --kubeconfig / KUBECONFIG and --kube-context",
    };
    let reason = match &e {
        kube::Error::Api(s) => s.message.clone(),
        other => other.to_string(),
    };
    Error::Kube {
        action: action.into(),
        reason: format!("{reason}{hint}"),
    }
}
