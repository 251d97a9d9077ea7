//! The remote runner: a test binary run inside the cluster as a Job, next
//! to the network it tests, reaching the nodes by pod IP.
//!
//! The harness launches it (see the harness's relaunch); `tmpnetctl runner`
//! lists, follows, waits for and deletes runner Jobs. Everything here goes
//! through kube-rs: no `kubectl`.
//!
//! - [`manifest`]: the Job and the Secret of the forwarded environment.
//! - `status`: what the Job and its pod say (starting, running, exit
//!   code, or why it failed).
//! - `logs`: following the pod's log, resumed without loss or repeats.

pub(crate) mod logs;
pub mod manifest;
pub(crate) mod status;

use std::collections::BTreeMap;
use std::io::Write;
use std::time::Duration;

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, Pod, Secret, ServiceAccount};
use kube::api::{
    Api, DeleteParams, ListParams, LogParams, Patch, PatchParams, PostParams, PropagationPolicy,
};
use kube::Client;
use serde_json::json;

pub use manifest::JobRequest;
pub use status::Phase;

use crate::error::{Error, Result};
use crate::model::{KubeOwner, KubeSettings};
use crate::runtime::kube::client::{api_error, api_reason, call, connect, status_code};
use crate::runtime::kube::manifests;

/// Set in the runner's pod: the Job's name. A harness that sees it runs
/// its tests (it never relaunches itself again).
pub const MARKER_ENV: &str = "TMPNET_RUNNER_JOB";
/// Set in the runner's pod: the network to attach to, by name.
pub const NETWORK_ENV: &str = "TMPNET_RUNNER_NETWORK";
/// Set in the runner's pod when the Job owns the network (detached runs
/// of a network they created): the runner stops it when its tests end.
pub const OWNS_NETWORK_ENV: &str = "TMPNET_RUNNER_OWNS_NETWORK";
/// Set in the runner's pod: the GNU build id of the test binary that made
/// the Job, so a runner image holding another build refuses to run it.
pub const BUILD_ID_ENV: &str = "TMPNET_RUNNER_BUILD_ID";
/// The label naming a runner Job's component.
pub const COMPONENT_LABEL: &str = "app.kubernetes.io/component";
/// Its value for runner Jobs.
pub const COMPONENT: &str = "runner";
/// The label naming a runner's network.
pub const NETWORK_LABEL: &str = "tmpnet.io/network";
/// The label naming a runner's suite.
pub const SUITE_LABEL: &str = "tmpnet.io/suite";

/// Waits between looks at a starting pod, or before a stream is reopened.
const POLL: Duration = Duration::from_millis(250);
/// A log stream silent this long is checked: the runner may have ended
/// behind a connection that will never close.
const LOG_IDLE: Duration = Duration::from_secs(30);

/// One runner Job, as `tmpnetctl runner list` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobSummary {
    /// Its name.
    pub name: String,
    /// The network it tests.
    pub network: String,
    /// Its suite.
    pub suite: String,
    /// `running`, `succeeded` or `failed` (with the Job's reason).
    pub state: String,
}

/// Runner Jobs in one namespace.
#[derive(Clone)]
pub struct Runner {
    client: Client,
    namespace: String,
}

impl std::fmt::Debug for Runner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runner")
            .field("namespace", &self.namespace)
            .finish_non_exhaustive()
    }
}

fn runner_error(job: &str, pod: Option<&str>, reason: impl Into<String>) -> Error {
    Error::Runner {
        job: job.to_owned(),
        pod: pod.unwrap_or("none").to_owned(),
        reason: reason.into(),
    }
}

impl Runner {
    /// Connects as `settings` say (kubeconfig, context, namespace).
    pub async fn connect(settings: &KubeSettings) -> Result<Runner> {
        let client = connect(settings.kubeconfig.as_deref(), settings.context.as_deref()).await?;
        Ok(Runner::with_client(client, &settings.namespace))
    }

    /// Runner Jobs of `namespace` through `client`.
    pub fn with_client(client: Client, namespace: &str) -> Runner {
        Runner {
            client,
            namespace: namespace.to_owned(),
        }
    }

    /// The namespace of its Jobs.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    fn jobs(&self) -> Api<Job> {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    fn pods(&self) -> Api<Pod> {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    fn secrets(&self) -> Api<Secret> {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    /// Fails, naming the fix, when the ServiceAccount does not exist (a Job
    /// for it would make no pod, and say so only in events).
    pub async fn check_service_account(&self, name: &str) -> Result<()> {
        let accounts: Api<ServiceAccount> = Api::namespaced(self.client.clone(), &self.namespace);
        let found = call(accounts.get_opt(name))
            .await
            .map_err(|e| api_error(format!("read serviceaccount {name}"), e))?;
        match found {
            Some(_) => Ok(()),
            None => Err(Error::InvalidInput(format!(
                "the runner's ServiceAccount {name:?} does not exist in namespace {}; create it (deploy/rbac.yaml does) or pass --runner-service-account (TMPNET_RUNNER_SERVICE_ACCOUNT)",
                self.namespace
            ))),
        }
    }

    /// Creates the Job (and, with forwarded variables, its Secret, which
    /// the Job then owns); returns the Job's uid. On failure nothing of it
    /// stays: no Secret without its Job, no Job nobody follows.
    pub async fn launch(
        &self,
        request: &JobRequest,
        env: &BTreeMap<String, String>,
    ) -> Result<String> {
        let result = self.create(request, env).await;
        if result.is_err() {
            if let Err(e) = self.delete(&request.name).await {
                tracing::warn!(job = %request.name, error = %e, "cannot delete a runner Job that failed to launch");
            }
        }
        result
    }

    async fn create(&self, request: &JobRequest, env: &BTreeMap<String, String>) -> Result<String> {
        let post = PostParams::default();
        if request.has_env_secret {
            let secret = manifest::env_secret(request, env);
            call(self.secrets().create(&post, &secret))
                .await
                .map_err(|e| {
                    api_error(
                        format!("create secret {}", manifest::env_secret_name(&request.name)),
                        e,
                    )
                })?;
        }
        let created = call(self.jobs().create(&post, &manifest::job(request)))
            .await
            .map_err(|e| api_error(format!("create job {}", request.name), e))?;
        let uid = created.metadata.uid.unwrap_or_default();
        if request.has_env_secret {
            let owner = json!({"metadata": {"ownerReferences": [manifests::owned_by(&KubeOwner::job(&request.name, &uid))]}});
            let name = manifest::env_secret_name(&request.name);
            call(
                self.secrets()
                    .patch(&name, &PatchParams::default(), &Patch::Merge(&owner)),
            )
            .await
            .map_err(|e| api_error(format!("patch secret {name}"), e))?;
        }
        Ok(uid)
    }

    /// Makes the Job the owner of the network `network` (its state
    /// ConfigMap, which owns every other object of the network): deleting
    /// the Job, or its expiry, deletes the network, even if the runner
    /// never ran.
    pub async fn hand_network_to(&self, job: &str, uid: &str, network: &str) -> Result<()> {
        let maps: Api<ConfigMap> = Api::namespaced(self.client.clone(), &self.namespace);
        let owner = json!({"metadata": {"ownerReferences": [manifests::owned_by(&KubeOwner::job(job, uid))]}});
        call(maps.patch(network, &PatchParams::default(), &Patch::Merge(&owner)))
            .await
            .map_err(|e| api_error(format!("patch configmap {network}"), e))?;
        Ok(())
    }

    /// The Job `job` as an owner (its uid read from the cluster).
    pub async fn job_owner(&self, job: &str) -> Result<KubeOwner> {
        let found = call(self.jobs().get(job))
            .await
            .map_err(|e| api_error(format!("read job {job}"), e))?;
        let uid = found.metadata.uid.unwrap_or_default();
        Ok(KubeOwner::job(job, &uid))
    }

    /// The Job's pod, if it has one yet.
    pub async fn pod_of(&self, job: &str) -> Result<Option<Pod>> {
        let list = call(
            self.pods()
                .list(&ListParams::default().labels(&format!("job-name={job}"))),
        )
        .await
        .map_err(|e| api_error(format!("list the pods of job {job}"), e))?;
        Ok(list.items.into_iter().next())
    }

    /// The runner's phase now: from its pod, else from the Job (a Job
    /// that failed, or is gone, fails; one without a pod yet is starting).
    pub async fn phase(&self, job: &str) -> Result<(Option<String>, Phase)> {
        let found = call(self.jobs().get_opt(job))
            .await
            .map_err(|e| api_error(format!("read job {job}"), e))?;
        let Some(found) = found else {
            return Ok((None, Phase::Failed("no such Job (deleted, expired, or never made); `tmpnetctl runner list` shows the runner Jobs".into())));
        };
        let pod = self.pod_of(job).await?;
        let name = pod.as_ref().and_then(|p| p.metadata.name.clone());
        let phase = pod
            .as_ref()
            .map_or(Phase::Starting(None), status::pod_phase);
        // A Job that failed for a reason of its own (its deadline) killed
        // its pod, whatever the pod says since. With no retries, a failed
        // container only makes the Job fail for its backoff limit: then the
        // container's exit code is the result.
        match status::job_failure(&found) {
            Some(failure) if !failure.starts_with("BackoffLimitExceeded") => {
                Ok((name, Phase::Failed(failure)))
            }
            Some(failure) if matches!(phase, Phase::Starting(_) | Phase::Running) => {
                Ok((name, Phase::Failed(failure)))
            }
            _ => Ok((name, phase)),
        }
    }

    /// Waits until the runner runs (or has ended), within `timeout`;
    /// returns its pod's name. A runner that will never run, or is still
    /// not running at the timeout, is an [`Error::Runner`] with the reason.
    pub async fn wait_started(&self, job: &str, timeout: Duration) -> Result<(String, Phase)> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let (pod, phase) = self.phase(job).await?;
            match (&pod, phase) {
                (Some(pod), phase @ (Phase::Running | Phase::Exited(_))) => {
                    return Ok((pod.clone(), phase))
                }
                (pod, Phase::Failed(reason)) => {
                    return Err(runner_error(job, pod.as_deref(), reason))
                }
                (pod, Phase::Starting(reason)) => {
                    if tokio::time::Instant::now() >= deadline {
                        let why = reason.unwrap_or_else(|| match pod {
                            Some(_) => "still not running".into(),
                            None => {
                                "the Job made no pod; see `kubectl describe job` for why".into()
                            }
                        });
                        return Err(runner_error(
                            job,
                            pod.as_deref(),
                            format!(
                                "not running after {}s: {why}; if it is only slow, raise --kube-ready-timeout (TMPNET_KUBE_READY_TIMEOUT)",
                                timeout.as_secs()
                            ),
                        ));
                    }
                }
                (None, Phase::Running | Phase::Exited(_)) => {}
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Copies the runner's log to `out` as it comes, until its container
    /// ends; returns the container's exit code, read from its terminated
    /// state. A dropped stream is opened again where it left off.
    pub async fn follow(&self, job: &str, pod: &str, out: &mut (dyn Write + Send)) -> Result<i32> {
        let mut cursor = logs::Cursor::default();
        loop {
            self.copy_log(job, pod, &mut cursor, true, out).await?;
            let (_, phase) = self.phase(job).await?;
            match phase {
                Phase::Exited(code) => {
                    // The stream may have dropped just before the end: one
                    // last read picks up any line it missed. The exit code
                    // stands whatever that read meets.
                    let _ = self.copy_log(job, pod, &mut cursor, false, out).await;
                    return Ok(code);
                }
                Phase::Failed(reason) => {
                    let _ = self.copy_log(job, pod, &mut cursor, false, out).await;
                    return Err(runner_error(job, Some(pod), reason));
                }
                Phase::Running | Phase::Starting(_) => tokio::time::sleep(POLL).await,
            }
        }
    }

    /// One log request from the cursor on; lines seen already are skipped.
    /// A stream that breaks, or stays silent while the runner has ended
    /// (a half-open connection), ends the copy, not the follow. Followed,
    /// only whole lines are shown (a partial one comes again, whole, on the
    /// next stream); the last read after the end shows a partial last line.
    async fn copy_log(
        &self,
        job: &str,
        pod: &str,
        cursor: &mut logs::Cursor,
        follow: bool,
        out: &mut (dyn Write + Send),
    ) -> Result<()> {
        use futures::AsyncBufReadExt as _;
        let params = LogParams {
            container: Some(manifest::CONTAINER.into()),
            follow,
            timestamps: true,
            since_time: cursor.since(),
            ..LogParams::default()
        };
        let stream = match call(self.pods().log_stream(pod, &params)).await {
            Ok(stream) => stream,
            Err(e) if status_code(&e) == Some(404) => {
                return Err(runner_error(job, Some(pod), "the pod was deleted"))
            }
            Err(e) if matches!(status_code(&e), Some(401 | 403)) => {
                return Err(runner_error(
                    job,
                    Some(pod),
                    format!(
                    "its log cannot be read ({}); grant get on pods/log (deploy/rbac.yaml does)",
                    api_reason(&e)
                ),
                ))
            }
            Err(e) => {
                tracing::debug!(error = %e, "cannot open the runner's log; trying again");
                return Ok(());
            }
        };
        let mut connection = cursor.open();
        let mut stream = std::pin::pin!(stream);
        let mut line = Vec::new();
        loop {
            line.clear();
            match tokio::time::timeout(LOG_IDLE, stream.read_until(b'\n', &mut line)).await {
                Err(_) => {
                    let (_, phase) = self.phase(job).await?;
                    if follow && matches!(phase, Phase::Running | Phase::Starting(_)) {
                        continue;
                    }
                    return Ok(());
                }
                Ok(Ok(0)) => return Ok(()),
                Ok(Ok(_)) => {}
                Ok(Err(e)) => {
                    tracing::debug!(error = %e, "the runner's log stream broke; opening it again");
                    return Ok(());
                }
            }
            if follow && !line.ends_with(b"\n") {
                return Ok(());
            }
            let text = String::from_utf8_lossy(&line);
            if let Some(shown) = cursor.accept(&mut connection, text.trim_end_matches('\n')) {
                let _ = writeln!(out, "{shown}");
                let _ = out.flush();
            }
        }
    }

    /// Prints the runner's log to `out`: what it has written so far, or,
    /// with `follow`, everything until it ends, then its exit code.
    pub async fn logs(
        &self,
        job: &str,
        follow: bool,
        out: &mut (dyn Write + Send),
    ) -> Result<Option<i32>> {
        if follow {
            let (pod, _) = self.wait_started(job, Duration::from_secs(120)).await?;
            return self.follow(job, &pod, out).await.map(Some);
        }
        let (pod, _) = self.phase(job).await?;
        let pod = pod.ok_or_else(|| {
            runner_error(
                job,
                None,
                "it has no pod yet, so no log; try again, or follow it with --follow",
            )
        })?;
        self.copy_log(job, &pod, &mut logs::Cursor::default(), false, out)
            .await?;
        Ok(None)
    }

    /// Waits for the runner's result: the container's exit code.
    pub async fn wait(&self, job: &str) -> Result<i32> {
        loop {
            match self.phase(job).await? {
                (_, Phase::Exited(code)) => return Ok(code),
                (pod, Phase::Failed(reason)) => {
                    return Err(runner_error(job, pod.as_deref(), reason))
                }
                _ => tokio::time::sleep(POLL).await,
            }
        }
    }

    /// Deletes the Job, its pod and its Secret (a Job already gone is
    /// fine).
    pub async fn delete(&self, job: &str) -> Result<()> {
        let params = DeleteParams {
            propagation_policy: Some(PropagationPolicy::Background),
            ..DeleteParams::default()
        };
        match call(self.jobs().delete(job, &params)).await {
            Ok(_) => {}
            Err(e) if status_code(&e) == Some(404) => {}
            Err(e) => return Err(api_error(format!("delete job {job}"), e)),
        }
        let secret = manifest::env_secret_name(job);
        match call(self.secrets().delete(&secret, &DeleteParams::default())).await {
            Ok(_) => Ok(()),
            Err(e) if status_code(&e) == Some(404) => Ok(()),
            Err(e) => Err(api_error(format!("delete secret {secret}"), e)),
        }
    }

    /// Every runner Job of the namespace, oldest first.
    pub async fn list(&self) -> Result<Vec<JobSummary>> {
        let selector = format!("{COMPONENT_LABEL}={COMPONENT},app.kubernetes.io/managed-by=tmpnet");
        let list = call(self.jobs().list(&ListParams::default().labels(&selector)))
            .await
            .map_err(|e| api_error("list runner jobs", e))?;
        let mut jobs: Vec<Job> = list.items;
        jobs.sort_by(|a, b| {
            a.metadata
                .creation_timestamp
                .cmp(&b.metadata.creation_timestamp)
        });
        Ok(jobs
            .into_iter()
            .map(|job| {
                let label = |key: &str| {
                    job.metadata
                        .labels
                        .as_ref()
                        .and_then(|l| l.get(key).cloned())
                        .unwrap_or_default()
                };
                let status = job.status.clone().unwrap_or_default();
                let state = if let Some(failure) = status::job_failure(&job) {
                    format!("failed ({failure})")
                } else if status.succeeded.unwrap_or(0) > 0 {
                    "succeeded".into()
                } else if status.failed.unwrap_or(0) > 0 {
                    "failed".into()
                } else {
                    "running".into()
                };
                JobSummary {
                    name: job.metadata.name.clone().unwrap_or_default(),
                    network: label(NETWORK_LABEL),
                    suite: label(SUITE_LABEL),
                    state,
                }
            })
            .collect())
    }
}

/// The variables of this process forwarded to the runner: every variable
/// whose name starts with one of `prefixes`, except those the runner sets
/// itself or that only mean something here.
pub fn forwarded_env(
    prefixes: &[String],
    vars: impl Iterator<Item = (String, String)>,
) -> BTreeMap<String, String> {
    const LOCAL_ONLY: &[&str] = &[
        "KUBECONFIG",
        "TMPNET_KUBE_CONTEXT",
        "TMPNET_ROOT_DIR",
        "TMPNET_NETWORK_DIR",
        "ENV_JOB_IMAGE",
        "DETACH_RUNNER",
        "E2E_USE_KUBERNETES",
        "TMPNET_KUBE_NAMESPACE",
        "TMPNET_KUBE_ACCESS",
        "NEXTEST_RUN_ID",
        "PATH",
        "HOME",
        "HOSTNAME",
        "USER",
        "PWD",
        "SHELL",
        "TERM",
    ];
    vars.filter(|(k, _)| {
        prefixes
            .iter()
            .any(|p| !p.is_empty() && k.starts_with(p.as_str()))
            && !LOCAL_ONLY.contains(&k.as_str())
            && !k.starts_with("TMPNET_RUNNER_")
    })
    .collect()
}

/// A new runner Job's name: `tmpnet-runner-<suite>-<8 hex>`, at most 63.
pub fn job_name(suite: &str) -> String {
    let suite: String = suite
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .take(40)
        .collect();
    let id = &uuid::Uuid::new_v4().simple().to_string()[..8];
    format!("tmpnet-runner-{}-{id}", suite.trim_matches('-'))
}

#[cfg(test)]
mod contract_tests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_variables_with_a_prefix_are_forwarded_and_never_local_ones() {
        let vars = [
            ("APP_TOKEN", "s3cret"),
            ("APP_MODE", "fast"),
            ("OTHER", "x"),
            ("KUBECONFIG", "/home/me/.kube/config"),
            ("TMPNET_RUNNER_ENV", "APP_"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()));
        let forwarded = forwarded_env(&["APP_".into(), "KUBE".into(), "TMPNET_".into()], vars);
        assert_eq!(
            forwarded.keys().collect::<Vec<_>>(),
            ["APP_MODE", "APP_TOKEN"]
        );
    }

    #[test]
    fn job_names_are_dns_labels() {
        let name = job_name("E2E_suite");
        assert!(name.starts_with("tmpnet-runner-e2e-suite-"), "{name}");
        assert!(name.len() <= 63);
        assert_ne!(job_name("x"), job_name("x"));
    }
}
