//! The StatefulSet controller: pods by ordinal (in order, or all at once
//! when Parallel) with their PersistentVolumeClaims, scale-down from the
//! highest ordinal, rolling updates, and the set's status.
//!
//! Each pass over a set (`reconcile_set`) acts on one snapshot of its
//! pods, in phases: replace failed pods, scale down, create missing pods,
//! roll one outdated pod, write the status.

use serde_json::{json, Value};

use crate::resources::{self, Resource};
use crate::store::Store;

use super::{is_ready, log_err, owned_by, owner_ref, res, s};

/// The kinds the controller reads and writes.
struct Kinds {
    sts: &'static Resource,
    pod: &'static Resource,
    pvc: &'static Resource,
}

/// One StatefulSet as a pass sees it: its spec, and its pods by ordinal.
struct Set<'a> {
    sts: &'a Value,
    ns: String,
    name: String,
    replicas: usize,
    parallel: bool,
    template: Value,
    /// The template's revision, `<set name>-<hash>`.
    rev: String,
    /// The pods the set owns.
    pods: Vec<&'a Value>,
    /// Its pods by ordinal, with a slot for each wanted ordinal and for
    /// each ordinal above them that has a pod.
    by_ordinal: Vec<Option<&'a Value>>,
}

impl Set<'_> {
    /// The pods at the wanted ordinals, lowest first.
    fn current(&self) -> Vec<&Value> {
        (0..self.replicas.min(self.by_ordinal.len()))
            .filter_map(|i| self.by_ordinal[i])
            .collect()
    }
}

/// FNV-1a over the template's JSON: a stable revision id.
fn revision(template: &Value) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in template.to_string().bytes() {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{:010x}", hash & 0xff_ffff_ffff)
}

/// Reconciles every StatefulSet.
pub(super) fn reconcile(store: &Store) {
    let (Some(sts_res), Some(pod_res), Some(pvc_res)) = (
        resources::find("apps", "v1", "statefulsets"),
        res("", "pods"),
        res("", "persistentvolumeclaims"),
    ) else {
        return;
    };
    let kinds = Kinds {
        sts: sts_res,
        pod: pod_res,
        pvc: pvc_res,
    };
    let (all_sts, _) = store.list(kinds.sts, None, |_| true);
    let (all_pods, _) = store.list(kinds.pod, None, |_| true);
    for sts in &all_sts {
        reconcile_set(store, &kinds, sts, &all_pods);
    }
}

/// Brings one set's pods, claims and status towards its spec.
fn reconcile_set(store: &Store, kinds: &Kinds, sts: &Value, all_pods: &[Value]) {
    let Some(set) = observe(sts, all_pods) else {
        return;
    };
    // Failed pods are replaced.
    replace_failed(store, kinds, &set);
    // Scale down: highest ordinal first (all at once when Parallel).
    scale_down(store, kinds, &set);
    // Create missing ordinals (OrderedReady: only after all lower ones are ready).
    create_missing(store, kinds, &set);
    let current = set.current();
    // Rolling update: once every pod is ready, replace the highest
    // outdated one.
    roll_one(store, kinds, &set, &current);
    write_status(store, kinds, &set, &current);
}

/// The set and its pods; `None` when its template cannot make pods.
fn observe<'a>(sts: &'a Value, all_pods: &'a [Value]) -> Option<Set<'a>> {
    let ns = s(sts, "/metadata/namespace").to_owned();
    let name = s(sts, "/metadata/name").to_owned();
    let replicas = sts
        .pointer("/spec/replicas")
        .and_then(Value::as_u64)
        .unwrap_or(1) as usize;
    let parallel = s(sts, "/spec/podManagementPolicy") == "Parallel";
    let template = sts.pointer("/spec/template").cloned().unwrap_or(json!({}));
    // A template whose spec or labels are not objects cannot make pods.
    if !template.get("spec").is_none_or(Value::is_object)
        || !template
            .pointer("/metadata/labels")
            .is_none_or(Value::is_object)
    {
        return None;
    }
    let rev = format!("{name}-{}", revision(&template));
    let pods = owned_by(all_pods, sts);
    let mut by_ordinal: Vec<Option<&Value>> = vec![
        None;
        replicas.max(
            pods.iter()
                .filter_map(|p| ordinal(&name, p))
                .max()
                .map_or(0, |m| m + 1)
        )
    ];
    for p in &pods {
        if let Some(i) = ordinal(&name, p) {
            by_ordinal[i] = Some(*p);
        }
    }
    Some(Set {
        sts,
        ns,
        name,
        replicas,
        parallel,
        template,
        rev,
        pods,
        by_ordinal,
    })
}

/// A pod's ordinal: the number after `<set name>-` in its name.
fn ordinal(set_name: &str, p: &Value) -> Option<usize> {
    s(p, "/metadata/name")
        .strip_prefix(&format!("{set_name}-"))?
        .parse()
        .ok()
}

/// Deletes the set's failed pods (the next passes create them again).
fn replace_failed(store: &Store, kinds: &Kinds, set: &Set) {
    for p in set
        .pods
        .iter()
        .filter(|p| s(p, "/status/phase") == "Failed")
    {
        log_err(
            "delete failed pod",
            store.delete(kinds.pod, Some(&set.ns), s(p, "/metadata/name")),
        );
    }
}

/// Deletes the pods above the wanted ordinals: the highest one, or all of
/// them when Parallel.
fn scale_down(store: &Store, kinds: &Kinds, set: &Set) {
    let extra: Vec<usize> = (set.replicas..set.by_ordinal.len())
        .rev()
        .filter(|i| set.by_ordinal[*i].is_some())
        .collect();
    for i in extra.iter().take(if set.parallel { usize::MAX } else { 1 }) {
        log_err(
            "scale down",
            store.delete(kinds.pod, Some(&set.ns), &format!("{}-{i}", set.name)),
        );
    }
}

/// Creates the pods of missing wanted ordinals: the lowest one, once every
/// lower pod is ready (OrderedReady), or all of them when Parallel.
fn create_missing(store: &Store, kinds: &Kinds, set: &Set) {
    for i in 0..set.replicas {
        if set.by_ordinal[i].is_some() {
            continue;
        }
        if !set.parallel && !(0..i).all(|j| set.by_ordinal[j].is_some_and(is_ready)) {
            break;
        }
        let pod = new_pod(store, kinds, set, i);
        log_err("create pod", store.create(kinds.pod, Some(&set.ns), pod));
        if !set.parallel {
            break;
        }
    }
}

/// Pod `i` of the set, from its template, with a claim of each volume
/// claim template mounted; creates the claims that do not exist yet.
fn new_pod(store: &Store, kinds: &Kinds, set: &Set, i: usize) -> Value {
    let (sts, name) = (set.sts, &set.name);
    let pod_name = format!("{name}-{i}");
    let mut spec = set.template.get("spec").cloned().unwrap_or(json!({}));
    spec["hostname"] = json!(pod_name);
    if let Some(service) = sts.pointer("/spec/serviceName").and_then(Value::as_str) {
        spec["subdomain"] = json!(service);
    }
    for claim in sts
        .pointer("/spec/volumeClaimTemplates")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let claim_name = s(claim, "/metadata/name");
        let pvc_name = format!("{claim_name}-{name}-{i}");
        if store.get(kinds.pvc, Some(&set.ns), &pvc_name).is_err() {
            create_claim(store, kinds, set, claim, &pvc_name);
        }
        let volumes = spec["volumes"].as_array().cloned().unwrap_or_default();
        let mut volumes: Vec<Value> = volumes
            .into_iter()
            .filter(|v| v["name"] != claim_name)
            .collect();
        volumes.push(json!({"name": claim_name, "persistentVolumeClaim": {"claimName": pvc_name}}));
        spec["volumes"] = json!(volumes);
    }
    let mut labels = set
        .template
        .pointer("/metadata/labels")
        .cloned()
        .unwrap_or(json!({}));
    labels["statefulset.kubernetes.io/pod-name"] = json!(pod_name);
    labels["apps.kubernetes.io/pod-index"] = json!(i.to_string());
    labels["controller-revision-hash"] = json!(set.rev);
    json!({
        "metadata": {
            "name": pod_name,
            "labels": labels,
            "annotations": set.template.pointer("/metadata/annotations").cloned().unwrap_or(json!({})),
            "ownerReferences": owner_ref(sts),
        },
        "spec": spec,
    })
}

/// Creates the claim `pvc_name` from a volume claim template of the set.
fn create_claim(store: &Store, kinds: &Kinds, set: &Set, claim: &Value, pvc_name: &str) {
    let sts = set.sts;
    // Labels: the claim template's, then the selector's;
    // owned by the set when it asks for its claims to be
    // deleted with it (persistentVolumeClaimRetentionPolicy).
    let mut labels = claim
        .pointer("/metadata/labels")
        .cloned()
        .unwrap_or(json!({}));
    if let (Some(l), Some(sel)) = (
        labels.as_object_mut(),
        sts.pointer("/spec/selector/matchLabels")
            .and_then(Value::as_object),
    ) {
        l.extend(sel.clone());
    }
    let mut pvc = json!({"metadata": {"name": pvc_name, "labels": labels}, "spec": claim.get("spec").cloned().unwrap_or(json!({}))});
    if s(
        sts,
        "/spec/persistentVolumeClaimRetentionPolicy/whenDeleted",
    ) == "Delete"
    {
        pvc["metadata"]["ownerReferences"] = owner_ref(sts);
    }
    pvc["status"] = json!({"phase": "Bound"});
    log_err("create pvc", store.create(kinds.pvc, Some(&set.ns), pvc));
}

/// Deletes the highest pod of an old revision, once every wanted pod
/// exists and is ready (the next passes create it from the new template).
fn roll_one(store: &Store, kinds: &Kinds, set: &Set, current: &[&Value]) {
    let outdated = current
        .iter()
        .rev()
        .find(|p| s(p, "/metadata/labels/controller-revision-hash") != set.rev);
    if current.len() == set.replicas && current.iter().all(|p| is_ready(p)) {
        if let Some(p) = outdated {
            log_err(
                "roll pod",
                store.delete(kinds.pod, Some(&set.ns), s(p, "/metadata/name")),
            );
        }
    }
}

/// Writes the set's status (replica counts and revisions) when it changed.
fn write_status(store: &Store, kinds: &Kinds, set: &Set, current: &[&Value]) {
    let rev = &set.rev;
    let ready = current.iter().filter(|p| is_ready(p)).count();
    let updated = current
        .iter()
        .filter(|p| s(p, "/metadata/labels/controller-revision-hash") == rev)
        .count();
    let status = json!({
        "observedGeneration": set.sts.pointer("/metadata/generation").cloned().unwrap_or(json!(1)),
        "replicas": current.len(),
        "readyReplicas": ready,
        "availableReplicas": ready,
        "currentReplicas": updated,
        "updatedReplicas": updated,
        "currentRevision": rev,
        "updateRevision": rev,
    });
    if set.sts.get("status") != Some(&status) {
        log_err(
            "sts status",
            store.replace(
                kinds.sts,
                Some(&set.ns),
                &set.name,
                json!({"metadata": {"name": set.name}, "status": status}),
                true,
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revisions_follow_the_template() {
        assert_eq!(revision(&json!({"a": 1})), revision(&json!({"a": 1})));
        assert_ne!(revision(&json!({"a": 1})), revision(&json!({"a": 2})));
    }
}
