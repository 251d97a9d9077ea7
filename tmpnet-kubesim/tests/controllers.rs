//! StatefulSet, Job and Endpoints controllers with the process kubelet,
//! under kube-rs clients. Simulated, not a real cluster.

// Test code may unwrap: a panic is how a test fails.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Endpoints, PersistentVolumeClaim, Pod, Service};
use kube::api::{Api, ListParams, LogParams, Patch, PatchParams, PostParams};
use kube::Client;
use serde_json::json;
use tmpnet_kubesim::{Options, Simulator};

async fn sim() -> (Simulator, Client) {
    let sim = Simulator::start_with(
        Options::default()
            .image("busybox", "/bin/sh")
            .image("python", "/usr/bin/python3"),
    )
    .await
    .unwrap();
    let client = sim.client().unwrap();
    (sim, client)
}

async fn eventually<T>(what: &str, secs: u64, mut check: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

fn web_sts(replicas: i32, tag: &str) -> StatefulSet {
    serde_json::from_value(json!({
        "metadata": {"name": "web"},
        "spec": {
            "replicas": replicas,
            "serviceName": "web",
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}, "annotations": {"tag": tag}},
                "spec": {"containers": [{
                    "name": "web", "image": "python",
                    "command": ["python3", "-m", "http.server", "8080", "--bind", "$(POD_IP)", "--directory", "/data"],
                    "env": [{"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}],
                    "ports": [{"name": "http", "containerPort": 8080}],
                    "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                    "readinessProbe": {"httpGet": {"path": "/", "port": 8080}, "periodSeconds": 1}
                }]}
            },
            "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}]
        }
    }))
    .unwrap()
}

fn ip(p: &Pod) -> String {
    p.status
        .as_ref()
        .and_then(|s| s.pod_ip.clone())
        .unwrap_or_default()
}

#[tokio::test]
async fn a_statefulset_becomes_ready_in_order_rolls_and_scales_to_zero() {
    let (_sim, client) = sim().await;
    let sets: Api<StatefulSet> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    // Record pod events from before the StatefulSet exists.
    let start = pods
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    let watch = pods
        .watch(&kube::api::WatchParams::default().timeout(60), &start)
        .await
        .unwrap();
    let recorder = tokio::spawn(async move {
        use futures::TryStreamExt;
        let mut watch = Box::pin(watch);
        let mut log: Vec<(String, String, bool)> = Vec::new();
        while let Ok(Some(event)) = watch.try_next().await {
            let (kind, pod) = match event {
                kube::api::WatchEvent::Added(p) => ("added", p),
                kube::api::WatchEvent::Modified(p) => ("modified", p),
                _ => continue,
            };
            let ready = pod
                .status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
            log.push((
                kind.to_owned(),
                pod.metadata.name.unwrap_or_default(),
                ready,
            ));
            if log
                .iter()
                .filter(|(_, _, r)| *r)
                .map(|(_, n, _)| n.clone())
                .collect::<std::collections::HashSet<_>>()
                .len()
                == 3
            {
                break;
            }
        }
        log
    });
    sets.create(&PostParams::default(), &web_sts(3, "one"))
        .await
        .unwrap();
    eventually("3 replicas are ready", 30, async || {
        let s = sets.get("web").await.ok()?.status?;
        (s.ready_replicas == Some(3)).then_some(())
    })
    .await;
    let listed = pods
        .list(&ListParams::default().labels("app=web"))
        .await
        .unwrap()
        .items;
    let mut names: Vec<String> = listed
        .iter()
        .filter_map(|p| p.metadata.name.clone())
        .collect();
    names.sort();
    assert_eq!(names, ["web-0", "web-1", "web-2"]);
    let mut ips: Vec<String> = listed.iter().map(ip).collect();
    ips.sort();
    ips.dedup();
    assert_eq!(ips.len(), 3, "each pod has its own address");
    for addr in &ips {
        assert!(
            std::net::TcpStream::connect((addr.as_str(), 8080)).is_ok(),
            "{addr}:8080 serves"
        );
    }
    // OrderedReady: each pod was created only once the one before it was ready.
    let log = tokio::time::timeout(Duration::from_secs(10), recorder)
        .await
        .unwrap()
        .unwrap();
    let position = |kind: &str, name: &str, ready: bool| {
        log.iter()
            .position(|(k, n, r)| k == kind && n == name && (*r || !ready))
            .unwrap()
    };
    assert!(
        position("modified", "web-0", true) < position("added", "web-1", false),
        "{log:?}"
    );
    assert!(
        position("modified", "web-1", true) < position("added", "web-2", false),
        "{log:?}"
    );

    // A template change rolls every pod.
    let old_uids: Vec<String> = listed
        .iter()
        .filter_map(|p| p.metadata.uid.clone())
        .collect();
    sets.patch(
        "web",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"template": {"metadata": {"annotations": {"tag": "two"}}}}})),
    )
    .await
    .unwrap();
    eventually("every pod is replaced and ready", 60, async || {
        let items = pods
            .list(&ListParams::default().labels("app=web"))
            .await
            .ok()?
            .items;
        let fresh = items
            .iter()
            .filter(|p| !old_uids.contains(p.metadata.uid.as_ref().unwrap()))
            .count();
        let s = sets.get("web").await.ok()?.status?;
        (fresh == 3 && s.ready_replicas == Some(3)).then_some(())
    })
    .await;

    // Scale to zero: the processes stop; the PVCs stay.
    let now: Vec<String> = pods
        .list(&ListParams::default().labels("app=web"))
        .await
        .unwrap()
        .items
        .iter()
        .map(ip)
        .collect();
    sets.patch_scale(
        "web",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"replicas": 0}})),
    )
    .await
    .unwrap();
    eventually("no pod is left", 30, async || {
        pods.list(&ListParams::default().labels("app=web"))
            .await
            .ok()?
            .items
            .is_empty()
            .then_some(())
    })
    .await;
    for addr in &now {
        eventually("the process stopped", 10, async || {
            std::net::TcpStream::connect((addr.as_str(), 8080))
                .is_err()
                .then_some(())
        })
        .await;
    }
    let pvcs: Api<PersistentVolumeClaim> = Api::namespaced(client, "default");
    assert_eq!(
        pvcs.list(&ListParams::default()).await.unwrap().items.len(),
        3,
        "claims outlive scale-down"
    );
    assert_eq!(
        sets.get_scale("web").await.unwrap().spec.unwrap().replicas,
        Some(0)
    );
}

fn job(name: &str, script: &str, extra: serde_json::Value) -> Job {
    let mut job = json!({
        "metadata": {"name": name},
        "spec": {"backoffLimit": 0, "template": {"spec": {"restartPolicy": "Never",
            "containers": [{"name": "main", "image": "busybox", "command": ["sh", "-c", script]}]}}}
    });
    json_patch::merge(&mut job, &extra);
    serde_json::from_value(job).unwrap()
}

fn has(job: &Job, kind: &str) -> bool {
    job.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == kind && c.status == "True"))
}

#[tokio::test]
async fn jobs_complete_fail_with_exit_codes_and_expire() {
    let (_sim, client) = sim().await;
    let jobs: Api<Job> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client, "default");
    jobs.create(&PostParams::default(), &job("ok", "echo done", json!({})))
        .await
        .unwrap();
    jobs.create(
        &PostParams::default(),
        &job("bad", "echo broken; exit 7", json!({})),
    )
    .await
    .unwrap();
    let ok = eventually("ok completes", 20, async || {
        jobs.get("ok").await.ok().filter(|j| has(j, "Complete"))
    })
    .await;
    assert_eq!(ok.status.unwrap().succeeded, Some(1));
    let bad = eventually("bad fails", 20, async || {
        jobs.get("bad").await.ok().filter(|j| has(j, "Failed"))
    })
    .await;
    assert_eq!(bad.status.unwrap().failed, Some(1));
    let pod = pods
        .list(&ListParams::default().labels("job-name=bad"))
        .await
        .unwrap()
        .items
        .remove(0);
    let code = pod.status.unwrap().container_statuses.unwrap()[0]
        .state
        .clone()
        .unwrap()
        .terminated
        .unwrap()
        .exit_code;
    assert_eq!(code, 7);
    let logs = pods
        .logs(pod.metadata.name.as_deref().unwrap(), &LogParams::default())
        .await
        .unwrap();
    assert_eq!(logs, "broken\n", "logs are readable after the pod exited");

    jobs.create(
        &PostParams::default(),
        &job(
            "short",
            "true",
            json!({"spec": {"ttlSecondsAfterFinished": 0}}),
        ),
    )
    .await
    .unwrap();
    eventually("the finished job is deleted", 20, async || {
        jobs.get("short").await.is_err().then_some(())
    })
    .await;

    jobs.create(
        &PostParams::default(),
        &job(
            "slow",
            "sleep 60",
            json!({"spec": {"activeDeadlineSeconds": 1}}),
        ),
    )
    .await
    .unwrap();
    let slow = eventually("slow passes its deadline", 20, async || {
        jobs.get("slow").await.ok().filter(|j| has(j, "Failed"))
    })
    .await;
    let reason = slow
        .status
        .unwrap()
        .conditions
        .unwrap()
        .into_iter()
        .find(|c| c.type_ == "Failed")
        .unwrap()
        .reason;
    assert_eq!(reason.as_deref(), Some("DeadlineExceeded"));
}

#[tokio::test]
async fn endpoints_follow_the_services_selector() {
    let (_sim, client) = sim().await;
    let services: Api<Service> = Api::namespaced(client.clone(), "default");
    let svc: Service = serde_json::from_value(json!({
        "metadata": {"name": "web"},
        "spec": {"clusterIP": "None", "selector": {"app": "web"}, "ports": [{"name": "http", "port": 8080}]}
    }))
    .unwrap();
    services.create(&PostParams::default(), &svc).await.unwrap();
    let sets: Api<StatefulSet> = Api::namespaced(client.clone(), "default");
    sets.create(&PostParams::default(), &web_sts(2, "one"))
        .await
        .unwrap();
    let endpoints: Api<Endpoints> = Api::namespaced(client, "default");
    let ready = eventually("both pods are ready endpoints", 30, async || {
        let subsets = endpoints.get("web").await.ok()?.subsets?;
        let addresses = subsets.first()?.addresses.clone()?;
        (addresses.len() == 2).then_some(addresses)
    })
    .await;
    assert!(ready.iter().all(|a| a.ip.starts_with("127.")));
}
