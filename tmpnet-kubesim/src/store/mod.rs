//! The object store: every object as JSON, one global resourceVersion, an
//! event history for watches, and the apiserver's bookkeeping (uid,
//! creationTimestamp, generation, conflicts, cascading deletes).

mod quantity;

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;

use serde_json::{json, Value};
use tokio::sync::broadcast;

use crate::resources::{Resource, RESOURCES};
use crate::status::{ApiError, ApiResult};

/// Events kept for watches that resume from a resourceVersion.
const HISTORY: usize = 10_000;

/// What happened to an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    /// Created.
    Added,
    /// Changed.
    Modified,
    /// Deleted.
    Deleted,
}

impl EventType {
    /// The watch event's `type`.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// One change, as watches see it.
#[derive(Debug, Clone)]
pub struct Event {
    /// The resourceVersion the change produced.
    pub rv: u64,
    /// What happened.
    pub kind: EventType,
    /// The resource.
    pub resource: &'static Resource,
    /// The object after the change (before it, for a delete).
    pub object: Value,
    /// For a change, the object before it (selector watches turn a change
    /// into ADDED or DELETED when the object starts or stops matching).
    pub previous: Option<Value>,
}

impl Event {
    /// The namespace of the object.
    pub fn namespace(&self) -> Option<&str> {
        self.object
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
    }
}

type Key = (&'static str, &'static str, String, String);

fn key(res: &'static Resource, ns: Option<&str>, name: &str) -> Key {
    (
        res.group,
        res.plural,
        ns.unwrap_or_default().to_owned(),
        name.to_owned(),
    )
}

struct Inner {
    objects: BTreeMap<Key, (&'static Resource, Value)>,
    rv: u64,
    history: VecDeque<Event>,
    /// Watches may resume from any resourceVersion >= this one.
    oldest_resumable: u64,
    /// Cluster IPs given to Services so far.
    service_ips: u32,
}

/// The store.
pub struct Store {
    inner: Mutex<Inner>,
    events: broadcast::Sender<Event>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").finish_non_exhaustive()
    }
}

/// RFC 3339 UTC, seconds precision, as Kubernetes writes timestamps.
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

/// A DNS-1123 subdomain, as most object names must be.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric())
}

fn name_of(object: &Value) -> Option<&str> {
    object.pointer("/metadata/name").and_then(Value::as_str)
}

fn uid_of(object: &Value) -> Option<&str> {
    object.pointer("/metadata/uid").and_then(Value::as_str)
}

impl Default for Store {
    fn default() -> Self {
        Self::new()
    }
}

impl Store {
    /// A store holding the `default` and `kube-system` namespaces.
    pub fn new() -> Store {
        let (events, _) = broadcast::channel(4096);
        let store = Store {
            inner: Mutex::new(Inner {
                objects: BTreeMap::new(),
                rv: 0,
                history: VecDeque::new(),
                oldest_resumable: 0,
                service_ips: 0,
            }),
            events,
        };
        let ns = &RESOURCES[0];
        for name in ["default", "kube-system"] {
            let _ = store.create(ns, None, json!({"metadata": {"name": name}}));
        }
        store
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn record(
        &self,
        inner: &mut Inner,
        kind: EventType,
        res: &'static Resource,
        object: Value,
        previous: Option<Value>,
    ) {
        let event = Event {
            rv: inner.rv,
            kind,
            resource: res,
            object,
            previous,
        };
        inner.history.push_back(event.clone());
        if inner.history.len() > HISTORY {
            if let Some(dropped) = inner.history.pop_front() {
                inner.oldest_resumable = dropped.rv;
            }
        }
        let _ = self.events.send(event);
    }

    /// The current resourceVersion.
    #[cfg(test)]
    pub fn resource_version(&self) -> u64 {
        self.lock().rv
    }

    /// Forgets the event history, as etcd compaction does: a watch resuming
    /// from an older resourceVersion then gets `410 Gone`.
    pub fn compact(&self) {
        let mut inner = self.lock();
        inner.history.clear();
        inner.oldest_resumable = inner.rv;
    }

    /// One object.
    pub fn get(&self, res: &'static Resource, ns: Option<&str>, name: &str) -> ApiResult<Value> {
        self.lock()
            .objects
            .get(&key(res, ns, name))
            .map(|(_, o)| o.clone())
            .ok_or_else(|| ApiError::not_found(&res.qualified(), name))
    }

    /// Objects of `res` (in `ns`, or everywhere) accepted by `keep`, and the
    /// resourceVersion of the snapshot.
    pub fn list(
        &self,
        res: &'static Resource,
        ns: Option<&str>,
        keep: impl Fn(&Value) -> bool,
    ) -> (Vec<Value>, u64) {
        let inner = self.lock();
        let items = inner
            .objects
            .iter()
            .filter(|((g, p, n, _), _)| {
                *g == res.group && *p == res.plural && ns.is_none_or(|ns| n == ns)
            })
            .map(|(_, (_, o))| o)
            .filter(|o| keep(o))
            .cloned()
            .collect();
        (items, inner.rv)
    }

    /// Creates an object (`generateName` honoured); it must not exist.
    pub fn create(
        &self,
        res: &'static Resource,
        ns: Option<&str>,
        mut object: Value,
    ) -> ApiResult<Value> {
        if !object.is_object() {
            return Err(ApiError::bad_request(
                "the body is not a JSON object".into(),
            ));
        }
        let mut inner = self.lock();
        if object.get("metadata").is_none_or(|m| !m.is_object()) {
            object["metadata"] = json!({});
        }
        let name = match name_of(&object) {
            Some(n) if !n.is_empty() => n.to_owned(),
            _ => match object
                .pointer("/metadata/generateName")
                .and_then(Value::as_str)
            {
                Some(prefix) => {
                    let suffix = uuid::Uuid::new_v4().simple().to_string();
                    format!("{prefix}{}", &suffix[..5])
                }
                None => {
                    return Err(ApiError::invalid(
                        &res.qualified(),
                        "",
                        "metadata.name: Required value: name or generateName is required".into(),
                    ))
                }
            },
        };
        if !valid_name(&name) {
            return Err(ApiError::invalid(
                &res.qualified(),
                &name,
                "metadata.name: Invalid value: a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.'".into(),
            ));
        }
        if let Some(ns) = ns {
            if let Some(given) = object
                .pointer("/metadata/namespace")
                .and_then(Value::as_str)
            {
                if given != ns {
                    return Err(ApiError::bad_request(format!(
                        "the namespace of the provided object ({given}) does not match the namespace sent on the request ({ns})"
                    )));
                }
            }
            let ns_key = key(&RESOURCES[0], None, ns);
            if !inner.objects.contains_key(&ns_key) {
                return Err(ApiError::not_found("namespaces", ns));
            }
        }
        let k = key(res, ns, &name);
        if inner.objects.contains_key(&k) {
            return Err(ApiError::already_exists(&res.qualified(), &name));
        }
        if res.kind == "Service" {
            service_ports_valid(&object)
                .map_err(|why| ApiError::invalid(&res.qualified(), &name, why))?;
            // As the API server does: a Service that is not headless gets
            // a cluster IP when it is made. Here it is a loopback address
            // (nothing forwards it to the pods: the simulator has no proxy).
            let given = object.pointer("/spec/clusterIP").and_then(Value::as_str);
            if given.is_none_or(str::is_empty) {
                inner.service_ips += 1;
                let n = inner.service_ips;
                object["spec"]["clusterIP"] = json!(format!("127.96.{}.{}", n / 250, n % 250 + 1));
                object["spec"]["clusterIPs"] = json!([object["spec"]["clusterIP"]]);
            }
        }
        inner.rv += 1;
        let rv = inner.rv;
        object["apiVersion"] = json!(res.api_version());
        object["kind"] = json!(res.kind);
        let meta = &mut object["metadata"];
        meta["name"] = json!(name);
        if let Some(ns) = ns {
            meta["namespace"] = json!(ns);
        }
        meta["uid"] = json!(uuid::Uuid::new_v4().to_string());
        meta["creationTimestamp"] = json!(now_rfc3339());
        meta["resourceVersion"] = json!(rv.to_string());
        meta["generation"] = json!(1);
        if res.kind == "Namespace" {
            object["status"] = json!({"phase": "Active"});
        }
        if res.kind == "Pod" {
            // As the API server does: a new pod is Pending, with its QoS
            // class, before any kubelet has seen it, whatever the request
            // said of its status.
            object["status"] = json!({"phase": "Pending", "qosClass": pod_qos(&object)});
        }
        inner.objects.insert(k, (res, object.clone()));
        self.record(&mut inner, EventType::Added, res, object.clone(), None);
        Ok(object)
    }

    /// Replaces an object. A `metadata.resourceVersion` in `object` must be
    /// current (else 409). With `status_only`, only `.status` is taken from
    /// `object`; otherwise `.status` is kept for resources with a status
    /// subresource.
    pub fn replace(
        &self,
        res: &'static Resource,
        ns: Option<&str>,
        name: &str,
        object: Value,
        status_only: bool,
    ) -> ApiResult<Value> {
        if !object.is_object() || object.get("metadata").is_some_and(|m| !m.is_object()) {
            return Err(ApiError::bad_request(
                "the body is not an object with an object `metadata`".into(),
            ));
        }
        let mut inner = self.lock();
        let k = key(res, ns, name);
        let (_, old) = inner
            .objects
            .get(&k)
            .cloned()
            .ok_or_else(|| ApiError::not_found(&res.qualified(), name))?;
        if let Some(given) = object
            .pointer("/metadata/resourceVersion")
            .and_then(Value::as_str)
        {
            if Some(given)
                != old
                    .pointer("/metadata/resourceVersion")
                    .and_then(Value::as_str)
            {
                return Err(ApiError::conflict(&res.qualified(), name));
            }
        }
        if name_of(&object).is_some_and(|n| n != name) {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({}) does not match the name on the URL ({name})",
                name_of(&object).unwrap_or_default()
            )));
        }
        let mut new = if status_only {
            let mut new = old.clone();
            new["status"] = object.get("status").cloned().unwrap_or(Value::Null);
            // A pod's QoS class is set once, at creation.
            if let Some(qos) = old
                .pointer("/status/qosClass")
                .filter(|_| res.kind == "Pod")
            {
                if new["status"].is_object() && new["status"].get("qosClass").is_none() {
                    new["status"]["qosClass"] = qos.clone();
                }
            }
            new
        } else {
            let mut new = object;
            if res.status {
                match old.get("status") {
                    Some(status) => new["status"] = status.clone(),
                    None => {
                        if let Some(map) = new.as_object_mut() {
                            map.remove("status");
                        }
                    }
                }
            }
            if new.get("metadata").is_none_or(|m| !m.is_object()) {
                new["metadata"] = json!({});
            }
            for field in [
                "name",
                "namespace",
                "uid",
                "creationTimestamp",
                "generation",
            ] {
                match old["metadata"].get(field) {
                    Some(v) => new["metadata"][field] = v.clone(),
                    None => {
                        if let Some(meta) = new["metadata"].as_object_mut() {
                            meta.remove(field);
                        }
                    }
                }
            }
            new["apiVersion"] = json!(res.api_version());
            new["kind"] = json!(res.kind);
            new
        };
        new["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"].clone();
        if new == old {
            return Ok(old);
        }
        if !status_only && new.get("spec") != old.get("spec") {
            let generation = old
                .pointer("/metadata/generation")
                .and_then(Value::as_i64)
                .unwrap_or(1);
            new["metadata"]["generation"] = json!(generation + 1);
        }
        inner.rv += 1;
        new["metadata"]["resourceVersion"] = json!(inner.rv.to_string());
        inner.objects.insert(k, (res, new.clone()));
        self.record(&mut inner, EventType::Modified, res, new.clone(), Some(old));
        Ok(new)
    }

    /// Deletes an object, then (in the background, as Kubernetes' garbage
    /// collector would) every object it owns, and for a namespace every
    /// object in it. Returns the deleted object.
    pub fn delete(&self, res: &'static Resource, ns: Option<&str>, name: &str) -> ApiResult<Value> {
        let mut inner = self.lock();
        let (_, object) = inner
            .objects
            .remove(&key(res, ns, name))
            .ok_or_else(|| ApiError::not_found(&res.qualified(), name))?;
        let mut doomed = vec![(res, object.clone())];
        while let Some((res, object)) = doomed.pop() {
            inner.rv += 1;
            let mut gone = object.clone();
            gone["metadata"]["resourceVersion"] = json!(inner.rv.to_string());
            self.record(&mut inner, EventType::Deleted, res, gone, None);
            let uid = uid_of(&object).unwrap_or_default().to_owned();
            let namespace =
                (res.kind == "Namespace").then(|| name_of(&object).unwrap_or_default().to_owned());
            let dependents: Vec<Key> = inner
                .objects
                .iter()
                .filter(|((_, _, ns, _), (_, o))| {
                    namespace.as_deref().is_some_and(|n| n == ns)
                        || o.pointer("/metadata/ownerReferences")
                            .and_then(Value::as_array)
                            .is_some_and(|refs| refs.iter().any(|r| r["uid"] == json!(uid)))
                })
                .map(|(k, _)| k.clone())
                .collect();
            for k in dependents {
                if let Some(entry) = inner.objects.remove(&k) {
                    doomed.push(entry);
                }
            }
        }
        Ok(object)
    }

    /// Deletes every object whose owners are all gone (a dependent created
    /// after its owner's deletion, e.g. by a controller that read the owner
    /// just before), as Kubernetes' garbage collector does for dangling
    /// owner references. Returns how many it deleted.
    pub fn collect_dangling(&self) -> usize {
        let doomed: Vec<(&'static Resource, Option<String>, String)> = {
            let inner = self.lock();
            let uids: std::collections::HashSet<&str> = inner
                .objects
                .values()
                .filter_map(|(_, o)| uid_of(o))
                .collect();
            inner
                .objects
                .values()
                .filter(|(_, o)| {
                    o.pointer("/metadata/ownerReferences")
                        .and_then(Value::as_array)
                        .is_some_and(|refs| {
                            !refs.is_empty()
                                && refs
                                    .iter()
                                    .all(|r| !r["uid"].as_str().is_some_and(|u| uids.contains(u)))
                        })
                })
                .map(|(res, o)| {
                    let ns = o
                        .pointer("/metadata/namespace")
                        .and_then(Value::as_str)
                        .map(str::to_owned);
                    (*res, ns, name_of(o).unwrap_or_default().to_owned())
                })
                .collect()
        };
        doomed
            .iter()
            .filter(|(res, ns, name)| self.delete(res, ns.as_deref(), name).is_ok())
            .count()
    }

    /// For a watch: the events it must send first (all current objects as
    /// ADDED when `since` is `None`, else the history after `since`), and
    /// a receiver for later events, taken atomically so none is missed.
    pub fn watch(
        &self,
        res: &'static Resource,
        since: Option<u64>,
    ) -> ApiResult<(Vec<Event>, broadcast::Receiver<Event>, u64)> {
        let inner = self.lock();
        let receiver = self.events.subscribe();
        let initial = match since {
            None => inner
                .objects
                .values()
                .filter(|(r, _)| std::ptr::eq(*r, res))
                .map(|(r, o)| Event {
                    rv: inner.rv,
                    kind: EventType::Added,
                    resource: r,
                    object: o.clone(),
                    previous: None,
                })
                .collect(),
            Some(since) => {
                if since > inner.rv {
                    return Err(ApiError::gone(format!(
                        "Too large resource version: {since}, current resource version: {}",
                        inner.rv
                    )));
                }
                if since < inner.oldest_resumable {
                    return Err(ApiError::gone(format!(
                        "too old resource version: {since} ({})",
                        inner.oldest_resumable
                    )));
                }
                inner
                    .history
                    .iter()
                    .filter(|e| e.rv > since && std::ptr::eq(e.resource, res))
                    .cloned()
                    .collect()
            }
        };
        Ok((initial, receiver, inner.rv))
    }
}

/// Refuses a Service with one port twice (the same name, or the same port
/// and protocol), as the API server does, in its words.
fn service_ports_valid(service: &Value) -> Result<(), String> {
    let ports = service
        .pointer("/spec/ports")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for (i, port) in ports.iter().enumerate() {
        for earlier in &ports[..i] {
            let name = port["name"].as_str().unwrap_or_default();
            if !name.is_empty() && earlier["name"].as_str() == Some(name) {
                return Err(format!("spec.ports[{i}].name: Duplicate value: \"{name}\""));
            }
            let protocol = |p: &Value| p["protocol"].as_str().unwrap_or("TCP").to_owned();
            if port["port"] == earlier["port"] && protocol(port) == protocol(earlier) {
                return Err(format!(
                    "spec.ports[{i}]: Duplicate value: {{\"Port\":{},\"Protocol\":\"{}\"}}",
                    port["port"],
                    protocol(port)
                ));
            }
        }
    }
    Ok(())
}

/// A pod's QoS class, as Kubernetes derives it from its containers'
/// resources: `Guaranteed` when every container limits CPU and memory and
/// requests what it limits, `BestEffort` when none asks for anything,
/// `Burstable` otherwise.
fn pod_qos(pod: &Value) -> &'static str {
    let containers: Vec<&Value> = ["containers", "initContainers"]
        .iter()
        .filter_map(|k| pod.pointer(&format!("/spec/{k}")).and_then(Value::as_array))
        .flatten()
        .collect();
    // Only cpu and memory count, and a zero amount is no amount.
    let amount = |c: &Value, kind: &str, what: &str| {
        let value = c.pointer(&format!("/resources/{kind}/{what}"))?;
        let text = match value {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        quantity::nanos(&text).filter(|n| *n != 0)
    };
    let asks = |c: &&Value| {
        ["requests", "limits"]
            .iter()
            .any(|k| ["cpu", "memory"].iter().any(|w| amount(c, k, w).is_some()))
    };
    if !containers.iter().any(asks) {
        return "BestEffort";
    }
    let guaranteed = containers.iter().all(|c| {
        ["cpu", "memory"].iter().all(|what| {
            let limit = amount(c, "limits", what);
            limit.is_some() && amount(c, "requests", what).is_none_or(|r| Some(r) == limit)
        })
    });
    if guaranteed {
        "Guaranteed"
    } else {
        "Burstable"
    }
}

#[cfg(test)]
mod tests;
