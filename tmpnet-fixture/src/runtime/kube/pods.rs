//! What a node's pod says about it: ready (with its IP), still coming up
//! (and why), or failed (and why, from its container status), and a
//! watch-based wait for the first two to resolve.

use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{ContainerStatus, Pod};
use kube::api::Api;
use kube::runtime::{watcher, WatchStreamExt};

use super::client::{api_error, api_reason, call, status_code};
use crate::error::{Error, Result};

/// Waiting reasons that mean the pod will not come up by itself.
const FATAL_WAITING: &[&str] = &[
    "ErrImagePull",
    "ImagePullBackOff",
    "InvalidImageName",
    "ErrImageNeverPull",
    "CrashLoopBackOff",
    "CreateContainerConfigError",
    "CreateContainerError",
    "RunContainerError",
];

/// How long a pod may stay unschedulable (for a reason other than a claim
/// not bound yet, which passes by itself) before the wait gives up on it:
/// a network larger than the nodes that may take it fails in seconds, with
/// the scheduler's reason, not at the end of the start timeout. Long
/// enough for the pods of a network stopped just before to go.
const UNSCHEDULABLE_GRACE: Duration = Duration::from_secs(20);

/// The verdict on one observation of a pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Ready, at this IP.
    Ready {
        /// The pod IP.
        ip: String,
    },
    /// Not ready yet; the text says what it is doing.
    Pending(String),
    /// It will not become ready; the text says why.
    Failed(String),
}

fn describe_container(c: &ContainerStatus) -> Option<Verdict> {
    let state = c.state.as_ref()?;
    if let Some(w) = &state.waiting {
        let reason = w.reason.clone().unwrap_or_default();
        let message = w.message.clone().unwrap_or_default();
        let text = if message.is_empty() {
            reason.clone()
        } else {
            format!("{reason}: {message}")
        };
        if FATAL_WAITING.contains(&reason.as_str()) {
            let last = c
                .last_state
                .as_ref()
                .and_then(|s| s.terminated.as_ref())
                .map(|t| format!(" (last exit code {})", t.exit_code))
                .unwrap_or_default();
            return Some(Verdict::Failed(format!("{text}{last}")));
        }
        return Some(Verdict::Pending(text));
    }
    if let Some(t) = &state.terminated {
        return Some(Verdict::Failed(format!(
            "container exited with code {}{}",
            t.exit_code,
            t.reason
                .as_ref()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default()
        )));
    }
    if c.restart_count > 0 {
        let code = c
            .last_state
            .as_ref()
            .and_then(|s| s.terminated.as_ref())
            .map(|t| t.exit_code.to_string())
            .unwrap_or_else(|| "unknown".into());
        return Some(Verdict::Failed(format!(
            "container restarted {} time(s) (last exit code {code})",
            c.restart_count
        )));
    }
    None
}

/// Why the scheduler has not placed the pod, when it has tried.
fn unscheduled(pod: &Pod) -> Option<String> {
    pod.status
        .as_ref()?
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_ == "PodScheduled" && c.status == "False")
        .map(|c| {
            c.message
                .clone()
                .or_else(|| c.reason.clone())
                .unwrap_or_default()
        })
}

/// The scheduler's reason when it will not pass by waiting a little: any
/// but a claim not bound yet (the volume provisioner binds it).
fn stuck_unscheduled(pod: &Pod) -> Option<String> {
    unscheduled(pod).filter(|why| !why.contains("PersistentVolumeClaim"))
}

/// Judges one observation of a node's pod.
pub fn judge(pod: &Pod) -> Verdict {
    let Some(status) = &pod.status else {
        return Verdict::Pending("no status yet".into());
    };
    if status.phase.as_deref() == Some("Failed") {
        return Verdict::Failed(format!(
            "pod failed{}",
            status
                .reason
                .as_ref()
                .map(|r| format!(": {r}"))
                .unwrap_or_default()
        ));
    }
    // An init container that finished with 0 is done, not failed.
    let init = status.init_container_statuses.iter().flatten().filter(|c| {
        let done = c
            .state
            .as_ref()
            .and_then(|s| s.terminated.as_ref())
            .is_some_and(|t| t.exit_code == 0);
        !done
    });
    let statuses = init.chain(status.container_statuses.iter().flatten());
    let mut pending = None;
    for c in statuses {
        match describe_container(c) {
            Some(Verdict::Failed(why)) => return Verdict::Failed(why),
            Some(p @ Verdict::Pending(_)) if pending.is_none() => pending = Some(p),
            _ => {}
        }
    }
    let ready = status
        .conditions
        .iter()
        .flatten()
        .any(|c| c.type_ == "Ready" && c.status == "True");
    match (&status.pod_ip, ready) {
        (Some(ip), true) if !ip.is_empty() => Verdict::Ready { ip: ip.clone() },
        _ => pending.unwrap_or_else(|| {
            let phase = status.phase.clone().unwrap_or_else(|| "Pending".into());
            if let Some(why) = unscheduled(pod) {
                return Verdict::Pending(format!(
                    "not scheduled: {why} (check --kube-exclusive-scheduling's node label and that the cluster has a default StorageClass)"
                ));
            }
            let unready = status
                .conditions
                .iter()
                .flatten()
                .find(|c| c.type_ == "Ready" && c.status != "True")
                .and_then(|c| c.message.clone().or_else(|| c.reason.clone()));
            match unready {
                Some(why) => Verdict::Pending(format!("{phase}, not ready: {why}")),
                None => Verdict::Pending(format!("{phase}, not ready")),
            }
        }),
    }
}

/// Watches pod `name` until it is ready (returning it) or fails, for at
/// most `timeout`. A pod whose uid is `replaced` is the one being replaced
/// and is not judged. A watch the server ends or expires (410) is resumed
/// by re-listing.
pub async fn wait_ready(
    pods: &Api<Pod>,
    name: &str,
    replaced: Option<&str>,
    timeout: Duration,
) -> std::result::Result<Pod, Verdict> {
    let config = watcher::Config::default().fields(&format!("metadata.name={name}"));
    // Backoff between failed attempts: without it a watch against an API
    // server that keeps failing would spin.
    let mut events = std::pin::pin!(watcher(pods.clone(), config).default_backoff());
    let mut last = Verdict::Pending("no pod yet".into());
    // Since when the pod has been unschedulable for a lasting reason, and
    // the scheduler's latest reason.
    let mut stuck: Option<(tokio::time::Instant, String)> = None;
    let watch = async {
        loop {
            let next = match &stuck {
                Some((since, why)) => {
                    let wait = tokio::time::timeout_at(*since + UNSCHEDULABLE_GRACE, events.next());
                    match wait.await {
                        Ok(next) => next,
                        Err(_) => {
                            return Err(Verdict::Failed(format!(
                                "not scheduled after {}s: {why} (with --kube-exclusive-scheduling, every node needs a Kubernetes node of its own with the scheduling label)",
                                UNSCHEDULABLE_GRACE.as_secs()
                            )));
                        }
                    }
                }
                None => events.next().await,
            };
            let Some(event) = next else {
                break;
            };
            let pod = match event {
                Ok(watcher::Event::Apply(pod) | watcher::Event::InitApply(pod)) => pod,
                Ok(watcher::Event::Delete(_)) => {
                    last = Verdict::Pending("pod deleted, waiting for its replacement".into());
                    continue;
                }
                Ok(_) => continue,
                Err(
                    watcher::Error::InitialListFailed(e)
                    | watcher::Error::WatchStartFailed(e)
                    | watcher::Error::WatchFailed(e),
                ) if matches!(status_code(&e), Some(401 | 403)) => {
                    // Permissions do not come back by waiting.
                    return Err(Verdict::Failed(format!(
                        "cannot watch the pod: {}",
                        api_reason(&e)
                    )));
                }
                Err(e) => {
                    tracing::debug!(pod = name, error = %e, "pod watch error; the watch resumes");
                    last = Verdict::Pending(format!("watch error: {e}"));
                    continue;
                }
            };
            if replaced.is_some() && pod.metadata.uid.as_deref() == replaced {
                last = Verdict::Pending("the old pod is still being replaced".into());
                continue;
            }
            match judge(&pod) {
                Verdict::Ready { .. } => return Ok(pod),
                failed @ Verdict::Failed(_) => return Err(failed),
                pending => {
                    stuck = match (stuck_unscheduled(&pod), stuck.take()) {
                        (Some(why), Some((since, _))) => Some((since, why)),
                        (Some(why), None) => Some((tokio::time::Instant::now(), why)),
                        (None, _) => None,
                    };
                    last = pending;
                }
            }
        }
        Err(Verdict::Pending("the pod watch ended".into()))
    };
    match tokio::time::timeout(timeout, watch).await {
        Ok(result) => result,
        Err(_) => Err(match last {
            Verdict::Pending(why) => {
                Verdict::Pending(format!("not ready after {}s: {why}", timeout.as_secs()))
            }
            other => other,
        }),
    }
}

/// Watches until the object `name` (if any) is gone, for at most
/// `timeout`. A watch that ends early (an expired or dropped connection) is
/// started again; only the deadline ends the wait.
pub async fn wait_gone<K>(api: &Api<K>, name: &str, timeout: Duration) -> Result<()>
where
    K: kube::Resource + Clone + std::fmt::Debug + serde::de::DeserializeOwned + Send + 'static,
    <K as kube::Resource>::DynamicType: Default,
{
    let kind = K::kind(&Default::default()).to_ascii_lowercase();
    let deadline = tokio::time::Instant::now() + timeout;
    let late = || {
        Error::Kube {
        action: format!("wait for {kind} {name} to go"),
        reason: format!(
            "it still exists after {}s; look at it with `kubectl describe {kind} {name}`, then run the stop again",
            timeout.as_secs()
        ),
    }
    };
    loop {
        let uid = match call(api.get_opt(name)).await {
            Ok(Some(object)) => object.meta().uid.clone().unwrap_or_default(),
            Ok(None) => return Ok(()),
            Err(e) if matches!(status_code(&e), Some(401 | 403)) => {
                return Err(api_error(format!("read {kind} {name}"), e))
            }
            Err(e) => {
                tracing::debug!(%kind, name, error = %e, "reading failed; trying again");
                if tokio::time::Instant::now() >= deadline {
                    return Err(api_error(format!("read {kind} {name}"), e));
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        let gone = kube::runtime::wait::await_condition(
            api.clone(),
            name,
            kube::runtime::conditions::is_deleted(&uid),
        );
        match tokio::time::timeout_at(deadline, gone).await {
            Ok(Ok(_)) => return Ok(()),
            Ok(Err(e)) => {
                tracing::debug!(%kind, name, error = %e, "the watch ended; looking again");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(_) => return Err(late()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(status: serde_json::Value) -> Pod {
        serde_json::from_value(serde_json::json!({"metadata": {"name": "p"}, "status": status}))
            .unwrap()
    }

    #[test]
    fn ready_needs_the_condition_and_an_ip() {
        let ready = pod(serde_json::json!({
            "phase": "Running", "podIP": "10.0.0.5",
            "conditions": [{"type": "Ready", "status": "True"}],
            "containerStatuses": [{"name": "node", "ready": true, "restartCount": 0, "image": "i", "imageID": "",
                                   "state": {"running": {}}}]
        }));
        assert_eq!(
            judge(&ready),
            Verdict::Ready {
                ip: "10.0.0.5".into()
            }
        );
        let unready = pod(serde_json::json!({
            "phase": "Running", "podIP": "10.0.0.5",
            "conditions": [{"type": "Ready", "status": "False", "message": "readiness probe failed"}]
        }));
        assert_eq!(
            judge(&unready),
            Verdict::Pending("Running, not ready: readiness probe failed".into())
        );
    }

    #[test]
    fn pull_errors_and_crashes_are_failures_with_their_reason() {
        let pull = pod(serde_json::json!({
            "phase": "Pending",
            "containerStatuses": [{"name": "node", "ready": false, "restartCount": 0, "image": "i", "imageID": "",
                "state": {"waiting": {"reason": "ErrImagePull", "message": "image \"nope\" not found"}}}]
        }));
        assert_eq!(
            judge(&pull),
            Verdict::Failed("ErrImagePull: image \"nope\" not found".into())
        );
        let crash = pod(serde_json::json!({
            "phase": "Running",
            "containerStatuses": [{"name": "node", "ready": false, "restartCount": 2, "image": "i", "imageID": "",
                "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                "lastState": {"terminated": {"exitCode": 3}}}]
        }));
        assert_eq!(
            judge(&crash),
            Verdict::Failed("CrashLoopBackOff (last exit code 3)".into())
        );
        let exited = pod(serde_json::json!({
            "phase": "Running",
            "containerStatuses": [{"name": "node", "ready": false, "restartCount": 0, "image": "i", "imageID": "",
                "state": {"terminated": {"exitCode": 7, "reason": "Error"}}}]
        }));
        assert_eq!(
            judge(&exited),
            Verdict::Failed("container exited with code 7 (Error)".into())
        );
        let restarted = pod(serde_json::json!({
            "phase": "Running", "podIP": "10.0.0.5",
            "containerStatuses": [{"name": "node", "ready": false, "restartCount": 1, "image": "i", "imageID": "",
                "state": {"running": {}}, "lastState": {"terminated": {"exitCode": 1}}}]
        }));
        assert!(matches!(judge(&restarted), Verdict::Failed(w) if w.contains("exit code 1")));
        let creating = pod(serde_json::json!({
            "phase": "Pending",
            "containerStatuses": [{"name": "node", "ready": false, "restartCount": 0, "image": "i", "imageID": "",
                "state": {"waiting": {"reason": "ContainerCreating"}}}]
        }));
        assert_eq!(
            judge(&creating),
            Verdict::Pending("ContainerCreating".into())
        );
    }

    #[test]
    fn an_unbound_claim_passes_and_anti_affinity_does_not() {
        let unscheduled = |message: &str| {
            pod(serde_json::json!({"phase": "Pending", "conditions": [
                {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": message}]}))
        };
        let claim = unscheduled(
            "0/3 nodes are available: pod has unbound immediate PersistentVolumeClaims. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.",
        );
        assert_eq!(stuck_unscheduled(&claim), None);
        let full = unscheduled(
            "0/3 nodes are available: 3 node(s) didn't match pod anti-affinity rules. preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod.",
        );
        assert!(stuck_unscheduled(&full).is_some_and(|why| why.starts_with("0/3 nodes")));
        assert!(matches!(judge(&full), Verdict::Pending(why) if why.contains("anti-affinity")));
        let scheduled = pod(serde_json::json!({"phase": "Pending", "conditions": [
            {"type": "PodScheduled", "status": "True"}]}));
        assert_eq!(stuck_unscheduled(&scheduled), None);
    }
}
