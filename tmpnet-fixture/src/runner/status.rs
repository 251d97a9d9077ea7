//! What the runner's Job and pod say: still starting, running, ended with
//! an exit code, or failed for a reason of their own (never started, or
//! killed). Pure functions of the objects, so every case is tested.

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;

use super::manifest::CONTAINER;

/// Where the runner is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Phase {
    /// Not running yet; the reason when there is one (e.g. Unschedulable).
    Starting(Option<String>),
    /// The container runs (its log can be followed).
    Running,
    /// The container ended by itself with this exit code (the tests'
    /// result).
    Exited(i32),
    /// It will never run, or it was killed: why, from its status.
    Failed(String),
}

/// Waiting reasons that mean the container will not start by itself.
const FATAL_WAITING: &[&str] = &[
    "ErrImagePull",
    "ImagePullBackOff",
    "ErrImageNeverPull",
    "InvalidImageName",
    "CreateContainerConfigError",
    "CreateContainerError",
    "RunContainerError",
];

/// Terminated reasons that mean the container was killed, or never ran,
/// not that its tests ended.
const KILLED: &[&str] = &[
    "OOMKilled",
    "StartError",
    "ContainerCannotRun",
    "ContainerStatusUnknown",
];

fn with_message(reason: &str, message: Option<&str>) -> String {
    match message.map(str::trim).filter(|m| !m.is_empty()) {
        Some(m) => format!("{reason}: {m}"),
        None => reason.to_owned(),
    }
}

/// The Job's own failure (deadline, backoff), if it has one. A Job
/// controller that must fail a Job first sets `FailureTarget` (the reason
/// it will fail), then terminates its pods, and only then `Failed`: a pod
/// killed for the deadline can have exited before the Job says `Failed`.
pub fn job_failure(job: &Job) -> Option<String> {
    job.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| (c.type_ == "Failed" || c.type_ == "FailureTarget") && c.status == "True")
        .map(|c| {
            with_message(
                c.reason.as_deref().unwrap_or("Failed"),
                c.message.as_deref(),
            )
        })
}

/// The runner's phase from its pod.
pub fn pod_phase(pod: &Pod) -> Phase {
    let Some(status) = pod.status.as_ref() else {
        return Phase::Starting(None);
    };
    if status.phase.as_deref() == Some("Failed")
        && status
            .reason
            .as_deref()
            .is_some_and(|r| r == "Evicted" || r == "DeadlineExceeded")
    {
        return Phase::Failed(with_message(
            status.reason.as_deref().unwrap_or("Failed"),
            status.message.as_deref(),
        ));
    }
    let container = status
        .container_statuses
        .as_ref()
        .and_then(|all| all.iter().find(|c| c.name == CONTAINER));
    if let Some(state) = container.and_then(|c| c.state.as_ref()) {
        if let Some(t) = &state.terminated {
            let reason = t.reason.as_deref().unwrap_or("");
            if KILLED.contains(&reason) {
                return Phase::Failed(with_message(reason, t.message.as_deref()));
            }
            return Phase::Exited(t.exit_code);
        }
        if state.running.is_some() {
            return Phase::Running;
        }
        if let Some(w) = &state.waiting {
            let reason = w.reason.as_deref().unwrap_or("Waiting");
            if FATAL_WAITING.contains(&reason) {
                return Phase::Failed(with_message(reason, w.message.as_deref()));
            }
            return Phase::Starting(Some(with_message(reason, w.message.as_deref())));
        }
    }
    let unschedulable = status
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_ == "PodScheduled" && c.status == "False");
    Phase::Starting(unschedulable.map(|c| {
        with_message(
            c.reason.as_deref().unwrap_or("Unschedulable"),
            c.message.as_deref(),
        )
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(status: serde_json::Value) -> Pod {
        serde_json::from_value(json!({"metadata": {"name": "p"}, "status": status})).unwrap()
    }

    fn container(state: serde_json::Value) -> serde_json::Value {
        json!({"containerStatuses": [{"name": "runner", "image": "i", "imageID": "", "ready": false, "restartCount": 0, "state": state}]})
    }

    #[test]
    fn exit_codes_come_from_the_terminated_state() {
        let p = pod(container(
            json!({"terminated": {"exitCode": 101, "reason": "Error"}}),
        ));
        assert_eq!(pod_phase(&p), Phase::Exited(101));
        let p = pod(container(
            json!({"terminated": {"exitCode": 0, "reason": "Completed"}}),
        ));
        assert_eq!(pod_phase(&p), Phase::Exited(0));
        let p = pod(container(json!({"running": {}})));
        assert_eq!(pod_phase(&p), Phase::Running);
    }

    #[test]
    fn a_runner_that_never_starts_or_is_killed_fails_with_its_reason() {
        let p = pod(container(
            json!({"waiting": {"reason": "ImagePullBackOff", "message": "no image x"}}),
        ));
        assert_eq!(
            pod_phase(&p),
            Phase::Failed("ImagePullBackOff: no image x".into())
        );
        let p = pod(container(
            json!({"terminated": {"exitCode": 137, "reason": "OOMKilled"}}),
        ));
        assert_eq!(pod_phase(&p), Phase::Failed("OOMKilled".into()));
        let p = pod(container(
            json!({"terminated": {"exitCode": 128, "reason": "StartError", "message": "exec: \"e2e-1\": not found"}}),
        ));
        assert_eq!(
            pod_phase(&p),
            Phase::Failed("StartError: exec: \"e2e-1\": not found".into())
        );
        let p =
            pod(json!({"phase": "Failed", "reason": "Evicted", "message": "node low on memory"}));
        assert_eq!(
            pod_phase(&p),
            Phase::Failed("Evicted: node low on memory".into())
        );
        let p = pod(
            json!({"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": "0/1 nodes"}]}),
        );
        assert_eq!(
            pod_phase(&p),
            Phase::Starting(Some("Unschedulable: 0/1 nodes".into()))
        );
        let p = pod(container(
            json!({"waiting": {"reason": "ContainerCreating"}}),
        ));
        assert_eq!(
            pod_phase(&p),
            Phase::Starting(Some("ContainerCreating".into()))
        );
        let job: Job = serde_json::from_value(json!({"status": {"conditions": [{"type": "Failed", "status": "True", "reason": "DeadlineExceeded", "message": "Job was active longer than specified deadline"}]}})).unwrap();
        assert_eq!(
            job_failure(&job).unwrap(),
            "DeadlineExceeded: Job was active longer than specified deadline"
        );
        // As a real Job controller reports it while the pod is still being
        // terminated (seen on the local cluster).
        let job: Job = serde_json::from_value(json!({"status": {"conditions": [{"type": "FailureTarget", "status": "True", "reason": "DeadlineExceeded", "message": "Job was active longer than specified deadline"}]}})).unwrap();
        assert_eq!(
            job_failure(&job).unwrap(),
            "DeadlineExceeded: Job was active longer than specified deadline"
        );
        let job: Job = serde_json::from_value(json!({"status": {"conditions": [{"type": "FailureTarget", "status": "False", "reason": "DeadlineExceeded"}]}})).unwrap();
        assert_eq!(job_failure(&job), None);
    }
}
