//! Commands inside a node's pod (the exec API): a kind's health command
//! runs next to its daemon, with the daemon image's own tools.

use k8s_openapi::api::core::v1::Pod;
use kube::api::AttachParams;
use kube::Api;
use tokio::io::AsyncReadExt as _;

use super::manifests::CONTAINER;
use crate::kinds::PodExec;

/// The node container of one pod.
#[derive(Clone)]
pub(super) struct PodShell {
    pub(super) pods: Api<Pod>,
    pub(super) pod: String,
}

impl std::fmt::Debug for PodShell {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PodShell").field("pod", &self.pod).finish()
    }
}

/// The last line of `text` that says something.
fn last_line(text: &str) -> &str {
    text.lines()
        .rev()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("")
}

#[async_trait::async_trait]
impl PodExec for PodShell {
    async fn exec(&self, argv: &[String]) -> Result<(), String> {
        let program = argv.first().cloned().unwrap_or_default();
        let params = AttachParams::default()
            .container(CONTAINER)
            .stdin(false)
            .stdout(false)
            .stderr(true);
        let mut attached = self
            .pods
            .exec(&self.pod, argv, &params)
            .await
            .map_err(|e| {
                let why = match super::client::status_code(&e) {
                    Some(403) => {
                        "this account may not (grant get and create on pods/exec; deploy/rbac.yaml does)"
                            .to_owned()
                    }
                    _ => e.to_string(),
                };
                format!("cannot run {program} in pod {}: {why}", self.pod)
            })?;
        let mut said = String::new();
        if let Some(mut stderr) = attached.stderr() {
            let _ = stderr.read_to_string(&mut said).await;
        }
        let status = match attached.take_status() {
            Some(status) => status.await,
            None => None,
        };
        let _ = attached.join().await;
        match status {
            Some(s) if s.status.as_deref() == Some("Success") => Ok(()),
            Some(s) => {
                let how = s.message.unwrap_or_else(|| "it failed".to_owned());
                Err(format!(
                    "{program} in pod {}: {how}: {}",
                    self.pod,
                    last_line(&said)
                ))
            }
            None => Err(format!(
                "{program} in pod {}: no exit status came back",
                self.pod
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::last_line;

    #[test]
    fn the_last_line_that_says_something() {
        assert_eq!(
            last_line("a\nCould not connect\n\n  \n"),
            "Could not connect"
        );
        assert_eq!(last_line(""), "");
    }
}
