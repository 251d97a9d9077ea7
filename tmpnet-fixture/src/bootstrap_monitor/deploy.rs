//! Rendering, deploying, reading and removing a monitor of a network that
//! runs on Kubernetes (what `tmpnetctl bootstrap-monitor` does).

use std::time::Duration;

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{ConfigMap, PersistentVolumeClaim, Pod, ServiceAccount};
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::api::{DeleteParams, ListParams, Patch, PatchParams};
use kube::{Api, Client};
use serde_json::Value;

use super::cluster::{results_name, Cluster, Results, LABEL_MONITOR};
use super::manifests::{self, MonitorSpec};
use super::record::{TestRecord, TestStatus};
use crate::error::{Error, Result};
use crate::kinds::{self, LaunchContext, Placement};
use crate::model::network::RuntimeSettings;
use crate::model::{KubeSettings, Node};
use crate::network::Network;
use crate::runtime::kube::client::{api_error, call, delete_if_present, NamespacedObject};
use crate::runtime::kube::manifests::{network_name, owner_reference, Command, Context};

/// The network's Kubernetes settings, or the one-line error saying the
/// monitor needs a network on Kubernetes.
pub fn kube_settings(network: &Network) -> Result<&KubeSettings> {
    match &network.config().runtime {
        RuntimeSettings::Kube(settings) => Ok(settings),
        _ => Err(Error::InvalidInput(format!(
            "the network at {} runs as local processes; the bootstrap monitor syncs from a network on Kubernetes: start one with --use-kubernetes",
            network.dir().display()
        ))),
    }
}

/// Every object of the monitor `spec` of `network`, in creation order;
/// owned by the network's state ConfigMap when `owner` is given (deleted
/// with the network). The node joins the network's running nodes.
pub async fn render(
    network: &Network,
    spec: &MonitorSpec,
    owner: Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference>,
) -> Result<Vec<Value>> {
    spec.check()?;
    let settings = kube_settings(network)?;
    let kind = network.kind();
    let pod = kinds::pod_of(kind.as_ref())?;
    let peers = network.running_bootstrap_peers().await?;
    if peers.is_empty() {
        return Err(Error::NoRunningNode {
            dir: network.dir().to_owned(),
        });
    }
    let scratch = tempfile::tempdir().map_err(|e| {
        Error::io(
            "cannot create",
            std::path::Path::new("a temporary directory"),
            e,
        )
    })?;
    let node = Node::create(scratch.path(), kind.new_node(network.node_records().len())?)?;
    let launch = LaunchContext {
        placement: Placement::Pod,
        network_dir: network.dir(),
        node: &node,
        peers: &peers,
        members: &[],
    };
    let flags = kinds::compose_and_record(kind.as_ref(), &network.config().default_flags, &launch)?;
    let read = |path: std::path::PathBuf| {
        std::fs::read_to_string(&path).map_err(|e| Error::io("cannot read", &path, e))
    };
    let ctx = Context {
        network: network.config(),
        settings,
        profile: pod.profile(),
        owner,
    };
    let mut objects = manifests::rbac(spec, &ctx);
    objects.push(manifests::node_files(
        spec,
        &ctx,
        &read(node.config_path())?,
        &read(node.flags_path())?,
    ));
    objects.push(manifests::stateful_set(
        spec,
        &ctx,
        &node,
        Command::of(pod, &flags),
    )?);
    Ok(objects)
}

async fn apply<K>(client: &Client, namespace: &str, object: &Value) -> Result<()>
where
    K: NamespacedObject + serde::Serialize,
{
    let name = object["metadata"]["name"].as_str().unwrap_or_default();
    let api: Api<K> = Api::namespaced(client.clone(), namespace);
    let params = PatchParams::apply("tmpnetctl").force();
    call(api.patch(name, &params, &Patch::Apply(object)))
        .await
        .map(|_| ())
        .map_err(|e| {
            api_error(
                format!(
                    "apply {} {name}",
                    object["kind"].as_str().unwrap_or("object")
                ),
                e,
            )
        })
}

/// Deploys the monitor `spec` of `network` (owned by the network's state
/// ConfigMap), replacing one of the same name.
pub async fn deploy(cluster: &Cluster, network: &Network, spec: &MonitorSpec) -> Result<()> {
    let client = cluster.client();
    let ns = cluster.namespace();
    let maps: Api<ConfigMap> = Api::namespaced(client.clone(), ns);
    let state = network_name(&network.config().uuid);
    let map = call(maps.get(&state))
        .await
        .map_err(|e| api_error(format!("read the network's configmap {state}"), e))?;
    let owner = owner_reference(&map);
    for object in render(network, spec, owner).await? {
        match object["kind"].as_str() {
            Some("ServiceAccount") => apply::<ServiceAccount>(client, ns, &object).await?,
            Some("Role") => apply::<Role>(client, ns, &object).await?,
            Some("RoleBinding") => apply::<RoleBinding>(client, ns, &object).await?,
            Some("ConfigMap") => apply::<ConfigMap>(client, ns, &object).await?,
            Some("StatefulSet") => apply::<StatefulSet>(client, ns, &object).await?,
            other => {
                return Err(Error::Kube {
                    action: "apply the monitor's objects".into(),
                    reason: format!("deploy does not know the kind {other:?} it rendered"),
                })
            }
        }
    }
    Ok(())
}

/// A monitor's state: its pod's phase and its published results.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct Status {
    /// The pod's phase (`None` when there is no pod).
    pub pod_phase: Option<String>,
    /// What the monitor published (`None` before its first start).
    pub results: Option<Results>,
}

/// Reads the monitor `name` in the cluster's namespace.
pub async fn status(cluster: &Cluster, name: &str) -> Result<Status> {
    let (client, namespace) = (cluster.client(), cluster.namespace());
    let sets: Api<StatefulSet> = Api::namespaced(client.clone(), namespace);
    if call(sets.get_opt(name))
        .await
        .map_err(|e| api_error(format!("read statefulset {name}"), e))?
        .is_none()
    {
        return Err(Error::Kube {
            action: format!("read the bootstrap monitor {name}"),
            reason: format!("namespace {namespace} has no monitor of that name; deploy one with tmpnetctl bootstrap-monitor deploy"),
        });
    }
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let pod_phase = call(pods.get_opt(&format!("{name}-0")))
        .await
        .map_err(|e| api_error(format!("read pod {name}-0"), e))?
        .and_then(|p| p.status)
        .and_then(|s| s.phase);
    let results = cluster.results(name).await?;
    Ok(Status { pod_phase, results })
}

async fn delete_named<K>(client: &Client, namespace: &str, name: &str) -> Result<()>
where
    K: NamespacedObject,
{
    let api: Api<K> = Api::namespaced(client.clone(), namespace);
    let what = format!("{} {name}", K::kind(&Default::default()));
    delete_if_present(&api, name, &DeleteParams::background(), &what).await
}

/// Deletes the objects of kind `K` labelled `selector` that are not being
/// deleted yet; returns how many are left (being deleted or not).
async fn delete_left<K>(client: &Client, namespace: &str, selector: &str) -> Result<usize>
where
    K: NamespacedObject,
{
    let api: Api<K> = Api::namespaced(client.clone(), namespace);
    let left = call(api.list(&ListParams::default().labels(selector)))
        .await
        .map_err(|e| {
            api_error(
                format!("list {} {selector}", K::plural(&Default::default())),
                e,
            )
        })?;
    for object in &left.items {
        let meta = object.meta();
        if let (Some(name), None) = (&meta.name, &meta.deletion_timestamp) {
            delete_named::<K>(client, namespace, name).await?;
        }
    }
    Ok(left.items.len())
}

/// Removes the monitor `name` and everything it made (its pods, claim,
/// results), waiting up to `timeout` until they are gone.
pub async fn remove(cluster: &Cluster, name: &str, timeout: Duration) -> Result<()> {
    let (client, namespace) = (cluster.client(), cluster.namespace());
    delete_named::<StatefulSet>(client, namespace, name).await?;
    delete_named::<ConfigMap>(client, namespace, &manifests::node_files_name(name)).await?;
    delete_named::<ConfigMap>(client, namespace, &results_name(name)).await?;
    delete_named::<RoleBinding>(client, namespace, name).await?;
    delete_named::<Role>(client, namespace, name).await?;
    delete_named::<ServiceAccount>(client, namespace, name).await?;
    let selector = format!("{LABEL_MONITOR}={name}");
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        // What the StatefulSet no longer owns (resolver pods) goes here too.
        let pods = delete_left::<Pod>(client, namespace, &selector).await?;
        let claims = delete_left::<PersistentVolumeClaim>(client, namespace, &selector).await?;
        if pods + claims == 0 {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(Error::Kube {
                action: format!("remove the bootstrap monitor {name}"),
                reason: format!(
                    "{pods} pod(s) and {claims} claim(s) labelled {selector} were still there after {}s; see kubectl get pods,pvc -l {selector}",
                    timeout.as_secs()
                ),
            });
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// The objects as one YAML stream (`---` between documents).
pub fn to_yaml(objects: &[Value]) -> Result<String> {
    crate::runtime::kube::render::to_yaml(objects)
}

/// The status as JSON: `pod` (its phase or null), `current`, `history`,
/// `lastError`.
pub fn status_json(status: &Status) -> String {
    let results = status.results.clone().unwrap_or_default();
    serde_json::to_string_pretty(&serde_json::json!({
        "pod": status.pod_phase,
        "current": results.current,
        "history": results.history,
        "lastError": results.last_error,
    }))
    .unwrap_or_default()
}

fn describe_record(record: &TestRecord) -> String {
    let version = record.version.as_deref().unwrap_or("version unknown");
    let what = match &record.status {
        TestStatus::Syncing => format!("syncing since {}", when(record.started_at)),
        TestStatus::Synced {
            duration_secs,
            disk_bytes,
            ..
        } => format!(
            "synced in {duration_secs} s using {:.1} MiB",
            *disk_bytes as f64 / (1024.0 * 1024.0)
        ),
        TestStatus::Superseded { by, .. } => format!("superseded before it synced by {by}"),
    };
    let breaks = match record.interruptions.len() {
        0 => String::new(),
        n => format!(", interrupted {n} time(s)"),
    };
    format!("{} ({version}): {what}{breaks}", record.image)
}

fn when(secs: u64) -> String {
    humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + Duration::from_secs(secs)).to_string()
}

/// The status for a person: the pod, the current test with each
/// interruption, the past tests newest first, the monitor's last error.
pub fn describe(name: &str, status: &Status) -> Vec<String> {
    let mut lines = vec![format!(
        "bootstrap monitor {name}: pod {name}-0 {}",
        status.pod_phase.as_deref().unwrap_or("absent")
    )];
    let Some(results) = &status.results else {
        lines.push("no test yet (the init container has not run)".into());
        return lines;
    };
    match &results.current {
        Some(current) => {
            lines.push(format!("current test: {}", describe_record(current)));
            for i in &current.interruptions {
                lines.push(format!(
                    "  interrupted, resumed {}: {}",
                    when(i.at),
                    i.reason
                ));
            }
        }
        None => lines.push("no test yet (the tag is being resolved)".into()),
    }
    for past in results.history.iter().rev() {
        lines.push(format!("past test: {}", describe_record(past)));
    }
    if let Some(error) = &results.last_error {
        lines.push(format!("last error: {error}"));
    }
    lines
}
