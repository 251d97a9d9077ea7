//! kube-rs clients against the simulator: every verb the simulator serves,
//! its error bodies, watches (resume, 410), garbage collection, discovery,
//! the kubeconfig, and the `serve` program. Simulated, not a real cluster.

// Test code may unwrap: a panic is how a test fails.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{
    Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams,
};
use kube::core::ObjectMeta;
use kube::Client;
use serde_json::json;
use tmpnet_kubesim::Simulator;

fn cm(name: &str, labels: &[(&str, &str)]) -> ConfigMap {
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(name.into()),
            labels: Some(
                labels
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            ),
            ..Default::default()
        },
        data: Some(BTreeMap::from([("k".to_string(), "1".to_string())])),
        ..Default::default()
    }
}

fn code(e: kube::Error) -> (u16, String) {
    match e {
        kube::Error::Api(s) => (s.code, s.message),
        other => panic!("not an API error: {other}"),
    }
}

async fn client() -> (Simulator, Client) {
    let sim = Simulator::start().await.unwrap();
    let client = sim.client().unwrap();
    (sim, client)
}

#[tokio::test]
async fn configmap_crud_conflicts_and_not_found() {
    let (_sim, client) = client().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let created = api
        .create(&PostParams::default(), &cm("a", &[("app", "x")]))
        .await
        .unwrap();
    assert!(created.metadata.uid.is_some() && created.metadata.resource_version.is_some());
    let (c, _) = code(
        api.create(&PostParams::default(), &cm("a", &[]))
            .await
            .unwrap_err(),
    );
    assert_eq!(c, 409);

    let mut changed = created.clone();
    changed.data = Some(BTreeMap::from([("k".to_string(), "2".to_string())]));
    let replaced = api
        .replace("a", &PostParams::default(), &changed)
        .await
        .unwrap();
    assert_eq!(replaced.data.unwrap()["k"], "2");
    let (c, m) = code(
        api.replace("a", &PostParams::default(), &changed)
            .await
            .unwrap_err(),
    );
    assert_eq!(c, 409, "a stale resourceVersion conflicts");
    assert!(m.contains("has been modified"), "{m}");

    let merged = api
        .patch(
            "a",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"m": "3"}})),
        )
        .await
        .unwrap();
    assert_eq!(merged.data.as_ref().unwrap()["m"], "3");
    let jsonp: json_patch::Patch =
        serde_json::from_value(json!([{"op": "remove", "path": "/data/m"}])).unwrap();
    let patched = api
        .patch("a", &PatchParams::default(), &Patch::<()>::Json(jsonp))
        .await
        .unwrap();
    assert!(!patched.data.unwrap().contains_key("m"));

    api.delete("a", &DeleteParams::default()).await.unwrap();
    let (c, m) = code(api.get("a").await.unwrap_err());
    assert_eq!((c, m.as_str()), (404, "configmaps \"a\" not found"));
}

#[tokio::test]
async fn server_side_apply_creates_then_merges() {
    let (_sim, client) = client().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let pp = PatchParams::apply("tmpnet").force();
    let first = api
        .patch(
            "applied",
            &pp,
            &Patch::Apply(json!({"apiVersion": "v1", "kind": "ConfigMap", "data": {"a": "1"}})),
        )
        .await
        .unwrap();
    assert_eq!(first.data.unwrap()["a"], "1");
    let second = api
        .patch(
            "applied",
            &pp,
            &Patch::Apply(json!({"apiVersion": "v1", "kind": "ConfigMap", "data": {"b": "2"}})),
        )
        .await
        .unwrap();
    let data = second.data.unwrap();
    assert_eq!((data["a"].as_str(), data["b"].as_str()), ("1", "2"));
}

#[tokio::test]
async fn lists_filter_by_label_and_field() {
    let (_sim, client) = client().await;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    for (name, app) in [("one", "node"), ("two", "node"), ("three", "other")] {
        api.create(&PostParams::default(), &cm(name, &[("app", app)]))
            .await
            .unwrap();
    }
    let names = |l: kube::core::ObjectList<ConfigMap>| {
        let mut n: Vec<String> = l
            .items
            .into_iter()
            .filter_map(|c| c.metadata.name)
            .collect();
        n.sort();
        n
    };
    assert_eq!(
        names(
            api.list(&ListParams::default().labels("app=node"))
                .await
                .unwrap()
        ),
        ["one", "two"]
    );
    assert_eq!(
        names(
            api.list(&ListParams::default().fields("metadata.name=three"))
                .await
                .unwrap()
        ),
        ["three"]
    );
    let all: Api<ConfigMap> = Api::all(client);
    assert_eq!(
        all.list(&ListParams::default()).await.unwrap().items.len(),
        3
    );
}

#[tokio::test]
async fn watch_streams_resumes_and_answers_410_after_compaction() {
    let (sim, client) = client().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let start = api
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    let mut stream = api
        .watch(&WatchParams::default().timeout(10), &start)
        .await
        .unwrap()
        .boxed();
    api.create(&PostParams::default(), &cm("w", &[]))
        .await
        .unwrap();
    api.patch(
        "w",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"x": "y"}})),
    )
    .await
    .unwrap();
    api.delete("w", &DeleteParams::default()).await.unwrap();
    let mut kinds = Vec::new();
    while kinds.len() < 3 {
        match tokio::time::timeout(Duration::from_secs(5), stream.try_next())
            .await
            .unwrap()
            .unwrap()
        {
            Some(WatchEvent::Added(_)) => kinds.push("added"),
            Some(WatchEvent::Modified(_)) => kinds.push("modified"),
            Some(WatchEvent::Deleted(_)) => kinds.push("deleted"),
            Some(WatchEvent::Bookmark(_)) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(kinds, ["added", "modified", "deleted"]);
    // Resuming from the old version replays the history...
    let replay = api
        .watch(&WatchParams::default().timeout(1), &start)
        .await
        .unwrap()
        .boxed();
    let events: Vec<_> = replay.try_collect().await.unwrap();
    let changes = events
        .iter()
        .filter(|e| !matches!(e, WatchEvent::Bookmark(_)))
        .count();
    assert_eq!(changes, 3, "{events:?}");
    // ... until the history is compacted: then 410, as etcd would answer.
    sim.compact();
    let mut gone = api
        .watch(&WatchParams::default().timeout(1), &start)
        .await
        .unwrap()
        .boxed();
    match gone.try_next().await.unwrap() {
        Some(WatchEvent::Error(e)) => assert_eq!(e.code, 410),
        other => panic!("expected 410, got {other:?}"),
    }
}

#[tokio::test]
async fn the_runtime_watcher_and_await_condition_work() {
    let (_sim, client) = client().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let waiter = tokio::spawn({
        let api = api.clone();
        async move {
            let ready = |c: Option<&ConfigMap>| {
                c.and_then(|c| c.data.as_ref())
                    .is_some_and(|d| d.get("ready").is_some_and(|v| v == "yes"))
            };
            tokio::time::timeout(
                Duration::from_secs(10),
                kube::runtime::wait::await_condition(api, "flag", ready),
            )
            .await
        }
    });
    api.create(&PostParams::default(), &cm("flag", &[]))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    api.patch(
        "flag",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"ready": "yes"}})),
    )
    .await
    .unwrap();
    waiter
        .await
        .unwrap()
        .expect("condition met in time")
        .unwrap();
}

#[tokio::test]
async fn deleting_owners_and_namespaces_collects_what_they_hold() {
    let (_sim, client) = client().await;
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let ns = Namespace {
        metadata: ObjectMeta {
            name: Some("gc".into()),
            ..Default::default()
        },
        ..Default::default()
    };
    namespaces
        .create(&PostParams::default(), &ns)
        .await
        .unwrap();
    let api: Api<ConfigMap> = Api::namespaced(client, "gc");
    let owner = api
        .create(&PostParams::default(), &cm("owner", &[]))
        .await
        .unwrap();
    let mut child = cm("child", &[]);
    child.metadata.owner_references = Some(vec![
        k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference {
            api_version: "v1".into(),
            kind: "ConfigMap".into(),
            name: "owner".into(),
            uid: owner.metadata.uid.unwrap(),
            ..Default::default()
        },
    ]);
    api.create(&PostParams::default(), &child).await.unwrap();
    api.create(&PostParams::default(), &cm("bystander", &[]))
        .await
        .unwrap();
    api.delete("owner", &DeleteParams::default()).await.unwrap();
    assert_eq!(code(api.get("child").await.unwrap_err()).0, 404);
    assert!(api.get("bystander").await.is_ok());
    namespaces
        .delete("gc", &DeleteParams::default())
        .await
        .unwrap();
    assert_eq!(code(api.get("bystander").await.unwrap_err()).0, 404);
    let (c, m) = code(
        api.create(&PostParams::default(), &cm("late", &[]))
            .await
            .unwrap_err(),
    );
    assert_eq!((c, m.as_str()), (404, "namespaces \"gc\" not found"));
}

#[tokio::test]
async fn status_is_its_own_subresource() {
    use k8s_openapi::api::core::v1::PersistentVolumeClaim;
    // A kind no simulated controller writes the status of.
    let (_sim, client) = client().await;
    let api: Api<PersistentVolumeClaim> = Api::namespaced(client, "default");
    let pvc: PersistentVolumeClaim = serde_json::from_value(json!({
        "metadata": {"name": "c"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}
    }))
    .unwrap();
    let created = api.create(&PostParams::default(), &pvc).await.unwrap();
    assert_eq!(created.metadata.generation, Some(1));
    let patched = api
        .patch_status(
            "c",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"phase": "Bound"}})),
        )
        .await
        .unwrap();
    assert_eq!(patched.status.unwrap().phase.as_deref(), Some("Bound"));
    assert_eq!(
        patched.metadata.generation,
        Some(1),
        "status writes keep the generation"
    );
    let resized = api
        .patch(
            "c",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"resources": {"requests": {"storage": "2Gi"}}}, "status": {"phase": "Lost"}})),
        )
        .await
        .unwrap();
    assert_eq!(resized.metadata.generation, Some(2));
    assert_eq!(
        resized.status.unwrap().phase.as_deref(),
        Some("Bound"),
        "the main resource does not write status"
    );
}

#[tokio::test]
async fn unimplemented_requests_are_501_naming_verb_and_resource() {
    let (_sim, client) = client().await;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let (c, m) = code(deployments.list(&ListParams::default()).await.unwrap_err());
    assert_eq!(c, 501);
    assert!(m.contains("deployments in apps/v1"), "{m}");
    let cms: Api<ConfigMap> = Api::namespaced(client, "default");
    let (c, m) = code(
        cms.delete_collection(&DeleteParams::default(), &ListParams::default())
            .await
            .unwrap_err(),
    );
    assert_eq!(c, 501);
    assert!(m.contains("deletecollection on configmaps"), "{m}");
}

#[tokio::test]
async fn discovery_finds_the_served_resources() {
    let (_sim, client) = client().await;
    let info = client.apiserver_version().await.unwrap();
    assert_eq!((info.major.as_str(), info.minor.as_str()), ("1", "33"));
    let discovery = kube::discovery::Discovery::new(client).run().await.unwrap();
    let kinds: Vec<String> = discovery
        .groups()
        .flat_map(|g| g.recommended_resources().into_iter().map(|(ar, _)| ar.kind))
        .collect();
    for kind in ["Pod", "StatefulSet", "Job", "Ingress", "Role", "ConfigMap"] {
        assert!(
            kinds.iter().any(|k| k == kind),
            "{kind} missing from {kinds:?}"
        );
    }
}

#[tokio::test]
async fn the_kubeconfig_file_reaches_the_simulator() {
    let sim = Simulator::start().await.unwrap();
    let kubeconfig = kube::config::Kubeconfig::read_from(sim.kubeconfig_path()).unwrap();
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
        .await
        .unwrap();
    assert_eq!(config.default_namespace, "default");
    let client = Client::try_from(config).unwrap();
    let api: Api<ConfigMap> = Api::default_namespaced(client);
    api.create(&PostParams::default(), &cm("via-kubeconfig", &[]))
        .await
        .unwrap();
}

#[test]
fn the_serve_program_runs_until_terminated() {
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_tmpnet-kubesim"))
        .args(["serve", "--kubeconfig-out"])
        .arg(&kubeconfig)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !kubeconfig.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "no kubeconfig written"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let kc = kube::config::Kubeconfig::read_from(&kubeconfig).unwrap();
        let config = kube::Config::from_custom_kubeconfig(kc, &Default::default())
            .await
            .unwrap();
        let api: Api<Namespace> = Api::all(Client::try_from(config).unwrap());
        let names: Vec<String> = api
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .into_iter()
            .filter_map(|n| n.metadata.name)
            .collect();
        assert!(names.contains(&"default".to_string()), "{names:?}");
    });
    // SAFETY: kill(2) has no memory-safety preconditions.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    assert!(child.wait().unwrap().success());
}

#[tokio::test]
async fn strategic_merge_patches_merge_containers_and_env_by_name() {
    let (_sim, client) = client().await;
    let api: Api<StatefulSet> = Api::namespaced(client, "default");
    let sts: StatefulSet = serde_json::from_value(json!({
        "metadata": {"name": "s"},
        "spec": {"selector": {"matchLabels": {"a": "b"}}, "serviceName": "s",
                  "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [
                      {"name": "node", "image": "i", "env": [{"name": "A", "value": "1"}]},
                      {"name": "sidecar", "image": "j"}]}}}
    }))
    .unwrap();
    api.create(&PostParams::default(), &sts).await.unwrap();
    let patched = api
        .patch(
            "s",
            &PatchParams::default(),
            &Patch::Strategic(json!({"spec": {"template": {"spec": {"containers": [
                {"name": "node", "env": [{"name": "B", "value": "2"}]}
            ]}}}})),
        )
        .await
        .unwrap();
    let containers = patched.spec.unwrap().template.spec.unwrap().containers;
    assert_eq!(containers.len(), 2, "the sidecar is kept");
    let env: Vec<String> = containers[0]
        .env
        .clone()
        .unwrap()
        .into_iter()
        .map(|e| e.name)
        .collect();
    assert_eq!(env, ["A", "B"]);
    assert_eq!(containers[0].image.as_deref(), Some("i"));
}

/// One raw HTTP/1.1 request to the simulator: (status, body).
fn raw(url: &str, request: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let host = url.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(host).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, response)
}

#[tokio::test]
async fn malformed_bodies_are_refused_and_python_style_booleans_understood() {
    let (sim, client) = client().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    api.create(&PostParams::default(), &cm("raw", &[]))
        .await
        .unwrap();
    let url = sim.url().to_owned();
    let put = "PUT /api/v1/namespaces/default/configmaps/raw HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n[]";
    let (code, body) = tokio::task::spawn_blocking({
        let url = url.clone();
        move || raw(&url, put)
    })
    .await
    .unwrap();
    assert_eq!(code, 400, "{body}");
    let patch = "PATCH /api/v1/namespaces/default/configmaps/raw HTTP/1.1\r\nHost: x\r\nContent-Type: application/merge-patch+json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n[]";
    let (code, body) = tokio::task::spawn_blocking({
        let url = url.clone();
        move || raw(&url, patch)
    })
    .await
    .unwrap();
    assert_eq!(code, 422, "{body}");
    assert!(api.get("raw").await.is_ok(), "the object survived");
    // The Python client writes booleans as `True`.
    let watch = "GET /api/v1/namespaces/default/configmaps?watch=True&timeoutSeconds=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    let (code, body) = tokio::task::spawn_blocking(move || raw(&url, watch))
        .await
        .unwrap();
    assert_eq!(code, 200);
    assert!(
        body.contains("\"type\":\"ADDED\""),
        "watch=True streams events: {body}"
    );
}

#[tokio::test]
async fn selector_watches_see_objects_enter_and_leave() {
    let (_sim, client) = client().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let start = api
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    let params = WatchParams::default().labels("tier=p2p").timeout(5);
    let mut stream = api.watch(&params, &start).await.unwrap().boxed();
    api.create(&PostParams::default(), &cm("moves", &[("tier", "web")]))
        .await
        .unwrap();
    let relabel = |tier: &str| Patch::Merge(json!({"metadata": {"labels": {"tier": tier}}}));
    api.patch("moves", &PatchParams::default(), &relabel("p2p"))
        .await
        .unwrap();
    api.patch("moves", &PatchParams::default(), &relabel("web"))
        .await
        .unwrap();
    let mut seen = Vec::new();
    while seen.len() < 2 {
        match tokio::time::timeout(Duration::from_secs(5), stream.try_next())
            .await
            .unwrap()
            .unwrap()
        {
            Some(WatchEvent::Added(_)) => seen.push("added"),
            Some(WatchEvent::Deleted(_)) => seen.push("deleted"),
            Some(WatchEvent::Modified(_)) => seen.push("modified"),
            Some(WatchEvent::Bookmark(_)) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(
        seen,
        ["added", "deleted"],
        "entering and leaving the selector"
    );
}
