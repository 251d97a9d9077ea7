//! The remote runner end to end, the same cases on every cluster tier
//! (run by scripts/e2e-kubesim.sh on the simulator and by
//! scripts/e2e-cluster.sh on the local cluster): the example suite run
//! inside the cluster as a Job from `tmpnet/runner:latest`
//!
//! 1. passing, and failing on purpose (the reason shown here);
//! 2. detached, with a forwarded secret that must be in a Secret owned by
//!    the Job and in no spec and no output;
//! 3. interrupted with Ctrl-C (exit 130, the Job and network deleted);
//! 4. killed with kill -9 (the next run reaps the Job and network);
//! 5. an image that does not exist (fails fast, naming it), a
//!    ServiceAccount that does not exist (refused before any Job), a
//!    deadline (the reason shown);
//! 6. a detached Job deleted mid-run (its network goes with it; waiting
//!    for it fails in one line);
//! 7. a crate outside the repository with two suites (redis-server, a
//!    primary and replicas from `examples/redis/redis.toml`; the reference
//!    node as a seed and followers from `examples/seeded/seeded.toml`) and
//!    a data file of its own: its runner image and node images (a Debian
//!    package, a binary built here)
//!    built by `tmpnetctl image` and loaded where `RUNNER_E2E_LOAD` says
//!    (`local-cluster`; the simulator reads its images only at its start,
//!    so this case runs on the local cluster), its suite passing in a Job
//!    with a forwarded secret that appears in no output, and a test
//!    failing in the Job failing the local `cargo test`.
//!
//! After each, the namespace must hold nothing of tmpnet.
//!
//! Environment: `KUBECONFIG` (the networks' ServiceAccount),
//! `E2E_USE_KUBERNETES`, `TMPNET_ROOT_DIR`, `ADMIN_KUBECONFIG` (reads
//! what the namespace holds), `TMPNETCTL` (the binary), `RUNNER_E2E_WORK`
//! (a scratch directory for the logs), `RUNNER_E2E_SECRET_SCAN` (more
//! directories, `:`-separated, that must not hold the forwarded secret),
//! `RUNNER_E2E_DIAGNOSE` (optional: a shell command printing the cluster's
//! state when a case hangs).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{
    ConfigMap, Endpoints, PersistentVolume, PersistentVolumeClaim, Pod, Secret, Service,
    ServiceAccount,
};
use k8s_openapi::api::networking::v1::Ingress;
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::api::ListParams;
use kube::{Api, Client, Resource};
use serde_json::Value;

type Outcome<T = ()> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

const NS: &str = "tmpnet";
const IMAGE: &str = "tmpnet/runner:latest";
const MANAGED: &str = "app.kubernetes.io/managed-by=tmpnet";

fn env(name: &str) -> Outcome<String> {
    std::env::var(name).map_err(|_| format!("{name} is not set").into())
}

/// What the cases share: where logs go, the admin's client.
struct Cases {
    work: PathBuf,
    tmpnetctl: PathBuf,
    admin: Client,
    secret_scan: Vec<PathBuf>,
}

/// A finished command: its status and its output (stdout and stderr, as
/// one log).
struct Ran {
    status: ExitStatus,
    log: String,
}

impl Cases {
    fn log_path(&self, name: &str) -> PathBuf {
        self.work.join(format!("{name}.log"))
    }

    /// Runs `program args` with `vars` set, its output in `<name>.log`.
    fn run(
        &self,
        name: &str,
        vars: &[(&str, &str)],
        program: &Path,
        args: &[&str],
    ) -> Outcome<Ran> {
        let child = self.spawn(name, vars, program, args)?;
        let status = child.wait_with_output()?.status;
        let log = std::fs::read_to_string(self.log_path(name))?;
        Ok(Ran { status, log })
    }

    fn spawn(
        &self,
        name: &str,
        vars: &[(&str, &str)],
        program: &Path,
        args: &[&str],
    ) -> Outcome<Child> {
        let log = File::create(self.log_path(name))?;
        let mut command = Command::new(program);
        command
            .args(args)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        for (key, value) in vars {
            command.env(key, value);
        }
        Ok(command.spawn()?)
    }

    /// `cargo test -p e2e-suite [filter]` with the runner image and `vars`.
    fn suite(
        &self,
        name: &str,
        image: &str,
        vars: &[(&str, &str)],
        filter: Option<&str>,
    ) -> Outcome<Ran> {
        let mut all = vec![("ENV_JOB_IMAGE", image)];
        all.extend_from_slice(vars);
        let mut args = vec!["test", "--locked", "-p", "e2e-suite"];
        args.extend(filter);
        self.run(name, &all, Path::new(&cargo()), &args)
    }

    /// The suite must pass.
    fn suite_passes(
        &self,
        name: &str,
        vars: &[(&str, &str)],
        filter: Option<&str>,
    ) -> Outcome<String> {
        let ran = self.suite(name, IMAGE, vars, filter)?;
        if !ran.status.success() {
            return Err(format!("{name}: the suite failed ({}):\n{}", ran.status, ran.log).into());
        }
        Ok(ran.log)
    }

    /// The suite must fail with a line that `says` accepts.
    fn suite_fails(
        &self,
        name: &str,
        image: &str,
        vars: &[(&str, &str)],
        filter: Option<&str>,
        says: impl Fn(&str) -> bool,
        what: &str,
    ) -> Outcome {
        let ran = self.suite(name, image, vars, filter)?;
        if ran.status.success() {
            return Err(format!("{name}: the suite passed; it must fail:\n{}", ran.log).into());
        }
        match ran.log.lines().find(|l| says(l)) {
            Some(line) => {
                println!("  failed as it should: {line}");
                Ok(())
            }
            None => Err(format!("{name}: the failure does not say {what}:\n{}", ran.log).into()),
        }
    }

    fn tmpnetctl(&self, name: &str, args: &[&str]) -> Outcome<Ran> {
        self.run(name, &[], &self.tmpnetctl.clone(), args)
    }

    /// Starts the suite's test binary as a relaunch, in the background,
    /// and waits until the Job's tests run.
    fn start_running(&self, name: &str) -> Outcome<Child> {
        let binary = suite_binary()?;
        let mut child = self.spawn(name, &[("ENV_JOB_IMAGE", IMAGE)], &binary, &[])?;
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            let log = std::fs::read_to_string(self.log_path(name))?;
            if log
                .lines()
                .any(|l| l.starts_with("running ") && l.ends_with(" tests"))
            {
                return Ok(child);
            }
            if let Some(status) = child.try_wait()? {
                return Err(format!(
                    "{name}: the run ended ({status}) before its tests ran:\n{log}"
                )
                .into());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = child.kill();
        diagnose();
        Err(format!(
            "{name}: the runner did not start its tests within 60 s:\n{}",
            std::fs::read_to_string(self.log_path(name))?
        )
        .into())
    }

    /// The names of the objects of tmpnet left in the namespace, and the
    /// volumes left in the cluster.
    async fn leftovers(&self) -> Outcome<Vec<String>> {
        let mut left = Vec::new();
        left.extend(self.managed::<Pod>().await?);
        left.extend(self.managed::<Service>().await?);
        left.extend(self.managed::<Endpoints>().await?);
        left.extend(self.managed::<ConfigMap>().await?);
        left.extend(self.managed::<Secret>().await?);
        left.extend(self.managed::<PersistentVolumeClaim>().await?);
        left.extend(self.managed::<StatefulSet>().await?);
        left.extend(self.managed::<Job>().await?);
        left.extend(self.managed::<Ingress>().await?);
        left.extend(self.managed::<ServiceAccount>().await?);
        left.extend(self.managed::<Role>().await?);
        left.extend(self.managed::<RoleBinding>().await?);
        let volumes: Api<PersistentVolume> = Api::all(self.admin.clone());
        match volumes.list(&ListParams::default()).await {
            Ok(list) => left.extend(
                list.items
                    .into_iter()
                    .map(|v| format!("persistentvolume/{}", v.metadata.name.unwrap_or_default())),
            ),
            // A cluster that serves no volumes (the simulator: 501) has none left.
            Err(kube::Error::Api(e)) if matches!(e.code, 404 | 501) => {}
            Err(e) => return Err(e.into()),
        }
        Ok(left)
    }

    async fn managed<K>(&self) -> Outcome<Vec<String>>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope>
            + Clone
            + serde::de::DeserializeOwned
            + std::fmt::Debug,
        K::DynamicType: Default,
    {
        let api: Api<K> = Api::namespaced(self.admin.clone(), NS);
        match api.list(&ListParams::default().labels(MANAGED)).await {
            Ok(list) => Ok(list
                .items
                .iter()
                .map(|o| {
                    format!(
                        "{}/{}",
                        K::kind(&Default::default()).to_lowercase(),
                        o.meta().name.clone().unwrap_or_default()
                    )
                })
                .collect()),
            // A kind the cluster does not serve (404, or 501 from the simulator)
            // holds nothing.
            Err(kube::Error::Api(e)) if matches!(e.code, 404 | 501) => Ok(Vec::new()),
            Err(e) => Err(e.into()),
        }
    }

    /// The namespace holds no object of tmpnet and the cluster no volume
    /// (dependents go with their owners through garbage collection, which
    /// is eventual: allowed 60 s).
    async fn check_empty(&self) -> Outcome {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let left = self.leftovers().await?;
            if left.is_empty() {
                println!("  namespace {NS} holds nothing of tmpnet, and no volume is left");
                return Ok(());
            }
            if Instant::now() > deadline {
                diagnose();
                return Err(format!("left in the cluster after 60 s: {}", left.join(" ")).into());
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// An object of the namespace as JSON, read as the admin.
    async fn get<K>(&self, name: &str) -> Outcome<Value>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope>
            + Clone
            + serde::de::DeserializeOwned
            + serde::Serialize
            + std::fmt::Debug,
        K::DynamicType: Default,
    {
        let api: Api<K> = Api::namespaced(self.admin.clone(), NS);
        Ok(serde_json::to_value(api.get(name).await?)?)
    }

    /// Fails if `needle` appears in a file of the scratch directory, the
    /// networks' root or the directories to scan.
    fn never_written(&self, needle: &str) -> Outcome {
        let mut dirs = vec![self.work.clone(), PathBuf::from(env("TMPNET_ROOT_DIR")?)];
        dirs.extend(self.secret_scan.iter().cloned());
        for dir in dirs {
            if let Some(file) = containing(&dir, needle.as_bytes())? {
                return Err(format!("the forwarded secret appears in {}", file.display()).into());
            }
        }
        Ok(())
    }
}

fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())
}

/// The first file under `dir` holding `needle`.
fn containing(dir: &Path, needle: &[u8]) -> Outcome<Option<PathBuf>> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(None);
    };
    for entry in entries {
        let entry = entry?;
        let kind = entry.file_type()?;
        let path = entry.path();
        if kind.is_dir() {
            if let Some(found) = containing(&path, needle)? {
                return Ok(Some(found));
            }
        } else if kind.is_file() {
            let Ok(bytes) = std::fs::read(&path) else {
                continue;
            };
            if bytes.windows(needle.len()).any(|w| w == needle) {
                return Ok(Some(path));
            }
        }
    }
    Ok(None)
}

/// The suite's test binary here, the one the runner image holds.
fn suite_binary() -> Outcome<PathBuf> {
    let image_bins =
        tmpnet_fixture::images::context_dir(Path::new("target"), "tmpnet/runner:latest")
            .join("bin");
    let name = std::fs::read_dir(&image_bins)
        .map_err(|e| format!("{}: {e}; build the images first", image_bins.display()))?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .find(|n| n.starts_with("e2e-"))
        .ok_or_else(|| format!("no e2e-* test binary in {}", image_bins.display()))?;
    Ok(Path::new("target/debug/deps").join(name))
}

fn diagnose() {
    if let Ok(command) = std::env::var("RUNNER_E2E_DIAGNOSE") {
        let _ = Command::new("sh").arg("-c").arg(command).status();
    }
}

/// Sends `signal` (e.g. `-INT`) to `child` and waits for it.
fn signal(child: &mut Child, signal: &str) -> Outcome<ExitStatus> {
    let sent = Command::new("kill")
        .arg(signal)
        .arg(child.id().to_string())
        .status()?;
    if !sent.success() {
        return Err(format!("kill {signal} {} failed", child.id()).into());
    }
    Ok(child.wait()?)
}

/// The Job a detached run printed (`runner Job <name> runs ...`).
fn detached_job(log: &str) -> Outcome<String> {
    log.lines()
        .find_map(|l| {
            l.strip_prefix("runner Job ")
                .filter(|r| r.contains(" runs "))
        })
        .and_then(|rest| rest.split_whitespace().next())
        .map(str::to_owned)
        .ok_or_else(|| format!("detached mode printed no Job:\n{log}").into())
}

async fn passing_and_failing(c: &Cases) -> Outcome {
    println!("== the suite inside the cluster: a runner Job from {IMAGE}");
    let log = c.suite_passes("runner", &[], None)?;
    for wanted in ["running the suite in the cluster: Job", "test result: ok"] {
        if !log.contains(wanted) {
            return Err(format!("the run does not say {wanted:?}:\n{log}").into());
        }
    }
    c.check_empty().await?;

    println!("== a test failing in the Job fails the local cargo test");
    c.suite_fails(
        "failing",
        IMAGE,
        &[("TMPNET_RUNNER_ENV", "E2E_MIN"), ("E2E_MIN_NODES", "99")],
        Some("settings::"),
        |l| l.contains("the suite expects at least 99"),
        "why (the suite expects at least 99)",
    )?;
    c.check_empty().await
}

async fn detached_with_a_secret(c: &Cases) -> Outcome {
    println!("== detached, with a forwarded secret");
    let token = format!("tok-{}", uuid_like());
    let log = c.suite_passes(
        "detached",
        &[
            ("DETACH_RUNNER", "true"),
            ("TMPNET_RUNNER_ENV", "E2E_API"),
            ("E2E_API_TOKEN", &token),
        ],
        None,
    )?;
    let job = detached_job(&log)?;
    let list = c.tmpnetctl("list", &["runner", "list"])?;
    let running = list
        .log
        .lines()
        .any(|l| l.starts_with(&format!("{job} ")) && l.ends_with(" running"));
    if !running {
        return Err(format!(
            "the detached run returned after its tests ended, not when they started:\n{}",
            list.log
        )
        .into());
    }
    let spec = c.get::<Job>(&job).await?;
    if spec.to_string().contains(&token) {
        return Err("the forwarded secret is in the Job's spec".into());
    }
    let secret = c.get::<Secret>(&format!("{job}-env")).await?;
    if secret["data"].get("E2E_API_TOKEN").is_none() {
        return Err("the forwarded variable is not in the Job's Secret".into());
    }
    let owners: Vec<&str> = secret["metadata"]["ownerReferences"]
        .as_array()
        .map(|a| a.iter().filter_map(|o| o["name"].as_str()).collect())
        .unwrap_or_default();
    if owners != [job.as_str()] {
        return Err(format!("the Secret is owned by {owners:?}, not the Job {job}").into());
    }
    println!("  the forwarded secret is in a Secret owned by the Job, not in its spec");
    let waited = c.tmpnetctl("wait", &["runner", "wait", &job])?;
    if !waited.status.success() {
        return Err(format!("runner wait {job} failed:\n{}", waited.log).into());
    }
    let logs = c.tmpnetctl("job", &["runner", "logs", &job])?;
    if !logs.log.contains("test result: ok") {
        return Err(format!("the Job's log has no passing result:\n{}", logs.log).into());
    }
    c.never_written(&token)?;
    println!("  the secret appears in no output (local, the runner's log, the cluster's logs, network directories)");
    let deleted = c.tmpnetctl("delete", &["runner", "delete", &job])?;
    if !deleted.status.success() {
        return Err(format!("runner delete {job} failed:\n{}", deleted.log).into());
    }
    c.check_empty().await
}

async fn interrupted_and_killed(c: &Cases) -> Outcome {
    println!(
        "== Ctrl-C during a run deletes the Job and the network (and the runner's own networks)"
    );
    let mut run = c.start_running("interrupted")?;
    let status = signal(&mut run, "-INT")?;
    if status.code() != Some(130) {
        return Err(format!(
            "an interrupted run exited {status}, not 130:\n{}",
            std::fs::read_to_string(c.log_path("interrupted"))?
        )
        .into());
    }
    println!("  interrupted: exit code 130");
    c.check_empty().await?;

    println!("== kill -9 of the local side: the next run deletes the Job and the network");
    let mut run = c.start_running("killed")?;
    signal(&mut run, "-KILL")?;
    let list = c.tmpnetctl("list-killed", &["runner", "list"])?;
    if !list.log.lines().any(|l| l.ends_with(" running")) {
        return Err(format!(
            "the Job of the killed run is not there to be reaped:\n{}",
            list.log
        )
        .into());
    }
    let log = c.suite_passes("after-kill", &[], Some("settings::"))?;
    if !log.contains("stopped nodes left running by an earlier, killed run") {
        return Err(format!("the next run did not reap the killed one:\n{log}").into());
    }
    c.check_empty().await
}

async fn refused(c: &Cases) -> Outcome {
    println!("== an image that does not exist fails fast, naming it");
    let started = Instant::now();
    c.suite_fails(
        "noimage",
        "tmpnet/no-such-image:1",
        &[],
        None,
        |l| l.starts_with("error: runner Job ") && l.contains("tmpnet/no-such-image:1"),
        "the image",
    )?;
    let took = started.elapsed();
    if took > Duration::from_secs(60) {
        return Err(format!("the missing image took {took:?} to be reported").into());
    }
    c.check_empty().await?;

    println!("== a ServiceAccount that does not exist is refused before any Job");
    c.suite_fails(
        "noaccount",
        IMAGE,
        &[("TMPNET_RUNNER_SERVICE_ACCOUNT", "nobody")],
        None,
        |l| l.starts_with("error: ") && l.contains("ServiceAccount \"nobody\" does not exist"),
        "the ServiceAccount",
    )?;
    c.check_empty().await?;

    println!("== a runner killed by its deadline fails with the reason");
    c.suite_fails(
        "deadline",
        IMAGE,
        &[("TMPNET_RUNNER_DEADLINE", "3s")],
        None,
        |l| l.starts_with("error: runner Job ") && l.contains("DeadlineExceeded"),
        "DeadlineExceeded",
    )?;
    c.check_empty().await
}

async fn detached_and_deleted(c: &Cases) -> Outcome {
    println!("== a detached Job deleted mid-run takes its network with it");
    let log = c.suite_passes("detached2", &[("DETACH_RUNNER", "true")], None)?;
    let job = detached_job(&log)?;
    let deleted = c.tmpnetctl("delete2", &["runner", "delete", &job])?;
    if !deleted.status.success() {
        return Err(format!("runner delete {job} failed:\n{}", deleted.log).into());
    }
    c.check_empty().await?;
    let waited = c.tmpnetctl("wait2", &["runner", "wait", &job])?;
    if waited.status.success() {
        return Err("waiting for a deleted Job succeeded".into());
    }
    let lines: Vec<&str> = waited.log.lines().collect();
    if lines.len() != 1 || !lines[0].contains("no such Job") {
        return Err(format!("not one line naming the problem:\n{}", waited.log).into());
    }
    Ok(())
}

/// 24 random hex digits.
fn uuid_like() -> String {
    let mut bytes = [0u8; 12];
    let read =
        File::open("/dev/urandom").and_then(|mut f| std::io::Read::read_exact(&mut f, &mut bytes));
    if read.is_err() {
        // A clock-derived value is unique enough for a needle to search for.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        return format!("{nanos:024x}");
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The repository's root.
fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ is inside the repository")
        .to_owned()
}

/// Its suite, on a primary and two replicas of redis (`examples/redis`,
/// peers by place: every replica told the primary's Service address): the
/// roles and replication as the Job sees them over the redis protocol, the
/// same after a restart of the network; the health command run in the
/// pods; the data file's line, read from the image; the forwarded token;
/// and one test that fails when asked to.
const OWN_SUITE: &str = r#"use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use tmpnet_fixture::{tmpnet_test, TestEnvironment, TestResult};

/// A data file the suite reads where it was written.
const GREETING: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/data/greeting.txt");

/// One redis command; its reply (a status, an error, or a bulk string).
fn ask(host: &str, port: u16, words: &[&str]) -> std::io::Result<String> {
    let mut stream = TcpStream::connect((host, port))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut request = format!("*{}\r\n", words.len());
    for word in words {
        request += &format!("${}\r\n{word}\r\n", word.len());
    }
    stream.write_all(request.as_bytes())?;
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let line = line.trim_end();
    match line.strip_prefix('$').and_then(|n| n.parse::<usize>().ok()) {
        Some(len) => {
            let mut body = vec![0; len];
            reader.read_exact(&mut body)?;
            Ok(String::from_utf8_lossy(&body).into_owned())
        }
        None => Ok(line.to_owned()),
    }
}

/// Node 0 is the primary and every other node its replica, holding what
/// the primary is told.
async fn replicated(env: &TestEnvironment, value: &str) -> TestResult {
    let mut addresses = Vec::new();
    for node in env.nodes() {
        assert!(node.uri().await?.starts_with("redis://"), "{}", node.uri().await?);
        addresses.push(node.address().await?);
    }
    let (host, port) = &addresses[0];
    assert!(ask(host, *port, &["INFO", "replication"])?.contains("role:master"));
    assert_eq!(ask(host, *port, &["SET", "greeting", value])?, "+OK");
    for (host, port) in &addresses[1..] {
        let info = ask(host, *port, &["INFO", "replication"])?;
        assert!(info.contains("role:slave"), "{info}");
        env.wait_until("a replica has the primary's value", Duration::from_secs(30), || async {
            Ok::<_, std::io::Error>(ask(host, *port, &["GET", "greeting"])? == value)
        })
        .await?;
        assert!(ask(host, *port, &["SET", "greeting", "x"])?.starts_with("-READONLY"));
    }
    Ok(())
}

#[tmpnet_test]
async fn a_primary_and_its_replicas_in_pods(env: &TestEnvironment) -> TestResult {
    let greeting = std::fs::read_to_string(GREETING)?;
    replicated(env, greeting.trim()).await?;
    // The health command runs in each node's pod, from here too.
    let statuses = env.network().check_health().await?;
    assert!(statuses.iter().all(|s| s.is_healthy()), "{statuses:?}");
    env.restart_network().await?;
    replicated(env, "after the restart").await?;
    let token = std::env::var("APP_TOKEN").unwrap_or_default();
    assert!(token.starts_with("tok-"), "the forwarded token did not arrive");
    Ok(())
}

#[tmpnet_test]
async fn fails_when_asked(_env: &TestEnvironment) -> TestResult {
    if std::env::var("APP_FAIL").is_ok_and(|v| v == "1") {
        return Err("failing on purpose, as asked".into());
    }
    Ok(())
}

tmpnet_fixture::main!(kind_file = "kinds/redis.toml", nodes = 3);
"#;

/// Its second suite, on a seed and its followers (`examples/seeded`, the
/// reference node from a binary built here): every follower is told of
/// the seed's Service address alone, the same after a restart, and a key
/// written on the last follower reaches every node through the seed.
const OWN_SEEDED: &str = r#"use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use tmpnet_fixture::{tmpnet_test, TestEnvironment, TestResult};

/// One HTTP/1.0 request; the response's body.
fn http(address: &str, method: &str, path: &str, body: &str) -> std::io::Result<String> {
    let mut stream = TcpStream::connect(address)?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(stream, "{method} {path} HTTP/1.0\r\nContent-Length: {}\r\n\r\n{body}", body.len())?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    Ok(response.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default())
}

/// The peers node `id` was last started with.
fn peers_of(env: &TestEnvironment, id: &str) -> Option<String> {
    let path = env.network().dir().join(id).join("flags.json");
    let flags: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()?;
    flags["bootstrap-peers"].as_str().map(str::to_owned)
}

async fn gossiped(env: &TestEnvironment, key: &str) -> TestResult<String> {
    let nodes = env.nodes();
    let seed = nodes[0].id().to_owned();
    assert_eq!(peers_of(env, &seed), None, "the seed is told of no one");
    let told = peers_of(env, nodes[1].id()).unwrap_or_default();
    for node in &nodes[1..] {
        let peers = peers_of(env, node.id()).unwrap_or_default();
        assert!(peers.starts_with(&format!("{seed}@")) && !peers.contains(','), "{peers}");
        assert_eq!(peers, told, "every follower is told the same seed address");
    }
    let (host, port) = nodes.last().unwrap().address().await?;
    http(&format!("{host}:{port}"), "PUT", &format!("/ext/kv/{key}"), key)?;
    for node in &nodes {
        let (host, port) = node.address().await?;
        let address = format!("{host}:{port}");
        env.wait_until("the key reaches every node", Duration::from_secs(30), || async {
            Ok::<_, std::io::Error>(http(&address, "GET", &format!("/ext/kv/{key}"), "")? == key)
        })
        .await?;
    }
    Ok(told)
}

#[tmpnet_test]
async fn a_seed_and_its_followers_in_pods(env: &TestEnvironment) -> TestResult {
    let before = gossiped(env, "first-start").await?;
    env.restart_network().await?;
    let after = gossiped(env, "after-a-restart").await?;
    assert_eq!(before, after, "the seed's address outlives its pod");
    Ok(())
}

tmpnet_fixture::main!(kind_file = "kinds/seeded.toml", nodes = 4);
"#;

/// A crate outside the repository: its images by `tmpnetctl image`, its
/// suite as a Job.
async fn own_crate(c: &Cases, load: &str) -> Outcome {
    println!("== a crate of its own: images by tmpnetctl image, its suite as a Job");
    let dir = c.work.join("own-crate");
    let fixture = repository().join("tmpnet-fixture");
    let manifest = format!(
        r#"[package]
name = "own-redis"
version = "0.0.0"
edition = "2021"
publish = false

[workspace]

[dev-dependencies]
tmpnet-fixture = {{ path = "{}", features = ["kube"] }}
k8s-openapi = {{ version = "0.29", features = ["v1_33"] }}
serde_json = "1"

[[test]]
name = "redis"
path = "tests/redis/main.rs"
harness = false

[[test]]
name = "seeded"
path = "tests/seeded/main.rs"
harness = false

[package.metadata.tmpnet]
image-files = ["data/greeting.txt"]
"#,
        fixture.display()
    );
    let kind = std::fs::read_to_string(repository().join("examples/redis/redis.toml"))?;
    // Its own image name: the repository's refnode image stays as it is.
    let seeded = std::fs::read_to_string(repository().join("examples/seeded/seeded.toml"))?
        .replace(
            "image = \"tmpnet/refnode:latest\"",
            "image = \"own/refnode:e2e\"",
        );
    for (path, text) in [
        ("Cargo.toml", manifest.as_str()),
        ("src/lib.rs", "//! A crate of its own.\n"),
        ("kinds/redis.toml", kind.as_str()),
        ("data/greeting.txt", "hello from a crate of its own\n"),
        ("tests/redis/main.rs", OWN_SUITE),
        ("kinds/seeded.toml", seeded.as_str()),
        ("tests/seeded/main.rs", OWN_SEEDED),
    ] {
        let file = dir.join(path);
        std::fs::create_dir_all(file.parent().expect("a file in a directory"))?;
        std::fs::write(file, text)?;
    }
    let target = repository().join("target/user-crates");
    let target = target.to_str().ok_or("a path that is not UTF-8")?;
    let manifest_path = dir.join("Cargo.toml");
    let manifest_path = manifest_path.to_str().ok_or("a path that is not UTF-8")?;
    let built = |name: &str, args: &[&str]| -> Outcome {
        let ran = c.run(name, &[("CARGO_TARGET_DIR", target)], &c.tmpnetctl, args)?;
        if !ran.status.success() {
            return Err(format!(
                "tmpnetctl {}: failed ({}):\n{}",
                args.join(" "),
                ran.status,
                ran.log
            )
            .into());
        }
        println!("  {}", ran.log.lines().last().unwrap_or_default());
        Ok(())
    };
    built(
        "own-runner-image",
        &[
            "image",
            "suite",
            "--manifest-path",
            manifest_path,
            "--tag",
            "own/runner:e2e",
            "--load",
            load,
        ],
    )?;
    let kind = dir.join("kinds/redis.toml");
    let kind = kind.to_str().ok_or("a path that is not UTF-8")?;
    built(
        "own-node-image",
        &[
            "image",
            "node",
            "--kind-file",
            kind,
            "--deb",
            "redis-server",
            "--load",
            load,
        ],
    )?;
    let seeded_kind = dir.join("kinds/seeded.toml");
    let refnode = repository().join("target/debug/tmpnet-refnode");
    built(
        "own-seeded-image",
        &[
            "image",
            "node",
            "--kind-file",
            seeded_kind.to_str().ok_or("a path that is not UTF-8")?,
            "--binary",
            refnode.to_str().ok_or("a path that is not UTF-8")?,
            "--load",
            load,
        ],
    )?;

    let token = format!("tok-{}", uuid_like());
    let suite = |name: &str, vars: &[(&str, &str)]| -> Outcome<Ran> {
        let mut all = vec![
            ("CARGO_TARGET_DIR", target),
            ("ENV_JOB_IMAGE", "own/runner:e2e"),
            ("TMPNET_RUNNER_ENV", "APP_"),
            ("APP_TOKEN", token.as_str()),
        ];
        all.extend_from_slice(vars);
        c.run(
            name,
            &all,
            Path::new(&cargo()),
            &["test", "--manifest-path", manifest_path],
        )
    };
    // The data file is read in the Job from the image, not from here.
    let moved = dir.join("data/greeting.txt");
    let aside = dir.join("greeting.txt.aside");
    std::fs::rename(&moved, &aside)?;
    let passed = suite("own-suite", &[]);
    std::fs::rename(&aside, &moved)?;
    let passed = passed?;
    let jobs = passed
        .log
        .matches("running the suite in the cluster: Job")
        .count();
    if !passed.status.success() || !passed.log.contains("2 passed") || jobs != 2 {
        return Err(format!(
            "the crate's suite did not pass in the Job ({}):\n{}",
            passed.status, passed.log
        )
        .into());
    }
    if !passed.log.contains("running the suite in the cluster: Job") {
        return Err(format!("the crate's suite did not run as a Job:\n{}", passed.log).into());
    }
    println!("  its suites passed, each in a Job: a primary and replicas by role, replicated before and after a restart, redis-cli run in the pods, the data file read from the image, the token forwarded; a seed and its followers, gossiping through the seed's stable address");
    c.check_empty().await?;

    let failed = suite("own-failing", &[("APP_FAIL", "1")])?;
    if failed.status.success() {
        return Err(format!(
            "a test failing in the Job did not fail the local run:\n{}",
            failed.log
        )
        .into());
    }
    if !failed.log.contains("failing on purpose, as asked") {
        return Err(format!(
            "the local run does not say why the Job's test failed:\n{}",
            failed.log
        )
        .into());
    }
    println!(
        "  a test failing in the Job failed the local cargo test ({})",
        failed.status
    );
    c.never_written(&token)?;
    println!(
        "  the forwarded token appears in no output, no network directory, no log of the cluster"
    );
    c.check_empty().await
}

async fn connect_admin() -> Outcome<Client> {
    let config = kube::Config::from_custom_kubeconfig(
        kube::config::Kubeconfig::read_from(env("ADMIN_KUBECONFIG")?)?,
        &kube::config::KubeConfigOptions::default(),
    )
    .await?;
    Ok(Client::try_from(config)?)
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let run = async {
        let cases = Cases {
            work: PathBuf::from(env("RUNNER_E2E_WORK")?),
            tmpnetctl: PathBuf::from(env("TMPNETCTL")?),
            admin: connect_admin().await?,
            secret_scan: std::env::var("RUNNER_E2E_SECRET_SCAN")
                .unwrap_or_default()
                .split(':')
                .filter(|d| !d.is_empty())
                .map(PathBuf::from)
                .collect(),
        };
        passing_and_failing(&cases).await?;
        detached_with_a_secret(&cases).await?;
        interrupted_and_killed(&cases).await?;
        refused(&cases).await?;
        detached_and_deleted(&cases).await?;
        match std::env::var("RUNNER_E2E_LOAD") {
            Ok(load) if !load.is_empty() => own_crate(&cases, &load).await?,
            _ => println!("== (a crate of its own as a Job: the local cluster's case, scripts/e2e-cluster.sh)"),
        }
        Outcome::Ok(())
    };
    match run.await {
        Ok(()) => {
            println!("runner e2e: passed");
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("runner e2e: FAILED: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
