//! The objects a network of pods is made of: the namespace, the state
//! ConfigMap and the Secret (made once per runtime), each node's Service,
//! Ingress and StatefulSet, and the sweep of what owner references left.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{
    ConfigMap, Namespace, PersistentVolumeClaim, Pod, Secret, Service,
};
use k8s_openapi::api::networking::v1::Ingress;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;

use super::client::{self, api_error, call, status_code};
use super::manifests::{self, Command};
use super::{pods, state, KubeRuntime, STOP_SLACK};
use crate::error::{Error, Result};
use crate::kinds::{self, LaunchContext, Placement};
use crate::model::{Node, Peer};

impl KubeRuntime {
    /// Makes sure the namespace, the state ConfigMap (with the network
    /// directory's current files) and the Secret exist; returns the owner
    /// reference for the network's objects.
    pub(super) async fn ensure_network(&self) -> Result<OwnerReference> {
        let mut owner = self.owner.lock().await;
        if let Some(o) = owner.as_ref() {
            return Ok(o.clone());
        }
        let client = self.client().await?;
        let ctx = self.context(None)?;
        let ns = &self.settings.namespace;
        let namespaces: Api<Namespace> = Api::all(client.clone());
        match call(namespaces.get_opt(ns)).await {
            Ok(Some(_)) => {}
            Ok(None) => {
                match call(namespaces.create(&PostParams::default(), &ctx.namespace())).await {
                    Ok(_) => tracing::info!(namespace = %ns, "created the namespace"),
                    Err(e) if status_code(&e) == Some(409) => {}
                    Err(e) => return Err(api_error(format!("create namespace {ns}"), e)),
                }
            }
            // A namespaced account cannot read namespaces; the calls below
            // say clearly if it does not exist.
            Err(e) if status_code(&e) == Some(403) => {}
            Err(e) => return Err(api_error(format!("read namespace {ns}"), e)),
        }
        let files = state::collect(&self.dir, &self.kind.secret_files())?;
        let maps: Api<ConfigMap> = Api::namespaced(client.clone(), ns);
        let wanted = ctx.state_config_map(files.plain.clone());
        let name = manifests::network_name(&self.network.uuid);
        let created = match call(maps.create(&PostParams::default(), &wanted)).await {
            Ok(created) => created,
            Err(e) if status_code(&e) == Some(409) => {
                let existing = call(maps.patch(
                    &name,
                    &PatchParams::default(),
                    &Patch::Merge(json!({"data": files.plain})),
                ))
                .await
                .map_err(|e| api_error(format!("update configmap {name}"), e))?;
                if existing.metadata.deletion_timestamp.is_none() {
                    existing
                } else {
                    // An earlier stop is still deleting the network: let it
                    // finish, or new objects would be owned by the dying one.
                    let timeout = Duration::from_secs(self.settings.stop_grace_secs) + STOP_SLACK;
                    pods::wait_gone(&maps, &name, timeout).await?;
                    call(maps.create(&PostParams::default(), &wanted))
                        .await
                        .map_err(|e| api_error(format!("create configmap {name}"), e))?
                }
            }
            Err(e) => return Err(api_error(format!("create configmap {name}"), e)),
        };
        let reference = manifests::owner_reference(&created).ok_or_else(|| Error::Kube {
            action: format!("create configmap {name}"),
            reason: "the API server returned it without a name or uid".into(),
        })?;
        if !files.secret.is_empty() {
            let secrets: Api<Secret> = Api::namespaced(client, ns);
            let ctx = self.context(Some(reference.clone()))?;
            let secret = ctx.secret(files.secret.clone());
            let secret_name = manifests::secret_name(&self.network.uuid);
            match call(secrets.create(&PostParams::default(), &secret)).await {
                Ok(_) => {}
                Err(e) if status_code(&e) == Some(409) => {
                    call(secrets.replace(&secret_name, &PostParams::default(), &secret))
                        .await
                        .map_err(|e| api_error(format!("update secret {secret_name}"), e))?;
                }
                Err(e) => return Err(api_error(format!("create secret {secret_name}"), e)),
            }
        }
        *owner = Some(reference.clone());
        Ok(reference)
    }

    /// Composes the node's flags for a pod, records them (`flags.json` and
    /// the state ConfigMap), puts the node's own secret files in the
    /// network's Secret, and returns what the container runs with.
    pub(super) async fn prepare_command(
        &self,
        node: &Node,
        peers: &[Peer],
        members: &[Peer],
    ) -> Result<Command> {
        let launch = LaunchContext {
            placement: Placement::Pod,
            network_dir: &self.dir,
            node,
            peers,
            // Pod IPs are known only once scheduled: the members are the
            // peer Services' cluster IPs, for the kinds that need them.
            members,
        };
        let flags =
            kinds::compose_and_record(self.kind.as_ref(), &self.network.default_flags, &launch)?;
        let mut data = BTreeMap::new();
        for path in [node.config_path(), node.flags_path()] {
            let relative = path.strip_prefix(&self.dir).unwrap_or(&path);
            let text =
                std::fs::read_to_string(&path).map_err(|e| Error::io("cannot read", &path, e))?;
            data.insert(state::key_of(relative)?, text);
        }
        let maps: Api<ConfigMap> = self.api().await?;
        let name = manifests::network_name(&self.network.uuid);
        call(maps.patch(
            &name,
            &PatchParams::default(),
            &Patch::Merge(json!({ "data": data })),
        ))
        .await
        .map_err(|e| api_error(format!("update configmap {name}"), e))?;
        self.store_node_secrets(node).await?;
        Ok(Command::of(self.pod()?, &flags))
    }

    /// Adds the node's own secret files to the network's Secret (a node
    /// made after the Secret, an ephemeral one, brings its keys here).
    async fn store_node_secrets(&self, node: &Node) -> Result<()> {
        let keys = state::node_secret_keys(node)?;
        if keys.is_empty() {
            return Ok(());
        }
        let mut data = BTreeMap::new();
        for (key, relative) in keys {
            let path = node.dir.join(relative);
            let bytes = std::fs::read(&path).map_err(|e| Error::io("cannot read", &path, e))?;
            data.insert(key, k8s_openapi::ByteString(bytes));
        }
        let secrets: Api<Secret> = self.api().await?;
        let name = manifests::secret_name(&self.network.uuid);
        match call(secrets.patch(
            &name,
            &PatchParams::default(),
            &Patch::Merge(json!({ "data": data })),
        ))
        .await
        {
            Ok(_) => Ok(()),
            Err(e) if status_code(&e) == Some(404) => {
                let owner = self.ensure_network().await?;
                let secret = self
                    .context(Some(owner))?
                    .secret(data.into_iter().map(|(k, v)| (k, v.0)).collect());
                call(secrets.create(&PostParams::default(), &secret))
                    .await
                    .map(|_| ())
                    .map_err(|e| api_error(format!("create secret {name}"), e))
            }
            Err(e) => Err(api_error(format!("update secret {name}"), e)),
        }
    }

    /// Creates the node's Service, Ingress and StatefulSet, owned by
    /// `owner` (the state ConfigMap); an existing
    /// StatefulSet (a stopped node) gets the new template and one replica.
    pub(super) async fn apply_node(
        &self,
        node: &Node,
        command: Command,
        owner: OwnerReference,
    ) -> Result<()> {
        let ctx = self.context(Some(owner))?;
        let services: Api<Service> = self.api().await?;
        create_if_missing(&services, &ctx.service(node)).await?;
        if let Some(ingress) = ctx.ingress(node) {
            let ingresses: Api<Ingress> = self.api().await?;
            create_if_missing(&ingresses, &ingress).await?;
        }
        let sets: Api<StatefulSet> = self.api().await?;
        let set = ctx.stateful_set(node, command)?;
        let name = self.object_name(node);
        match call(sets.create(&PostParams::default(), &set)).await {
            Ok(_) => Ok(()),
            Err(e) if status_code(&e) == Some(409) => {
                let template = set.spec.map(|s| s.template);
                call(sets.patch(
                    &name,
                    &PatchParams::default(),
                    &Patch::Merge(json!({"spec": {"replicas": 1, "template": template}})),
                ))
                .await
                .map(|_| ())
                .map_err(|e| api_error(format!("update statefulset {name}"), e))
            }
            Err(e) => Err(api_error(format!("create statefulset {name}"), e)),
        }
    }

    /// Makes each node's peer Service (owned by the network's state, as the
    /// rest) and returns every node with its cluster IP and p2p port, in
    /// node order.
    pub(super) async fn peer_services(
        &self,
        nodes: &[Node],
        owner: OwnerReference,
    ) -> Result<Vec<Peer>> {
        let ctx = self.context(Some(owner))?;
        let services: Api<Service> = self.api().await?;
        for node in nodes {
            create_if_missing(&services, &ctx.peer_service(node)).await?;
        }
        // Listed, not read one by one: the account may list Services but
        // not get them.
        let selector = format!(
            "{}={}",
            manifests::LABEL_NETWORK,
            manifests::label_value(&self.network.uuid)
        );
        let listed = call(services.list(&ListParams::default().labels(&selector)))
            .await
            .map_err(|e| api_error("list the network's services", e))?;
        let port = self.pod()?.profile().p2p_port;
        nodes
            .iter()
            .map(|node| {
                let name = manifests::peer_service_name(&self.network.uuid, node.id());
                let ip = listed
                    .items
                    .iter()
                    .find(|s| s.metadata.name.as_deref() == Some(name.as_str()))
                    .and_then(|s| s.spec.as_ref()?.cluster_ip.clone())
                    .filter(|ip| !ip.is_empty() && ip != "None");
                match ip {
                    Some(ip) => Ok(Peer {
                        node_id: node.id().to_owned(),
                        p2p_address: format!("{ip}:{port}"),
                    }),
                    None => Err(Error::Kube {
                        action: format!("give node {} a stable address", node.id()),
                        reason: format!(
                            "service {name} has no cluster IP; the cluster must allocate one (a Service of type ClusterIP)"
                        ),
                    }),
                }
            })
            .collect()
    }

    /// Deletes whatever of the network is still labelled with its uuid
    /// (what owner references did not remove), and says what was left.
    pub(super) async fn sweep(&self) -> Result<Vec<String>> {
        let selector = format!(
            "{}={}",
            manifests::LABEL_NETWORK,
            manifests::label_value(&self.network.uuid)
        );
        let mut left = Vec::new();
        left.extend(self.sweep_kind::<StatefulSet>(&selector).await?);
        left.extend(self.sweep_kind::<Ingress>(&selector).await?);
        left.extend(self.sweep_kind::<Service>(&selector).await?);
        // By name: listing Secrets would need a right to read them all.
        let secrets: Api<Secret> = self.api().await?;
        let secret = manifests::secret_name(&self.network.uuid);
        match call(secrets.delete(&secret, &DeleteParams::background())).await {
            Ok(_) => left.push(format!("secret/{secret}")),
            Err(e) if status_code(&e) == Some(404) => {}
            Err(e) => return Err(api_error(format!("delete secret {secret}"), e)),
        }
        left.extend(self.sweep_kind::<PersistentVolumeClaim>(&selector).await?);
        left.extend(self.sweep_kind::<Pod>(&selector).await?);
        Ok(left)
    }

    async fn sweep_kind<K>(&self, selector: &str) -> Result<Vec<String>>
    where
        K: client::NamespacedObject,
    {
        let api: Api<K> = self.api().await?;
        let kind = K::kind(&Default::default()).to_ascii_lowercase();
        let found = call(api.list(&ListParams::default().labels(selector)))
            .await
            .map_err(|e| api_error(format!("list {kind}s"), e))?;
        let mut left = Vec::new();
        for object in found.items {
            let name = object.meta().name.clone().unwrap_or_default();
            match call(api.delete(&name, &DeleteParams::background())).await {
                Ok(_) => left.push(format!("{kind}/{name}")),
                Err(e) if status_code(&e) == Some(404) => {}
                Err(e) => return Err(api_error(format!("delete {kind} {name}"), e)),
            }
        }
        Ok(left)
    }
}

async fn create_if_missing<K>(api: &Api<K>, object: &K) -> Result<()>
where
    K: kube::Resource + Clone + serde::Serialize + serde::de::DeserializeOwned + std::fmt::Debug,
    <K as kube::Resource>::DynamicType: Default,
{
    match call(api.create(&PostParams::default(), object)).await {
        Ok(_) => Ok(()),
        // Names derive from the network and node, and specs from their
        // settings: an existing object is this one.
        Err(e) if status_code(&e) == Some(409) => Ok(()),
        Err(e) => Err(api_error(
            format!(
                "create {} {}",
                K::kind(&Default::default()).to_ascii_lowercase(),
                object.meta().name.clone().unwrap_or_default()
            ),
            e,
        )),
    }
}
