//! RBAC enforced: ServiceAccount tokens get what their Roles allow and a
//! 403 otherwise, from a test client and from inside a pod. Simulated.

// Test code may unwrap: a panic is how a test fails.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use k8s_openapi::api::core::v1::{ConfigMap, Pod, Secret};
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::api::{Api, ListParams, LogParams, PostParams};
use serde_json::json;
use tmpnet_kubesim::{Options, Simulator};

async fn grant_configmap_reader(sim: &Simulator) {
    let client = sim.client().unwrap();
    let role: Role = serde_json::from_value(json!({
        "metadata": {"name": "configmap-reader"},
        "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list", "watch"]}]
    }))
    .unwrap();
    Api::<Role>::namespaced(client.clone(), "default")
        .create(&PostParams::default(), &role)
        .await
        .unwrap();
    let binding: RoleBinding = serde_json::from_value(json!({
        "metadata": {"name": "reader"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "configmap-reader"},
        "subjects": [{"kind": "ServiceAccount", "name": "reader", "namespace": "default"}]
    }))
    .unwrap();
    Api::<RoleBinding>::namespaced(client, "default")
        .create(&PostParams::default(), &binding)
        .await
        .unwrap();
}

#[tokio::test]
async fn an_allowed_request_passes_and_a_forbidden_one_gets_403() {
    let sim = Simulator::start().await.unwrap();
    grant_configmap_reader(&sim).await;
    let reader = sim.service_account_client("default", "reader").unwrap();
    let configmaps: Api<ConfigMap> = Api::namespaced(reader.clone(), "default");
    assert!(configmaps.list(&ListParams::default()).await.is_ok());
    let secrets: Api<Secret> = Api::namespaced(reader.clone(), "default");
    match secrets.list(&ListParams::default()).await.unwrap_err() {
        kube::Error::Api(s) => {
            assert_eq!((s.code, s.reason.as_str()), (403, "Forbidden"));
            assert!(
                s.message.contains("system:serviceaccount:default:reader"),
                "{}",
                s.message
            );
            assert!(
                s.message.contains("cannot list resource \"secrets\""),
                "{}",
                s.message
            );
        }
        other => panic!("expected 403, got {other}"),
    }
    let cm: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "x"}})).unwrap();
    assert!(
        configmaps
            .create(&PostParams::default(), &cm)
            .await
            .is_err(),
        "create was not granted"
    );
    let stranger = sim.service_account_client("default", "stranger").unwrap();
    assert!(Api::<ConfigMap>::namespaced(stranger, "default")
        .list(&ListParams::default())
        .await
        .is_err());
}

#[tokio::test]
async fn pods_reach_the_api_as_their_service_account() {
    let sim = Simulator::start_with(Options::default().image("python", "/usr/bin/python3"))
        .await
        .unwrap();
    grant_configmap_reader(&sim).await;
    let script = r#"
import json, os, urllib.request, urllib.error
config = json.load(open(os.environ["KUBECONFIG"]))
server = config["clusters"][0]["cluster"]["server"]
token = config["users"][0]["user"]["token"]
for path in ["/api/v1/namespaces/default/configmaps", "/api/v1/namespaces/default/secrets"]:
    request = urllib.request.Request(server + path, headers={"Authorization": "Bearer " + token})
    try:
        print(path.rsplit("/", 1)[1], urllib.request.urlopen(request).status)
    except urllib.error.HTTPError as e:
        print(path.rsplit("/", 1)[1], e.code)
"#;
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": "client"},
        "spec": {"serviceAccountName": "reader", "restartPolicy": "Never",
                 "containers": [{"name": "main", "image": "python", "command": ["python3", "-c", script]}]}
    }))
    .unwrap();
    let pods: Api<Pod> = Api::namespaced(sim.client().unwrap(), "default");
    pods.create(&PostParams::default(), &pod).await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let phase = pods
            .get("client")
            .await
            .unwrap()
            .status
            .and_then(|s| s.phase)
            .unwrap_or_default();
        if phase == "Succeeded" {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the client pod did not finish: {phase}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let logs = pods.logs("client", &LogParams::default()).await.unwrap();
    assert_eq!(logs, "configmaps 200\nsecrets 403\n");
}
