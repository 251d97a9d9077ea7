//! The in-cluster runner in a build without the `kube` feature: never in a
//! Job, and a relaunch asked for (`ENV_JOB_IMAGE`) is refused in one line.

use std::process::ExitCode;

use super::args::HarnessArgs;
use super::shared::SharedNetwork;
use crate::error::{Error, Result};
use crate::model::{KubeOwner, KubeSettings};

/// What a relaunch needs: the `kube` feature.
fn disabled() -> Error {
    Error::feature_disabled("kube", "running the suite in the cluster (ENV_JOB_IMAGE)")
}

/// A relaunch cannot be made without Kubernetes.
pub fn check(_: &HarnessArgs, _under_nextest: bool) -> Result<()> {
    Err(disabled())
}

/// Unreachable after [`check`] refused; refuses again.
pub async fn relaunch(_: &HarnessArgs, _: &SharedNetwork, _image: &str) -> Result<ExitCode> {
    Err(disabled())
}

/// Not a runner: nothing to check.
pub fn check_build() -> Result<()> {
    Ok(())
}

/// Not a runner: no Job owns anything.
pub async fn own_job(_: &KubeSettings) -> Result<KubeOwner> {
    Err(disabled())
}

/// Not a runner: no network was given.
pub fn attached() -> Option<(String, bool)> {
    None
}

/// A build without Kubernetes never runs in a Job.
pub fn in_runner() -> bool {
    false
}
