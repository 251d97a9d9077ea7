//! The test harness for `harness = false` targets: flags, the registry, the
//! shared network, and the libtest-mimic `main`.
//!
//! A suite's `main.rs` declares its test modules and ends with
//! `tmpnet_fixture::main!();`. Tests are `#[tmpnet_test]` functions.

mod args;
mod env;
mod foreign;
pub(crate) mod owner;
pub(crate) mod registry;
#[cfg(feature = "kube")]
mod relaunch;
#[cfg(not(feature = "kube"))]
#[path = "relaunch_disabled.rs"]
mod relaunch;
pub(crate) mod shared;
mod trials;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;

use args::HarnessArgs;
pub use env::TestEnvironment;

use crate::model::layout;
use crate::network::{NetworkSpec, PruneRule, DEFAULT_START_TIMEOUT};
use owner::OwnedNetworks;
use registry::TESTS;
use shared::{SharedNetwork, Source};

/// Identifies the test target, filled in by [`crate::main!`].
#[derive(Debug, Clone, Copy)]
pub struct Target {
    /// `CARGO_CRATE_NAME` of the test target.
    pub crate_name: &'static str,
    /// `file!()` of its `main`.
    pub main_file: &'static str,
    /// `CARGO_MANIFEST_DIR` of its package.
    pub manifest_dir: &'static str,
    /// The node kind of its networks, unless the command line or the
    /// environment says otherwise.
    pub node_kind: Option<&'static str>,
    /// A kind file describing that kind: its path relative to
    /// `manifest_dir`, and its text as compiled in.
    pub kind_file: Option<(&'static str, &'static str)>,
    /// The shared network's node count, unless the command line or the
    /// environment says otherwise.
    pub nodes: Option<usize>,
}

impl Target {
    /// A target with no settings of its own.
    pub fn new(
        crate_name: &'static str,
        main_file: &'static str,
        manifest_dir: &'static str,
    ) -> Self {
        Target {
            crate_name,
            main_file,
            manifest_dir,
            node_kind: None,
            kind_file: None,
            nodes: None,
        }
    }

    /// The suite's kind file: the file itself when it is there (a run in
    /// the source tree), else the compiled-in copy written once under
    /// `root` (a binary run elsewhere, e.g. in a runner Job's image).
    fn kind_file_path(&self, root: &Path) -> crate::Result<Option<PathBuf>> {
        let Some((path, text)) = self.kind_file else {
            return Ok(None);
        };
        let on_disk = Path::new(self.manifest_dir).join(path);
        if on_disk.is_file() {
            return Ok(Some(on_disk));
        }
        let name = Path::new(path)
            .file_name()
            .map_or_else(|| "kind.toml".into(), |n| n.to_string_lossy().into_owned());
        let copy = root
            .join("kinds")
            .join(format!("{}-{name}", self.crate_name));
        // Every test process of a nextest run gets here: written once.
        if std::fs::read_to_string(&copy).ok().as_deref() != Some(text) {
            crate::sys::files::create_dir_all(root.join("kinds").as_path())?;
            crate::sys::files::atomic_write(&copy, text.as_bytes(), 0o600)?;
        }
        Ok(Some(copy))
    }
}

fn fail(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::FAILURE
}

/// What one run of the suite's binary does, decided from its flags and
/// environment before anything is started.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Mode {
    /// `--list`: name the tests; touch nothing.
    List,
    /// Act on a network.
    Act(Act),
}

/// What a run that is not a listing does with its network.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Act {
    /// `--stop-network`: stop the reusable network.
    StopNetwork,
    /// `--start-network`: start the shared network and leave it running.
    StartNetwork,
    /// `ENV_JOB_IMAGE`: run the suite in the cluster as a Job of this image.
    Relaunch(String),
    /// Run the tests.
    Run,
}

impl Mode {
    /// The mode `args` ask for, with the checks that mode needs (checked
    /// flags, the runner's own build, what a relaunch needs).
    fn of(args: &HarnessArgs) -> crate::Result<Mode> {
        if args.libtest.list {
            return Ok(Mode::List);
        }
        args.validate()?;
        if relaunch::in_runner() {
            relaunch::check_build()?;
        }
        let image = args.job_image().filter(|_| !relaunch::in_runner());
        if image.is_some() {
            relaunch::check(args, std::env::var_os("NEXTEST_RUN_ID").is_some())?;
        }
        Ok(Mode::Act(if args.stop_network {
            Act::StopNetwork
        } else if args.start_network {
            Act::StartNetwork
        } else if let Some(image) = image {
            Act::Relaunch(image.to_owned())
        } else {
            Act::Run
        }))
    }
}

/// Runs the suite: the harness's whole `main`.
pub fn run(target: Target) -> ExitCode {
    crate::cli::init_tracing("warn");
    if let Some(dir) = std::env::var_os(shared::REAP_DIR_ENV) {
        return reap(PathBuf::from(dir));
    }
    let args = match parse_args() {
        Ok(args) => args,
        Err(code) => return code,
    };
    if let Err(code) = check_target(&target) {
        return code;
    }
    let act = match Mode::of(&args) {
        Ok(Mode::List) => return libtest_mimic::run(&args.libtest, trials::listing()).exit_code(),
        Ok(Mode::Act(act)) => act,
        Err(e) => return fail(e),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(format!("cannot start the async runtime: {e}")),
    };
    let shared = match shared_network(&target, &args, &act, &runtime) {
        Ok(shared) => shared,
        Err(e) => return fail(e),
    };
    match act {
        Act::StopNetwork => stop_network(&runtime, &shared),
        Act::StartNetwork => start_network(&runtime, &shared),
        Act::Relaunch(image) => {
            match runtime.block_on(relaunch::relaunch(&args, &shared, &image)) {
                Ok(code) => code,
                Err(e) => fail(e),
            }
        }
        Act::Run => {
            let state = Arc::new(trials::State::new(runtime.handle().clone(), shared));
            let conclusion = libtest_mimic::run(&args.libtest, trials::runnable(&state));
            runtime.block_on(finish(&state, args.delay_network_shutdown));
            conclusion.exit_code()
        }
    }
}

/// The harness's flags and environment; an empty variable is an unset
/// one. A mistake is one line and exit code 1; help is printed and exits 0.
fn parse_args() -> Result<HarnessArgs, ExitCode> {
    use clap::CommandFactory;
    crate::cli::ignore_empty_env(&HarnessArgs::command());
    HarnessArgs::try_parse().map_err(|e| match e.kind() {
        clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => {
            let _ = e.print();
            ExitCode::SUCCESS
        }
        _ => fail(format!(
            "{}; see --help",
            crate::cli::one_line(&e, &HarnessArgs::command())
        )),
    })
}

/// Refuses a target whose tests cannot all run: none registered, or
/// tests of another harness (`#[test]`) that would silently never run.
fn check_target(target: &Target) -> Result<(), ExitCode> {
    if TESTS.is_empty() {
        return Err(fail(format!(
            "no #[tmpnet_test] tests are registered in {}; declare the test modules (`mod x;`) in the file that calls tmpnet_fixture::main!()",
            target.crate_name
        )));
    }
    if let Some(main) = foreign::locate_main(target.main_file, target.manifest_dir) {
        let findings = foreign::scan(&main);
        if !findings.is_empty() {
            for finding in &findings {
                eprintln!("error: {finding}");
            }
            return Err(ExitCode::FAILURE);
        }
    }
    Ok(())
}

/// The network the run shares, from the flags and the target's defaults;
/// first stops what killed runs left under the root, and (unless a
/// relaunch, which handles its own) stops owned networks on a signal.
fn shared_network(
    target: &Target,
    args: &HarnessArgs,
    act: &Act,
    runtime: &tokio::runtime::Runtime,
) -> crate::Result<SharedNetwork> {
    let root = layout::root_dir(args.root_dir.as_deref())?;
    let owned = Arc::new(OwnedNetworks::default());
    owned.keep_directories(args.keep_networks);
    if !matches!(act, Act::Relaunch(_)) {
        runtime.spawn(stop_on_signal(owned.clone()));
    }
    for dir in runtime.block_on(owner::sweep(&root)) {
        eprintln!(
            "stopped nodes left running by an earlier, killed run: {}",
            dir.display()
        );
    }
    let nodes = args
        .node_count
        .or(target.nodes)
        .unwrap_or(crate::model::DEFAULT_NODE_COUNT);
    let mut spec = NetworkSpec::new(&root, nodes).with_owner(target.crate_name);
    match (&args.node_kind, &args.kind_file) {
        (_, Some(file)) => spec.kind_file = Some(file.clone()),
        (Some(kind), None) => spec.node_kind = kind.clone(),
        (None, None) => {
            if let Some(kind) = target.node_kind {
                spec.node_kind = kind.to_owned();
            }
            spec.kind_file = target.kind_file_path(&root)?;
        }
    }
    spec.node_path = args.node_path.clone();
    spec.kube = args.kube_settings();
    // A bad kind, kind file or cluster fails the run once, before any test
    // (not each test with the same error).
    if matches!(act, Act::Run | Act::StartNetwork) {
        runtime.block_on(spec.check())?;
    }
    if let (true, Some(kube)) = (relaunch::in_runner(), spec.kube.as_mut()) {
        kube.owner = Some(Box::new(runtime.block_on(relaunch::own_job(kube))?));
    }
    Ok(SharedNetwork {
        source: source(args),
        spec,
        suite: target.crate_name.to_owned(),
        timeout: DEFAULT_START_TIMEOUT,
        owned,
        keep_networks: args.keep_networks,
    })
}

/// `--stop-network`.
fn stop_network(runtime: &tokio::runtime::Runtime, shared: &SharedNetwork) -> ExitCode {
    match runtime.block_on(shared.stop_reusable()) {
        Ok(Some(dir)) => {
            eprintln!("stopped network {}", dir.display());
            ExitCode::SUCCESS
        }
        Ok(None) => {
            eprintln!("no reusable network to stop");
            ExitCode::SUCCESS
        }
        Err(e) => fail(e),
    }
}

/// `--start-network`.
fn start_network(runtime: &tokio::runtime::Runtime, shared: &SharedNetwork) -> ExitCode {
    match runtime.block_on(shared.acquire()) {
        Ok(network) => {
            println!("network dir: {}", network.dir().display());
            println!("{}", layout::export_line(network.dir()));
            println!("run the tests against it with --reuse-network (E2E_REUSE_NETWORK=1) or --network-dir; stop it with --stop-network");
            ExitCode::SUCCESS
        }
        Err(e) => fail(e),
    }
}

fn source(args: &HarnessArgs) -> Source {
    if let Some((name, owned)) = relaunch::attached() {
        return Source::Attached { name, owned };
    }
    if let Some(dir) = &args.network_dir {
        return Source::Explicit {
            dir: dir.clone(),
            restart: args.restart_network,
        };
    }
    if args.reuse() {
        return Source::Reuse {
            restart: args.restart_network,
        };
    }
    let run_id = std::env::var("NEXTEST_RUN_ID")
        .ok()
        .filter(|v| !v.is_empty());
    match run_id {
        Some(run_id) => Source::Nextest {
            run_id,
            runner: std::os::unix::process::parent_id(),
        },
        None => Source::Owned,
    }
}

/// After the last test: stop what this process owns; say what is kept.
async fn finish(state: &trials::State, delay: Option<u64>) {
    let Some(network) = state.shared_if_started() else {
        return;
    };
    if !state.shared.source.owned() {
        if !matches!(
            state.shared.source,
            Source::Nextest { .. } | Source::Attached { .. }
        ) {
            eprintln!("network left running: {}", network.dir().display());
        }
        return;
    }
    if let Some(secs) = delay {
        eprintln!(
            "stopping the network in {secs}s: {}",
            network.dir().display()
        );
        tokio::time::sleep(Duration::from_secs(secs)).await;
    }
    if let Err(e) = owner::retire(&state.owned, &network).await {
        eprintln!("error: cannot stop {}: {e}", network.dir().display());
    }
    state.owned.remove(network.dir());
    if !state.shared.keep_networks {
        // Directories of failed runs are kept, up to a count. A failed
        // mark is written once a test has finished, so no age is needed:
        // a network still in use runs, or is held, and is left.
        let rule = PruneRule {
            failed_only: true,
            min_age: Duration::ZERO,
            ..PruneRule::default()
        };
        if let Err(e) = crate::network::prune(&state.shared.spec.root_dir, &rule, false).await {
            tracing::warn!(error = %e, "cannot prune old network directories");
        }
    }
}

/// On Ctrl-C, SIGTERM or SIGHUP: stop every network this process owns, then
/// exit with 128 + the signal.
async fn stop_on_signal(owned: Arc<OwnedNetworks>) {
    let code = crate::sys::signals::ending_signal().await;
    let networks = owned.close(code);
    eprintln!("interrupted; stopping {} network(s)", networks.len());
    for network in networks {
        if let Err(e) = owner::stop_and_release(&owned, &network).await {
            eprintln!("error: cannot stop {}: {e}", network.dir().display());
        }
    }
    std::process::exit(i32::from(code));
}

fn reap(dir: PathBuf) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(format!("cannot start the async runtime: {e}")),
    };
    match runtime.block_on(shared::reap_when_done(&dir)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(args: &[&str]) -> crate::Result<Mode> {
        let args = HarnessArgs::try_parse_from(std::iter::once("e2e").chain(args.iter().copied()))
            .unwrap();
        Mode::of(&args)
    }

    #[test]
    fn each_mode_comes_from_its_flag_and_listing_checks_nothing() {
        assert_eq!(mode(&[]).unwrap(), Mode::Act(Act::Run));
        assert_eq!(
            mode(&["--stop-network"]).unwrap(),
            Mode::Act(Act::StopNetwork)
        );
        assert_eq!(
            mode(&["--start-network"]).unwrap(),
            Mode::Act(Act::StartNetwork)
        );
        // Listing is for test runners: contradictory flags do not stop it.
        assert_eq!(
            mode(&["--list", "--stop-network", "--start-network"]).unwrap(),
            Mode::List
        );
        let err = mode(&["--stop-network", "--start-network"]).unwrap_err();
        assert!(err.to_string().contains("contradict"), "{err}");
    }
}
