//! The controllers a cluster runs for the kinds tmpnet uses: StatefulSet,
//! Job and Endpoints. Each pass reads the store and writes what differs
//! (level-triggered, like the real ones), every 50 ms.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use crate::resources::{self, Resource};
use crate::store::{now_rfc3339, Store};

/// How often the controllers run.
const TICK: Duration = Duration::from_millis(50);

fn res(group: &str, plural: &str) -> Option<&'static Resource> {
    resources::find(group, "v1", plural)
}

fn s<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
}

fn owned_by<'a>(objects: &'a [Value], owner: &Value) -> Vec<&'a Value> {
    let uid = &owner["metadata"]["uid"];
    objects
        .iter()
        .filter(|o| {
            o.pointer("/metadata/ownerReferences")
                .and_then(Value::as_array)
                .is_some_and(|refs| refs.iter().any(|r| &r["uid"] == uid))
        })
        .collect()
}

fn owner_ref(owner: &Value) -> Value {
    json!([{
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
        "controller": true,
        "blockOwnerDeletion": true
    }])
}

fn is_ready(pod: &Value) -> bool {
    s(pod, "/status/phase") == "Running"
        && pod
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .is_some_and(|c| {
                c.iter()
                    .any(|c| c["type"] == "Ready" && c["status"] == "True")
            })
}

fn terminal(pod: &Value) -> bool {
    matches!(s(pod, "/status/phase"), "Succeeded" | "Failed")
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

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

/// Seconds since the epoch of an RFC 3339 timestamp.
fn parse_time(text: &str) -> Option<u64> {
    humantime::parse_rfc3339(text)
        .ok()?
        .duration_since(UNIX_EPOCH)
        .ok()
        .map(|d| d.as_secs())
}

/// Runs the controllers until `stop` fires.
pub async fn run(
    shared: std::sync::Arc<crate::shared::Shared>,
    mut stop: tokio::sync::oneshot::Receiver<()>,
) {
    let mut tick = tokio::time::interval(TICK);
    loop {
        tokio::select! {
            _ = &mut stop => return,
            _ = tick.tick() => {
                statefulsets(&shared.store);
                jobs(&shared.store);
                endpoints(&shared.store);
                shared.store.collect_dangling();
            }
        }
    }
}

fn log_err<T>(what: &str, r: Result<T, crate::status::ApiError>) {
    if let Err(e) = r {
        if e.code != 409 && e.code != 404 {
            tracing::warn!(what, error = %e.message, "controller write failed");
        }
    }
}

fn statefulsets(store: &Store) {
    let (Some(sts_res), Some(pod_res), Some(pvc_res)) = (
        resources::find("apps", "v1", "statefulsets"),
        res("", "pods"),
        res("", "persistentvolumeclaims"),
    ) else {
        return;
    };
    let (all_sts, _) = store.list(sts_res, None, |_| true);
    let (all_pods, _) = store.list(pod_res, None, |_| true);
    for sts in all_sts {
        let ns = s(&sts, "/metadata/namespace").to_owned();
        let name = s(&sts, "/metadata/name").to_owned();
        let replicas = sts
            .pointer("/spec/replicas")
            .and_then(Value::as_u64)
            .unwrap_or(1) as usize;
        let parallel = s(&sts, "/spec/podManagementPolicy") == "Parallel";
        let template = sts.pointer("/spec/template").cloned().unwrap_or(json!({}));
        // A template whose spec or labels are not objects cannot make pods.
        if !template.get("spec").is_none_or(Value::is_object)
            || !template
                .pointer("/metadata/labels")
                .is_none_or(Value::is_object)
        {
            continue;
        }
        let rev = format!("{name}-{}", revision(&template));
        let pods = owned_by(&all_pods, &sts);
        let ordinal = |p: &Value| -> Option<usize> {
            s(p, "/metadata/name")
                .strip_prefix(&format!("{name}-"))?
                .parse()
                .ok()
        };
        let mut by_ordinal: Vec<Option<&Value>> = vec![
            None;
            replicas.max(
                pods.iter()
                    .filter_map(|p| ordinal(p))
                    .max()
                    .map_or(0, |m| m + 1)
            )
        ];
        for p in &pods {
            if let Some(i) = ordinal(p) {
                by_ordinal[i] = Some(p);
            }
        }
        // Failed pods are replaced.
        for p in pods.iter().filter(|p| s(p, "/status/phase") == "Failed") {
            log_err(
                "delete failed pod",
                store.delete(pod_res, Some(&ns), s(p, "/metadata/name")),
            );
        }
        // Scale down: highest ordinal first (all at once when Parallel).
        let extra: Vec<usize> = (replicas..by_ordinal.len())
            .rev()
            .filter(|i| by_ordinal[*i].is_some())
            .collect();
        for i in extra.iter().take(if parallel { usize::MAX } else { 1 }) {
            log_err(
                "scale down",
                store.delete(pod_res, Some(&ns), &format!("{name}-{i}")),
            );
        }
        // Create missing ordinals (OrderedReady: only after all lower ones are ready).
        for i in 0..replicas {
            if by_ordinal[i].is_some() {
                continue;
            }
            if !parallel && !(0..i).all(|j| by_ordinal[j].is_some_and(is_ready)) {
                break;
            }
            let pod_name = format!("{name}-{i}");
            let mut spec = template.get("spec").cloned().unwrap_or(json!({}));
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
                if store.get(pvc_res, Some(&ns), &pvc_name).is_err() {
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
                        &sts,
                        "/spec/persistentVolumeClaimRetentionPolicy/whenDeleted",
                    ) == "Delete"
                    {
                        pvc["metadata"]["ownerReferences"] = owner_ref(&sts);
                    }
                    pvc["status"] = json!({"phase": "Bound"});
                    log_err("create pvc", store.create(pvc_res, Some(&ns), pvc));
                }
                let volumes = spec["volumes"].as_array().cloned().unwrap_or_default();
                let mut volumes: Vec<Value> = volumes
                    .into_iter()
                    .filter(|v| v["name"] != claim_name)
                    .collect();
                volumes.push(
                    json!({"name": claim_name, "persistentVolumeClaim": {"claimName": pvc_name}}),
                );
                spec["volumes"] = json!(volumes);
            }
            let mut labels = template
                .pointer("/metadata/labels")
                .cloned()
                .unwrap_or(json!({}));
            labels["statefulset.kubernetes.io/pod-name"] = json!(pod_name);
            labels["apps.kubernetes.io/pod-index"] = json!(i.to_string());
            labels["controller-revision-hash"] = json!(rev);
            let pod = json!({
                "metadata": {
                    "name": pod_name,
                    "labels": labels,
                    "annotations": template.pointer("/metadata/annotations").cloned().unwrap_or(json!({})),
                    "ownerReferences": owner_ref(&sts),
                },
                "spec": spec,
            });
            log_err("create pod", store.create(pod_res, Some(&ns), pod));
            if !parallel {
                break;
            }
        }
        // Rolling update: once every pod is ready, replace the highest
        // outdated one.
        let current: Vec<&Value> = (0..replicas.min(by_ordinal.len()))
            .filter_map(|i| by_ordinal[i])
            .collect();
        let outdated = current
            .iter()
            .rev()
            .find(|p| s(p, "/metadata/labels/controller-revision-hash") != rev);
        if current.len() == replicas && current.iter().all(|p| is_ready(p)) {
            if let Some(p) = outdated {
                log_err(
                    "roll pod",
                    store.delete(pod_res, Some(&ns), s(p, "/metadata/name")),
                );
            }
        }
        let ready = current.iter().filter(|p| is_ready(p)).count();
        let updated = current
            .iter()
            .filter(|p| s(p, "/metadata/labels/controller-revision-hash") == rev)
            .count();
        let status = json!({
            "observedGeneration": sts.pointer("/metadata/generation").cloned().unwrap_or(json!(1)),
            "replicas": current.len(),
            "readyReplicas": ready,
            "availableReplicas": ready,
            "currentReplicas": updated,
            "updatedReplicas": updated,
            "currentRevision": rev,
            "updateRevision": rev,
        });
        if sts.get("status") != Some(&status) {
            log_err(
                "sts status",
                store.replace(
                    sts_res,
                    Some(&ns),
                    &name,
                    json!({"metadata": {"name": name}, "status": status}),
                    true,
                ),
            );
        }
    }
}

fn condition(kind: &str, reason: &str, message: &str) -> Value {
    let now = now_rfc3339();
    json!({"type": kind, "status": "True", "reason": reason, "message": message,
           "lastProbeTime": now, "lastTransitionTime": now})
}

fn jobs(store: &Store) {
    let (Some(job_res), Some(pod_res)) = (resources::find("batch", "v1", "jobs"), res("", "pods"))
    else {
        return;
    };
    let (all_jobs, _) = store.list(job_res, None, |_| true);
    let (all_pods, _) = store.list(pod_res, None, |_| true);
    for job in all_jobs {
        let ns = s(&job, "/metadata/namespace").to_owned();
        let name = s(&job, "/metadata/name").to_owned();
        let conditions = job
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let finished = conditions
            .iter()
            .any(|c| c["type"] == "Complete" || c["type"] == "Failed");
        if finished {
            let ttl = job
                .pointer("/spec/ttlSecondsAfterFinished")
                .and_then(Value::as_u64);
            let done_at = conditions
                .iter()
                .find(|c| c["type"] == "Complete" || c["type"] == "Failed")
                .and_then(|c| parse_time(s(c, "/lastTransitionTime")));
            if let (Some(ttl), Some(done_at)) = (ttl, done_at) {
                if unix_now() >= done_at.saturating_add(ttl) {
                    log_err("ttl delete", store.delete(job_res, Some(&ns), &name));
                }
            }
            continue;
        }
        let pods = owned_by(&all_pods, &job);
        let succeeded = pods
            .iter()
            .filter(|p| s(p, "/status/phase") == "Succeeded")
            .count();
        let failed = pods
            .iter()
            .filter(|p| s(p, "/status/phase") == "Failed")
            .count();
        let active: Vec<&&Value> = pods.iter().filter(|p| !terminal(p)).collect();
        let completions = job
            .pointer("/spec/completions")
            .and_then(Value::as_u64)
            .unwrap_or(1) as usize;
        let backoff_limit = job
            .pointer("/spec/backoffLimit")
            .and_then(Value::as_u64)
            .unwrap_or(6) as usize;
        let start = job
            .pointer("/status/startTime")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .unwrap_or_else(now_rfc3339);
        let deadline = job
            .pointer("/spec/activeDeadlineSeconds")
            .and_then(Value::as_u64);
        let mut status = json!({"startTime": start, "active": active.len(), "succeeded": succeeded, "failed": failed,
                                "ready": active.iter().filter(|p| is_ready(p)).count()});
        let mut new_conditions = Vec::new();
        if succeeded >= completions {
            new_conditions.push(condition(
                "SuccessCriteriaMet",
                "CompletionsReached",
                "Reached expected number of succeeded pods",
            ));
            new_conditions.push(condition(
                "Complete",
                "CompletionsReached",
                "Reached expected number of succeeded pods",
            ));
            status["completionTime"] = json!(now_rfc3339());
        } else if failed > backoff_limit {
            new_conditions.push(condition(
                "FailureTarget",
                "BackoffLimitExceeded",
                "Job has reached the specified backoff limit",
            ));
            new_conditions.push(condition(
                "Failed",
                "BackoffLimitExceeded",
                "Job has reached the specified backoff limit",
            ));
        } else if deadline.is_some_and(|d| parse_time(&start).is_some_and(|t| unix_now() >= t + d))
        {
            for p in &active {
                log_err(
                    "deadline",
                    store.delete(pod_res, Some(&ns), s(p, "/metadata/name")),
                );
            }
            status["active"] = json!(0);
            new_conditions.push(condition(
                "FailureTarget",
                "DeadlineExceeded",
                "Job was active longer than specified deadline",
            ));
            new_conditions.push(condition(
                "Failed",
                "DeadlineExceeded",
                "Job was active longer than specified deadline",
            ));
        } else if active.is_empty() {
            let suffix = uuid::Uuid::new_v4().simple().to_string();
            let uid = s(&job, "/metadata/uid");
            let mut labels = job
                .pointer("/spec/template/metadata/labels")
                .cloned()
                .unwrap_or(json!({}));
            for (k, v) in [
                ("job-name", name.as_str()),
                ("batch.kubernetes.io/job-name", &name),
                ("controller-uid", uid),
                ("batch.kubernetes.io/controller-uid", uid),
            ] {
                labels[k] = json!(v);
            }
            let pod = json!({
                "metadata": {"name": format!("{name}-{}", &suffix[..5]), "labels": labels,
                             "annotations": job.pointer("/spec/template/metadata/annotations").cloned().unwrap_or(json!({})),
                             "ownerReferences": owner_ref(&job)},
                "spec": job.pointer("/spec/template/spec").cloned().unwrap_or(json!({})),
            });
            log_err("create job pod", store.create(pod_res, Some(&ns), pod));
            status["active"] = json!(1);
        }
        if !new_conditions.is_empty() {
            status["conditions"] = json!(new_conditions);
        }
        let unchanged = job.get("status").is_some_and(|old| {
            ["active", "succeeded", "failed", "ready"]
                .iter()
                .all(|k| old.get(*k) == status.get(*k))
                && old.get("startTime").is_some()
        }) && new_conditions.is_empty();
        if !unchanged {
            log_err(
                "job status",
                store.replace(
                    job_res,
                    Some(&ns),
                    &name,
                    json!({"metadata": {"name": name}, "status": status}),
                    true,
                ),
            );
        }
    }
}

fn endpoints(store: &Store) {
    let (Some(svc_res), Some(ep_res), Some(pod_res)) =
        (res("", "services"), res("", "endpoints"), res("", "pods"))
    else {
        return;
    };
    let (services, _) = store.list(svc_res, None, |_| true);
    for svc in services {
        let Some(selector) = svc.pointer("/spec/selector").and_then(Value::as_object) else {
            continue;
        };
        let ns = s(&svc, "/metadata/namespace").to_owned();
        let name = s(&svc, "/metadata/name").to_owned();
        let (pods, _) = store.list(pod_res, Some(&ns), |p| {
            selector
                .iter()
                .all(|(k, v)| p.pointer("/metadata/labels").and_then(|l| l.get(k)) == Some(v))
                && p.pointer("/status/podIP").is_some()
                && !terminal(p)
        });
        let address = |p: &Value| json!({"ip": p["status"]["podIP"], "targetRef": {"kind": "Pod", "namespace": ns, "name": p["metadata"]["name"], "uid": p["metadata"]["uid"]}});
        let ready: Vec<Value> = pods.iter().filter(|p| is_ready(p)).map(address).collect();
        let not_ready: Vec<Value> = pods.iter().filter(|p| !is_ready(p)).map(address).collect();
        let ports: Vec<Value> = svc
            .pointer("/spec/ports")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|p| {
                let port = p.get("targetPort").filter(|t| t.is_u64()).or_else(|| p.get("port")).cloned().unwrap_or(json!(0));
                json!({"name": p.get("name").cloned().unwrap_or(json!("")), "port": port, "protocol": p.get("protocol").cloned().unwrap_or(json!("TCP"))})
            })
            .collect();
        let mut subset = json!({"ports": ports});
        if !ready.is_empty() {
            subset["addresses"] = json!(ready);
        }
        if !not_ready.is_empty() {
            subset["notReadyAddresses"] = json!(not_ready);
        }
        let subsets = if pods.is_empty() {
            json!([])
        } else {
            json!([subset])
        };
        match store.get(ep_res, Some(&ns), &name) {
            Ok(existing) if existing.get("subsets") == Some(&subsets) => {}
            Ok(mut existing) => {
                existing["subsets"] = subsets;
                log_err(
                    "endpoints",
                    store.replace(ep_res, Some(&ns), &name, existing, false),
                );
            }
            Err(_) => {
                let ep = json!({"metadata": {"name": name, "labels": svc.pointer("/metadata/labels").cloned().unwrap_or(json!({})), "ownerReferences": owner_ref(&svc)}, "subsets": subsets});
                log_err("endpoints", store.create(ep_res, Some(&ns), ep));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_round_trip() {
        let now = now_rfc3339();
        let parsed = parse_time(&now).unwrap();
        assert!(unix_now().abs_diff(parsed) <= 1, "{now} -> {parsed}");
        assert_eq!(parse_time("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_time("2000-03-01T00:00:00Z"), Some(951_868_800));
        assert!(parse_time("soon").is_none());
    }

    #[test]
    fn revisions_follow_the_template() {
        assert_eq!(revision(&json!({"a": 1})), revision(&json!({"a": 1})));
        assert_ne!(revision(&json!({"a": 1})), revision(&json!({"a": 2})));
    }
}
