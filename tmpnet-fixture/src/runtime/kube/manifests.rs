//! The objects a network creates, built as typed values (no cluster needed):
//! the namespace, the state ConfigMap that owns everything, a Secret for the
//! kind's secret files, and per node a headless Service, a StatefulSet of one
//! replica with a data volume claim, and (with an ingress host) an Ingress.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{
    StatefulSet, StatefulSetPersistentVolumeClaimRetentionPolicy, StatefulSetSpec,
};
use k8s_openapi::api::core::v1::{
    Affinity, ConfigMap, Container, ContainerPort, EnvVar, EnvVarSource, HTTPGetAction, KeyToPath,
    Namespace, ObjectFieldSelector, PersistentVolumeClaim, PersistentVolumeClaimSpec,
    PodAffinityTerm, PodAntiAffinity, PodSecurityContext, PodSpec, PodTemplateSpec, Probe, Secret,
    SecretVolumeSource, Service, ServicePort, ServiceSpec, TCPSocketAction, Toleration, Volume,
    VolumeMount, VolumeResourceRequirements,
};
use k8s_openapi::api::networking::v1::{
    HTTPIngressPath, HTTPIngressRuleValue, Ingress, IngressBackend, IngressRule,
    IngressServiceBackend, IngressSpec, IngressTLS, ServiceBackendPort,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, OwnerReference};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use k8s_openapi::{ByteString, Resource};

use crate::error::Result;
use crate::kinds::{PodDaemon, PodProfile};
use crate::model::{Flags, KubeOwner, KubeSettings, NetworkConfig, Node};

/// Label: the network's uuid (every object of a network carries it).
pub const LABEL_NETWORK: &str = "tmpnet.io/network-uuid";
/// Label: the node id.
pub const LABEL_NODE: &str = "tmpnet.io/node-id";
/// Label: the node kind.
pub const LABEL_KIND: &str = "tmpnet.io/node-kind";
/// Label: whether the node is ephemeral (`true`/`false`).
pub const LABEL_EPHEMERAL: &str = "tmpnet.io/ephemeral";
/// Label: the network's owner, made label-safe.
pub const LABEL_OWNER: &str = "tmpnet.io/network-owner";
/// Pod label that exclusive scheduling's anti-affinity matches.
pub const LABEL_SCHEDULING: &str = "tmpnet.io/scheduling";
/// Pod annotation changed to force a restart.
pub const ANNOTATION_RESTARTED: &str = "tmpnet.io/restarted-at";
/// The container's name in every node pod.
pub const CONTAINER: &str = "node";
/// The data volume (claim template) name.
pub const DATA_VOLUME: &str = "data";
/// The volume of the node's own secret files.
pub const SECRETS_VOLUME: &str = "secrets";
/// The `app.kubernetes.io/managed-by` and `part-of` value.
const MANAGED_BY: &str = "tmpnet";

/// The name users know a network by on the cluster: `tmpnet-` and the
/// first 8 characters of its uuid. Its state ConfigMap has this name.
pub fn network_name(uuid: &str) -> String {
    let short: String = uuid
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(8)
        .collect::<String>()
        .to_ascii_lowercase();
    format!("tmpnet-{short}")
}

/// The name of a node's StatefulSet, Service and Ingress: the network's
/// name and the node id made DNS-safe (at most 52 characters, so the pod
/// name and its revision label stay within 63).
pub fn node_object_name(uuid: &str, node_id: &str) -> String {
    let id: String = node_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    let mut name = format!("{}-{}", network_name(uuid), id.trim_matches('-'));
    name.truncate(52);
    name.trim_end_matches('-').to_owned()
}

/// The name of a node's peer Service ([`Context::peer_service`]).
pub fn peer_service_name(uuid: &str, node_id: &str) -> String {
    format!("{}-peer", node_object_name(uuid, node_id))
}

/// The name of a node's (only) pod.
pub fn pod_name(uuid: &str, node_id: &str) -> String {
    format!("{}-0", node_object_name(uuid, node_id))
}

/// A reference to `owner` that makes an object its dependent, deleted with
/// it, without blocking the owner's deletion (which would need rights on
/// the owner's finalizers).
pub fn owned_by(owner: &KubeOwner) -> OwnerReference {
    OwnerReference {
        api_version: owner.api_version.clone(),
        kind: owner.kind.clone(),
        name: owner.name.clone(),
        uid: owner.uid.clone(),
        controller: Some(false),
        block_owner_deletion: Some(false),
    }
}

/// The name of the Secret holding the kind's secret files.
pub fn secret_name(uuid: &str) -> String {
    secret_name_of(&network_name(uuid))
}

/// The Secret of the network whose state ConfigMap is `network_name`.
pub fn secret_name_of(network_name: &str) -> String {
    format!("{network_name}-secrets")
}

/// A label value made valid: at most 63 characters of `[A-Za-z0-9-_.]`,
/// starting and ending with an alphanumeric.
pub fn label_value(text: &str) -> String {
    let mut v: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    v.truncate(63);
    v.trim_matches(|c: char| !c.is_ascii_alphanumeric())
        .to_owned()
}

/// What a node's container runs with: its arguments and environment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Command {
    /// The container's arguments.
    pub args: Vec<String>,
    /// Its environment, after `POD_IP` and `POD_NAME` (which its values
    /// may reference).
    pub env: Vec<(String, String)>,
}

impl Command {
    /// The command for flags composed for a pod, as the kind gives them.
    pub fn of(pod: &dyn PodDaemon, flags: &Flags) -> Command {
        Command {
            args: pod.args(flags),
            env: pod.env(flags),
        }
    }
}

/// Everything the builders need about one network.
#[derive(Debug, Clone)]
pub struct Context<'a> {
    /// The network's configuration.
    pub network: &'a NetworkConfig,
    /// The runtime settings.
    pub settings: &'a KubeSettings,
    /// What the node kind needs in a pod.
    pub profile: PodProfile,
    /// The owner of every object but the namespace and the state ConfigMap:
    /// the state ConfigMap (known once it exists; `None` when rendering).
    pub owner: Option<OwnerReference>,
}

/// The owner reference to a created state ConfigMap.
pub fn owner_reference(config_map: &ConfigMap) -> Option<OwnerReference> {
    Some(OwnerReference {
        api_version: ConfigMap::API_VERSION.to_owned(),
        kind: ConfigMap::KIND.to_owned(),
        name: config_map.metadata.name.clone()?,
        uid: config_map.metadata.uid.clone()?,
        block_owner_deletion: Some(true),
        controller: Some(false),
    })
}

impl Context<'_> {
    fn network_labels(&self) -> BTreeMap<String, String> {
        let n = self.network;
        BTreeMap::from([
            (LABEL_NETWORK.to_owned(), label_value(&n.uuid)),
            (LABEL_KIND.to_owned(), label_value(&n.node_kind)),
            (LABEL_OWNER.to_owned(), label_value(&n.owner)),
            (
                "app.kubernetes.io/part-of".to_owned(),
                MANAGED_BY.to_owned(),
            ),
            (
                "app.kubernetes.io/managed-by".to_owned(),
                MANAGED_BY.to_owned(),
            ),
        ])
    }

    /// The labels a StatefulSet selects its pod by.
    fn selector(&self, node: &Node) -> BTreeMap<String, String> {
        BTreeMap::from([
            (LABEL_NETWORK.to_owned(), label_value(&self.network.uuid)),
            (LABEL_NODE.to_owned(), label_value(node.id())),
        ])
    }

    /// Every label of a node's objects.
    pub fn node_labels(&self, node: &Node) -> BTreeMap<String, String> {
        let mut labels = self.network_labels();
        labels.extend(self.selector(node));
        labels.insert(
            LABEL_EPHEMERAL.to_owned(),
            super::state::is_ephemeral(node).to_string(),
        );
        labels.insert(
            "app.kubernetes.io/name".to_owned(),
            label_value(&self.network.node_kind),
        );
        labels.insert(
            "app.kubernetes.io/instance".to_owned(),
            node_object_name(&self.network.uuid, node.id()),
        );
        labels.insert("app.kubernetes.io/component".to_owned(), "node".to_owned());
        labels
    }

    fn meta(&self, name: String, labels: BTreeMap<String, String>) -> ObjectMeta {
        ObjectMeta {
            name: Some(name),
            namespace: Some(self.settings.namespace.clone()),
            labels: Some(labels),
            owner_references: self.owner.clone().map(|o| vec![o]),
            ..ObjectMeta::default()
        }
    }

    /// The namespace (created when missing).
    pub fn namespace(&self) -> Namespace {
        Namespace {
            metadata: ObjectMeta {
                name: Some(self.settings.namespace.clone()),
                labels: Some(BTreeMap::from([(
                    "app.kubernetes.io/managed-by".to_owned(),
                    MANAGED_BY.to_owned(),
                )])),
                ..ObjectMeta::default()
            },
            ..Namespace::default()
        }
    }

    /// The state ConfigMap: the network directory's files (see
    /// [`super::state`]), owner of every other object.
    pub fn state_config_map(&self, files: BTreeMap<String, String>) -> ConfigMap {
        ConfigMap {
            metadata: ObjectMeta {
                owner_references: self
                    .settings
                    .owner
                    .as_ref()
                    .map(|owner| vec![owned_by(owner)]),
                ..self.meta(network_name(&self.network.uuid), self.network_labels())
            },
            data: Some(files),
            ..ConfigMap::default()
        }
    }

    /// The Secret with the kind's secret files.
    pub fn secret(&self, files: BTreeMap<String, Vec<u8>>) -> Secret {
        Secret {
            metadata: self.meta(secret_name(&self.network.uuid), self.network_labels()),
            data: Some(files.into_iter().map(|(k, v)| (k, ByteString(v))).collect()),
            type_: Some("Opaque".to_owned()),
            ..Secret::default()
        }
    }

    /// The pod's named ports: the API port, and the p2p port when it is
    /// another (a daemon whose peers dial its API port has one; a port
    /// twice is refused by the API server).
    fn ports(&self) -> Vec<(String, u16)> {
        let mut ports = vec![("api".to_owned(), self.profile.api_port)];
        if self.profile.p2p_port != self.profile.api_port {
            ports.push(("p2p".to_owned(), self.profile.p2p_port));
        }
        ports
    }

    /// The node's headless Service: the StatefulSet's `serviceName`, giving
    /// its pod a stable DNS name; not-ready addresses are published so
    /// peers can resolve a node that is still starting.
    pub fn service(&self, node: &Node) -> Service {
        let name = node_object_name(&self.network.uuid, node.id());
        Service {
            metadata: self.meta(name, self.node_labels(node)),
            spec: Some(ServiceSpec {
                cluster_ip: Some("None".to_owned()),
                selector: Some(self.selector(node)),
                publish_not_ready_addresses: Some(true),
                ports: Some(
                    self.ports()
                        .into_iter()
                        .map(|(name, port)| ServicePort {
                            name: Some(name.clone()),
                            port: i32::from(port),
                            target_port: Some(IntOrString::String(name)),
                            protocol: Some("TCP".to_owned()),
                            ..ServicePort::default()
                        })
                        .collect(),
                ),
                ..ServiceSpec::default()
            }),
            ..Service::default()
        }
    }

    /// The node's peer Service, for kinds that name peers by their place
    /// (the first node, a role's nodes, every member): a cluster IP,
    /// allocated when it is made, before any pod runs, and the same for the
    /// network's life, so every node's peers are known up front and stay
    /// right across restarts (a pod's IP does not).
    pub fn peer_service(&self, node: &Node) -> Service {
        let mut service = self.service(node);
        service.metadata.name = Some(peer_service_name(&self.network.uuid, node.id()));
        // Not-ready addresses stay published: nodes that become ready
        // only once they reach each other (a quorum) can.
        if let Some(spec) = service.spec.as_mut() {
            spec.cluster_ip = None;
        }
        service
    }

    fn probe(&self) -> Probe {
        let port = IntOrString::String("api".to_owned());
        let (http_get, tcp_socket) = match &self.profile.readiness_path {
            Some(path) => (
                Some(HTTPGetAction {
                    path: Some(path.to_owned()),
                    port,
                    ..HTTPGetAction::default()
                }),
                None,
            ),
            None => (
                None,
                Some(TCPSocketAction {
                    port,
                    ..TCPSocketAction::default()
                }),
            ),
        };
        Probe {
            http_get,
            tcp_socket,
            period_seconds: Some(1),
            success_threshold: Some(1),
            failure_threshold: Some(3),
            ..Probe::default()
        }
    }

    fn field_env(name: &str, path: &str) -> EnvVar {
        EnvVar {
            name: name.to_owned(),
            value_from: Some(EnvVarSource {
                field_ref: Some(ObjectFieldSelector {
                    field_path: path.to_owned(),
                    ..ObjectFieldSelector::default()
                }),
                ..EnvVarSource::default()
            }),
            ..EnvVar::default()
        }
    }

    fn annotations(&self) -> BTreeMap<String, String> {
        let mut a = BTreeMap::new();
        if let Some(path) = &self.profile.metrics_path {
            a.insert("prometheus.io/scrape".to_owned(), "true".to_owned());
            a.insert("prometheus.io/path".to_owned(), path.to_owned());
            a.insert(
                "prometheus.io/port".to_owned(),
                self.profile.api_port.to_string(),
            );
        }
        a
    }

    fn scheduling(&self, spec: &mut PodSpec, labels: &mut BTreeMap<String, String>) {
        let Some(sched) = &self.settings.exclusive_scheduling else {
            return;
        };
        labels.insert(LABEL_SCHEDULING.to_owned(), "exclusive".to_owned());
        spec.node_selector = Some(BTreeMap::from([(sched.key.clone(), sched.value.clone())]));
        // No effect named: tolerates the taint whatever its effect.
        spec.tolerations = Some(vec![Toleration {
            key: Some(sched.key.clone()),
            operator: Some("Equal".to_owned()),
            value: Some(sched.value.clone()),
            ..Toleration::default()
        }]);
        spec.affinity = Some(Affinity {
            pod_anti_affinity: Some(PodAntiAffinity {
                required_during_scheduling_ignored_during_execution: Some(vec![PodAffinityTerm {
                    label_selector: Some(LabelSelector {
                        match_labels: Some(BTreeMap::from([(
                            LABEL_SCHEDULING.to_owned(),
                            "exclusive".to_owned(),
                        )])),
                        ..LabelSelector::default()
                    }),
                    topology_key: "kubernetes.io/hostname".to_owned(),
                    ..PodAffinityTerm::default()
                }]),
                ..PodAntiAffinity::default()
            }),
            ..Affinity::default()
        });
    }

    /// The volume and mount of the node's own secret files, when it has
    /// some and the kind says where they go: the network's Secret, only
    /// this node's keys, each at its path under the node directory, mode
    /// 0440 for the kind's group.
    fn secrets_volume(&self, node: &Node) -> Result<Option<(Volume, VolumeMount)>> {
        let Some(wanted) = &self.profile.secrets else {
            return Ok(None);
        };
        let keys = super::state::node_secret_keys(node)?;
        if keys.is_empty() {
            return Ok(None);
        }
        let volume = Volume {
            name: SECRETS_VOLUME.to_owned(),
            secret: Some(SecretVolumeSource {
                secret_name: Some(secret_name(&self.network.uuid)),
                items: Some(
                    keys.into_iter()
                        .map(|(key, path)| KeyToPath {
                            key,
                            path,
                            mode: None,
                        })
                        .collect(),
                ),
                default_mode: Some(0o440),
                optional: Some(false),
            }),
            ..Volume::default()
        };
        let mount = VolumeMount {
            name: SECRETS_VOLUME.to_owned(),
            mount_path: wanted.path.clone(),
            read_only: Some(true),
            ..VolumeMount::default()
        };
        Ok(Some((volume, mount)))
    }

    /// The node's pod template for a start with this `command`.
    pub fn pod_template(&self, node: &Node, command: Command) -> Result<PodTemplateSpec> {
        let mut labels = self.node_labels(node);
        let mut env = vec![
            Self::field_env("POD_IP", "status.podIP"),
            Self::field_env("POD_NAME", "metadata.name"),
        ];
        env.extend(command.env.into_iter().map(|(name, value)| EnvVar {
            name,
            value: Some(value),
            ..EnvVar::default()
        }));
        let mut mounts = vec![VolumeMount {
            name: DATA_VOLUME.to_owned(),
            mount_path: self.profile.data_path.to_owned(),
            ..VolumeMount::default()
        }];
        let (mut volumes, mut security_context) = (None, None);
        if let Some((volume, mount)) = self.secrets_volume(node)? {
            mounts.push(mount);
            volumes = Some(vec![volume]);
            security_context = self.profile.secrets.as_ref().map(|s| PodSecurityContext {
                fs_group: Some(s.group),
                ..PodSecurityContext::default()
            });
        }
        let mut spec = PodSpec {
            termination_grace_period_seconds: i64::try_from(self.settings.stop_grace_secs).ok(),
            // Nodes do not talk to the API server.
            automount_service_account_token: Some(false),
            containers: vec![Container {
                name: CONTAINER.to_owned(),
                image: Some(self.settings.image.clone()),
                // A `:latest` image loaded into the cluster (kind load) is
                // used as it is, not pulled from a registry.
                image_pull_policy: Some("IfNotPresent".to_owned()),
                args: Some(command.args),
                env: Some(env),
                ports: Some(
                    self.ports()
                        .into_iter()
                        .map(|(name, port)| ContainerPort {
                            name: Some(name),
                            container_port: i32::from(port),
                            protocol: Some("TCP".to_owned()),
                            ..ContainerPort::default()
                        })
                        .collect(),
                ),
                volume_mounts: Some(mounts),
                readiness_probe: Some(self.probe()),
                ..Container::default()
            }],
            volumes,
            security_context,
            ..PodSpec::default()
        };
        self.scheduling(&mut spec, &mut labels);
        Ok(PodTemplateSpec {
            metadata: Some(ObjectMeta {
                labels: Some(labels),
                annotations: Some(self.annotations()),
                ..ObjectMeta::default()
            }),
            spec: Some(spec),
        })
    }

    /// The node's StatefulSet: one replica, its data on a claim that is
    /// deleted with the set (kept when scaled to zero).
    pub fn stateful_set(&self, node: &Node, command: Command) -> Result<StatefulSet> {
        let name = node_object_name(&self.network.uuid, node.id());
        let mut claim_labels = self.node_labels(node);
        claim_labels.remove("app.kubernetes.io/component");
        Ok(StatefulSet {
            metadata: self.meta(name.clone(), self.node_labels(node)),
            spec: Some(StatefulSetSpec {
                replicas: Some(1),
                service_name: Some(name),
                selector: LabelSelector {
                    match_labels: Some(self.selector(node)),
                    ..LabelSelector::default()
                },
                persistent_volume_claim_retention_policy: Some(
                    StatefulSetPersistentVolumeClaimRetentionPolicy {
                        when_deleted: Some("Delete".to_owned()),
                        when_scaled: Some("Retain".to_owned()),
                    },
                ),
                template: self.pod_template(node, command)?,
                volume_claim_templates: Some(vec![PersistentVolumeClaim {
                    metadata: ObjectMeta {
                        name: Some(DATA_VOLUME.to_owned()),
                        labels: Some(claim_labels),
                        ..ObjectMeta::default()
                    },
                    spec: Some(PersistentVolumeClaimSpec {
                        access_modes: Some(vec!["ReadWriteOnce".to_owned()]),
                        resources: Some(VolumeResourceRequirements {
                            requests: Some(BTreeMap::from([(
                                "storage".to_owned(),
                                Quantity(format!("{}Gi", self.settings.volume_size_gib)),
                            )])),
                            ..VolumeResourceRequirements::default()
                        }),
                        ..PersistentVolumeClaimSpec::default()
                    }),
                    ..PersistentVolumeClaim::default()
                }]),
                ..StatefulSetSpec::default()
            }),
            ..StatefulSet::default()
        })
    }

    /// The path under the ingress host that reaches a node's API.
    pub fn ingress_path(&self, node: &Node) -> String {
        format!("/networks/{}/{}", self.network.uuid, node.id())
    }

    /// The node's Ingress (with an ingress host): the node's API under
    /// [`Context::ingress_path`], for the nginx ingress controller.
    pub fn ingress(&self, node: &Node) -> Option<Ingress> {
        let host = self.settings.ingress_host.as_deref()?;
        let name = node_object_name(&self.network.uuid, node.id());
        // A `localhost[:port]` host is not a rule host (it comes in through
        // a port mapping, with any Host header).
        let bare_host = host.split(':').next().unwrap_or(host);
        let rule_host = (bare_host != "localhost").then(|| bare_host.to_owned());
        let annotations = BTreeMap::from([
            (
                "nginx.ingress.kubernetes.io/use-regex".to_owned(),
                "true".to_owned(),
            ),
            (
                "nginx.ingress.kubernetes.io/rewrite-target".to_owned(),
                "/$2".to_owned(),
            ),
            (
                "nginx.ingress.kubernetes.io/proxy-body-size".to_owned(),
                "0".to_owned(),
            ),
        ]);
        Some(Ingress {
            metadata: ObjectMeta {
                annotations: Some(annotations),
                ..self.meta(name.clone(), self.node_labels(node))
            },
            spec: Some(IngressSpec {
                ingress_class_name: Some("nginx".to_owned()),
                tls: match (&self.settings.ingress_secret, &rule_host) {
                    (Some(secret), Some(h)) => Some(vec![IngressTLS {
                        hosts: Some(vec![h.clone()]),
                        secret_name: Some(secret.clone()),
                    }]),
                    _ => None,
                },
                rules: Some(vec![IngressRule {
                    host: rule_host,
                    http: Some(HTTPIngressRuleValue {
                        paths: vec![HTTPIngressPath {
                            path: Some(format!("{}(/|$)(.*)", self.ingress_path(node))),
                            path_type: "ImplementationSpecific".to_owned(),
                            backend: IngressBackend {
                                service: Some(IngressServiceBackend {
                                    name,
                                    port: Some(ServiceBackendPort {
                                        name: Some("api".to_owned()),
                                        ..ServiceBackendPort::default()
                                    }),
                                }),
                                ..IngressBackend::default()
                            },
                        }],
                    }),
                }]),
                ..IngressSpec::default()
            }),
            ..Ingress::default()
        })
    }
}
