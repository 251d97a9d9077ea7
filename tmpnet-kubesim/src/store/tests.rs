//! The store's unit tests.

use super::*;
use crate::resources::find;

fn cm() -> &'static Resource {
    find("", "v1", "configmaps").unwrap()
}

#[test]
fn dependents_of_a_deleted_owner_are_collected() {
    let s = Store::new();
    let owner = s
        .create(
            cm(),
            Some("default"),
            json!({"metadata": {"name": "owner"}}),
        )
        .unwrap();
    let uid = owner["metadata"]["uid"].clone();
    let owned = |name: &str, uid: &Value| json!({"metadata": {"name": name, "ownerReferences": [{"uid": uid, "kind": "ConfigMap", "name": "owner"}]}});
    s.create(cm(), Some("default"), owned("kept", &uid))
        .unwrap();
    // Made after its owner was gone (as a controller racing a delete).
    s.create(cm(), Some("default"), owned("late", &json!("no-such-uid")))
        .unwrap();
    assert_eq!(s.collect_dangling(), 1);
    assert!(s.get(cm(), Some("default"), "late").is_err());
    assert!(s.get(cm(), Some("default"), "kept").is_ok());
    s.delete(cm(), Some("default"), "owner").unwrap();
    assert!(s.get(cm(), Some("default"), "kept").is_err());
    assert_eq!(s.collect_dangling(), 0);
}

#[test]
fn a_new_pod_is_pending_with_its_qos_class_as_the_api_server_makes_it() {
    let s = Store::new();
    let pods = crate::resources::find("", "v1", "pods").unwrap();
    let pod = |name: &str, resources: Value| {
        json!({
            "metadata": {"name": name},
            "spec": {"containers": [{"name": "c", "image": "i", "resources": resources}]},
            // What a client says of the status is not taken.
            "status": {"phase": "Running"},
        })
    };
    let cases = [
        ("best", json!({}), "BestEffort"),
        ("burst", json!({"requests": {"cpu": "1"}}), "Burstable"),
        (
            "guaranteed",
            json!({"limits": {"cpu": "1", "memory": "1Gi"}}),
            "Guaranteed",
        ),
        (
            "unequal",
            json!({"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "500m"}}),
            "Burstable",
        ),
        (
            "spelt-otherwise",
            json!({"limits": {"cpu": "1", "memory": "1Gi"},
                   "requests": {"cpu": "1000m", "memory": "1024Mi"}}),
            "Guaranteed",
        ),
        (
            "storage-only",
            json!({"requests": {"ephemeral-storage": "1Gi"}, "limits": {"cpu": "0"}}),
            "BestEffort",
        ),
    ];
    for (name, resources, qos) in cases {
        let created = s
            .create(pods, Some("default"), pod(name, resources))
            .unwrap();
        assert_eq!(
            created["status"],
            json!({"phase": "Pending", "qosClass": qos}),
            "{name}"
        );
    }
    // A kubelet's status update keeps the class.
    let mut running = s.get(pods, Some("default"), "best").unwrap();
    running["status"] = json!({"phase": "Running"});
    let after = s
        .replace(pods, Some("default"), "best", running, true)
        .unwrap();
    assert_eq!(after["status"]["qosClass"], "BestEffort");
    assert_eq!(after["status"]["phase"], "Running");
}

#[test]
fn create_get_replace_conflict_delete() {
    let s = Store::new();
    let created = s
        .create(
            cm(),
            Some("default"),
            json!({"metadata": {"name": "a"}, "data": {"k": "1"}}),
        )
        .unwrap();
    assert_eq!(created["kind"], "ConfigMap");
    assert!(created["metadata"]["uid"].is_string());
    let err = s
        .create(cm(), Some("default"), json!({"metadata": {"name": "a"}}))
        .unwrap_err();
    assert_eq!((err.code, err.reason), (409, "AlreadyExists"));
    let mut stale = created.clone();
    stale["data"]["k"] = json!("2");
    let updated = s
        .replace(cm(), Some("default"), "a", stale.clone(), false)
        .unwrap();
    assert_ne!(
        updated["metadata"]["resourceVersion"],
        created["metadata"]["resourceVersion"]
    );
    let err = s
        .replace(cm(), Some("default"), "a", stale, false)
        .unwrap_err();
    assert_eq!((err.code, err.reason), (409, "Conflict"));
    s.delete(cm(), Some("default"), "a").unwrap();
    assert_eq!(s.get(cm(), Some("default"), "a").unwrap_err().code, 404);
}

#[test]
fn bad_names_and_missing_namespaces_are_refused() {
    let s = Store::new();
    let err = s
        .create(
            cm(),
            Some("default"),
            json!({"metadata": {"name": "Bad_Name"}}),
        )
        .unwrap_err();
    assert_eq!(err.code, 422);
    let err = s
        .create(cm(), Some("nowhere"), json!({"metadata": {"name": "a"}}))
        .unwrap_err();
    assert_eq!(
        (err.code, err.message.as_str()),
        (404, "namespaces \"nowhere\" not found")
    );
    let generated = s
        .create(
            cm(),
            Some("default"),
            json!({"metadata": {"generateName": "x-"}}),
        )
        .unwrap();
    assert!(generated["metadata"]["name"]
        .as_str()
        .unwrap()
        .starts_with("x-"));
}

#[test]
fn owners_and_namespaces_cascade() {
    let s = Store::new();
    let ns = &RESOURCES[0];
    s.create(ns, None, json!({"metadata": {"name": "t"}}))
        .unwrap();
    let owner = s
        .create(cm(), Some("t"), json!({"metadata": {"name": "owner"}}))
        .unwrap();
    let uid = owner["metadata"]["uid"].clone();
    s.create(cm(), Some("t"), json!({"metadata": {"name": "child", "ownerReferences": [{"uid": uid, "name": "owner", "kind": "ConfigMap", "apiVersion": "v1"}]}})).unwrap();
    s.create(cm(), Some("t"), json!({"metadata": {"name": "free"}}))
        .unwrap();
    s.delete(cm(), Some("t"), "owner").unwrap();
    assert_eq!(s.get(cm(), Some("t"), "child").unwrap_err().code, 404);
    assert!(s.get(cm(), Some("t"), "free").is_ok());
    s.delete(ns, None, "t").unwrap();
    assert_eq!(s.get(cm(), Some("t"), "free").unwrap_err().code, 404);
}

#[test]
fn status_is_written_only_through_the_subresource() {
    let s = Store::new();
    let pods = find("", "v1", "pods").unwrap();
    let pod = s
        .create(
            pods,
            Some("default"),
            json!({"metadata": {"name": "p"}, "spec": {"containers": []}}),
        )
        .unwrap();
    let mut with_status = pod.clone();
    with_status["status"] = json!({"phase": "Running"});
    let after = s
        .replace(pods, Some("default"), "p", with_status.clone(), false)
        .unwrap();
    assert_eq!(
        after["status"],
        json!({"phase": "Pending", "qosClass": "BestEffort"}),
        "the main resource ignores status"
    );
    let after = s
        .replace(pods, Some("default"), "p", with_status, true)
        .unwrap();
    assert_eq!(after["status"]["phase"], "Running");
    assert_eq!(
        after["metadata"]["generation"], 1,
        "a status change keeps the generation"
    );
}

#[test]
fn watch_resumes_from_history_until_compacted() {
    let s = Store::new();
    let rv = s.resource_version();
    s.create(cm(), Some("default"), json!({"metadata": {"name": "a"}}))
        .unwrap();
    let (events, _, _) = s.watch(cm(), Some(rv)).unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].kind, EventType::Added);
    s.compact();
    assert_eq!(s.watch(cm(), Some(rv)).unwrap_err().code, 410);
    assert!(s.watch(cm(), Some(s.resource_version())).is_ok());
    let too_new = s.watch(cm(), Some(s.resource_version() + 5)).unwrap_err();
    assert!(
        too_new.message.contains("Too large resource version"),
        "{}",
        too_new.message
    );
}

#[test]
fn timestamps_are_rfc3339() {
    let t = now_rfc3339();
    assert_eq!(t.len(), 20);
    assert!(t.ends_with('Z') && t.as_bytes()[10] == b'T', "{t}");
}

#[test]
fn services_get_cluster_ips_and_no_port_twice() {
    let s = Store::new();
    let svc = find("", "v1", "services").unwrap();
    let made = s
        .create(
            svc,
            Some("default"),
            json!({"metadata": {"name": "a"}, "spec": {"ports": [{"name": "api", "port": 80}]}}),
        )
        .unwrap();
    let other = s
        .create(
            svc,
            Some("default"),
            json!({"metadata": {"name": "b"}, "spec": {"ports": [{"name": "api", "port": 80}]}}),
        )
        .unwrap();
    let ip = |o: &Value| o["spec"]["clusterIP"].as_str().unwrap().to_owned();
    assert!(ip(&made).starts_with("127.96."), "{made}");
    assert_ne!(ip(&made), ip(&other));
    // Headless stays headless.
    let headless = s
        .create(
            svc,
            Some("default"),
            json!({"metadata": {"name": "h"}, "spec": {"clusterIP": "None", "ports": [{"name": "api", "port": 80}]}}),
        )
        .unwrap();
    assert_eq!(headless["spec"]["clusterIP"], "None");
    for (ports, says) in [
        (
            json!([{"name": "api", "port": 80}, {"name": "p2p", "port": 80}]),
            "spec.ports[1]: Duplicate value",
        ),
        (
            json!([{"name": "api", "port": 80}, {"name": "api", "port": 81}]),
            "spec.ports[1].name: Duplicate value: \"api\"",
        ),
    ] {
        let err = s
            .create(
                svc,
                Some("default"),
                json!({"metadata": {"name": "d"}, "spec": {"ports": ports}}),
            )
            .unwrap_err();
        assert_eq!(err.code, 422);
        assert!(err.message.contains(says), "{}", err.message);
    }
    // UDP and TCP on one port are two ports.
    s.create(
        svc,
        Some("default"),
        json!({"metadata": {"name": "dns"}, "spec": {"ports": [{"name": "u", "port": 53, "protocol": "UDP"}, {"name": "t", "port": 53}]}}),
    )
    .unwrap();
}
