//! Self-relaunch: in kube mode with a runner image (`ENV_JOB_IMAGE`), the
//! harness does not run its tests here. It makes sure of the network in the
//! cluster, runs this same test binary there as a Job with the same test
//! filters and libtest options, shows its log as it comes, and exits with
//! the runner container's exit code. Inside the Job (`TMPNET_RUNNER_JOB`) the
//! harness attaches to the network by name and runs the tests; it never
//! relaunches again.
//!
//! Detached (`DETACH_RUNNER`), it returns once the runner runs; the Job then
//! owns a network this run created (an owner reference), so the network
//! goes with the Job.

use std::process::ExitCode;
use std::sync::Mutex;
use std::time::Duration;

use super::args::HarnessArgs;
use super::owner;
use super::shared::SharedNetwork;
use crate::error::{Error, Result};
use crate::model::{KubeOwner, KubeSettings, RuntimeSettings};
use crate::network::Network;
use crate::runner::{self, JobRequest, Runner};
use crate::sys::{elf, files};

/// How long a finished Job, and so its result, stays in the cluster.
const FINISHED_JOB_TTL_SECS: i32 = 3600;

/// The libtest options and filters of `args`, as the test binary in the
/// Job is given them.
pub fn libtest_args(args: &libtest_mimic::Arguments) -> Vec<String> {
    let mut out = Vec::new();
    let flags = [
        (args.include_ignored, "--include-ignored"),
        (args.ignored, "--ignored"),
        (args.test, "--test"),
        (args.bench, "--bench"),
        (args.nocapture, "--nocapture"),
        (args.show_output, "--show-output"),
        (args.exact, "--exact"),
        (args.quiet, "--quiet"),
    ];
    out.extend(
        flags
            .iter()
            .filter(|(on, _)| *on)
            .map(|(_, f)| (*f).to_owned()),
    );
    if let Some(n) = args.test_threads {
        out.push(format!("--test-threads={n}"));
    }
    for skip in &args.skip {
        out.extend(["--skip".to_owned(), skip.clone()]);
    }
    if let Some(color) = args.color {
        let value = match color {
            libtest_mimic::ColorSetting::Auto => "auto",
            libtest_mimic::ColorSetting::Always => "always",
            libtest_mimic::ColorSetting::Never => "never",
        };
        out.push(format!("--color={value}"));
    }
    if let Some(format) = args.format {
        let value = match format {
            libtest_mimic::FormatSetting::Pretty => "pretty",
            libtest_mimic::FormatSetting::Terse => "terse",
            libtest_mimic::FormatSetting::Json => "json",
        };
        out.push(format!("--format={value}"));
    }
    if let Some(filter) = &args.filter {
        out.push(filter.clone());
    }
    out
}

/// Refuses a relaunch that cannot work, naming the fix.
pub fn check(args: &HarnessArgs, under_nextest: bool) -> Result<()> {
    if !args.wants_kube() {
        return Err(Error::InvalidInput(
            "ENV_JOB_IMAGE (--job-image) runs the suite in a Kubernetes Job; also set E2E_USE_KUBERNETES=true (--use-kubernetes), or unset ENV_JOB_IMAGE to run here".into(),
        ));
    }
    if under_nextest {
        return Err(Error::InvalidInput(
            "ENV_JOB_IMAGE under nextest would start one runner Job per test (nextest runs each test in its own process); run the suite with `cargo test` to relaunch it in the cluster, or unset ENV_JOB_IMAGE".into(),
        ));
    }
    if args.libtest.logfile.is_some() {
        return Err(Error::InvalidInput(
            "--logfile names a file here, but the tests run in the cluster; drop --logfile (the runner's output comes here)".into(),
        ));
    }
    Ok(())
}

/// One relaunch under way, and what it has made (for its end, and for an
/// interrupt at any point of it).
struct Relaunch<'a> {
    args: &'a HarnessArgs,
    shared: &'a SharedNetwork,
    image: &'a str,
    /// The Job once it is being made, until it is deleted.
    job: Mutex<Option<(Runner, String)>>,
}

/// Runs the suite in the cluster; the exit code is the tests' result. On
/// Ctrl-C, SIGTERM or SIGHUP, at any point, the Job and a network this run
/// made are deleted and the process exits with 130, 143 or 129.
pub async fn relaunch(args: &HarnessArgs, shared: &SharedNetwork, image: &str) -> Result<ExitCode> {
    let run = Relaunch {
        args,
        shared,
        image,
        job: Mutex::new(None),
    };
    tokio::select! {
        result = run.run() => result,
        code = crate::sys::signals::ending_signal() => {
            eprintln!("interrupted; deleting what this run made in the cluster");
            run.abandon(code).await;
            std::process::exit(i32::from(code));
        }
    }
}

/// This test binary's file name (the command of the Job).
fn binary_name() -> Result<String> {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .ok_or_else(|| {
            Error::Environment(
                "cannot tell this test binary's file name from /proc/self/exe; run it by its path"
                    .into(),
            )
        })
}

impl Relaunch<'_> {
    async fn run(&self) -> Result<ExitCode> {
        let binary = binary_name()?;
        let settings = self.shared.spec.kube.clone().ok_or_else(|| {
            Error::InvalidInput("the runner needs Kubernetes; pass --use-kubernetes".into())
        })?;
        if self.shared.source.owned() {
            // Before the network is made: a Job that cannot run would
            // waste its start.
            Runner::connect(&settings)
                .await?
                .check_service_account(&self.args.runner_service_account)
                .await?;
        }
        let network = self.shared.acquire().await?;
        let created = self.shared.source.owned();
        let result = self.run_job(&network, created, &binary).await;
        if !matches!(result, Ok(ExitCode::SUCCESS)) {
            // The network's directory stays, as after a failed local run.
            if let Err(e) = crate::network::mark_failed(&network, "the runner Job") {
                tracing::warn!(error = %e, "cannot mark the network as failed");
            }
        }
        if created && !(self.args.detach && result.is_ok()) {
            if let Err(e) = owner::retire(&self.shared.owned, &network).await {
                eprintln!("error: cannot stop {}: {e}", network.dir().display());
            }
        }
        result
    }

    async fn run_job(&self, network: &Network, created: bool, binary: &str) -> Result<ExitCode> {
        let (RuntimeSettings::Kube(settings), Some(name)) =
            (&network.config().runtime, network.cluster_name())
        else {
            return Err(Error::InvalidInput(format!(
                "network {} does not run on Kubernetes, so a runner Job cannot reach it; use a network started with --use-kubernetes",
                network.dir().display()
            )));
        };
        // The network's own cluster and namespace, whatever this run's
        // flags say (a reused network may live elsewhere).
        let runner = Runner::connect(settings).await?;
        if !created {
            runner
                .check_service_account(&self.args.runner_service_account)
                .await?;
        }
        let job = runner::job_name(&self.shared.suite);
        let env = runner::forwarded_env(&self.args.runner_env, std::env::vars());
        let request = JobRequest {
            name: job.clone(),
            namespace: settings.namespace.clone(),
            image: self.image.to_owned(),
            binary: binary.to_owned(),
            args: libtest_args(&self.args.libtest),
            network: name.clone(),
            suite: self.shared.suite.clone(),
            service_account: self.args.runner_service_account.clone(),
            deadline_secs: i64::try_from(self.args.runner_deadline.as_secs())
                .unwrap_or(i64::MAX)
                .max(1),
            ttl_secs: FINISHED_JOB_TTL_SECS,
            owns_network: self.args.detach && created,
            has_env_secret: !env.is_empty(),
            build_id: std::env::current_exe().ok().and_then(|p| elf::build_id(&p)),
        };
        if created {
            // A relaunch killed from here on leaves the Job: the next run's
            // sweep, reaping the network, deletes it too.
            files::write_json(
                &network.dir().join(owner::RUNNER_FILE),
                &owner::RunnerRecord { job: job.clone() },
            )?;
        }
        *self.job.lock().unwrap_or_else(|p| p.into_inner()) = Some((runner.clone(), job.clone()));
        let uid = runner.launch(&request, &env).await?;
        eprintln!(
            "running the suite in the cluster: Job {job} in namespace {}, image {}, network {name}",
            settings.namespace, self.image
        );
        let timeout = Duration::from_secs(settings.ready_timeout_secs.max(1));
        let outcome = self
            .watch(&runner, &job, &uid, &name, network, created, timeout)
            .await;
        if !(self.args.detach && outcome.is_ok()) {
            if let Err(e) = runner.delete(&job).await {
                eprintln!("error: {e}");
            }
        }
        self.job.lock().unwrap_or_else(|p| p.into_inner()).take();
        outcome
    }

    #[allow(clippy::too_many_arguments)]
    async fn watch(
        &self,
        runner: &Runner,
        job: &str,
        uid: &str,
        name: &str,
        network: &Network,
        created: bool,
        timeout: Duration,
    ) -> Result<ExitCode> {
        if self.args.detach {
            if created {
                runner.hand_network_to(job, uid, name).await?;
                self.shared.owned.remove(network.dir());
                owner::release(network.dir())?;
            }
            let (pod, _) = runner.wait_started(job, timeout).await?;
            let ns = runner.namespace();
            let fate = if created {
                "it owns network"
            } else {
                "the network it uses was reused and stays:"
            };
            println!("runner Job {job} runs (pod {pod}); {fate} {name}");
            println!("follow it:  tmpnetctl runner logs {job} --follow --kube-namespace {ns}");
            println!("its result: tmpnetctl runner wait {job} --kube-namespace {ns}");
            println!("delete it:  tmpnetctl runner delete {job} --kube-namespace {ns}");
            return Ok(ExitCode::SUCCESS);
        }
        let (pod, _) = runner.wait_started(job, timeout).await?;
        let mut out = std::io::stdout();
        let code = runner.follow(job, &pod, &mut out).await?;
        Ok(ExitCode::from(u8::try_from(code).unwrap_or(1)))
    }

    /// After an interrupt (reported by `exit_code`): deletes the Job, if
    /// one is made, and stops every network this run owns (one still
    /// starting included).
    async fn abandon(&self, exit_code: u8) {
        let job = self.job.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some((runner, job)) = job {
            if let Err(e) = runner.delete(&job).await {
                eprintln!("error: {e}");
            }
        }
        for network in self.shared.owned.close(exit_code) {
            if let Err(e) = owner::stop_and_release(&self.shared.owned, &network).await {
                eprintln!("error: cannot stop {}: {e}", network.dir().display());
            }
        }
    }
}

/// In the runner: refuses to run when the image holds another build of
/// this test binary than the one that made the Job (the image was not
/// rebuilt after the suite changed).
pub fn check_build() -> Result<()> {
    let Ok(expected) = std::env::var(runner::BUILD_ID_ENV) else {
        return Ok(());
    };
    let own = std::env::current_exe().ok().and_then(|p| elf::build_id(&p));
    if own.as_deref() == Some(expected.as_str()) {
        return Ok(());
    }
    Err(Error::Environment(format!(
        "this runner image holds another build of {} (build id {}) than the one that started the Job ({expected}); rebuild the image (tmpnetctl image suite) and run again",
        binary_name().unwrap_or_else(|_| "the test binary".into()),
        own.as_deref().unwrap_or("none"),
    )))
}

/// In the runner: its own Job, to be the owner of every network the runner
/// makes, so those networks go with the Job whatever ends the runner (its
/// pod deleted mid-start, `kill -9`, eviction, the deadline).
pub async fn own_job(settings: &KubeSettings) -> Result<KubeOwner> {
    let job = std::env::var(runner::MARKER_ENV).unwrap_or_default();
    Runner::connect(settings).await?.job_owner(&job).await
}

/// In the runner: the network the Job was given (its name on the cluster)
/// and whether the runner owns it.
pub fn attached() -> Option<(String, bool)> {
    if !in_runner() {
        return None;
    }
    let name = std::env::var(runner::NETWORK_ENV).ok()?;
    let owned = std::env::var(runner::OWNS_NETWORK_ENV).is_ok_and(|v| v == "true");
    Some((name, owned))
}

/// Whether this process is the runner in a Job.
pub fn in_runner() -> bool {
    std::env::var_os(runner::MARKER_ENV).is_some_and(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn the_job_gets_the_same_filters_and_options() {
        let args = HarnessArgs::try_parse_from([
            "e2e",
            "kv::",
            "--exact",
            "--skip",
            "slow",
            "--test-threads",
            "2",
            "--nocapture",
            "--format",
            "terse",
            "--node-count",
            "3",
        ])
        .unwrap();
        assert_eq!(
            libtest_args(&args.libtest),
            [
                "--nocapture",
                "--exact",
                "--test-threads=2",
                "--skip",
                "slow",
                "--format=terse",
                "kv::"
            ]
        );
        let parsed = libtest_mimic::Arguments::from_iter(
            std::iter::once("e2e".to_owned()).chain(libtest_args(&args.libtest)),
        );
        assert_eq!(parsed.filter.as_deref(), Some("kv::"));
        assert!(parsed.exact && parsed.nocapture);
    }

    #[test]
    fn a_relaunch_needs_kube_and_refuses_nextest() {
        let local =
            HarnessArgs::try_parse_from(["e2e", "--job-image", "tmpnet/runner:latest"]).unwrap();
        assert!(check(&local, false)
            .unwrap_err()
            .to_string()
            .contains("E2E_USE_KUBERNETES=true"));
        let kube = HarnessArgs::try_parse_from([
            "e2e",
            "--use-kubernetes",
            "--job-image",
            "tmpnet/runner:latest",
        ])
        .unwrap();
        assert!(check(&kube, false).is_ok());
        let err = check(&kube, true).unwrap_err().to_string();
        assert!(
            err.contains("one runner Job per test") && err.contains("cargo test"),
            "{err}"
        );
    }
}
