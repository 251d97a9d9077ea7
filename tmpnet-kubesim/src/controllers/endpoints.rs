//! The Endpoints controller: each Service with a selector gets the
//! addresses of its matching pods, ready and not ready.

use serde_json::{json, Value};

use crate::store::Store;

use super::{is_ready, log_err, owner_ref, res, s, terminal};

/// Reconciles the Endpoints of every Service.
pub(super) fn reconcile(store: &Store) {
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
