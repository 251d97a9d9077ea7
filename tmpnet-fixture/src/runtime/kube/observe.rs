//! Watching a node's pod: the wait for it to be ready, its endpoint as
//! this process reaches it (per [`Access`]), its StatefulSet and pod, and
//! its container log.

use std::time::Duration;

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, LogParams};

use super::client::{api_error, call, CALL_TIMEOUT};
use super::manifests;
use super::pods::{self, Verdict};
use super::settings::Access;
use super::KubeRuntime;
use crate::error::{Error, Result};
use crate::model::node::LOG_TAIL_LINES;
use crate::model::{Endpoint, Node, NodeState};
use crate::runtime::NodeRuntime;

impl KubeRuntime {
    /// Waits for the node's pod to be ready; on failure or timeout, scales
    /// the node to zero and says why, quoting its log.
    pub(super) async fn await_ready(
        &self,
        node: &Node,
        replaced: Option<&str>,
    ) -> Result<Endpoint> {
        let pods: Api<Pod> = self.api().await?;
        let pod_name = self.pod_name(node);
        let timeout = Duration::from_secs(self.settings.ready_timeout_secs);
        match pods::wait_ready(&pods, &pod_name, replaced, timeout).await {
            Ok(pod) => {
                let ip = pod.status.and_then(|s| s.pod_ip).unwrap_or_default();
                self.endpoint(node, &ip).await
            }
            Err(verdict) => {
                let why = match verdict {
                    Verdict::Failed(w) | Verdict::Pending(w) => w,
                    Verdict::Ready { .. } => "ready".into(),
                };
                let log_tail = self.pod_log_tail(&pods, &pod_name).await;
                let _ = self.initiate_stop(node).await;
                Err(Error::StartFailed {
                    node: node.id().to_owned(),
                    reason: format!(
                        "pod {pod_name} in namespace {}: {why}{}",
                        self.settings.namespace,
                        self.hint(&why)
                    ),
                    log_tail,
                })
            }
        }
    }

    fn hint(&self, why: &str) -> String {
        if why.contains("ImagePull") || why.contains("InvalidImageName") {
            format!(
                "; check --kube-image ({}) and that the cluster can pull it (with kind: `kind load docker-image {}`)",
                self.settings.image, self.settings.image
            )
        } else {
            String::new()
        }
    }

    /// The container's last log lines: the current container's, or, when
    /// it has none (waiting after a crash), the crashed one's.
    pub(super) async fn pod_log_tail(&self, pods: &Api<Pod>, pod: &str) -> Vec<String> {
        for previous in [false, true] {
            let params = LogParams {
                container: Some(manifests::CONTAINER.to_owned()),
                tail_lines: Some(LOG_TAIL_LINES as i64),
                previous,
                ..LogParams::default()
            };
            if let Ok(Ok(text)) = tokio::time::timeout(CALL_TIMEOUT, pods.logs(pod, &params)).await
            {
                if !text.trim().is_empty() {
                    return text.lines().map(str::to_owned).collect();
                }
            }
        }
        Vec::new()
    }

    /// The endpoint of a node whose pod has `ip`: its API reachable from
    /// here, its p2p address as peers inside the cluster dial it.
    pub(super) async fn endpoint(&self, node: &Node, ip: &str) -> Result<Endpoint> {
        let profile = self.pod()?.profile();
        let uri = match self.access {
            Access::PodIp => format!("{}://{ip}:{}", profile.scheme, profile.api_port),
            Access::Ingress => {
                let host = self.settings.ingress_host.as_deref().unwrap_or_default();
                let scheme = if self.settings.ingress_secret.is_some() {
                    "https"
                } else {
                    "http"
                };
                let path = self.context(None)?.ingress_path(node);
                format!("{scheme}://{host}{path}")
            }
            Access::PortForward => {
                let pods: Api<Pod> = self.api().await?;
                let local = self
                    .forwards
                    .local(&pods, &self.pod_name(node), profile.api_port)
                    .await?;
                format!("{}://{local}", profile.scheme)
            }
        };
        Ok(Endpoint {
            uri,
            p2p_address: format!("{ip}:{}", profile.p2p_port),
        })
    }

    /// The node's StatefulSet replicas (`None` when it does not exist) and
    /// its pod.
    pub(super) async fn observe(&self, node: &Node) -> Result<(Option<i32>, Option<Pod>)> {
        let sets: Api<StatefulSet> = self.api().await?;
        let name = self.object_name(node);
        let replicas = match call(sets.get_opt(&name)).await {
            Ok(Some(set)) => Some(set.spec.and_then(|s| s.replicas).unwrap_or(1)),
            Ok(None) => None,
            Err(e) => return Err(api_error(format!("read statefulset {name}"), e)),
        };
        if replicas.unwrap_or(0) == 0 {
            return Ok((replicas, None));
        }
        let pods: Api<Pod> = self.api().await?;
        let pod_name = self.pod_name(node);
        let pod = call(pods.get_opt(&pod_name))
            .await
            .map_err(|e| api_error(format!("read pod {pod_name}"), e))?;
        Ok((replicas, pod))
    }

    /// The container log's lines after `cursor`, and the cursor after them
    /// (see [`pod_log_after`]).
    pub(super) async fn read_pod_log(&self, node: &Node, cursor: u64) -> (Vec<String>, u64) {
        let Ok(pods) = self.api::<Pod>().await else {
            return (Vec::new(), cursor);
        };
        let params = LogParams {
            container: Some(manifests::CONTAINER.to_owned()),
            ..LogParams::default()
        };
        let pod = self.pod_name(node);
        let Ok(Ok(text)) = tokio::time::timeout(CALL_TIMEOUT, pods.logs(&pod, &params)).await
        else {
            return (Vec::new(), cursor);
        };
        // A line still being written is read once it is ended, or once the
        // container no longer runs (its last words); unknown counts as
        // running, so a line is never cut on a guess.
        let ended = text.ends_with('\n')
            || matches!(self.state(node).await, Ok(s) if !matches!(s, NodeState::Running { .. }));
        pod_log_after(complete_lines(&text, ended), cursor)
    }
}

/// The lines of `text`; its last one only if it is ended by a newline or
/// the writer has `ended`.
fn complete_lines(text: &str, ended: bool) -> Vec<String> {
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    if !ended && !text.ends_with('\n') {
        lines.pop();
    }
    lines
}

/// The lines of a container's log after `cursor` (see the kube runtime's
/// `read_log`), and the cursor after them.
fn pod_log_after(lines: Vec<String>, cursor: u64) -> (Vec<String>, u64) {
    let first = lines.first().map_or(0, |l| {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        l.hash(&mut h);
        h.finish() >> 32
    });
    let seen = usize::try_from(cursor & 0xffff_ffff).unwrap_or(usize::MAX);
    let start = if cursor >> 32 != first || seen > lines.len() {
        0
    } else {
        seen
    };
    let total = u64::try_from(lines.len()).unwrap_or(u64::MAX) & 0xffff_ffff;
    (lines[start..].to_vec(), (first << 32) | total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_half_written_last_line_waits_for_its_end_or_the_writer_s() {
        assert_eq!(complete_lines("a\nb\n", false), ["a", "b"]);
        assert_eq!(complete_lines("a\nhalf", false), ["a"]);
        assert_eq!(complete_lines("a\nlast words", true), ["a", "last words"]);
        assert!(complete_lines("", false).is_empty());
        // Read on: the half line is not counted, so its whole is read next.
        let (first, cursor) = pod_log_after(complete_lines("t1 a\nt2 ha", false), 0);
        assert_eq!(first, ["t1 a"]);
        let (next, _) = pod_log_after(complete_lines("t1 a\nt2 half\n", false), cursor);
        assert_eq!(next, ["t2 half"]);
    }

    #[test]
    fn a_followed_pod_log_is_read_on_and_from_the_start_after_a_restart() {
        let log = |lines: &[&str]| lines.iter().map(|l| (*l).to_owned()).collect::<Vec<_>>();
        let (first, cursor) = pod_log_after(log(&["t1 serving", "t2 a"]), 0);
        assert_eq!(first, ["t1 serving", "t2 a"]);
        let (more, cursor) = pod_log_after(log(&["t1 serving", "t2 a", "t3 b"]), cursor);
        assert_eq!(more, ["t3 b"], "the same container: only what is new");
        let (same, cursor) = pod_log_after(log(&["t1 serving", "t2 a", "t3 b"]), cursor);
        assert!(same.is_empty());
        // A new container, even one that already wrote more lines.
        let (restarted, _) = pod_log_after(log(&["t9 serving", "u1", "u2", "u3"]), cursor);
        assert_eq!(restarted, ["t9 serving", "u1", "u2", "u3"]);
        let (shorter, _) = pod_log_after(log(&["t1 serving"]), cursor);
        assert_eq!(shorter, ["t1 serving"], "a shorter log is a new container");
    }
}
