//! Simulated kube: a StatefulSet of three real refnodes on tmpnet-kubesim
//! becomes Ready, each pod on its own address, each serving its API through
//! kube-rs port-forward; scaling to zero stops the processes.

use std::time::Duration;

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;
use tmpnet_acceptance::*;
use tmpnet_kubesim::{Options, Simulator};

fn refnodes(replicas: i32) -> StatefulSet {
    serde_json::from_value(json!({
        "metadata": {"name": "node"},
        "spec": {
            "replicas": replicas,
            "serviceName": "node",
            "podManagementPolicy": "Parallel",
            "selector": {"matchLabels": {"app": "refnode"}},
            "template": {
                "metadata": {"labels": {"app": "refnode"}},
                "spec": {"containers": [{
                    "name": "refnode",
                    "image": "tmpnet/refnode",
                    "args": [
                        "--flag", "node-id=$(POD_NAME)",
                        "--flag", "db-dir=/data/db",
                        "--flag", "process-context-file=/data/process.json",
                        "--flag", "http-host=$(POD_IP)", "--flag", "http-port=9650",
                        "--flag", "p2p-host=$(POD_IP)", "--flag", "p2p-port=9651"
                    ],
                    "env": [
                        {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                        {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}
                    ],
                    "ports": [{"name": "http", "containerPort": 9650}, {"name": "p2p", "containerPort": 9651}],
                    "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                    "readinessProbe": {"httpGet": {"path": "/ext/health", "port": "http"}, "periodSeconds": 1}
                }]}
            },
            "volumeClaimTemplates": [{"metadata": {"name": "data"},
                "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}]
        }
    }))
    .unwrap()
}

async fn get_through_port_forward(pods: &Api<Pod>, pod: &str, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut forwarder = pods.portforward(pod, &[9650]).await.unwrap();
    let mut stream = forwarder.take_stream(9650).unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {pod}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut response))
        .await
        .unwrap()
        .unwrap();
    String::from_utf8_lossy(&response).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statefulset_of_three_refnodes_on_the_simulator() {
    let sim = Simulator::start_with(Options::default().image("tmpnet/refnode", refnode()))
        .await
        .unwrap();
    let client = sim.client().unwrap();
    let sets: Api<StatefulSet> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client, "default");
    sets.create(&PostParams::default(), &refnodes(3))
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let ready = sets
            .get("node")
            .await
            .unwrap()
            .status
            .and_then(|s| s.ready_replicas);
        if ready == Some(3) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the refnodes never became ready: {ready:?}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let listed = pods
        .list(&ListParams::default().labels("app=refnode"))
        .await
        .unwrap()
        .items;
    let mut ips: Vec<String> = listed
        .iter()
        .filter_map(|p| p.status.as_ref()?.pod_ip.clone())
        .collect();
    ips.sort();
    ips.dedup();
    assert_eq!(ips.len(), 3, "each pod on its own address");
    for i in 0..3 {
        let name = format!("node-{i}");
        let info = get_through_port_forward(&pods, &name, "/ext/info").await;
        assert!(info.starts_with("HTTP/1.1 200"), "{info}");
        assert!(info.contains(&format!("\"nodeId\":\"{name}\"")), "{info}");
    }
    sets.patch_scale(
        "node",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"replicas": 0}})),
    )
    .await
    .unwrap();
    let gone = eventually(Duration::from_secs(20), || {
        ips.iter()
            .all(|ip| std::net::TcpStream::connect((ip.as_str(), 9650)).is_err())
    });
    assert!(gone, "scaling to zero stopped every refnode process");
    sim.shutdown().await;
}
