//! Contract tests: the exact requests of the monitor's init container and
//! sidecar in each case (a moving tag, a first start, a resume, a new
//! digest, a resolver that cannot pull, a node restart, a sync, a new
//! digest of the tag, a stop mid-sync), against kube's tower-test mock and
//! a volume in a temporary directory. An unexpected request fails the test.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use http::{Request, Response};
use kube::client::Body;
use kube::Client;
use serde_json::{json, Value};
use tower_test::mock;

use super::cluster::{Cluster, ResolveSettings};
use super::probe::SyncProbe;
use super::record::{Interruption, TestRecord, TestStatus, Volume};
use super::run::{InitOutcome, Monitor, Settings, NO_NOTICE};
use crate::runtime::kube::mock::{expect, Mock};

const NS: &str = "tmpnet";
const SET: &str = "bootstrap-litecoind";
const POD: &str = "bootstrap-litecoind-0";
const A: &str = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const B: &str = "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
const PODS: &str = "/api/v1/namespaces/tmpnet/pods";
const RESULTS: &str = "/api/v1/namespaces/tmpnet/configmaps/bootstrap-litecoind-results";

fn monitor(volume: &Path) -> (Monitor, Mock) {
    monitor_polling(volume, Duration::from_millis(10))
}

/// A monitor that looks for a new build every `poll`.
fn monitor_polling(volume: &Path, poll: Duration) -> (Monitor, Mock) {
    let (service, handle) = mock::pair::<Request<Body>, Response<Body>>();
    let mut settings = Settings::new(POD, "node", volume, Path::new("node"));
    settings.resolve = ResolveSettings::new(
        vec!["-version".into()],
        "IfNotPresent",
        10001,
        Duration::from_secs(30),
    );
    settings.poll = poll;
    settings.check_every = Duration::from_millis(10);
    let cluster = Cluster::new(Client::new(service, NS), NS);
    (Monitor::new(cluster, settings), handle)
}

fn pinned(digest: &str) -> String {
    format!("tmpnet/litecoind:latest@{digest}")
}

/// The monitor's own pod: node container `image`, owned by the
/// StatefulSet, with `version` annotated and the node restarted
/// `restarts` times.
fn own_pod(image: &str, version: Option<&str>, restarts: i32, deleted: bool) -> Value {
    let mut pod = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": POD, "namespace": NS, "annotations": {},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "StatefulSet", "name": SET, "uid": "set-uid"}]},
        "spec": {"containers": [{"name": "node", "image": image}, {"name": "monitor", "image": "tmpnet/bootstrap-monitor:latest"}]},
        "status": {"containerStatuses": [{"name": "node", "image": image, "imageID": "", "ready": false, "restartCount": restarts,
            "lastState": if restarts > 0 { json!({"terminated": {"exitCode": 137, "reason": "OOMKilled"}}) } else { json!({}) }}]},
    });
    if let Some(v) = version {
        pod["metadata"]["annotations"]["tmpnet.io/bootstrap-version"] = json!(v);
    }
    if deleted {
        pod["metadata"]["deletionTimestamp"] = json!("2026-12-07T00:00:00Z");
    }
    pod
}

fn resolver(state: Value, image_id: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "r", "namespace": NS},
        "status": {"containerStatuses": [{"name": "resolve", "image": "tmpnet/litecoind:latest", "imageID": image_id,
            "ready": false, "restartCount": 0, "state": state}]}})
}

fn status(code: u16) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": "x", "reason": "NotFound", "code": code})
}

/// Answers a resolver's run: its creation (checked), one poll still
/// creating, then terminated with `digest`, its log, its deletion.
/// Returns the pod it was asked to create.
async fn expect_resolver(handle: &mut Mock, digest: &str) -> Value {
    // One resolver per monitor: one left by a stopped monitor goes first.
    let path = format!("{PODS}/{SET}-resolve");
    expect(handle, "DELETE", &path, &[], 404, status(404)).await;
    let (pod, _, _) = expect(
        handle,
        "POST",
        PODS,
        &[],
        201,
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "r"}}),
    )
    .await;
    assert_eq!(pod["metadata"]["name"], format!("{SET}-resolve"));
    assert_eq!(
        pod["metadata"]["labels"]["app.kubernetes.io/managed-by"],
        "tmpnet"
    );
    let creating = json!({"waiting": {"reason": "ContainerCreating"}});
    expect(handle, "GET", &path, &[], 200, resolver(creating, "")).await;
    let done = json!({"terminated": {"exitCode": 0, "reason": "Completed"}});
    let id = format!("docker.io/tmpnet/litecoind@{digest}");
    expect(handle, "GET", &path, &[], 200, resolver(done, &id)).await;
    let log = json!("Litecoin Core version v0.21.4\nCopyright (C) 2011-2024\n");
    expect(handle, "GET", &format!("{path}/log"), &[], 200, log).await;
    expect(handle, "DELETE", &path, &[], 200, json!({})).await;
    pod
}

/// Answers the StatefulSet's pin; returns the patch and its headers.
async fn expect_pin(handle: &mut Mock) -> (Value, http::HeaderMap) {
    let path = format!("/apis/apps/v1/namespaces/tmpnet/statefulsets/{SET}");
    let set = json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {}});
    let (patch, headers, _) = expect(handle, "PATCH", &path, &[], 200, set).await;
    (patch, headers)
}

/// Answers a roll of the sidecar to `B`: the resolve, the pin, the
/// publish and its own pod's deletion; then it asks nothing more.
async fn expect_roll_to_b(handle: &mut Mock) {
    expect_resolver(handle, B).await;
    let (patch, _) = expect_pin(handle).await;
    let image = &patch["spec"]["template"]["spec"]["containers"][0]["image"];
    assert_eq!(image, &json!(pinned(B)));
    expect_publish(handle).await;
    expect(
        handle,
        "DELETE",
        &format!("{PODS}/{POD}"),
        &[],
        200,
        json!({}),
    )
    .await;
    let more = tokio::time::timeout(Duration::from_millis(300), handle.next_request()).await;
    assert!(more.is_err(), "a request after the roll");
}

/// Answers a publish: the results ConfigMap exists and is patched; returns
/// its data.
async fn expect_publish(handle: &mut Mock) -> Value {
    let (patch, _, _) = expect(
        handle,
        "PATCH",
        RESULTS,
        &[],
        200,
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {}}),
    )
    .await;
    patch["data"].clone()
}

#[tokio::test]
async fn a_moving_tag_is_resolved_pinned_with_its_version_and_the_pod_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let note = Interruption::new(150, "the pod was Evicted: low on memory");
    Volume::new(dir.path()).write_stop_note(&note).unwrap();
    let (init, mut handle) = start_init(
        dir.path(),
        own_pod("tmpnet/litecoind:latest", None, 0, false),
    )
    .await;
    let pod = expect_resolver(&mut handle, A).await;
    let c = &pod["spec"]["containers"][0];
    assert_eq!(c["image"], "tmpnet/litecoind:latest");
    assert_eq!(c["imagePullPolicy"], "IfNotPresent");
    assert_eq!(c["args"], json!(["-version"]));
    assert_eq!(pod["spec"]["restartPolicy"], "Never");
    assert_eq!(pod["spec"]["automountServiceAccountToken"], false);
    assert_eq!(pod["spec"]["securityContext"]["runAsNonRoot"], true);
    assert_eq!(pod["metadata"]["ownerReferences"][0]["name"], SET);
    let (patch, headers) = expect_pin(&mut handle).await;
    assert_eq!(
        headers["content-type"],
        "application/strategic-merge-patch+json"
    );
    let template = &patch["spec"]["template"];
    assert_eq!(
        template["spec"]["containers"],
        json!([{"name": "node", "image": pinned(A)}]),
        "only the node container, by name"
    );
    assert_eq!(
        template["metadata"]["annotations"]["tmpnet.io/bootstrap-version"],
        "Litecoin Core version v0.21.4"
    );
    // The first publish makes the ConfigMap, owned by the StatefulSet.
    expect(&mut handle, "PATCH", RESULTS, &[], 404, status(404)).await;
    let (made, _, _) = expect(
        &mut handle,
        "POST",
        "/api/v1/namespaces/tmpnet/configmaps",
        &[],
        201,
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {}}),
    )
    .await;
    assert_eq!(made["metadata"]["ownerReferences"][0]["uid"], "set-uid");
    assert_eq!(made["data"]["lastError"], "");
    expect(
        &mut handle,
        "DELETE",
        &format!("{PODS}/{POD}"),
        &[],
        200,
        json!({}),
    )
    .await;
    assert_eq!(
        init.await.unwrap().unwrap(),
        InitOutcome::Replaced { image: pinned(A) }
    );
    assert_eq!(
        Volume::new(dir.path()).current().unwrap(),
        None,
        "nothing recorded before a digest"
    );
    assert_eq!(
        Volume::new(dir.path()).stop_note().unwrap(),
        Some(note),
        "the note waits for the start it explains"
    );
}

#[tokio::test]
async fn a_first_start_wipes_the_node_data_and_records_a_test_with_its_version() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("node")).unwrap();
    std::fs::write(dir.path().join("node/stale"), "x").unwrap();
    let (init, mut handle) =
        start_init(dir.path(), own_pod(&pinned(A), Some("v0.21.4"), 0, false)).await;
    let data = expect_publish(&mut handle).await;
    assert_eq!(data["status"], "syncing");
    assert_eq!(data["image"], pinned(A));
    assert_eq!(init.await.unwrap().unwrap(), InitOutcome::Started);
    let record = Volume::new(dir.path()).current().unwrap().unwrap();
    assert_eq!(record.image, pinned(A));
    assert_eq!(record.version.as_deref(), Some("v0.21.4"));
    assert!(!dir.path().join("node/stale").exists(), "wiped");
}

#[tokio::test]
async fn the_same_image_resumes_with_the_reason_the_last_pod_left() {
    let dir = tempfile::tempdir().unwrap();
    let volume = syncing_test(dir.path(), &pinned(A));
    volume
        .write_stop_note(&Interruption::new(
            150,
            "the pod was Evicted: low on memory",
        ))
        .unwrap();
    std::fs::create_dir_all(dir.path().join("node")).unwrap();
    std::fs::write(dir.path().join("node/blocks"), "kept").unwrap();
    let (init, mut handle) = start_init(dir.path(), own_pod(&pinned(A), None, 0, false)).await;
    expect_publish(&mut handle).await;
    assert_eq!(init.await.unwrap().unwrap(), InitOutcome::Resumed);
    let record = volume.current().unwrap().unwrap();
    assert_eq!(record.started_at, 100);
    assert_eq!(record.interruptions.len(), 1);
    assert_eq!(
        record.interruptions[0].reason,
        "the pod was Evicted: low on memory"
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("node/blocks")).unwrap(),
        "kept"
    );
    assert_eq!(volume.stop_note().unwrap(), None, "the note is used once");

    // A second resume with no note says the pod ended without notice.
    let (init, mut handle) = start_init(dir.path(), own_pod(&pinned(A), None, 0, false)).await;
    expect_publish(&mut handle).await;
    assert_eq!(init.await.unwrap().unwrap(), InitOutcome::Resumed);
    let record = volume.current().unwrap().unwrap();
    assert_eq!(record.interruptions[1].reason, NO_NOTICE);
}

#[tokio::test]
async fn a_new_digest_archives_the_unfinished_test_and_starts_on_wiped_data() {
    let dir = tempfile::tempdir().unwrap();
    let volume = syncing_test(dir.path(), &pinned(A));
    std::fs::create_dir_all(dir.path().join("node")).unwrap();
    std::fs::write(dir.path().join("node/blocks"), "old").unwrap();
    let (init, mut handle) =
        start_init(dir.path(), own_pod(&pinned(B), Some("v2"), 0, false)).await;
    let data = expect_publish(&mut handle).await;
    let history: Value = serde_json::from_str(data["history.json"].as_str().unwrap()).unwrap();
    assert_eq!(history[0]["status"]["state"], "superseded");
    assert_eq!(history[0]["status"]["by"], pinned(B));
    assert_eq!(init.await.unwrap().unwrap(), InitOutcome::Started);
    assert_eq!(volume.current().unwrap().unwrap().image, pinned(B));
    assert!(!dir.path().join("node/blocks").exists());
}

#[tokio::test]
async fn a_resolver_that_cannot_pull_is_recorded_with_its_reason_and_fails_init() {
    let dir = tempfile::tempdir().unwrap();
    let (init, mut handle) = start_init(
        dir.path(),
        own_pod("tmpnet/litecoind:latest", None, 0, false),
    )
    .await;
    // A resolver a stopped monitor left is deleted before the new one.
    let path = format!("{PODS}/{SET}-resolve");
    expect(&mut handle, "DELETE", &path, &[], 200, json!({})).await;
    let made = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "r"}});
    expect(&mut handle, "POST", PODS, &[], 201, made).await;
    let waiting = json!({"waiting": {"reason": "ErrImagePull", "message": "pull access denied for tmpnet/litecoind"}});
    expect(&mut handle, "GET", &path, &[], 200, resolver(waiting, "")).await;
    expect(&mut handle, "DELETE", &path, &[], 200, json!({})).await;
    let data = expect_publish(&mut handle).await;
    let recorded = data["lastError"].as_str().unwrap();
    assert!(
        recorded.contains("ErrImagePull: pull access denied"),
        "{recorded}"
    );
    let err = init.await.unwrap().unwrap_err().to_string();
    assert!(
        err.contains("ErrImagePull") && err.contains("--pull-policy"),
        "{err}"
    );
    assert!(!err.contains('\n'));
}

/// Starts `init` on the volume at `dir` and answers its read of its own
/// pod with `own`.
async fn start_init(
    dir: &Path,
    own: Value,
) -> (
    tokio::task::JoinHandle<crate::error::Result<InitOutcome>>,
    Mock,
) {
    let (monitor, mut handle) = monitor(dir);
    let init = tokio::spawn(async move { monitor.init().await });
    expect(&mut handle, "GET", &format!("{PODS}/{POD}"), &[], 200, own).await;
    (init, handle)
}

/// The volume at `dir`, holding a test of `image` syncing since 100.
fn syncing_test(dir: &Path, image: &str) -> Volume {
    let volume = Volume::new(dir);
    volume
        .write_current(&TestRecord::start(image, 100))
        .unwrap();
    volume
}

/// Answers a read of the monitor's own pod: the node container on
/// `image`, restarted `restarts` times.
async fn expect_own_pod(handle: &mut Mock, image: &str, restarts: i32) {
    let own = own_pod(image, None, restarts, false);
    expect(handle, "GET", &format!("{PODS}/{POD}"), &[], 200, own).await;
}

/// Starts the sidecar on the volume at `dir`, looking at the tag every
/// `poll`, with a node that syncs on the `after`-th look.
fn sidecar(
    dir: &Path,
    poll: Duration,
    after: usize,
) -> (tokio::task::JoinHandle<crate::error::Result<()>>, Mock) {
    let (monitor, handle) = monitor_polling(dir, poll);
    let probe = SyncsAfter {
        looks: AtomicUsize::new(0),
        after,
    };
    let wait = tokio::spawn(async move {
        monitor
            .wait_for_completion(&probe, std::future::pending())
            .await
    });
    (wait, handle)
}

/// A node that syncs on the `after`-th look.
struct SyncsAfter {
    looks: AtomicUsize,
    after: usize,
}

#[async_trait]
impl SyncProbe for SyncsAfter {
    async fn pending(&self) -> Option<String> {
        let n = self.looks.fetch_add(1, Ordering::SeqCst) + 1;
        (n < self.after).then(|| format!("look {n}"))
    }
}

#[tokio::test]
async fn the_sidecar_records_a_restart_then_the_sync_then_rolls_to_a_new_digest() {
    let dir = tempfile::tempdir().unwrap();
    let volume = syncing_test(dir.path(), &pinned(A));
    std::fs::create_dir_all(dir.path().join("node")).unwrap();
    std::fs::write(dir.path().join("node/blocks"), [0u8; 4096]).unwrap();
    // It syncs within two looks, long before its first look at the tag.
    let (wait, mut handle) = sidecar(dir.path(), Duration::from_millis(300), 2);
    expect_own_pod(&mut handle, &pinned(A), 0).await;
    // First look: the node was restarted once (OOM-killed).
    expect_own_pod(&mut handle, &pinned(A), 1).await;
    let data = expect_publish(&mut handle).await;
    let test: Value = serde_json::from_str(data["test.json"].as_str().unwrap()).unwrap();
    assert_eq!(
        test["interruptions"][0]["reason"],
        "the node container ended (exit code 137 (OOMKilled)) and was restarted"
    );
    // Second look: synced.
    expect_own_pod(&mut handle, &pinned(A), 1).await;
    let data = expect_publish(&mut handle).await;
    assert_eq!(data["status"], "synced");
    let record = volume.current().unwrap().unwrap();
    match record.status {
        TestStatus::Synced { disk_bytes, .. } => assert_eq!(disk_bytes, 4096),
        other => panic!("{other:?}"),
    }
    // Then the tag: unchanged once, then a new digest rolls the set.
    expect_resolver(&mut handle, A).await;
    expect_roll_to_b(&mut handle).await;
    assert!(
        !wait.is_finished(),
        "the sidecar ended before its pod was replaced"
    );
    wait.abort();
}

#[tokio::test]
async fn a_stop_mid_sync_leaves_a_note_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let volume = syncing_test(dir.path(), &pinned(A));
    let (monitor, mut handle) = monitor(dir.path());
    let probe = SyncsAfter {
        looks: AtomicUsize::new(0),
        after: usize::MAX,
    };
    let wait = tokio::spawn(async move { monitor.wait_for_completion(&probe, async {}).await });
    let own = format!("{PODS}/{POD}");
    expect(
        &mut handle,
        "GET",
        &own,
        &[],
        200,
        own_pod(&pinned(A), None, 0, true),
    )
    .await;
    wait.await.unwrap().unwrap();
    let note = volume.stop_note().unwrap().unwrap();
    assert_eq!(
        note.reason,
        "the pod was deleted (by a person, an eviction or a rollout)"
    );
}

#[tokio::test]
async fn a_version_the_image_could_not_print_is_recorded_as_none() {
    let dir = tempfile::tempdir().unwrap();
    let (init, mut handle) =
        start_init(dir.path(), own_pod(&pinned(A), Some("unknown"), 0, false)).await;
    expect_publish(&mut handle).await;
    assert_eq!(init.await.unwrap().unwrap(), InitOutcome::Started);
    let record = Volume::new(dir.path()).current().unwrap().unwrap();
    assert_eq!(record.version, None);
}

#[tokio::test]
async fn a_build_that_never_syncs_is_rolled_to_the_next_one() {
    let dir = tempfile::tempdir().unwrap();
    let volume = syncing_test(dir.path(), &pinned(A));
    // Every look at the node is also a look at the tag.
    let (wait, mut handle) = sidecar(dir.path(), Duration::ZERO, usize::MAX);
    expect_own_pod(&mut handle, &pinned(A), 0).await;
    expect_own_pod(&mut handle, &pinned(A), 0).await;
    expect_roll_to_b(&mut handle).await;
    wait.abort();
    assert_eq!(
        volume.current().unwrap().unwrap().status,
        TestStatus::Syncing
    );
}

#[tokio::test]
async fn a_digest_given_without_a_tag_is_tested_once() {
    let dir = tempfile::tempdir().unwrap();
    let volume = Volume::new(dir.path());
    let once = format!("tmpnet/litecoind@{A}");
    volume
        .write_current(&TestRecord::start(&once, 100))
        .unwrap();
    let (wait, mut handle) = sidecar(dir.path(), Duration::ZERO, usize::MAX);
    for _ in 0..3 {
        // Only the node is looked at: no resolver, no pin.
        expect_own_pod(&mut handle, &once, 0).await;
    }
    wait.abort();
}
