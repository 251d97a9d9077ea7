//! The objects of one monitor: its ServiceAccount and least-privilege Role,
//! the ConfigMap with its node's files, and the StatefulSet whose pod runs
//! the node (as its kind runs any node of the network, its data on a
//! subdirectory of the claim) between the monitor's init container and
//! sidecar.

use serde_json::{json, Value};

use super::cluster::{results_name, ANNOTATION_VERSION, LABEL_MONITOR, UNKNOWN_VERSION};
use super::synced::SyncedCheck;
use crate::error::{Error, Result};
use crate::model::NetworkConfig;
use crate::runtime::kube::manifests::{
    label_value, network_name, secret_name, Command, Context, LABEL_NETWORK,
};

/// Where the monitor's containers mount the data volume.
pub const VOLUME_PATH: &str = "/volume";
/// The node's data directory on the volume.
pub const NODE_DATA: &str = "node";
/// Where the sidecar finds the network's state, Secret and the node's files.
const STATE_PATH: &str = "/tmpnet/state";
const SECRET_PATH: &str = "/tmpnet/secret";
const NODE_FILES_PATH: &str = "/tmpnet/node";
/// Where in-cluster clients find their token.
const TOKEN_PATH: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// What a monitor is asked to do.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct MonitorSpec {
    /// Its name: the StatefulSet's, the ServiceAccount's, the Role's.
    pub name: String,
    /// The node's image: a moving tag (resolved at the first start) or a
    /// digest; the network's image when `None`.
    pub node_image: Option<String>,
    /// The monitor's own image.
    pub monitor_image: String,
    /// What "synced" means.
    pub synced: SyncedCheck,
    /// Arguments to the node image's entrypoint that print its version.
    pub version_args: Vec<String>,
    /// The tag to follow; the node image's tag when `None`.
    pub tag: Option<String>,
    /// The resolver pod's pull policy.
    pub pull_policy: String,
    /// Seconds between looks for a new digest once synced.
    pub poll_secs: u64,
    /// The user (and group) every container of the pod runs as: the node
    /// image's, so the monitor can wipe what the node wrote.
    pub run_as: i64,
}

impl MonitorSpec {
    /// A monitor named `name` with the defaults: the network's image, the
    /// kind's health as the synced check, `--version`, pull `Always`, a
    /// look every 5 minutes, user 10001 (the project's images).
    pub fn new(name: impl Into<String>, monitor_image: impl Into<String>) -> MonitorSpec {
        MonitorSpec {
            name: name.into(),
            node_image: None,
            monitor_image: monitor_image.into(),
            synced: SyncedCheck::Health,
            version_args: vec!["--version".into()],
            tag: None,
            pull_policy: "Always".into(),
            poll_secs: 300,
            run_as: 10001,
        }
    }

    /// Refuses a name that cannot name the objects.
    pub fn check(&self) -> Result<()> {
        let ok = !self.name.is_empty()
            && self.name.len() <= 40
            && self
                .name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !self.name.starts_with('-')
            && !self.name.ends_with('-');
        if !ok {
            return Err(Error::InvalidInput(format!(
                "{:?} cannot name a monitor; give --name with at most 40 lowercase letters, digits and '-'",
                self.name
            )));
        }
        if let Some(image) = &self.node_image {
            super::image::ImageRef::parse(image)?;
        }
        if let Some(tag) = &self.tag {
            let ok = !tag.is_empty()
                && tag.len() <= 128
                && tag
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
            if !ok {
                return Err(Error::InvalidInput(format!(
                    "{tag:?} is no image tag; give --tag with letters, digits, '_', '.' or '-' (e.g. latest)"
                )));
            }
        }
        if self.poll_secs == 0 {
            return Err(Error::InvalidInput(
                "--poll-secs 0 would resolve the tag without pause; give at least 1 (default 300)"
                    .into(),
            ));
        }
        if !["Always", "IfNotPresent", "Never"].contains(&self.pull_policy.as_str()) {
            return Err(Error::InvalidInput(format!(
                "{:?} is no pull policy; give --pull-policy Always, IfNotPresent or Never",
                self.pull_policy
            )));
        }
        Ok(())
    }
}

fn labels(spec: &MonitorSpec, network: &NetworkConfig) -> Value {
    json!({
        LABEL_MONITOR: spec.name,
        LABEL_NETWORK: label_value(&network.uuid),
        "app.kubernetes.io/name": "tmpnet-bootstrap-monitor",
        "app.kubernetes.io/instance": spec.name,
        "app.kubernetes.io/managed-by": "tmpnet",
    })
}

fn meta(spec: &MonitorSpec, ctx: &Context<'_>, name: &str) -> Value {
    let mut meta = json!({
        "name": name,
        "namespace": ctx.settings.namespace,
        "labels": labels(spec, ctx.network),
    });
    if let Some(owner) = &ctx.owner {
        meta["ownerReferences"] = json!([owner]);
    }
    meta
}

/// The ServiceAccount, Role and RoleBinding: read its own pod, make,
/// read the log of and delete resolver pods (and its own pod), patch its
/// own StatefulSet, make and patch its results ConfigMap. Nothing else
/// (creation cannot be limited to names).
pub fn rbac(spec: &MonitorSpec, ctx: &Context<'_>) -> Vec<Value> {
    let name = &spec.name;
    vec![
        json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta(spec, ctx, name)}),
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": meta(spec, ctx, name),
            "rules": [
                {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "create", "delete"]},
                {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]},
                {"apiGroups": ["apps"], "resources": ["statefulsets"], "resourceNames": [name], "verbs": ["patch"]},
                {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["create"]},
                {"apiGroups": [""], "resources": ["configmaps"], "resourceNames": [results_name(name)], "verbs": ["patch"]},
            ],
        }),
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": meta(spec, ctx, name),
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
            "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": ctx.settings.namespace}],
        }),
    ]
}

fn monitor_args(spec: &MonitorSpec, job: &str) -> Vec<String> {
    let mut args = vec![
        job.to_owned(),
        "--container".into(),
        crate::runtime::kube::manifests::CONTAINER.into(),
        "--volume".into(),
        VOLUME_PATH.into(),
        "--node-data".into(),
        NODE_DATA.into(),
        "--pull-policy".into(),
        spec.pull_policy.clone(),
        format!("--version-args={}", spec.version_args.join(" ")),
        "--run-as".into(),
        spec.run_as.to_string(),
    ];
    if let Some(tag) = &spec.tag {
        args.extend(["--tag".into(), tag.clone()]);
    }
    if job == "wait-for-completion" {
        args.extend([
            "--synced".into(),
            spec.synced.to_string(),
            "--poll-secs".into(),
            spec.poll_secs.to_string(),
            "--network-state".into(),
            STATE_PATH.into(),
            "--network-secret".into(),
            SECRET_PATH.into(),
            "--node-files".into(),
            NODE_FILES_PATH.into(),
        ]);
    }
    args
}

fn monitor_container(spec: &MonitorSpec, job: &str, name: &str, extra_mounts: &[Value]) -> Value {
    let mut mounts = vec![
        json!({"name": "data", "mountPath": VOLUME_PATH}),
        json!({"name": "api-token", "mountPath": TOKEN_PATH, "readOnly": true}),
    ];
    mounts.extend_from_slice(extra_mounts);
    json!({
        "name": name,
        "image": spec.monitor_image,
        "imagePullPolicy": "IfNotPresent",
        "args": monitor_args(spec, job),
        "env": [
            {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
        ],
        "volumeMounts": mounts,
    })
}

/// The ConfigMap with the monitored node's files.
pub fn node_files_name(monitor: &str) -> String {
    format!("{monitor}-node")
}

/// The monitor's ConfigMap with its node's `config.json` and `flags.json`.
pub fn node_files(spec: &MonitorSpec, ctx: &Context<'_>, config: &str, flags: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": meta(spec, ctx, &node_files_name(&spec.name)),
        "data": {"config.json": config, "flags.json": flags},
    })
}

/// The StatefulSet: the node container as its kind runs it in a pod (the
/// image set to `spec.node_image`, the data on the claim's `node`
/// subdirectory), the monitor's `init` before it and its
/// `wait-for-completion` beside it; only the monitor's containers hold an
/// API token.
pub fn stateful_set(
    spec: &MonitorSpec,
    ctx: &Context<'_>,
    node: &crate::model::Node,
    command: Command,
) -> Result<Value> {
    if ctx.profile.secrets.is_some() && !node.config.secret_files.is_empty() {
        return Err(Error::KindCannot {
            kind: ctx.network.node_kind.clone(),
            what: "be run by the bootstrap monitor yet (its nodes' own key files would need a Secret of the monitor)".into(),
            fix: "monitor a kind without per-node keys (bitcoind, refnode, kind files)",
        });
    }
    let template = ctx.pod_template(node, command)?;
    let mut node_container = serde_json::to_value(
        template
            .spec
            .as_ref()
            .and_then(|s| s.containers.first())
            .ok_or_else(|| Error::KindCannot {
                kind: ctx.network.node_kind.clone(),
                what: "be run by the bootstrap monitor: its pod has no container".into(),
                fix: "give the kind's pod a container",
            })?,
    )
    .map_err(|e| Error::Serialize {
        what: "the node's container",
        source: Box::new(e),
    })?;
    let image = spec
        .node_image
        .clone()
        .unwrap_or_else(|| ctx.settings.image.clone());
    node_container["image"] = json!(image);
    node_container["volumeMounts"] = json!([
        {"name": "data", "mountPath": ctx.profile.data_path, "subPath": NODE_DATA},
    ]);
    let name = &spec.name;
    let uuid = &ctx.network.uuid;
    let sidecar_mounts = [
        json!({"name": "network-state", "mountPath": STATE_PATH, "readOnly": true}),
        json!({"name": "network-secret", "mountPath": SECRET_PATH, "readOnly": true}),
        json!({"name": "node-files", "mountPath": NODE_FILES_PATH, "readOnly": true}),
    ];
    let selector = json!({ LABEL_MONITOR: name });
    let mut pod_labels = labels(spec, ctx.network);
    pod_labels["app.kubernetes.io/component"] = json!("bootstrap-node");
    Ok(json!({
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": meta(spec, ctx, name),
        "spec": {
            "replicas": 1,
            "serviceName": name,
            "selector": {"matchLabels": selector},
            "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Delete", "whenScaled": "Delete"},
            "template": {
                // Unknown until the monitor resolves the tag: a redeploy
                // never keeps the version of the image it replaces.
                "metadata": {"labels": pod_labels, "annotations": {ANNOTATION_VERSION: UNKNOWN_VERSION}},
                "spec": {
                    "serviceAccountName": name,
                    "automountServiceAccountToken": false,
                    "terminationGracePeriodSeconds": ctx.settings.stop_grace_secs,
                    "securityContext": {"runAsNonRoot": true, "runAsUser": spec.run_as, "runAsGroup": spec.run_as, "fsGroup": spec.run_as},
                    "initContainers": [monitor_container(spec, "init", "init", &[])],
                    "containers": [
                        node_container,
                        monitor_container(spec, "wait-for-completion", "monitor", &sidecar_mounts),
                    ],
                    "volumes": [
                        {"name": "api-token", "projected": {"sources": [
                            {"serviceAccountToken": {"path": "token", "expirationSeconds": 3607}},
                            {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                            {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"fieldPath": "metadata.namespace"}}]}},
                        ]}},
                        {"name": "network-state", "configMap": {"name": network_name(uuid)}},
                        {"name": "network-secret", "secret": {"secretName": secret_name(uuid), "optional": true, "defaultMode": 0o440}},
                        {"name": "node-files", "configMap": {"name": node_files_name(name)}},
                    ],
                },
            },
            "volumeClaimTemplates": [{
                "metadata": {"name": "data", "labels": {LABEL_MONITOR: name}},
                "spec": {
                    "accessModes": ["ReadWriteOnce"],
                    "resources": {"requests": {"storage": format!("{}Gi", ctx.settings.volume_size_gib)}},
                },
            }],
        },
    }))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::kinds::{bitcoind, PodDaemon};
    use crate::model::{Flags, KubeSettings, Node, NodeConfig, RuntimeSettings, SCHEMA_VERSION};

    fn network() -> (NetworkConfig, KubeSettings) {
        let settings = KubeSettings::new("tmpnet", "tmpnet/litecoind:latest");
        let config = NetworkConfig {
            node_ids: Vec::new(),
            schema_version: SCHEMA_VERSION,
            uuid: "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0".into(),
            owner: String::new(),
            node_kind: "bitcoind".into(),
            node_count: 2,
            default_flags: Flags::new(),
            runtime: RuntimeSettings::Kube(settings.clone()),
        };
        (config, settings)
    }

    fn context<'a>(config: &'a NetworkConfig, settings: &'a KubeSettings) -> Context<'a> {
        Context {
            network: config,
            settings,
            profile: bitcoind::Bitcoind.profile(),
            owner: None,
        }
    }

    fn spec() -> MonitorSpec {
        let mut spec = MonitorSpec::new("bootstrap-litecoind", "tmpnet/bootstrap-monitor:latest");
        spec.synced = "getblockchaininfo:/initialblockdownload=false,/blocks=/headers"
            .parse()
            .unwrap();
        spec.version_args = vec!["-version".into()];
        spec
    }

    #[test]
    fn the_node_runs_as_its_kind_runs_it_between_the_monitors_containers() {
        let (config, settings) = network();
        let ctx = context(&config, &settings);
        let node = Node {
            dir: "/net/monitor".into(),
            config: NodeConfig::new("btc-monitor", 2),
        };
        let command = Command {
            args: vec!["-regtest=1".into(), "-connect=10.0.0.5:19444".into()],
            env: Vec::new(),
        };
        let mut spec = spec();
        spec.node_image = Some("tmpnet/litecoind:latest".into());
        let set = stateful_set(&spec, &ctx, &node, command).unwrap();
        let pod = &set["spec"]["template"]["spec"];
        let node_c = &pod["containers"][0];
        assert_eq!(node_c["name"], "node");
        assert_eq!(node_c["image"], "tmpnet/litecoind:latest");
        assert_eq!(
            node_c["args"],
            json!(["-regtest=1", "-connect=10.0.0.5:19444"])
        );
        assert_eq!(
            node_c["volumeMounts"],
            json!([{"name": "data", "mountPath": "/data", "subPath": "node"}]),
            "the node sees only its subdirectory, not the monitor's records"
        );
        let init = &pod["initContainers"][0];
        assert_eq!(init["args"][0], "init");
        let sidecar = &pod["containers"][1];
        assert_eq!(sidecar["args"][0], "wait-for-completion");
        let args: Vec<&str> = sidecar["args"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        let after = |flag: &str| args[args.iter().position(|a| *a == flag).unwrap() + 1];
        assert_eq!(
            after("--synced"),
            "getblockchaininfo:/initialblockdownload=false,/blocks=/headers"
        );
        assert!(args.contains(&"--version-args=-version"));
        // Only the monitor holds an API token.
        assert_eq!(pod["automountServiceAccountToken"], false);
        assert_eq!(pod["serviceAccountName"], "bootstrap-litecoind");
        for c in [init, sidecar] {
            assert!(c["volumeMounts"].to_string().contains("api-token"));
        }
        assert!(!node_c.to_string().contains("api-token"));
        assert_eq!(pod["securityContext"]["runAsUser"], 10001);
        assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
        let volumes = pod["volumes"].to_string();
        assert!(
            volumes.contains("tmpnet-0f1e2d3c-secrets") && volumes.contains("\"optional\":true")
        );
        assert_eq!(
            set["spec"]["persistentVolumeClaimRetentionPolicy"]["whenDeleted"],
            "Delete"
        );
        assert_eq!(
            set["spec"]["selector"]["matchLabels"][LABEL_MONITOR],
            "bootstrap-litecoind"
        );
        // It parses as a StatefulSet.
        serde_json::from_value::<k8s_openapi::api::apps::v1::StatefulSet>(set).unwrap();
    }

    #[test]
    fn names_and_pull_policies_are_checked() {
        let mut s = spec();
        for bad in ["", "Bad", "-x", "x-", "a_b", &"x".repeat(41)] {
            s.name = bad.into();
            let err = s.check().unwrap_err().to_string();
            assert!(err.contains("give --name"), "{bad}: {err}");
        }
        s.name = "ok-1".into();
        s.pull_policy = "Sometimes".into();
        assert!(s.check().unwrap_err().to_string().contains("--pull-policy"));
    }

    /// The Role in deploy/ is the rendering for the example monitor;
    /// `UPDATE_SNAPSHOTS=1` rewrites it (and still fails that run).
    #[test]
    fn the_rbac_in_deploy_is_the_rendered_one_and_least_privilege() {
        let (config, settings) = network();
        let ctx = context(&config, &settings);
        let mut docs = rbac(&spec(), &ctx);
        for doc in &mut docs {
            // The file is for any network: no network label.
            doc["metadata"]["labels"]
                .as_object_mut()
                .unwrap()
                .remove(LABEL_NETWORK);
        }
        let role = &docs[1];
        for rule in role["rules"].as_array().unwrap() {
            let verbs = rule["verbs"].to_string();
            assert!(
                !verbs.contains('*') && !verbs.contains("list") && !verbs.contains("watch"),
                "{rule}"
            );
            assert!(!rule["resources"].to_string().contains("secrets"), "{rule}");
        }
        let text = format!(
            "# The bootstrap monitor's own ServiceAccount, Role and RoleBinding, as\n# `tmpnetctl bootstrap-monitor deploy --name bootstrap-litecoind` makes them\n# in namespace tmpnet (a test checks this file against that rendering).\n{}",
            crate::runtime::kube::render::to_yaml(&docs).unwrap()
        );
        let path =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/bootstrap-monitor-rbac.yaml");
        let file = std::fs::read_to_string(&path).unwrap_or_default();
        if file != text && std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
            // Rewritten, and still a failure: the run that rewrites the file
            // never passes, so the new file is reviewed before it is kept.
            std::fs::write(&path, &text).unwrap();
            panic!("deploy/bootstrap-monitor-rbac.yaml rewritten: review the diff and run again");
        }
        assert_eq!(
            file, text,
            "deploy/bootstrap-monitor-rbac.yaml differs from the rendering; UPDATE_SNAPSHOTS=1 rewrites it"
        );
    }
}
