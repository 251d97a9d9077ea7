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

/// How long one API call (not a watch) may take.
pub const CALL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Runs one API call with a time limit ([`CALL_TIMEOUT`]): a call that
/// hangs on a half-open connection fails as unreachable instead of blocking
/// a stop forever.
pub async fn call<T>(
    request: impl std::future::Future<Output = std::result::Result<T, kube::Error>>,
) -> std::result::Result<T, kube::Error> {
    match tokio::time::timeout(CALL_TIMEOUT, request).await {
        Ok(result) => result,
        Err(_) => Err(kube::Error::Service(Box::new(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!(
                "no answer from the API server within {}s",
                CALL_TIMEOUT.as_secs()
            ),
        )))),
    }
}

/// A typed namespaced API object that can be listed, read, made and
/// deleted (every k8s-openapi namespaced kind).
pub trait NamespacedObject:
    kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
    + Clone
    + serde::de::DeserializeOwned
    + std::fmt::Debug
{
}

impl<K> NamespacedObject for K where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug
{
}

/// Deletes `name` with `params`; an object already gone is no error.
/// `what` names it in the error (`pod x`).
pub async fn delete_if_present<K>(
    api: &kube::Api<K>,
    name: &str,
    params: &kube::api::DeleteParams,
    what: &str,
) -> Result<()>
where
    K: Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    match call(api.delete(name, params)).await {
        Ok(_) => Ok(()),
        Err(e) if status_code(&e) == Some(404) => Ok(()),
        Err(e) => Err(api_error(format!("delete {what}"), e)),
    }
}

/// The HTTP status of an API error, if it is one.
pub fn status_code(e: &kube::Error) -> Option<u16> {
    match e {
        kube::Error::Api(status) => Some(status.code),
        _ => None,
    }
}

/// Wraps a failed API call; the error keeps kube's as its source.
pub fn api_error(action: impl Into<String>, e: kube::Error) -> Error {
    Error::KubeApi {
        action: action.into(),
        source: Box::new(e),
    }
}

/// Why an API call failed, on one line, with the fix for the usual causes.
pub fn api_reason(e: &kube::Error) -> String {
    crate::error::kube_reason(e)
}
