//! Starting a container: what runs (a mapped image's host executable, or
//! an image's entrypoint in a sandbox), with its arguments and environment
//! rewritten for the pod, and spawning it with its output logged.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::process::Command;

use crate::logs;
use crate::paths::mount_env;
use crate::shared::Shared;
use crate::store::now_rfc3339;

use super::admit::{environment, expand};
use super::probes::probe_delay;
use super::{backoff, str_at, Container, KubeletConfig, PodRun};

/// How long after an unmapped image the reason turns to ImagePullBackOff.
const PULL_BACKOFF_AFTER: Duration = Duration::from_secs(1);

/// Replaces each mount path in `text` by its directory, and the wildcard
/// address by the pod's IP.
fn remap(text: &str, mounts: &[(String, PathBuf)], pod_ip: &str) -> String {
    let mut out = text.replace("0.0.0.0", pod_ip);
    for (mount_path, dir) in mounts {
        if !mount_path.is_empty() && mount_path != "/" {
            out = out.replace(mount_path.as_str(), &dir.display().to_string());
        }
    }
    out
}

/// What one start of a container runs.
struct Launch {
    program: PathBuf,
    argv: Vec<String>,
    env: Vec<(String, String)>,
    /// Runs inside an image's root filesystem (else as a host process in
    /// the pod's directory).
    isolation: Option<crate::sandbox::Sandbox>,
}

/// Starts (or restarts) one container: from its image when the image
/// layout holds it, else the image map's executable; an image in neither
/// leaves it waiting.
pub(super) fn start(
    shared: &Shared,
    config: &KubeletConfig,
    run: &PodRun,
    pod: &Value,
    c: &mut Container,
) {
    let launch = match config.store.as_ref().filter(|s| s.has(&c.image)) {
        Some(store) => match store.get(&c.image) {
            None => {
                c.waiting = Some(("ContainerCreating", "unpacking the image".into()));
                return;
            }
            Some(Err(e)) => {
                c.waiting = Some(("ErrImagePull", e));
                return;
            }
            Some(Ok(image)) => {
                c.image_id = image_id(&c.image, &image.digest);
                match image_launch(shared, run, pod, c, &image) {
                    Ok(launch) => launch,
                    Err(e) => {
                        c.waiting = Some(("CreateContainerError", e));
                        return;
                    }
                }
            }
        },
        None => match config.images.get(&c.image) {
            Some(program) => mapped_launch(shared, run, pod, c, program),
            None => {
                let reason = if run.first_seen.elapsed() < PULL_BACKOFF_AFTER {
                    "ErrImagePull"
                } else {
                    "ImagePullBackOff"
                };
                c.waiting = Some((
                    reason,
                    format!(
                        "image {:?} is neither in the simulator's image layout nor in its image map",
                        c.image
                    ),
                ));
                return;
            }
        },
    };
    spawn(shared, run, c, launch);
}

/// `docker.io/NAME@DIGEST`, as a containerd kubelet reports `imageID`.
fn image_id(image: &str, digest: &str) -> String {
    let name = crate::images::normalize(image);
    let repo = name.rsplit_once(':').map_or(name.as_str(), |(r, _)| r);
    format!("docker.io/{repo}@{digest}")
}

/// The container's volume mounts: (mount path, host directory).
fn mounts_of(run: &PodRun, c: &Container) -> Vec<(String, PathBuf)> {
    c.spec
        .get("volumeMounts")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|m| {
            let dir = run.mounts.get(str_at(m, "/name")?)?;
            Some((str_at(m, "/mountPath")?.to_owned(), dir.clone()))
        })
        .collect()
}

/// A container of a mapped image: a host process; mount paths in its
/// arguments and environment are rewritten to the volumes' directories.
fn mapped_launch(
    shared: &Shared,
    run: &PodRun,
    pod: &Value,
    c: &Container,
    image_program: &Path,
) -> Launch {
    let mounts = mounts_of(run, c);
    let strings = |key: &str| -> Vec<String> {
        c.spec
            .get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str())
            .map(|s| remap(s, &mounts, &run.ip))
            .collect()
    };
    let mut vars: Vec<(String, String)> = Vec::new();
    for (key, value, _) in environment(shared, run, pod, &c.spec) {
        let value = expand(&remap(&value, &mounts, &run.ip), &vars);
        vars.push((key, value));
    }
    let (command, args) = (strings("command"), strings("args"));
    let command: Vec<String> = command.iter().map(|a| expand(a, &vars)).collect();
    let args: Vec<String> = args.iter().map(|a| expand(a, &vars)).collect();
    let (program, mut argv) = match command.split_first() {
        Some((first, rest)) if Path::new(first).is_absolute() && Path::new(first).is_file() => {
            (PathBuf::from(first), rest.to_vec())
        }
        Some((_, rest)) => (image_program.to_owned(), rest.to_vec()),
        None => (image_program.to_owned(), Vec::new()),
    };
    argv.extend(args);
    let mut env = vec![
        (
            "KUBECONFIG".to_owned(),
            run.dir.join("kubeconfig").display().to_string(),
        ),
        ("HOSTNAME".to_owned(), run.name.clone()),
    ];
    for (path, dir) in &mounts {
        let volume = c
            .spec
            .get("volumeMounts")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .find(|m| str_at(m, "/mountPath") == Some(path))
            .and_then(|m| str_at(m, "/name"))
            .unwrap_or_default();
        env.push((mount_env(volume), dir.display().to_string()));
    }
    env.extend(vars);
    Launch {
        program,
        argv,
        env,
        isolation: None,
    }
}

/// A container of an image in the layout: the image's entrypoint, command,
/// environment, working directory and user, as Kubernetes combines them
/// with the container's, run on an overlay of the image's root filesystem
/// with the pod's volumes mounted at their paths.
fn image_launch(
    shared: &Shared,
    run: &PodRun,
    pod: &Value,
    c: &Container,
    image: &crate::images::Image,
) -> Result<Launch, String> {
    let mut vars: Vec<(String, String)> = image.env.clone();
    vars.push(("HOSTNAME".to_owned(), run.name.clone()));
    vars.push((
        "KUBECONFIG".to_owned(),
        crate::sandbox::KUBECONFIG_PATH.to_owned(),
    ));
    // The container's own variables, in order: what `$(VAR)` in its
    // literal values, command and args may name (not the image's).
    let mut own: Vec<(String, String)> = Vec::new();
    for (key, value, literal) in environment(shared, run, pod, &c.spec) {
        let value = if literal {
            expand(&remap(&value, &[], &run.ip), &own)
        } else {
            value
        };
        own.retain(|(k, _)| *k != key);
        own.push((key, value));
    }
    for (key, value) in &own {
        vars.retain(|(k, _)| k != key);
        vars.push((key.clone(), value.clone()));
    }
    let strings = |key: &str| -> Option<Vec<String>> {
        let list = c.spec.get(key)?.as_array()?;
        Some(
            list.iter()
                .filter_map(Value::as_str)
                .map(|s| expand(&remap(s, &[], &run.ip), &own))
                .collect(),
        )
    };
    // Kubernetes: `command` replaces the entrypoint (and drops the image's
    // Cmd), `args` replaces the Cmd.
    let (mut argv, cmd) = match strings("command") {
        Some(command) => (command, Vec::new()),
        None => (image.entrypoint.clone(), image.cmd.clone()),
    };
    argv.extend(strings("args").unwrap_or(cmd));
    let Some(first) = argv.first().cloned() else {
        return Err("the image has no entrypoint or command, and the container gives none".into());
    };
    let path = vars
        .iter()
        .rev()
        .find(|(k, _)| k == "PATH")
        .map_or("/usr/local/bin:/usr/bin:/bin", |(_, v)| v.as_str())
        .to_owned();
    let program = crate::sandbox::resolve(&image.rootfs, &first, &path)
        .ok_or_else(|| format!("{first:?} is not an executable in the image (PATH={path})"))?;
    let working_dir = str_at(&c.spec, "/workingDir")
        .unwrap_or(&image.working_dir)
        .to_owned();
    let context = |key: &str| {
        c.spec
            .pointer(&format!("/securityContext/{key}"))
            .or_else(|| pod.pointer(&format!("/spec/securityContext/{key}")))
            .and_then(Value::as_u64)
            .and_then(|n| u32::try_from(n).ok())
    };
    let (uid, gid) = crate::sandbox::user(&image.rootfs, &image.user)?;
    let uid = context("runAsUser").unwrap_or(uid);
    let gid = context("runAsGroup").unwrap_or(gid);
    let non_root = c
        .spec
        .pointer("/securityContext/runAsNonRoot")
        .or_else(|| pod.pointer("/spec/securityContext/runAsNonRoot"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    if non_root && uid == 0 {
        return Err("container has runAsNonRoot and image will run as root".into());
    }
    if non_root
        && context("runAsUser").is_none()
        && image
            .user
            .split(':')
            .next()
            .is_some_and(|u| u.parse::<u32>().is_err())
    {
        return Err(format!("container has runAsNonRoot and image has non-numeric user ({}), cannot verify user is non-root", image.user));
    }
    let mut binds: Vec<(PathBuf, String)> = mounts_of(run, c)
        .into_iter()
        .map(|(path, dir)| (dir, path))
        .collect();
    binds.push((
        run.dir.join("kubeconfig"),
        crate::sandbox::KUBECONFIG_PATH.to_owned(),
    ));
    let sandbox = crate::sandbox::Sandbox {
        lower: image.rootfs.clone(),
        dir: run.dir.join("containers").join(&c.name),
        binds,
        working_dir,
        uid,
        gid,
    };
    Ok(Launch {
        program: PathBuf::from(program),
        argv: argv[1..].to_vec(),
        env: vars,
        isolation: Some(sandbox),
    })
}

/// Spawns a container's process in its own process group, its output
/// timestamped line by line into the container's log.
fn spawn(shared: &Shared, run: &PodRun, c: &mut Container, launch: Launch) {
    use std::os::unix::process::CommandExt as _;
    let mut cmd = Command::new(&launch.program);
    cmd.args(&launch.argv)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env_clear()
        .kill_on_drop(true);
    if launch.isolation.is_none() {
        // A host process sees the simulator's environment (its PATH, ...).
        cmd.envs(std::env::vars_os()).current_dir(&run.dir);
    }
    for (key, value) in &launch.env {
        cmd.env(key, value);
    }
    cmd.as_std_mut().process_group(0);
    if let Some(sandbox) = &launch.isolation {
        if let Err(e) = sandbox.prepare(cmd.as_std_mut()) {
            c.waiting = Some(("CreateContainerError", e));
            return;
        }
    }
    match cmd.spawn() {
        Ok(mut child) => {
            c.log_writers = logs::capture(&c.log, child.stdout.take(), child.stderr.take());
            c.pid = child.id();
            c.group = child.id();
            if let Some(pid) = c.pid {
                shared
                    .groups
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(pid);
            }
            c.child = Some(child);
            c.started_at = Some(now_rfc3339());
            c.waiting = None;
            c.start_error = None;
            c.restart_at = None;
            c.ready = false;
            c.liveness_failures = 0;
            c.next_probe = Instant::now() + probe_delay(&c.spec, "readinessProbe");
            c.next_liveness = Instant::now() + probe_delay(&c.spec, "livenessProbe");
        }
        Err(e) => {
            tracing::warn!(program = %launch.program.display(), error = %e, "cannot start a container");
            c.waiting = None;
            c.start_error = Some(format!("cannot start {}: {e}", launch.program.display()));
            c.terminated = Some((128, "StartError", now_rfc3339()));
            c.restart_at = Some(Instant::now() + backoff(c.restarts));
        }
    }
}
