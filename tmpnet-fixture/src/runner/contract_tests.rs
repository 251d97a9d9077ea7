//! Contract tests: the exact requests of the runner's launch, log follow,
//! result, deletion and hand-over of the network, against kube's
//! tower-test mock (no cluster). Each scenario answers the requests in the
//! order the runner must send them; an unexpected request fails the test.

use std::collections::BTreeMap;

use http::{Request, Response};
use kube::client::Body;
use kube::Client;
use serde_json::{json, Value};
use tower_test::mock;

use super::{JobRequest, Runner};
use crate::runtime::kube::mock::{expect, Mock};

const NS: &str = "tmpnet";
const JOB: &str = "tmpnet-runner-e2e-0a1b2c3d";
const POD: &str = "tmpnet-runner-e2e-0a1b2c3d-x7k2p";

fn runner() -> (Runner, Mock) {
    let (service, handle) = mock::pair::<Request<Body>, Response<Body>>();
    (Runner::with_client(Client::new(service, NS), NS), handle)
}

fn request() -> JobRequest {
    JobRequest {
        name: JOB.into(),
        namespace: NS.into(),
        image: "tmpnet/runner:latest".into(),
        binary: "e2e-5f82b50e89976bef".into(),
        args: vec!["kv::".into(), "--exact".into()],
        network: "tmpnet-c426ef02".into(),
        suite: "e2e".into(),
        service_account: "tmpnet".into(),
        deadline_secs: 3600,
        ttl_secs: 3600,
        owns_network: false,
        has_env_secret: true,
        build_id: Some("55119dd2ca6adbb0".into()),
    }
}

fn job(status: Value) -> Value {
    json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": JOB, "namespace": NS, "uid": "job-uid-1"}, "status": status})
}

fn pods(state: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "PodList", "metadata": {}, "items": [
        {"metadata": {"name": POD, "namespace": NS}, "status": {"phase": "Running", "containerStatuses": [
            {"name": "runner", "image": "tmpnet/runner:latest", "imageID": "", "ready": true, "restartCount": 0, "state": state}]}}]})
}

/// Answers the two reads of the runner's phase: its Job with `job_status`,
/// then its pod with the runner container in `container`.
async fn expect_phase(handle: &mut Mock, job_status: Value, container: Value) {
    let job_path = format!("/apis/batch/v1/namespaces/tmpnet/jobs/{JOB}");
    expect(handle, "GET", &job_path, &[], 200, job(job_status)).await;
    let pods_path = "/api/v1/namespaces/tmpnet/pods";
    expect(
        handle,
        "GET",
        pods_path,
        &["labelSelector=job-name"],
        200,
        pods(container),
    )
    .await;
}

fn status(code: u16, reason: &str) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": reason, "reason": reason, "code": code})
}

#[tokio::test]
async fn launch_creates_the_secret_then_the_job_then_makes_the_job_own_the_secret() {
    let (runner, mut handle) = runner();
    let env = BTreeMap::from([("APP_TOKEN".to_owned(), "s3cret-value".to_owned())]);
    let launch = tokio::spawn(async move { runner.launch(&request(), &env).await });
    let (secret, _, _) = expect(
        &mut handle,
        "POST",
        "/api/v1/namespaces/tmpnet/secrets",
        &[],
        201,
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": format!("{JOB}-env")}}),
    )
    .await;
    assert_eq!(secret["metadata"]["name"], format!("{JOB}-env"));
    // base64 of "s3cret-value"
    assert_eq!(secret["data"]["APP_TOKEN"], "czNjcmV0LXZhbHVl");
    let mut created = job(json!({}));
    let (spec, _, _) = expect(
        &mut handle,
        "POST",
        "/apis/batch/v1/namespaces/tmpnet/jobs",
        &[],
        201,
        created.take(),
    )
    .await;
    let text = spec.to_string();
    assert!(
        !text.contains("s3cret"),
        "a forwarded value is in the Job's spec: {text}"
    );
    assert_eq!(spec["spec"]["backoffLimit"], 0);
    assert_eq!(spec["spec"]["activeDeadlineSeconds"], 3600);
    let pod = &spec["spec"]["template"]["spec"];
    assert_eq!(pod["restartPolicy"], "Never");
    assert_eq!(pod["serviceAccountName"], "tmpnet");
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    let c = &pod["containers"][0];
    assert_eq!(c["name"], "runner");
    assert_eq!(c["image"], "tmpnet/runner:latest");
    assert_eq!(c["command"], json!(["e2e-5f82b50e89976bef"]));
    assert_eq!(c["args"], json!(["kv::", "--exact"]));
    assert_eq!(c["envFrom"][0]["secretRef"]["name"], format!("{JOB}-env"));
    let env: BTreeMap<String, String> = c["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["name"].as_str().unwrap().to_owned(),
                v["value"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(env["TMPNET_RUNNER_JOB"], JOB);
    assert_eq!(env["TMPNET_RUNNER_NETWORK"], "tmpnet-c426ef02");
    assert_eq!(env["TMPNET_KUBE_ACCESS"], "pod-ip");
    assert_eq!(env["E2E_USE_KUBERNETES"], "true");
    assert_eq!(env["TMPNET_RUNNER_BUILD_ID"], "55119dd2ca6adbb0");
    assert!(
        !env.contains_key("TMPNET_RUNNER_OWNS_NETWORK"),
        "not detached: the local side owns the network"
    );
    assert_eq!(
        spec["metadata"]["labels"]["app.kubernetes.io/component"],
        "runner"
    );
    let (patch, _, _) = expect(
        &mut handle,
        "PATCH",
        &format!("/api/v1/namespaces/tmpnet/secrets/{JOB}-env"),
        &[],
        200,
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": format!("{JOB}-env")}}),
    )
    .await;
    let owner = &patch["metadata"]["ownerReferences"][0];
    assert_eq!(
        (
            owner["kind"].as_str(),
            owner["name"].as_str(),
            owner["uid"].as_str()
        ),
        (Some("Job"), Some(JOB), Some("job-uid-1"))
    );
    assert_eq!(launch.await.unwrap().unwrap(), "job-uid-1");
}

#[tokio::test]
async fn a_dropped_log_stream_resumes_without_losing_or_repeating_lines_and_the_exit_code_is_the_terminated_states(
) {
    let (runner, mut handle) = runner();
    let follow = tokio::spawn(async move {
        let mut out = Vec::new();
        let code = runner.follow(JOB, POD, &mut out).await;
        (code, String::from_utf8(out).unwrap())
    });
    let log = format!("/api/v1/namespaces/tmpnet/pods/{POD}/log");
    let (_, _, q) = expect(&mut handle, "GET", &log, &["follow=true", "timestamps=true", "container=runner"], 200,
        json!("2026-12-02T01:00:00.100Z running 2 tests\n2026-12-02T01:00:01.500Z test kv::a ... ok\n")).await;
    assert!(
        !q.contains("sinceTime"),
        "the first stream starts at the beginning: {q}"
    );
    // The stream ended while the container still runs: look, then resume.
    expect_phase(&mut handle, json!({"active": 1}), json!({"running": {}})).await;
    expect(&mut handle, "GET", &log, &["follow=true", "sinceTime=2026-12-02T01%3A00%3A01Z"], 200,
        json!("2026-12-02T01:00:01.500Z test kv::a ... ok\n2026-12-02T01:00:02.000Z test kv::b ... FAILED\n")).await;
    expect_phase(
        &mut handle,
        json!({"failed": 1}),
        json!({"terminated": {"exitCode": 101, "reason": "Error"}}),
    )
    .await;
    // One last read after the end, from the last line's second.
    let (_, _, q) = expect(&mut handle, "GET", &log, &["sinceTime=2026-12-02T01%3A00%3A02Z"], 200,
        json!("2026-12-02T01:00:02.000Z test kv::b ... FAILED\n2026-12-02T01:00:02.200Z test result: FAILED\n")).await;
    assert!(!q.contains("follow=true"), "{q}");
    let (code, out) = follow.await.unwrap();
    assert_eq!(code.unwrap(), 101);
    assert_eq!(
        out,
        "running 2 tests\ntest kv::a ... ok\ntest kv::b ... FAILED\ntest result: FAILED\n"
    );
}

#[tokio::test]
async fn a_runner_killed_by_its_deadline_fails_naming_the_job_the_pod_and_the_reason() {
    let (runner, mut handle) = runner();
    let follow = tokio::spawn(async move { runner.follow(JOB, POD, &mut Vec::new()).await });
    let log = format!("/api/v1/namespaces/tmpnet/pods/{POD}/log");
    expect(
        &mut handle,
        "GET",
        &log,
        &[],
        200,
        json!("2026-12-02T01:00:00Z running 1 test\n"),
    )
    .await;
    expect(&mut handle, "GET", &format!("/apis/batch/v1/namespaces/tmpnet/jobs/{JOB}"), &[], 200,
        job(json!({"conditions": [{"type": "Failed", "status": "True", "reason": "DeadlineExceeded", "message": "Job was active longer than specified deadline"}]}))).await;
    expect(
        &mut handle,
        "GET",
        "/api/v1/namespaces/tmpnet/pods",
        &[],
        200,
        pods(json!({"running": {}})),
    )
    .await;
    expect(&mut handle, "GET", &log, &[], 200, json!("")).await;
    let err = follow.await.unwrap().unwrap_err().to_string();
    assert_eq!(err, format!("runner Job {JOB} (pod {POD}): DeadlineExceeded: Job was active longer than specified deadline"));
}

#[tokio::test]
async fn a_runner_whose_image_does_not_exist_fails_at_once() {
    let (runner, mut handle) = runner();
    let wait = tokio::spawn(async move {
        runner
            .wait_started(JOB, std::time::Duration::from_secs(60))
            .await
    });
    expect(
        &mut handle,
        "GET",
        &format!("/apis/batch/v1/namespaces/tmpnet/jobs/{JOB}"),
        &[],
        200,
        job(json!({"active": 1})),
    )
    .await;
    expect(&mut handle, "GET", "/api/v1/namespaces/tmpnet/pods", &[], 200,
        pods(json!({"waiting": {"reason": "ErrImagePull", "message": "image \"tmpnet/nope:1\" not found"}}))).await;
    let err = wait.await.unwrap().unwrap_err().to_string();
    assert!(
        err.contains(JOB)
            && err.contains(POD)
            && err.contains("ErrImagePull")
            && err.contains("tmpnet/nope:1"),
        "{err}"
    );
}

#[tokio::test]
async fn delete_removes_the_job_with_its_pods_and_the_secret() {
    let (runner, mut handle) = runner();
    let delete = tokio::spawn(async move { runner.delete(JOB).await });
    let (body, _, _) = expect(
        &mut handle,
        "DELETE",
        &format!("/apis/batch/v1/namespaces/tmpnet/jobs/{JOB}"),
        &[],
        200,
        job(json!({})),
    )
    .await;
    assert_eq!(
        body["propagationPolicy"], "Background",
        "the pod goes with the Job"
    );
    expect(
        &mut handle,
        "DELETE",
        &format!("/api/v1/namespaces/tmpnet/secrets/{JOB}-env"),
        &[],
        404,
        status(404, "NotFound"),
    )
    .await;
    delete.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_detached_runner_owns_the_network_through_an_owner_reference() {
    let (runner, mut handle) = runner();
    let hand = tokio::spawn(async move {
        runner
            .hand_network_to(JOB, "job-uid-1", "tmpnet-c426ef02")
            .await
    });
    let (patch, _, _) = expect(
        &mut handle,
        "PATCH",
        "/api/v1/namespaces/tmpnet/configmaps/tmpnet-c426ef02",
        &[],
        200,
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "tmpnet-c426ef02"}}),
    )
    .await;
    assert_eq!(
        patch["metadata"]["ownerReferences"],
        json!([{"apiVersion": "batch/v1", "kind": "Job", "name": JOB, "uid": "job-uid-1", "controller": false, "blockOwnerDeletion": false}])
    );
    hand.await.unwrap().unwrap();
}

/// `Runner::wait` against a Job and its pod in the given states.
async fn wait_with(job_status: Value, container: Value) -> crate::Result<i32> {
    let (runner, mut handle) = runner();
    let wait = tokio::spawn(async move { runner.wait(JOB).await });
    expect_phase(&mut handle, job_status, container).await;
    wait.await.unwrap()
}

#[tokio::test]
async fn a_deadline_outranks_the_exit_code_of_the_pod_it_killed() {
    // On a cluster the deadline deletes the pod gracefully: its harness
    // exits 143 on SIGTERM. The Job's reason is the result, not 143.
    let err = wait_with(
        json!({"conditions": [{"type": "Failed", "status": "True", "reason": "DeadlineExceeded", "message": "Job was active longer than specified deadline"}]}),
        json!({"terminated": {"exitCode": 143, "reason": "Error"}}),
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(err.contains("DeadlineExceeded"), "{err}");
    // A container that failed by itself fails the Job for its backoff
    // limit: then its exit code is the result.
    let code = wait_with(
        json!({"conditions": [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded", "message": "Job has reached the specified backoff limit"}]}),
        json!({"terminated": {"exitCode": 101, "reason": "Error"}}),
    )
    .await
    .unwrap();
    assert_eq!(code, 101);
}

#[tokio::test]
async fn the_runner_names_its_own_job_by_uid_as_the_owner_of_its_networks() {
    let (runner, mut handle) = runner();
    let owner = tokio::spawn(async move { runner.job_owner(JOB).await });
    let job_path = format!("/apis/batch/v1/namespaces/tmpnet/jobs/{JOB}");
    expect(
        &mut handle,
        "GET",
        &job_path,
        &[],
        200,
        job(json!({"active": 1})),
    )
    .await;
    assert_eq!(
        owner.await.unwrap().unwrap(),
        crate::model::KubeOwner::job(JOB, "job-uid-1")
    );
}
