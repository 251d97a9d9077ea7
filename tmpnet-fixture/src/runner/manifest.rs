//! The runner's objects: its Job and the Secret holding the environment it
//! forwards. Pure functions of the request, so the spec is tested as is.

use std::collections::BTreeMap;

use k8s_openapi::api::batch::v1::{Job, JobSpec};
use k8s_openapi::api::core::v1::{
    Container, EnvFromSource, EnvVar, PodSecurityContext, PodSpec, PodTemplateSpec, Secret,
    SecretEnvSource,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::ByteString;

use super::{
    BUILD_ID_ENV, COMPONENT, COMPONENT_LABEL, MARKER_ENV, NETWORK_ENV, NETWORK_LABEL,
    OWNS_NETWORK_ENV, SUITE_LABEL,
};
use crate::runtime::kube::manifests::label_value;
use crate::runtime::kube::ACCESS_ENV;

/// The container's name in the runner pod.
pub const CONTAINER: &str = "runner";

/// Everything a runner Job is made from.
#[derive(Debug, Clone)]
pub struct JobRequest {
    /// The Job's name.
    pub name: String,
    /// Its namespace (the network's).
    pub namespace: String,
    /// The runner image.
    pub image: String,
    /// The test binary's file name (on the image's `PATH`).
    pub binary: String,
    /// The libtest arguments (filters and options).
    pub args: Vec<String>,
    /// The network the tests attach to (its state ConfigMap's name).
    pub network: String,
    /// The suite's name (the test binary's crate).
    pub suite: String,
    /// The ServiceAccount the pod runs as.
    pub service_account: String,
    /// `activeDeadlineSeconds`.
    pub deadline_secs: i64,
    /// `ttlSecondsAfterFinished`: how long a finished Job (and its result)
    /// stays.
    pub ttl_secs: i32,
    /// Whether the Job owns the network (stops it when its tests end).
    pub owns_network: bool,
    /// Whether an environment Secret is mounted (there are forwarded
    /// variables).
    pub has_env_secret: bool,
    /// The GNU build id of the test binary, when it has one.
    pub build_id: Option<String>,
}

fn labels(request: &JobRequest) -> BTreeMap<String, String> {
    BTreeMap::from([
        (
            "app.kubernetes.io/managed-by".to_owned(),
            "tmpnet".to_owned(),
        ),
        (COMPONENT_LABEL.to_owned(), COMPONENT.to_owned()),
        (NETWORK_LABEL.to_owned(), request.network.clone()),
        (SUITE_LABEL.to_owned(), label_value(&request.suite)),
    ])
}

/// The name of the Secret of a Job's forwarded environment.
pub fn env_secret_name(job: &str) -> String {
    format!("{job}-env")
}

fn env(name: &str, value: &str) -> EnvVar {
    EnvVar {
        name: name.to_owned(),
        value: Some(value.to_owned()),
        ..EnvVar::default()
    }
}

/// The runner Job: one pod, never retried, that runs the test binary
/// attached to the network by name and reaches its nodes by pod IP.
pub fn job(request: &JobRequest) -> Job {
    let mut vars = vec![
        env(MARKER_ENV, &request.name),
        env(NETWORK_ENV, &request.network),
        env("E2E_USE_KUBERNETES", "true"),
        env("TMPNET_KUBE_NAMESPACE", &request.namespace),
        env(ACCESS_ENV, "pod-ip"),
    ];
    if request.owns_network {
        vars.push(env(OWNS_NETWORK_ENV, "true"));
    }
    if let Some(id) = &request.build_id {
        vars.push(env(BUILD_ID_ENV, id));
    }
    let env_from = request.has_env_secret.then(|| {
        vec![EnvFromSource {
            secret_ref: Some(SecretEnvSource {
                name: env_secret_name(&request.name),
                optional: Some(false),
            }),
            ..EnvFromSource::default()
        }]
    });
    let labels = labels(request);
    Job {
        metadata: ObjectMeta {
            name: Some(request.name.clone()),
            namespace: Some(request.namespace.clone()),
            labels: Some(labels.clone()),
            ..ObjectMeta::default()
        },
        spec: Some(JobSpec {
            backoff_limit: Some(0),
            active_deadline_seconds: Some(request.deadline_secs),
            ttl_seconds_after_finished: Some(request.ttl_secs),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels),
                    ..ObjectMeta::default()
                }),
                spec: Some(PodSpec {
                    restart_policy: Some("Never".into()),
                    service_account_name: Some(request.service_account.clone()),
                    security_context: Some(PodSecurityContext {
                        run_as_non_root: Some(true),
                        ..PodSecurityContext::default()
                    }),
                    containers: vec![Container {
                        name: CONTAINER.into(),
                        image: Some(request.image.clone()),
                        image_pull_policy: Some("IfNotPresent".into()),
                        command: Some(vec![request.binary.clone()]),
                        args: Some(request.args.clone()),
                        env: Some(vars),
                        env_from,
                        ..Container::default()
                    }],
                    ..PodSpec::default()
                }),
            },
            ..JobSpec::default()
        }),
        ..Job::default()
    }
}

/// The Secret carrying the forwarded environment (every forwarded value,
/// so none is ever written into the Job's spec).
pub fn env_secret(request: &JobRequest, values: &BTreeMap<String, String>) -> Secret {
    Secret {
        metadata: ObjectMeta {
            name: Some(env_secret_name(&request.name)),
            namespace: Some(request.namespace.clone()),
            labels: Some(labels(request)),
            ..ObjectMeta::default()
        },
        data: Some(
            values
                .iter()
                .map(|(k, v)| (k.clone(), ByteString(v.clone().into_bytes())))
                .collect(),
        ),
        type_: Some("Opaque".into()),
        ..Secret::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_valid() {
        assert_eq!(label_value("e2e"), "e2e");
        assert_eq!(label_value("_my suite/"), "my_suite");
        assert_eq!(label_value(&"x".repeat(80)).len(), 63);
    }
}
