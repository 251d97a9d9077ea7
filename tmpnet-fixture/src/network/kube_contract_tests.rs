//! Contract tests: the exact Kubernetes requests of the kube runtime's start,
//! stop, restart and delete, against kube's tower-test mock (no cluster, no
//! simulator), including how 404, 409 and 410 answers are handled. Each
//! scenario serves the requests in the order the runtime must send them; an
//! unexpected request fails the test.

use std::sync::Arc;

use http::{Request, Response};
use kube::client::Body;
use kube::Client;
use serde_json::{json, Value};
use tower_test::mock;

use super::{Network, NetworkSpec};
use crate::kinds;
use crate::model::{KubeSettings, Peer, RuntimeSettings};
use crate::runtime::kube::mock::{expect, Mock};
use crate::runtime::kube::{manifests, Access, KubeRuntime};
use crate::runtime::NodeRuntime;

const NS: &str = "tmpnet";

/// A one-node refnode network written to a scratch directory, and a runtime
/// for it talking to the mock.
struct Fixture {
    network: Network,
    runtime: KubeRuntime,
    _dir: tempfile::TempDir,
}

fn fixture() -> (Fixture, Mock) {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = KubeSettings::new(NS, "");
    settings.ready_timeout_secs = 10;
    settings.stop_grace_secs = 1;
    let network = Network::create(&NetworkSpec::new(dir.path(), 1).with_kube(settings)).unwrap();
    let RuntimeSettings::Kube(settings) = network.config().runtime.clone() else {
        unreachable!("a kube network")
    };
    let (service, handle) = mock::pair::<Request<Body>, Response<Body>>();
    let client = Client::new(service, NS);
    let runtime = KubeRuntime::with_client(
        kinds::by_name("refnode").unwrap(),
        Arc::new(network.config().clone()),
        network.dir().to_owned(),
        settings,
        client,
        Access::PodIp,
    )
    .unwrap();
    (
        Fixture {
            network,
            runtime,
            _dir: dir,
        },
        handle,
    )
}

fn status(code: u16, reason: &str) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
           "message": format!("{reason} (simulated)"), "reason": reason, "code": code})
}

fn content_type(headers: &http::HeaderMap) -> &str {
    headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

fn pod(name: &str, uid: &str, ready: bool) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": name, "namespace": NS, "uid": uid, "resourceVersion": "5"},
           "status": {"phase": "Running", "podIP": "10.0.0.9",
                      "conditions": [{"type": "Ready", "status": if ready {"True"} else {"False"}}]}})
}

fn pod_list(items: Vec<Value>) -> Value {
    json!({"apiVersion": "v1", "kind": "PodList", "metadata": {"resourceVersion": "7"}, "items": items})
}

fn config_map(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap",
           "metadata": {"name": name, "namespace": NS, "uid": "cm-uid", "resourceVersion": "2"}})
}

fn names(f: &Fixture) -> (String, String, String) {
    let uuid = &f.network.config().uuid;
    let nodes = f.network.node_records();
    let id = nodes[0].id();
    (
        manifests::network_name(uuid),
        manifests::node_object_name(uuid, id),
        manifests::pod_name(uuid, id),
    )
}

#[tokio::test]
async fn start_creates_in_order_tolerates_409_and_resumes_a_watch_after_410() {
    let (f, mut h) = fixture();
    let (cm, set, pod_name) = names(&f);
    let node = f.network.node_records()[0].clone();
    let server = tokio::spawn(async move {
        let base = format!("/api/v1/namespaces/{NS}");
        expect(&mut h, "GET", &base, &[], 404, status(404, "NotFound")).await;
        let (ns, _, _) = expect(&mut h, "POST", "/api/v1/namespaces", &[], 201, json!({})).await;
        assert_eq!(ns["metadata"]["name"], NS);
        // The state ConfigMap exists already (a stopped network): updated.
        let (created, _, _) = expect(
            &mut h,
            "POST",
            &format!("{base}/configmaps"),
            &[],
            409,
            status(409, "AlreadyExists"),
        )
        .await;
        assert!(
            created["data"]["config.json"].is_string(),
            "the network's files: {created}"
        );
        let (patch, headers, _) = expect(
            &mut h,
            "PATCH",
            &format!("{base}/configmaps/{cm}"),
            &[],
            200,
            config_map(&cm),
        )
        .await;
        assert_eq!(content_type(&headers), "application/merge-patch+json");
        assert!(patch["data"]["config.json"].is_string());
        // The node's files.
        let (patch, _, _) = expect(
            &mut h,
            "PATCH",
            &format!("{base}/configmaps/{cm}"),
            &[],
            200,
            config_map(&cm),
        )
        .await;
        let id = patch["data"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect::<Vec<_>>();
        assert!(
            id.iter()
                .all(|k| k.ends_with("_config.json") || k.ends_with("_flags.json")),
            "{id:?}"
        );
        let (svc, _, _) = expect(
            &mut h,
            "POST",
            &format!("{base}/services"),
            &[],
            201,
            json!({}),
        )
        .await;
        assert_eq!(svc["spec"]["clusterIP"], "None");
        assert_eq!(svc["metadata"]["ownerReferences"][0]["uid"], "cm-uid");
        // The StatefulSet exists (a stopped node): scaled up with the new template.
        let sets = format!("/apis/apps/v1/namespaces/{NS}/statefulsets");
        let (sts, _, _) = expect(
            &mut h,
            "POST",
            &sets,
            &[],
            409,
            status(409, "AlreadyExists"),
        )
        .await;
        assert_eq!(sts["spec"]["serviceName"], set);
        let (patch, headers, _) = expect(
            &mut h,
            "PATCH",
            &format!("{sets}/{set}"),
            &[],
            200,
            json!({}),
        )
        .await;
        assert_eq!(content_type(&headers), "application/merge-patch+json");
        assert_eq!(patch["spec"]["replicas"], 1);
        assert!(patch["spec"]["template"]["spec"]["containers"][0]["args"].is_array());
        // Readiness: list (not ready), watch expires (410), list again (ready).
        let field = format!("metadata.name%3D{pod_name}");
        let pods = format!("{base}/pods");
        expect(
            &mut h,
            "GET",
            &pods,
            &[&field],
            200,
            pod_list(vec![pod(&pod_name, "p1", false)]),
        )
        .await;
        // As the API server says it: an ERROR event in the watch stream.
        let (request, send) = h.next_request().await.expect("a watch");
        let query = request.uri().query().unwrap_or_default().to_owned();
        assert!(
            query.contains("watch=true") && query.contains("resourceVersion=7"),
            "{query}"
        );
        let expired = json!({"type": "ERROR", "object": status(410, "Expired")});
        send.send_response(
            Response::builder()
                .status(200)
                .body(Body::from(format!("{expired}\n").into_bytes()))
                .unwrap(),
        );
        expect(
            &mut h,
            "GET",
            &pods,
            &[&field],
            200,
            pod_list(vec![pod(&pod_name, "p1", true)]),
        )
        .await;
    });
    let endpoint = f.runtime.start(&node, &[], &[]).await.unwrap();
    server.await.unwrap();
    assert_eq!(endpoint.uri, "http://10.0.0.9:9650");
    assert_eq!(endpoint.p2p_address, "10.0.0.9:9651");
}

#[tokio::test]
async fn stop_scales_to_zero_and_a_missing_set_or_pod_is_already_stopped() {
    let (f, mut h) = fixture();
    let (_, set, pod_name) = names(&f);
    let node = f.network.node_records()[0].clone();
    let server = tokio::spawn(async move {
        let scale = format!("/apis/apps/v1/namespaces/{NS}/statefulsets/{set}/scale");
        let (body, headers, _) =
            expect(&mut h, "PATCH", &scale, &[], 404, status(404, "NotFound")).await;
        assert_eq!(body, json!({"spec": {"replicas": 0}}));
        assert_eq!(content_type(&headers), "application/merge-patch+json");
        let pod = format!("/api/v1/namespaces/{NS}/pods/{pod_name}");
        expect(&mut h, "GET", &pod, &[], 404, status(404, "NotFound")).await;
    });
    f.runtime.initiate_stop(&node).await.unwrap();
    f.runtime.wait_for_stopped(&node).await.unwrap();
    server.await.unwrap();
}

#[tokio::test]
async fn restart_changes_the_template_replaces_the_pod_and_waits_for_the_new_one() {
    let (f, mut h) = fixture();
    let (cm, set, pod_name) = names(&f);
    let mut node = f.network.node_records()[0].clone();
    let server = tokio::spawn(async move {
        let base = format!("/api/v1/namespaces/{NS}");
        let pod_path = format!("{base}/pods/{pod_name}");
        expect(
            &mut h,
            "GET",
            &pod_path,
            &[],
            200,
            pod(&pod_name, "old", true),
        )
        .await;
        expect(
            &mut h,
            "GET",
            &base,
            &[],
            200,
            json!({"metadata": {"name": NS}}),
        )
        .await;
        expect(
            &mut h,
            "POST",
            &format!("{base}/configmaps"),
            &[],
            201,
            config_map(&cm),
        )
        .await;
        let (patch, _, _) = expect(
            &mut h,
            "PATCH",
            &format!("{base}/configmaps/{cm}"),
            &[],
            200,
            config_map(&cm),
        )
        .await;
        let flags = patch["data"]
            .as_object()
            .unwrap()
            .iter()
            .find(|(k, _)| k.ends_with("_flags.json"))
            .unwrap()
            .1;
        assert!(
            flags.as_str().unwrap().contains("ref-peer@10.0.0.1:9651"),
            "peers recorded: {flags}"
        );
        let sets = format!("/apis/apps/v1/namespaces/{NS}/statefulsets/{set}");
        let (patch, _, _) = expect(&mut h, "PATCH", &sets, &[], 200, json!({})).await;
        let annotations = &patch["spec"]["template"]["metadata"]["annotations"];
        assert!(
            annotations["tmpnet.io/restarted-at"].is_string(),
            "forces a new pod: {patch}"
        );
        // The pod is replaced at once; a 404 (already replaced) is fine.
        expect(
            &mut h,
            "DELETE",
            &pod_path,
            &[],
            404,
            status(404, "NotFound"),
        )
        .await;
        // The old pod is still listed: it is not mistaken for the new one.
        let field = format!("metadata.name%3D{pod_name}");
        let pods = format!("{base}/pods");
        expect(
            &mut h,
            "GET",
            &pods,
            &[&field],
            200,
            pod_list(vec![pod(&pod_name, "old", true)]),
        )
        .await;
        let (request, send) = h.next_request().await.expect("a watch");
        assert!(request
            .uri()
            .query()
            .unwrap_or_default()
            .contains("watch=true"));
        let event = json!({"type": "ADDED", "object": pod(&pod_name, "new", true)});
        send.send_response(
            Response::builder()
                .status(200)
                .body(Body::from(format!("{event}\n").into_bytes()))
                .unwrap(),
        );
    });
    let peers = [Peer {
        node_id: "ref-peer".into(),
        p2p_address: "10.0.0.1:9651".into(),
    }];
    let endpoint = f.runtime.restart(&mut node, &peers, &[]).await.unwrap();
    server.await.unwrap();
    assert_eq!(endpoint.uri, "http://10.0.0.9:9650");
}

#[tokio::test]
async fn deleting_the_network_deletes_its_state_in_the_foreground_then_sweeps_by_label() {
    let (f, mut h) = fixture();
    let (cm, _, _) = names(&f);
    let uuid = f.network.config().uuid.clone();
    let server = tokio::spawn(async move {
        let base = format!("/api/v1/namespaces/{NS}");
        let (body, _, _) = expect(
            &mut h,
            "DELETE",
            &format!("{base}/configmaps/{cm}"),
            &[],
            200,
            config_map(&cm),
        )
        .await;
        assert_eq!(body["propagationPolicy"], "Foreground");
        // Already gone once asked again.
        expect(
            &mut h,
            "GET",
            &format!("{base}/configmaps/{cm}"),
            &[],
            404,
            status(404, "NotFound"),
        )
        .await;
        let label = format!("tmpnet.io%2Fnetwork-uuid%3D{uuid}");
        let empty =
            |kind: &str| json!({"apiVersion": "v1", "kind": kind, "metadata": {}, "items": []});
        // A StatefulSet the garbage collector has not reached yet: deleted
        // (and a 404 for it means someone else did).
        let sets = format!("/apis/apps/v1/namespaces/{NS}/statefulsets");
        let leftover = json!({"apiVersion": "apps/v1", "kind": "StatefulSetList", "metadata": {},
            "items": [{"metadata": {"name": "left", "namespace": NS}, "spec": {"selector": {}, "template": {}}}]});
        expect(&mut h, "GET", &sets, &[&label], 200, leftover).await;
        let (body, _, _) = expect(
            &mut h,
            "DELETE",
            &format!("{sets}/left"),
            &[],
            404,
            status(404, "NotFound"),
        )
        .await;
        assert_eq!(body["propagationPolicy"], "Background");
        for (path, kind) in [
            (
                format!("/apis/networking.k8s.io/v1/namespaces/{NS}/ingresses"),
                "IngressList",
            ),
            (format!("{base}/services"), "ServiceList"),
        ] {
            expect(&mut h, "GET", &path, &[&label], 200, empty(kind)).await;
        }
        // The Secret by name (no right to list Secrets); gone with its owner.
        let secret = format!("{base}/secrets/{cm}-secrets");
        expect(&mut h, "DELETE", &secret, &[], 404, status(404, "NotFound")).await;
        for (path, kind) in [
            (
                format!("{base}/persistentvolumeclaims"),
                "PersistentVolumeClaimList",
            ),
            (format!("{base}/pods"), "PodList"),
        ] {
            expect(&mut h, "GET", &path, &[&label], 200, empty(kind)).await;
        }
    });
    f.runtime.network_stopped().await.unwrap();
    server.await.unwrap();
}

/// The error keeps kube's as its source, so callers can match the status.
#[tokio::test]
async fn an_api_failure_is_one_line_naming_the_action_and_the_fix() {
    let (f, mut h) = fixture();
    let node = f.network.node_records()[0].clone();
    let server = tokio::spawn(async move {
        let (request, send) = h.next_request().await.unwrap();
        assert_eq!(request.method(), "PATCH");
        send.send_response(
            Response::builder()
                .status(403)
                .body(Body::from(
                    serde_json::to_vec(&status(403, "Forbidden")).unwrap(),
                ))
                .unwrap(),
        );
    });
    let error = f.runtime.initiate_stop(&node).await.unwrap_err();
    server.await.unwrap();
    assert_eq!(error.kube_status(), Some(403), "{error:?}");
    let source = std::error::Error::source(&error).map(ToString::to_string);
    assert!(
        source.unwrap_or_default().contains("Forbidden"),
        "{error:?}"
    );
    let err = error.to_string();
    assert!(!err.contains('\n'), "{err}");
    assert!(
        err.contains("scale statefulset") && err.contains("deploy/rbac.yaml"),
        "{err}"
    );
}

#[tokio::test]
#[cfg(feature = "avalanchego")]
async fn a_nodes_own_keys_go_to_the_networks_secret_and_its_pod_mounts_only_them() {
    let dir = tempfile::tempdir().unwrap();
    let settings = KubeSettings::new(NS, "");
    let spec = NetworkSpec::new(dir.path(), 2)
        .with_kind("avalanchego")
        .with_kube(settings);
    let network = Network::create(&spec).unwrap();
    let RuntimeSettings::Kube(settings) = network.config().runtime.clone() else {
        unreachable!("a kube network")
    };
    let (service, mut h) = mock::pair::<Request<Body>, Response<Body>>();
    let runtime = KubeRuntime::with_client(
        kinds::by_name("avalanchego").unwrap(),
        Arc::new(network.config().clone()),
        network.dir().to_owned(),
        settings,
        Client::new(service, NS),
        Access::PodIp,
    )
    .unwrap();
    let nodes = network.node_records();
    let node = nodes[1].clone();
    let key_of = |file: &str| format!("{}_staking_{file}", node.id());
    let staker_key = std::fs::read(node.dir.join("staking/staker.key")).unwrap();
    let uuid = network.config().uuid.clone();
    let cm = manifests::network_name(&uuid);
    let secret = manifests::secret_name(&uuid);
    let secret_path = secret.clone();
    let server = tokio::spawn(async move {
        let secret = secret_path;
        let base = format!("/api/v1/namespaces/{NS}");
        expect(
            &mut h,
            "GET",
            &base,
            &[],
            200,
            json!({"metadata": {"name": NS}}),
        )
        .await;
        let (state, _, _) = expect(
            &mut h,
            "POST",
            &format!("{base}/configmaps"),
            &[],
            201,
            config_map(&cm),
        )
        .await;
        let (created, _, _) = expect(
            &mut h,
            "POST",
            &format!("{base}/secrets"),
            &[],
            201,
            json!({}),
        )
        .await;
        // Every node's keys and the funded keys: 2 x 3 + 1.
        assert_eq!(created["data"].as_object().unwrap().len(), 7, "{created}");
        let (flags, _, _) = expect(
            &mut h,
            "PATCH",
            &format!("{base}/configmaps/{cm}"),
            &[],
            200,
            config_map(&cm),
        )
        .await;
        let (patched, headers, _) = expect(
            &mut h,
            "PATCH",
            &format!("{base}/secrets/{secret}"),
            &[],
            200,
            json!({}),
        )
        .await;
        assert_eq!(content_type(&headers), "application/merge-patch+json");
        expect(
            &mut h,
            "POST",
            &format!("{base}/services"),
            &[],
            201,
            json!({}),
        )
        .await;
        let (set, _, _) = expect(
            &mut h,
            "POST",
            "/apis/apps/v1/namespaces/tmpnet/statefulsets",
            &[],
            422,
            status(422, "Invalid"),
        )
        .await;
        (state, created, flags, patched, set)
    });
    let err = runtime.start(&node, &[], &[]).await.unwrap_err();
    assert!(err.to_string().contains("statefulset"), "{err}");
    let (state, created, flags, patched, set) = server.await.unwrap();
    use base64::Engine as _;
    let encoded = base64::engine::general_purpose::STANDARD.encode(&staker_key);
    assert_eq!(created["data"][key_of("staker.key")], encoded.as_str());
    // The starting node's three keys, merged into the Secret.
    let patched = patched["data"].as_object().unwrap();
    let mut keys: Vec<&String> = patched.keys().collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            key_of("signer.key"),
            key_of("staker.crt"),
            key_of("staker.key")
        ]
        .iter()
        .collect::<Vec<_>>()
    );
    let pod = &set["spec"]["template"]["spec"];
    let items = pod["volumes"][0]["secret"]["items"].as_array().unwrap();
    assert_eq!(items.len(), 3);
    assert_eq!(pod["volumes"][0]["secret"]["secretName"], secret.as_str());
    // No key in the state, the flags or the pod.
    let pem_body = String::from_utf8(staker_key).unwrap();
    let pem_body = pem_body.lines().nth(1).unwrap();
    for (what, object) in [("state", &state), ("flags", &flags), ("statefulset", &set)] {
        let text = object.to_string();
        assert!(
            !text.contains(&encoded) && !text.contains(pem_body),
            "a key in the {what}"
        );
    }
}
