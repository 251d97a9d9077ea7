//! A pod's status as the kubelet reports it (phase, conditions, container
//! states), and writing it to the store when it changed.

use serde_json::{json, Value};

use crate::shared::Shared;

use super::{pods_resource, restarts, Container, PodRun};

/// Writes the pod's status when it differs from the last one written.
pub(super) fn write(shared: &Shared, run: &mut PodRun, failed_init: bool) {
    let status = pod_status(run, failed_init);
    if status != run.last_status {
        let mut object = json!({"status": status.clone()});
        object["metadata"] = json!({"name": run.name, "uid": run.uid});
        if shared
            .store
            .replace(
                pods_resource(),
                Some(&run.namespace),
                &run.name,
                object,
                true,
            )
            .is_ok()
        {
            run.last_status = status;
        }
    }
}

fn container_status(c: &Container) -> Value {
    let state = if c.running() {
        json!({"running": {"startedAt": c.started_at}})
    } else if let Some((reason, message)) = &c.waiting {
        json!({"waiting": {"reason": reason, "message": message}})
    } else if let Some((code, reason, finished)) = &c.terminated {
        json!({"terminated": {"exitCode": code, "reason": reason, "message": c.start_error, "startedAt": c.started_at, "finishedAt": finished}})
    } else {
        json!({"waiting": {"reason": "ContainerCreating"}})
    };
    json!({
        "name": c.name,
        "image": c.image,
        "imageID": c.image_id,
        "ready": c.ready,
        "started": c.running(),
        "restartCount": c.restarts,
        "state": state,
    })
}

fn condition(kind: &str, ok: bool) -> Value {
    json!({"type": kind, "status": if ok { "True" } else { "False" }})
}

fn pod_status(run: &PodRun, failed_init: bool) -> Value {
    let init_done = run
        .init
        .iter()
        .all(|c| c.terminated.as_ref().is_some_and(|t| t.0 == 0));
    let all_started = init_done && run.containers.iter().all(|c| c.started_at.is_some());
    let finished: Vec<i32> = run
        .containers
        .iter()
        .filter(|c| !c.running())
        .filter_map(|c| c.terminated.as_ref().map(|t| t.0))
        .collect();
    let all_finished = finished.len() == run.containers.len() && !run.containers.is_empty();
    let terminal = all_finished
        && finished
            .iter()
            .all(|code| !restarts(&run.restart_policy, *code));
    let phase = if failed_init || (terminal && finished.iter().any(|c| *c != 0)) {
        "Failed"
    } else if terminal {
        "Succeeded"
    } else if all_started {
        "Running"
    } else {
        "Pending"
    };
    let ready = phase == "Running" && run.containers.iter().all(|c| c.ready);
    json!({
        "phase": phase,
        "podIP": run.ip,
        "podIPs": [{"ip": run.ip}],
        "hostIP": "127.0.0.1",
        "conditions": [
            condition("PodScheduled", true),
            condition("Initialized", init_done),
            condition("ContainersReady", ready),
            condition("Ready", ready),
        ],
        "initContainerStatuses": run.init.iter().map(container_status).collect::<Vec<_>>(),
        "containerStatuses": run.containers.iter().map(container_status).collect::<Vec<_>>(),
    })
}
