//! The controllers a cluster runs for the kinds tmpnet uses: StatefulSet,
//! Job and Endpoints. Each pass reads the store and writes what differs
//! (level-triggered, like the real ones), every 50 ms.

mod endpoints;
mod job;
mod statefulset;

use std::time::Duration;

use serde_json::{json, Value};

use crate::resources::{self, Resource};

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
                statefulset::reconcile(&shared.store);
                job::reconcile(&shared.store);
                endpoints::reconcile(&shared.store);
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
