//! The process kubelet under kube-rs clients: pods run as local processes
//! with real exit codes, logs, env from the downward API, Secrets and
//! ConfigMaps, volumes, per-pod addresses, probes, and deletion stopping
//! the process. Simulated, not a real cluster.

// Test code may unwrap: a panic is how a test fails.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use futures::{AsyncBufReadExt, TryStreamExt};
use k8s_openapi::api::core::v1::{ConfigMap, Pod, Secret};
use kube::api::{Api, DeleteParams, LogParams, PostParams};
use kube::runtime::wait::{await_condition, conditions};
use serde_json::json;
use tmpnet_kubesim::{Options, Simulator};

async fn sim() -> (Simulator, Api<Pod>) {
    let sim = Simulator::start_with(
        Options::default()
            .image("busybox", "/bin/sh")
            .image("python", "/usr/bin/python3"),
    )
    .await
    .unwrap();
    let pods = Api::namespaced(sim.client().unwrap(), "default");
    (sim, pods)
}

fn shell_pod(name: &str, script: &str, restart: &str) -> Pod {
    serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {
            "restartPolicy": restart,
            "containers": [{"name": "main", "image": "busybox", "command": ["sh", "-c", script]}]
        }
    }))
    .unwrap()
}

/// Waits until `check` holds for the pod, or fails with its last state.
async fn wait_for(pods: &Api<Pod>, name: &str, what: &str, check: impl Fn(&Pod) -> bool) -> Pod {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let pod = pods.get(name).await.unwrap();
        if check(&pod) {
            return pod;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{name} never {what}: {:?}",
            pod.status
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn phase(p: &Pod) -> &str {
    p.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("")
}

fn exit_code(p: &Pod) -> Option<i32> {
    p.status.as_ref()?.container_statuses.as_ref()?[0]
        .state
        .as_ref()?
        .terminated
        .as_ref()
        .map(|t| t.exit_code)
}

#[tokio::test]
async fn exit_codes_phases_and_logs_after_exit() {
    let (_sim, pods) = sim().await;
    pods.create(
        &PostParams::default(),
        &shell_pod("fails", "echo about to fail; exit 3", "Never"),
    )
    .await
    .unwrap();
    pods.create(
        &PostParams::default(),
        &shell_pod("works", "echo fine", "Never"),
    )
    .await
    .unwrap();
    let failed = wait_for(&pods, "fails", "failed", |p| phase(p) == "Failed").await;
    assert_eq!(exit_code(&failed), Some(3));
    let worked = wait_for(&pods, "works", "succeeded", |p| phase(p) == "Succeeded").await;
    assert_eq!(exit_code(&worked), Some(0));
    let logs = pods.logs("fails", &LogParams::default()).await.unwrap();
    assert_eq!(logs, "about to fail\n");
}

#[tokio::test]
async fn an_unmapped_image_cannot_be_pulled() {
    let (_sim, pods) = sim().await;
    let mut pod = shell_pod("nowhere", "true", "Never");
    pod.spec.as_mut().unwrap().containers[0].image = Some("registry.example/none:1".into());
    pods.create(&PostParams::default(), &pod).await.unwrap();
    let reason = |p: &Pod| {
        p.status
            .as_ref()
            .and_then(|s| s.container_statuses.as_ref())
            .and_then(|c| c[0].state.as_ref())
            .and_then(|s| s.waiting.as_ref())
            .and_then(|w| w.reason.clone())
    };
    wait_for(&pods, "nowhere", "failed to pull", |p| {
        reason(p).as_deref() == Some("ErrImagePull")
    })
    .await;
    let backoff = wait_for(&pods, "nowhere", "backed off", |p| {
        reason(p).as_deref() == Some("ImagePullBackOff")
    })
    .await;
    assert_eq!(phase(&backoff), "Pending");
}

#[tokio::test]
async fn environment_from_the_downward_api_secrets_and_configmaps() {
    let (sim, pods) = sim().await;
    let client = sim.client().unwrap();
    let secret: Secret =
        serde_json::from_value(json!({"metadata": {"name": "s"}, "data": {"token": "c2VjcmV0"}}))
            .unwrap();
    Api::<Secret>::namespaced(client.clone(), "default")
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();
    let cm: ConfigMap = serde_json::from_value(
        json!({"metadata": {"name": "c"}, "data": {"MODE": "fast", "LEVEL": "3"}}),
    )
    .unwrap();
    Api::<ConfigMap>::namespaced(client, "default")
        .create(&PostParams::default(), &cm)
        .await
        .unwrap();
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": "env"},
        "spec": {"restartPolicy": "Never", "containers": [{
            "name": "main", "image": "busybox",
            "command": ["sh", "-c", "echo $ME $NS $IP $TOKEN $CM_MODE $CM_LEVEL $PLAIN"],
            "envFrom": [{"configMapRef": {"name": "c"}, "prefix": "CM_"}],
            "env": [
                {"name": "ME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                {"name": "NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
                {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "s", "key": "token"}}},
                {"name": "PLAIN", "value": "p"}
            ]
        }]}
    }))
    .unwrap();
    pods.create(&PostParams::default(), &pod).await.unwrap();
    let done = wait_for(&pods, "env", "succeeded", |p| phase(p) == "Succeeded").await;
    let ip = done.status.unwrap().pod_ip.unwrap();
    assert!(ip.starts_with("127."), "{ip}");
    let logs = pods.logs("env", &LogParams::default()).await.unwrap();
    assert_eq!(logs.trim(), format!("env default {ip} secret fast 3 p"));
}

#[tokio::test]
async fn mount_paths_map_to_volume_directories() {
    let (_sim, pods) = sim().await;
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": "vol"},
        "spec": {"restartPolicy": "Never",
            "volumes": [{"name": "data", "emptyDir": {}}],
            "containers": [{"name": "main", "image": "busybox",
                "command": ["sh", "-c", "echo kept > /data/file && cat $KUBESIM_MOUNT_DATA/file"],
                "volumeMounts": [{"name": "data", "mountPath": "/data"}]}]}
    }))
    .unwrap();
    pods.create(&PostParams::default(), &pod).await.unwrap();
    wait_for(&pods, "vol", "succeeded", |p| phase(p) == "Succeeded").await;
    assert_eq!(
        pods.logs("vol", &LogParams::default()).await.unwrap(),
        "kept\n"
    );
    assert!(
        !std::path::Path::new("/data/file").exists(),
        "nothing written outside the simulator"
    );
}

fn server_pod(name: &str) -> Pod {
    serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {"containers": [{
            "name": "web", "image": "python",
            "command": ["python3", "-m", "http.server", "8080", "--bind", "$(POD_IP)"],
            "env": [{"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}],
            "ports": [{"name": "http", "containerPort": 8080}],
            "readinessProbe": {"httpGet": {"path": "/", "port": "http"}, "periodSeconds": 1}
        }]}
    }))
    .unwrap()
}

#[tokio::test]
async fn pods_get_their_own_addresses_readiness_and_are_stopped_on_delete() {
    let (_sim, pods) = sim().await;
    for name in ["web-a", "web-b"] {
        pods.create(&PostParams::default(), &server_pod(name))
            .await
            .unwrap();
    }
    for name in ["web-a", "web-b"] {
        let ready = tokio::time::timeout(
            Duration::from_secs(20),
            await_condition(pods.clone(), name, conditions::is_pod_running()),
        );
        ready.await.unwrap().unwrap();
        wait_for(&pods, name, "became ready", |p| {
            p.status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
        })
        .await;
    }
    let ip = |p: Pod| p.status.unwrap().pod_ip.unwrap();
    let (a, b) = (
        ip(pods.get("web-a").await.unwrap()),
        ip(pods.get("web-b").await.unwrap()),
    );
    assert_ne!(a, b, "each pod has its own address, both on port 8080");
    for addr in [&a, &b] {
        assert!(
            std::net::TcpStream::connect((addr.as_str(), 8080)).is_ok(),
            "{addr}:8080"
        );
    }
    pods.delete("web-a", &DeleteParams::default())
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect((a.as_str(), 8080)).is_ok() {
        assert!(
            std::time::Instant::now() < deadline,
            "the deleted pod's process still serves"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn logs_follow_until_the_container_exits() {
    let (_sim, pods) = sim().await;
    pods.create(
        &PostParams::default(),
        &shell_pod(
            "ticker",
            "for i in 1 2 3; do echo tick $i; sleep 0.2; done",
            "Never",
        ),
    )
    .await
    .unwrap();
    await_condition(pods.clone(), "ticker", conditions::is_pod_running())
        .await
        .unwrap();
    let stream = pods
        .log_stream(
            "ticker",
            &LogParams {
                follow: true,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let lines: Vec<String> =
        tokio::time::timeout(Duration::from_secs(10), stream.lines().try_collect())
            .await
            .expect("the stream ends when the container exits")
            .unwrap();
    assert_eq!(lines, ["tick 1", "tick 2", "tick 3"]);
    let last = pods
        .logs(
            "ticker",
            &LogParams {
                tail_lines: Some(1),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(last, "tick 3\n");
}

#[tokio::test]
async fn restart_policies_restart_failed_containers() {
    let (_sim, pods) = sim().await;
    pods.create(
        &PostParams::default(),
        &shell_pod("flaky", "echo run; exit 1", "OnFailure"),
    )
    .await
    .unwrap();
    let restarted = wait_for(&pods, "flaky", "restarted twice", |p| {
        p.status
            .as_ref()
            .and_then(|s| s.container_statuses.as_ref())
            .is_some_and(|c| c[0].restart_count >= 2)
    })
    .await;
    assert_ne!(phase(&restarted), "Failed");
}

#[tokio::test]
async fn port_forward_reaches_the_pods_own_port() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (_sim, pods) = sim().await;
    pods.create(&PostParams::default(), &server_pod("forwarded"))
        .await
        .unwrap();
    wait_for(&pods, "forwarded", "became ready", |p| {
        p.status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
    })
    .await;
    let mut forwarder = pods.portforward("forwarded", &[8080]).await.unwrap();
    let mut stream = forwarder.take_stream(8080).unwrap();
    stream
        .write_all(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut response = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut response))
        .await
        .unwrap()
        .unwrap();
    let text = String::from_utf8_lossy(&response);
    assert!(text.starts_with("HTTP/1.0 200"), "{text}");
    // The server closed the connection, and with it the forward: no error
    // was reported for the port.
    let error = forwarder.take_error(8080).unwrap();
    drop(stream);
    let reported = tokio::time::timeout(Duration::from_secs(10), error)
        .await
        .unwrap();
    assert_eq!(reported, None);
}

#[tokio::test]
async fn port_forward_to_a_closed_port_reports_an_error() {
    let (_sim, pods) = sim().await;
    pods.create(&PostParams::default(), &server_pod("closed"))
        .await
        .unwrap();
    tokio::time::timeout(
        Duration::from_secs(20),
        await_condition(pods.clone(), "closed", conditions::is_pod_running()),
    )
    .await
    .unwrap()
    .unwrap();
    let mut forwarder = pods.portforward("closed", &[9]).await.unwrap();
    let error = forwarder.take_error(9).unwrap();
    let message = tokio::time::timeout(Duration::from_secs(10), error)
        .await
        .unwrap();
    assert!(
        message.is_some_and(|m| m.contains("port 9")),
        "the port error names the port"
    );
}

#[tokio::test]
async fn configmap_and_secret_volumes_and_key_references() {
    let (sim, pods) = sim().await;
    let client = sim.client().unwrap();
    let cm: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": "conf"}, "data": {"mode": "fast"}}))
            .unwrap();
    Api::<ConfigMap>::namespaced(client.clone(), "default")
        .create(&PostParams::default(), &cm)
        .await
        .unwrap();
    let secret: Secret = serde_json::from_value(
        json!({"metadata": {"name": "keys"}, "data": {"key.pem": "UFJJVkFURQ=="}}),
    )
    .unwrap();
    Api::<Secret>::namespaced(client, "default")
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": "mounted"},
        "spec": {"restartPolicy": "Never",
            "volumes": [{"name": "conf", "configMap": {"name": "conf"}}, {"name": "keys", "secret": {"secretName": "keys"}}],
            "containers": [{"name": "main", "image": "busybox",
                "command": ["sh", "-c", "echo $MODE $(cat /etc/conf/mode) $(cat /etc/keys/key.pem)"],
                "env": [{"name": "MODE", "valueFrom": {"configMapKeyRef": {"name": "conf", "key": "mode"}}}],
                "volumeMounts": [{"name": "conf", "mountPath": "/etc/conf"}, {"name": "keys", "mountPath": "/etc/keys"}]}]}
    }))
    .unwrap();
    pods.create(&PostParams::default(), &pod).await.unwrap();
    wait_for(&pods, "mounted", "succeeded", |p| phase(p) == "Succeeded").await;
    assert_eq!(
        pods.logs("mounted", &LogParams::default()).await.unwrap(),
        "fast fast PRIVATE\n"
    );
}

fn ready(p: &Pod) -> bool {
    p.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

#[tokio::test]
async fn tcp_and_exec_probes_decide_readiness_and_liveness_restarts() {
    let (_sim, pods) = sim().await;
    let probed =
        |name: &str, probe: serde_json::Value, liveness: Option<serde_json::Value>| -> Pod {
            let mut container = json!({"name": "main", "image": "busybox",
            "command": ["sh", "-c", "python3 -m http.server 8080 --bind $POD_IP"],
            "env": [{"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}],
            "readinessProbe": probe});
            if let Some(l) = liveness {
                container["livenessProbe"] = l;
            }
            serde_json::from_value(
                json!({"metadata": {"name": name}, "spec": {"containers": [container]}}),
            )
            .unwrap()
        };
    pods.create(
        &PostParams::default(),
        &probed(
            "tcp",
            json!({"tcpSocket": {"port": 8080}, "periodSeconds": 1}),
            None,
        ),
    )
    .await
    .unwrap();
    pods.create(
        &PostParams::default(),
        &probed("exec-ok", json!({"exec": {"command": ["true"]}}), None),
    )
    .await
    .unwrap();
    pods.create(
        &PostParams::default(),
        &probed("exec-no", json!({"exec": {"command": ["false"]}}), None),
    )
    .await
    .unwrap();
    let failing_liveness =
        json!({"exec": {"command": ["false"]}, "periodSeconds": 1, "failureThreshold": 1});
    pods.create(
        &PostParams::default(),
        &probed(
            "dies",
            json!({"tcpSocket": {"port": 8080}}),
            Some(failing_liveness),
        ),
    )
    .await
    .unwrap();
    wait_for(&pods, "tcp", "became ready on its TCP port", ready).await;
    wait_for(&pods, "exec-ok", "became ready by exec", ready).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let not_ready = pods.get("exec-no").await.unwrap();
    assert_eq!(phase(&not_ready), "Running");
    assert!(
        !ready(&not_ready),
        "a failing exec probe keeps the pod unready"
    );
    wait_for(&pods, "dies", "was restarted by its liveness probe", |p| {
        p.status
            .as_ref()
            .and_then(|s| s.container_statuses.as_ref())
            .is_some_and(|c| c[0].restart_count >= 1)
    })
    .await;
}

#[tokio::test]
async fn a_pod_ignoring_sigterm_is_killed_after_its_grace_period() {
    let (_sim, pods) = sim().await;
    let mut pod = shell_pod(
        "stubborn",
        "trap '' TERM; echo started; while true; do sleep 0.1; done",
        "Always",
    );
    pod.spec.as_mut().unwrap().termination_grace_period_seconds = Some(1);
    pods.create(&PostParams::default(), &pod).await.unwrap();
    wait_for(&pods, "stubborn", "started", |p| phase(p) == "Running").await;
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while pods
        .logs("stubborn", &LogParams::default())
        .await
        .unwrap()
        .is_empty()
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the shell never started"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let marker = "while true; do sleep 0.1";
    let running = || {
        std::fs::read_dir("/proc").unwrap().flatten().any(|e| {
            std::fs::read(e.path().join("cmdline"))
                .map(|c| String::from_utf8_lossy(&c).contains(marker))
                .unwrap_or(false)
                && std::fs::read_to_string(e.path().join("stat")).is_ok_and(|s| !s.contains(") Z "))
        })
    };
    assert!(running());
    pods.delete("stubborn", &DeleteParams::default())
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while running() {
        assert!(
            std::time::Instant::now() < deadline,
            "the stubborn pod survived SIGKILL"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn what_a_container_leaves_running_dies_with_it() {
    let (_sim, pods) = sim().await;
    pods.create(
        &PostParams::default(),
        &shell_pod("leaver", "sleep 3107 & echo left", "Never"),
    )
    .await
    .unwrap();
    wait_for(&pods, "leaver", "succeeded", |p| phase(p) == "Succeeded").await;
    let sleeper_alive = || {
        std::fs::read_dir("/proc").unwrap().flatten().any(|e| {
            std::fs::read(e.path().join("cmdline")).is_ok_and(|c| c == b"sleep\x003107\x00")
                && std::fs::read_to_string(e.path().join("stat")).is_ok_and(|s| !s.contains(") Z "))
        })
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while sleeper_alive() {
        assert!(
            std::time::Instant::now() < deadline,
            "the background sleep outlived its container"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_replacement_pod_of_the_same_name_starts_after_the_old_one_is_gone() {
    let (_sim, pods) = sim().await;
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("trace");
    let t = trace.display();
    // The old pod takes a second to shut down, like a daemon releasing a
    // data directory lock.
    let old = shell_pod(
        "node-0",
        &format!("trap 'sleep 1; echo old-exit >> {t}; exit 0' TERM; echo old-start >> {t}; while true; do sleep 0.05; done"),
        "Always",
    );
    pods.create(&PostParams::default(), &old).await.unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !std::fs::read_to_string(&trace)
        .unwrap_or_default()
        .contains("old-start")
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the old pod never started"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    pods.delete("node-0", &DeleteParams::default())
        .await
        .unwrap();
    let new = shell_pod(
        "node-0",
        &format!("echo new-start >> {t}; sleep 30"),
        "Always",
    );
    pods.create(&PostParams::default(), &new).await.unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !std::fs::read_to_string(&trace)
        .unwrap_or_default()
        .contains("new-start")
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the new pod never started"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let lines: Vec<String> = std::fs::read_to_string(&trace)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(lines, ["old-start", "old-exit", "new-start"]);
}
