//! The monitor's calls to the API server: read its own pod and the
//! StatefulSet that owns it, resolve a moving tag with a short-lived pod
//! (the kubelet's `imageID` is the digest it runs; its log is the
//! version), pin the StatefulSet to a digest, replace its own pod, and
//! publish the results in a ConfigMap.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{ConfigMap, ContainerStatus, Pod};
use kube::api::{DeleteParams, LogParams, Patch, PatchParams, PostParams};
use kube::{Api, Client};
use serde_json::json;

use super::image::{digest_of_image_id, ImageRef};
use super::record::TestRecord;
use crate::error::{Error, Result};
use crate::runtime::kube::client::{api_error, call, delete_if_present, status_code};

/// The pod-template annotation with the version of the pinned image.
pub const ANNOTATION_VERSION: &str = "tmpnet.io/bootstrap-version";
/// The version annotated when it is not known (the image's version
/// command failed, or the image was not resolved by the monitor).
pub const UNKNOWN_VERSION: &str = "unknown";
/// The label every object of one monitor carries (its name).
pub const LABEL_MONITOR: &str = "tmpnet.io/bootstrap-monitor";
/// The resolver container's name.
const RESOLVER: &str = "resolve";
/// Waiting reasons that mean the image cannot be had.
const PULL_FAILURES: &[&str] = &[
    "ErrImagePull",
    "ImagePullBackOff",
    "InvalidImageName",
    "ErrImageNeverPull",
    "CreateContainerError",
    "CreateContainerConfigError",
];

/// The ConfigMap holding a monitor's results.
pub fn results_name(monitor: &str) -> String {
    format!("{monitor}-results")
}

/// What the monitor reads of its own pod.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct OwnPod {
    /// The node container's image.
    pub image: String,
    /// The version annotation of the pod, if the image was resolved here.
    pub version: Option<String>,
    /// The StatefulSet that owns the pod: its name and uid.
    pub set: (String, String),
    /// How often the node container was restarted.
    pub restarts: i32,
    /// How the node container last ended, if it was restarted.
    pub last_exit: Option<String>,
    /// Why the pod is going away, when it is.
    pub stopping: Option<String>,
}

/// A moving tag resolved by a short-lived pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The digest the kubelet ran.
    pub digest: String,
    /// What the image's binary printed as its version (first line), when
    /// the version command succeeded.
    pub version: Option<String>,
}

/// How to run the resolver pod.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ResolveSettings {
    /// Arguments to the image's entrypoint that print its version and exit.
    pub version_args: Vec<String>,
    /// The pull policy: `Always` against a registry, `IfNotPresent` where
    /// images are loaded into the cluster.
    pub pull_policy: String,
    /// The user the pod runs as.
    pub run_as: i64,
    /// How long the pod may take.
    pub timeout: Duration,
}

impl ResolveSettings {
    /// Resolve with the image's entrypoint given `version_args`, pulling
    /// with `pull_policy`, as user `run_as`, within `timeout`.
    pub fn new(
        version_args: Vec<String>,
        pull_policy: &str,
        run_as: i64,
        timeout: Duration,
    ) -> ResolveSettings {
        ResolveSettings {
            version_args,
            pull_policy: pull_policy.to_owned(),
            run_as,
            timeout,
        }
    }
}

/// The results a person or a dashboard reads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Results {
    /// The test under way or done.
    pub current: Option<TestRecord>,
    /// Past tests, oldest first.
    pub history: Vec<TestRecord>,
    /// The last failure of the monitor itself (a tag it could not resolve),
    /// cleared by the next success.
    pub last_error: Option<String>,
}

/// The monitor's handle on its namespace.
#[derive(Clone)]
pub struct Cluster {
    client: Client,
    namespace: String,
}

fn kube_error(action: String, reason: impl Into<String>) -> Error {
    Error::Kube {
        action,
        reason: reason.into(),
    }
}

fn describe_exit(status: &ContainerStatus) -> Option<String> {
    let t = status.last_state.as_ref()?.terminated.as_ref()?;
    let reason = t.reason.as_deref().unwrap_or("no reason given");
    Some(format!("exit code {} ({reason})", t.exit_code))
}

impl Cluster {
    /// The namespace `namespace` reached with `client`.
    pub fn new(client: Client, namespace: impl Into<String>) -> Cluster {
        Cluster {
            client,
            namespace: namespace.into(),
        }
    }

    /// Connects with `settings`' kubeconfig and context (the in-cluster
    /// service account when it names none) to its namespace.
    pub async fn connect(settings: &crate::model::KubeSettings) -> Result<Cluster> {
        let client = crate::runtime::kube::client::connect(
            settings.kubeconfig.as_deref(),
            settings.context.as_deref(),
        )
        .await?;
        Ok(Cluster::new(client, &settings.namespace))
    }

    /// The client.
    pub(crate) fn client(&self) -> &Client {
        &self.client
    }

    /// The namespace.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    fn api<K>(&self) -> Api<K>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>,
        <K as kube::Resource>::DynamicType: Default,
    {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    /// Reads the pod `name` and its node container `container`.
    pub async fn own_pod(&self, name: &str, container: &str) -> Result<OwnPod> {
        let pods: Api<Pod> = self.api();
        let pod = call(pods.get(name))
            .await
            .map_err(|e| api_error(format!("read pod {name}"), e))?;
        let spec = pod.spec.unwrap_or_default();
        let image = spec
            .containers
            .iter()
            .find(|c| c.name == container)
            .and_then(|c| c.image.clone())
            .ok_or_else(|| {
                kube_error(
                    format!("read pod {name}"),
                    format!("it has no container {container:?} with an image; give --container the node container's name"),
                )
            })?;
        let set = pod
            .metadata
            .owner_references
            .unwrap_or_default()
            .into_iter()
            .find(|o| o.kind == "StatefulSet")
            .map(|o| (o.name, o.uid))
            .ok_or_else(|| {
                kube_error(
                    format!("read pod {name}"),
                    "no StatefulSet owns it; run the monitor in the pod of a StatefulSet (tmpnetctl bootstrap-monitor deploy)",
                )
            })?;
        let version = pod
            .metadata
            .annotations
            .unwrap_or_default()
            .remove(ANNOTATION_VERSION)
            .filter(|v| v != UNKNOWN_VERSION);
        let status = pod.status.unwrap_or_default();
        let node = status
            .container_statuses
            .unwrap_or_default()
            .into_iter()
            .find(|s| s.name == container);
        // An eviction says why in the DisruptionTarget condition.
        let disruption = status
            .conditions
            .unwrap_or_default()
            .into_iter()
            .find(|c| c.type_ == "DisruptionTarget" && c.status == "True")
            .map(|c| {
                format!(
                    "{}: {}",
                    c.reason.unwrap_or_default(),
                    c.message.unwrap_or_default()
                )
            });
        let stopping = match (status.reason, disruption, pod.metadata.deletion_timestamp) {
            (Some(reason), _, _) => Some(format!(
                "the pod was {reason}: {}",
                status.message.unwrap_or_default()
            )),
            (None, Some(why), _) => Some(format!("the pod was disrupted ({why})")),
            (None, None, Some(_)) => {
                Some("the pod was deleted (by a person, an eviction or a rollout)".to_owned())
            }
            (None, None, None) => None,
        };
        Ok(OwnPod {
            image,
            version,
            set,
            restarts: node.as_ref().map_or(0, |s| s.restart_count),
            last_exit: node.as_ref().and_then(describe_exit),
            stopping,
        })
    }

    /// Resolves `tag` to the digest the kubelet runs, with a pod owned by
    /// the StatefulSet `set` (name, uid) that prints the image's version;
    /// the pod is deleted whatever happens.
    pub async fn resolve(
        &self,
        tag: &ImageRef,
        settings: &ResolveSettings,
        set: &(String, String),
    ) -> Result<Resolved> {
        let pods: Api<Pod> = self.api();
        // One name per monitor: a resolver left by a stopped monitor is
        // replaced here, never piled up.
        let name = format!("{}-resolve", set.0);
        let pod: Pod = serde_json::from_value(json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": name,
                "labels": {LABEL_MONITOR: set.0, "app.kubernetes.io/component": "bootstrap-resolver", "app.kubernetes.io/managed-by": "tmpnet"},
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "StatefulSet", "name": set.0, "uid": set.1}],
            },
            "spec": {
                "restartPolicy": "Never",
                "automountServiceAccountToken": false,
                "terminationGracePeriodSeconds": 0,
                "securityContext": {"runAsNonRoot": true, "runAsUser": settings.run_as, "runAsGroup": settings.run_as},
                "containers": [{
                    "name": RESOLVER,
                    "image": tag.to_string(),
                    "imagePullPolicy": settings.pull_policy,
                    "args": settings.version_args,
                }],
            },
        }))
        .map_err(|e| kube_error(format!("build resolver pod {name}"), e.to_string()))?;
        self.delete_resolver(&pods, &name).await?;
        let mut waited = 0;
        loop {
            match call(pods.create(&PostParams::default(), &pod)).await {
                Ok(_) => break,
                // The one deleted above is still going.
                Err(e) if status_code(&e) == Some(409) && waited < 60 => {
                    waited += 1;
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                Err(e) => return Err(api_error(format!("create resolver pod {name}"), e)),
            }
        }
        let outcome = self.await_resolver(&pods, &name, tag, settings).await;
        if let Err(e) = self.delete_resolver(&pods, &name).await {
            tracing::warn!(pod = %name, error = %e, "cannot delete the resolver pod; the next resolve or the monitor's removal does");
        }
        outcome
    }

    async fn delete_resolver(&self, pods: &Api<Pod>, name: &str) -> Result<()> {
        let now = DeleteParams {
            grace_period_seconds: Some(0),
            ..DeleteParams::default()
        };
        delete_if_present(pods, name, &now, &format!("resolver pod {name}")).await
    }

    async fn await_resolver(
        &self,
        pods: &Api<Pod>,
        name: &str,
        tag: &ImageRef,
        settings: &ResolveSettings,
    ) -> Result<Resolved> {
        let action = || format!("resolve {tag} with pod {name}");
        let deadline = tokio::time::Instant::now() + settings.timeout;
        loop {
            let pod = call(pods.get(name))
                .await
                .map_err(|e| api_error(action(), e))?;
            let pod_status = pod.status.unwrap_or_default();
            let phase = pod_status.phase.unwrap_or_else(|| "unknown".into());
            let status = pod_status
                .container_statuses
                .and_then(|s| s.into_iter().find(|c| c.name == RESOLVER));
            if let Some(status) = status {
                let state = status.state.clone().unwrap_or_default();
                if let Some(waiting) = state.waiting {
                    let reason = waiting.reason.unwrap_or_default();
                    if PULL_FAILURES.contains(&reason.as_str()) {
                        return Err(kube_error(
                            action(),
                            format!(
                                "{reason}: {}; check that the image exists and the cluster can pull it (--pull-policy IfNotPresent for images loaded into the cluster)",
                                waiting.message.unwrap_or_default()
                            ),
                        ));
                    }
                }
                if let Some(done) = state.terminated {
                    let digest = digest_of_image_id(&status.image_id).ok_or_else(|| {
                        kube_error(
                            action(),
                            format!(
                                "the kubelet reported no digest (imageID {:?}); the runtime must report repository digests",
                                status.image_id
                            ),
                        )
                    })?;
                    let version = if done.exit_code == 0 {
                        let log = call(pods.logs(name, &LogParams::default()))
                            .await
                            .map_err(|e| api_error(action(), e))?;
                        log.lines()
                            .map(str::trim)
                            .find(|l| !l.is_empty())
                            .map(str::to_owned)
                    } else {
                        tracing::warn!(image = %tag, code = done.exit_code, "the version command failed; the version is not recorded");
                        None
                    };
                    return Ok(Resolved { digest, version });
                }
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(kube_error(
                    action(),
                    format!(
                        "it did not finish within {}s (pod phase {phase}); check that it can be scheduled and pulled, and the image's version command (--version-args)",
                        settings.timeout.as_secs()
                    ),
                ));
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    /// Pins the StatefulSet `set`'s container `container` to `image`,
    /// recording `version` on its pod template (a strategic merge: the
    /// other containers stay).
    pub async fn pin(
        &self,
        set: &str,
        container: &str,
        image: &ImageRef,
        version: Option<&str>,
    ) -> Result<()> {
        let sets: Api<StatefulSet> = self.api();
        let patch = json!({"spec": {"template": {
            "metadata": {"annotations": {ANNOTATION_VERSION: version.unwrap_or(UNKNOWN_VERSION)}},
            "spec": {"containers": [{"name": container, "image": image.to_string()}]},
        }}});
        call(sets.patch(set, &PatchParams::default(), &Patch::Strategic(patch)))
            .await
            .map(|_| ())
            .map_err(|e| api_error(format!("pin statefulset {set} to {image}"), e))
    }

    /// Deletes the pod `name` (the StatefulSet makes it again).
    pub async fn delete_pod(&self, name: &str) -> Result<()> {
        let pods: Api<Pod> = self.api();
        delete_if_present(
            &pods,
            name,
            &DeleteParams::default(),
            &format!("pod {name}"),
        )
        .await
    }

    /// Writes `results` into the monitor `set`'s results ConfigMap (made
    /// on first use, owned by the StatefulSet).
    pub async fn publish(&self, set: &(String, String), results: &Results) -> Result<()> {
        let maps: Api<ConfigMap> = self.api();
        let name = results_name(&set.0);
        let mut data = BTreeMap::from([
            ("history.json".to_owned(), json_text(&results.history)),
            (
                "lastError".to_owned(),
                results.last_error.clone().unwrap_or_default(),
            ),
        ]);
        if let Some(current) = &results.current {
            data.insert("test.json".to_owned(), json_text(current));
            data.insert("status".to_owned(), current.status.word().to_owned());
            data.insert("image".to_owned(), current.image.clone());
        }
        let patch = Patch::Merge(json!({ "data": data }));
        match call(maps.patch(&name, &PatchParams::default(), &patch)).await {
            Ok(_) => return Ok(()),
            Err(e) if status_code(&e) == Some(404) => {}
            Err(e) => return Err(api_error(format!("update configmap {name}"), e)),
        }
        let map: ConfigMap = serde_json::from_value(json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": name,
                "labels": {LABEL_MONITOR: set.0, "app.kubernetes.io/managed-by": "tmpnet"},
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "StatefulSet", "name": set.0, "uid": set.1}],
            },
            "data": data,
        }))
        .map_err(|e| kube_error(format!("build configmap {name}"), e.to_string()))?;
        call(maps.create(&PostParams::default(), &map))
            .await
            .map(|_| ())
            .map_err(|e| api_error(format!("create configmap {name}"), e))
    }

    /// Reads the results of the monitor `monitor`, `None` when it has
    /// published none.
    pub async fn results(&self, monitor: &str) -> Result<Option<Results>> {
        let maps: Api<ConfigMap> = self.api();
        let name = results_name(monitor);
        let Some(map) = call(maps.get_opt(&name))
            .await
            .map_err(|e| api_error(format!("read configmap {name}"), e))?
        else {
            return Ok(None);
        };
        let data = map.data.unwrap_or_default();
        let parse = |key: &str| -> Result<Option<serde_json::Value>> {
            data.get(key)
                .map(|text| {
                    serde_json::from_str(text).map_err(|e| {
                        kube_error(
                            format!("read configmap {name}"),
                            format!(
                                "its {key} is not JSON ({e}); it was not written by the monitor"
                            ),
                        )
                    })
                })
                .transpose()
        };
        let current = parse("test.json")?
            .map(serde_json::from_value)
            .transpose()
            .map_err(|e| kube_error(format!("read configmap {name}"), e.to_string()))?;
        let history = parse("history.json")?
            .map(serde_json::from_value)
            .transpose()
            .map_err(|e| kube_error(format!("read configmap {name}"), e.to_string()))?
            .unwrap_or_default();
        Ok(Some(Results {
            current,
            history,
            last_error: data.get("lastError").filter(|e| !e.is_empty()).cloned(),
        }))
    }
}

/// A record as JSON text, for the ConfigMap.
fn json_text<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default()
}
