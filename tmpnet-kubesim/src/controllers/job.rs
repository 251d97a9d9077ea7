//! The Job controller: one pod at a time until the completions are
//! reached, the backoff limit or the active deadline is exceeded; then the
//! finished job's conditions, and its deletion after its TTL.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use crate::resources::{self, Resource};
use crate::store::{now_rfc3339, Store};

use super::{is_ready, log_err, owned_by, owner_ref, res, s, terminal};

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

fn condition(kind: &str, reason: &str, message: &str) -> Value {
    let now = now_rfc3339();
    json!({"type": kind, "status": "True", "reason": reason, "message": message,
           "lastProbeTime": now, "lastTransitionTime": now})
}

/// Reconciles every Job.
pub(super) fn reconcile(store: &Store) {
    let (Some(job_res), Some(pod_res)) = (resources::find("batch", "v1", "jobs"), res("", "pods"))
    else {
        return;
    };
    let (all_jobs, _) = store.list(job_res, None, |_| true);
    let (all_pods, _) = store.list(pod_res, None, |_| true);
    for job in &all_jobs {
        reconcile_job(store, job_res, pod_res, job, &all_pods);
    }
}

/// Brings one job's pods and status to its spec.
fn reconcile_job(
    store: &Store,
    job_res: &'static Resource,
    pod_res: &'static Resource,
    job: &Value,
    all_pods: &[Value],
) {
    let ns = s(job, "/metadata/namespace").to_owned();
    let name = s(job, "/metadata/name").to_owned();
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
        return;
    }
    let pods = owned_by(all_pods, job);
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
    } else if deadline.is_some_and(|d| parse_time(&start).is_some_and(|t| unix_now() >= t + d)) {
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
        let uid = s(job, "/metadata/uid");
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
                         "ownerReferences": owner_ref(job)},
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
}
