//! The image builder (docker or buildah), the base image, and where a
//! built image is loaded.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::str::FromStr;

use super::command::{self, need, run, succeeds, text};
use super::BASE_IMAGE;
use crate::error::{Error, Result};

/// What builds the images.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tool {
    /// `docker build`, with a daemon answering.
    Docker,
    /// `buildah bud`: no daemon, chroot isolation.
    Buildah,
}

impl FromStr for Tool {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "docker" => Ok(Tool::Docker),
            "buildah" => Ok(Tool::Buildah),
            _ => Err(format!("unknown tool {s:?}; use docker or buildah")),
        }
    }
}

impl std::fmt::Display for Tool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Tool::Docker => "docker",
            Tool::Buildah => "buildah",
        })
    }
}

/// Where a built image goes besides the builder's own storage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Load {
    /// Every node's containerd of the local cluster
    /// (`scripts/cluster-up.sh`): `$TMPNET_CLUSTER_RUN/node-*/containerd/containerd.sock`,
    /// by default under `/run/tmpnet-cluster`.
    LocalCluster,
    /// A kind cluster of this name (`kind load`).
    Kind(String),
    /// An OCI image layout directory (the simulator's `--image-dir`).
    OciLayout(PathBuf),
}

impl FromStr for Load {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s.split_once('=') {
            None if s == "local-cluster" => Ok(Load::LocalCluster),
            None if s == "kind" => Ok(Load::Kind("kind".to_owned())),
            Some(("kind", name)) if !name.is_empty() => Ok(Load::Kind(name.to_owned())),
            Some(("oci", dir)) if !dir.is_empty() => Ok(Load::OciLayout(PathBuf::from(dir))),
            _ => Err(format!(
                "unknown place {s:?}; use local-cluster, kind, kind=NAME or oci=DIR"
            )),
        }
    }
}

impl std::fmt::Display for Load {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Load::LocalCluster => f.write_str("the local cluster"),
            Load::Kind(name) => write!(f, "kind cluster {name}"),
            Load::OciLayout(dir) => write!(f, "the OCI layout {}", dir.display()),
        }
    }
}

/// The local cluster's runtime directory.
fn local_cluster_run() -> PathBuf {
    std::env::var_os("TMPNET_CLUSTER_RUN")
        .filter(|v| !v.is_empty())
        .map_or_else(|| PathBuf::from("/run/tmpnet-cluster"), PathBuf::from)
}

/// The containerd sockets of the local cluster's nodes (`node-N/containerd/containerd.sock`
/// under `run`), in node order.
fn local_cluster_sockets(run: &Path) -> Vec<PathBuf> {
    let mut sockets: Vec<(u32, PathBuf)> = std::fs::read_dir(run)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name();
            let n = name.to_str()?.strip_prefix("node-")?.parse().ok()?;
            let socket = entry.path().join("containerd/containerd.sock");
            socket.exists().then_some((n, socket))
        })
        .collect();
    sockets.sort();
    sockets.into_iter().map(|(_, s)| s).collect()
}

/// The name a kubelet looks `tag` up by: a short name is Docker Hub's
/// (`tmpnet/runner` is `docker.io/tmpnet/runner:latest`), and a name
/// without a tag or digest is `:latest`.
fn full_name(tag: &str) -> String {
    let first = tag.split('/').next().unwrap_or_default();
    let has_registry =
        tag.contains('/') && (first.contains('.') || first.contains(':') || first == "localhost");
    let named = if has_registry {
        tag.to_owned()
    } else if tag.contains('/') {
        format!("docker.io/{tag}")
    } else {
        format!("docker.io/library/{tag}")
    };
    let last = named.rsplit('/').next().unwrap_or_default();
    if last.contains(':') || last.contains('@') {
        named
    } else {
        format!("{named}:latest")
    }
}

impl Tool {
    /// `forced`, checked, or docker when its daemon answers, else buildah.
    pub fn choose(forced: Option<Tool>) -> Result<Tool> {
        let docker_answers =
            || command::exists("docker") && succeeds(Command::new("docker").arg("info"));
        match forced {
            Some(Tool::Docker) if docker_answers() => Ok(Tool::Docker),
            Some(Tool::Docker) => Err(Error::Environment(
                "docker does not answer (no docker program, or no daemon); start its daemon or use --tool buildah".to_owned(),
            )),
            Some(Tool::Buildah) => need("buildah", "buildah").map(|()| Tool::Buildah),
            None if docker_answers() => Ok(Tool::Docker),
            None if command::exists("buildah") => Ok(Tool::Buildah),
            None => Err(Error::Environment(
                "no docker daemon answers and buildah is missing; install buildah (`apt-get install buildah`) or start docker".to_owned(),
            )),
        }
    }

    /// Makes sure [`BASE_IMAGE`] is there. Docker pulls it itself; buildah
    /// without it and without a registry makes it from Debian's packages.
    pub fn ensure_base(self, progress: &dyn Fn(&str)) -> Result<()> {
        if self == Tool::Docker || self.has_image(BASE_IMAGE) {
            return Ok(());
        }
        if succeeds(Command::new("buildah").args(["pull", "--quiet", BASE_IMAGE])) {
            return Ok(());
        }
        progress(&format!(
            "{BASE_IMAGE} cannot be pulled: making it from Debian's packages (debootstrap)"
        ));
        need("debootstrap", "debootstrap")?;
        let rootfs = tempfile::tempdir().map_err(|e| Error::io("cannot make", "a directory", e))?;
        let mirror = debian_mirror().unwrap_or_else(|| "http://deb.debian.org/debian".to_owned());
        run(
            Command::new("debootstrap")
                .args(["--variant=minbase", "bookworm"])
                .arg(rootfs.path())
                .arg(&mirror),
            "making the base image's root",
        )?;
        for cache in ["var/cache/apt/archives", "var/lib/apt/lists"] {
            let dir = rootfs.path().join(cache);
            for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                if entry.path().is_file() {
                    let _ = std::fs::remove_file(entry.path());
                }
            }
        }
        let container = text(
            Command::new("buildah").args(["from", "scratch"]),
            "starting the base image",
        )?;
        let made = (|| {
            let mount = text(
                Command::new("buildah").args(["mount", &container]),
                "mounting the base image",
            )?;
            run(
                Command::new("cp")
                    .arg("-a")
                    .arg(rootfs.path().join("."))
                    .arg(&mount),
                "filling the base image",
            )?;
            run(
                Command::new("buildah").args(["umount", &container]),
                "unmounting the base image",
            )?;
            run(
                Command::new("buildah").args([
                    "config",
                    "--cmd",
                    "/bin/bash",
                    "--env",
                    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                    &container,
                ]),
                "configuring the base image",
            )?;
            run(
                Command::new("buildah").args([
                    "commit",
                    "--quiet",
                    &container,
                    &full_name(BASE_IMAGE),
                ]),
                "committing the base image",
            )
        })();
        let _ = succeeds(Command::new("buildah").args(["rm", &container]));
        made.map(drop)
    }

    /// Whether the builder's storage has `image`.
    pub fn has_image(self, image: &str) -> bool {
        match self {
            Tool::Docker => succeeds(Command::new("docker").args(["image", "inspect", image])),
            Tool::Buildah => {
                succeeds(Command::new("buildah").args(["inspect", "--type", "image", image]))
            }
        }
    }

    /// Builds the `Dockerfile` of `context` as `tag`; returns its id.
    pub fn build(self, context: &Path, tag: &str) -> Result<String> {
        let doing = format!("building {tag}");
        match self {
            Tool::Docker => {
                run(
                    Command::new("docker")
                        .args(["build", "--quiet", "--force-rm", "-t", tag])
                        .arg(context),
                    &doing,
                )?;
                text(
                    Command::new("docker").args(["image", "inspect", "--format", "{{.Id}}", tag]),
                    &doing,
                )
            }
            Tool::Buildah => {
                run(
                    Command::new("buildah")
                        .args([
                            "bud",
                            "--quiet",
                            "--force-rm",
                            "--layers",
                            "--pull=never",
                            "--isolation",
                            "chroot",
                            "-t",
                            tag,
                        ])
                        .arg(context),
                    &doing,
                )?;
                text(
                    Command::new("buildah").args([
                        "inspect",
                        "--type",
                        "image",
                        "--format",
                        "{{.FromImageID}}",
                        tag,
                    ]),
                    &doing,
                )
            }
        }
    }

    /// Fails, before anything is built, when `place` cannot take an image
    /// of this tool here.
    pub fn check_load(self, place: &Load) -> Result<()> {
        match place {
            Load::OciLayout(_) if self == Tool::Docker => Err(Error::Environment(
                "an OCI layout is written with buildah; use --tool buildah".to_owned(),
            )),
            Load::OciLayout(_) => Ok(()),
            Load::LocalCluster => {
                let run = local_cluster_run();
                if local_cluster_sockets(&run).is_empty() {
                    return Err(Error::Environment(format!(
                        "no local cluster runs (no {}/node-*/containerd/containerd.sock); start one with scripts/cluster-up.sh",
                        run.display()
                    )));
                }
                need("ctr", "containerd")
            }
            Load::Kind(_) => need("kind", "kind (https://kind.sigs.k8s.io)"),
        }
    }

    /// Loads `tag` into `place` (checked first, see [`Tool::check_load`]).
    pub fn load(self, tag: &str, place: &Load) -> Result<()> {
        self.check_load(place)?;
        let doing = format!("loading {tag} into {place}");
        let scratch =
            tempfile::tempdir().map_err(|e| Error::io("cannot make", "a directory", e))?;
        let archive = scratch.path().join("image.tar");
        let name = full_name(tag);
        match place {
            Load::OciLayout(dir) => {
                crate::sys::files::create_dir_all(dir)?;
                run(
                    Command::new("buildah")
                        .args(["push", "--quiet", "--disable-compression", tag])
                        .arg(format!("oci:{}:{tag}", dir.display())),
                    &doing,
                )?;
            }
            Load::LocalCluster => {
                self.save(tag, &name, &archive, "oci-archive", &doing)?;
                // Every node has a containerd of its own.
                for socket in local_cluster_sockets(&local_cluster_run()) {
                    run(
                        Command::new("ctr")
                            .arg("-a")
                            .arg(&socket)
                            .args(["-n", "k8s.io", "images", "import"])
                            .arg(&archive),
                        &doing,
                    )?;
                }
            }
            Load::Kind(cluster) => {
                if self == Tool::Docker {
                    run(
                        Command::new("kind").args(["load", "docker-image", tag, "--name", cluster]),
                        &doing,
                    )?;
                } else {
                    self.save(tag, &name, &archive, "docker-archive", &doing)?;
                    run(
                        Command::new("kind")
                            .args(["load", "image-archive"])
                            .arg(&archive)
                            .args(["--name", cluster]),
                        &doing,
                    )?;
                }
            }
        }
        Ok(())
    }

    /// Writes `tag` to `archive` as `format` (buildah's transport name),
    /// named `name` inside.
    fn save(self, tag: &str, name: &str, archive: &Path, format: &str, doing: &str) -> Result<()> {
        match self {
            Tool::Docker => run(
                Command::new("docker")
                    .args(["save", "-o"])
                    .arg(archive)
                    .arg(tag),
                doing,
            ),
            Tool::Buildah => run(
                Command::new("buildah")
                    .args(["push", "--quiet", tag])
                    .arg(format!("{format}:{}:{name}", archive.display())),
                doing,
            ),
        }
        .map(drop)
    }
}

/// The Debian mirror this machine's apt uses, if it names one.
fn debian_mirror() -> Option<String> {
    let text = std::fs::read_to_string("/etc/apt/sources.list.d/debian.sources").ok()?;
    text.lines()
        .filter_map(|l| l.strip_prefix("URIs:"))
        .map(|u| u.trim().trim_end_matches('/').to_owned())
        .find(|u| u.starts_with("http") && u.ends_with("debian"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_and_names_read_as_a_runtime_reads_them() {
        assert_eq!("local-cluster".parse(), Ok(Load::LocalCluster));
        assert_eq!("kind".parse(), Ok(Load::Kind("kind".into())));
        assert_eq!("kind=e2e".parse(), Ok(Load::Kind("e2e".into())));
        assert_eq!("oci=/x/oci".parse(), Ok(Load::OciLayout("/x/oci".into())));
        for bad in ["kind=", "oci=", "registry", "local"] {
            let err = bad.parse::<Load>().unwrap_err();
            assert!(
                err.contains("use local-cluster, kind, kind=NAME or oci=DIR"),
                "{err}"
            );
        }
        assert_eq!(
            full_name("tmpnet/runner:latest"),
            "docker.io/tmpnet/runner:latest"
        );
        assert_eq!(full_name("redis:7"), "docker.io/library/redis:7");
        assert_eq!(full_name("localhost/me/d:1"), "localhost/me/d:1");
        assert_eq!(full_name("me/daemon"), "docker.io/me/daemon:latest");
        assert_eq!(
            full_name("reg.example:5000/me/d"),
            "reg.example:5000/me/d:latest"
        );
        assert_eq!(full_name("me/d@sha256:ab"), "docker.io/me/d@sha256:ab");
        assert_eq!(
            full_name("reg.example:5000/me/d:1"),
            "reg.example:5000/me/d:1"
        );
        assert_eq!("buildah".parse(), Ok(Tool::Buildah));
        // Refused before any build.
        let err = Tool::Docker
            .check_load(&Load::OciLayout("/x/oci".into()))
            .unwrap_err();
        assert!(err.to_string().contains("use --tool buildah"), "{err}");
        assert!(Tool::Buildah
            .check_load(&Load::OciLayout("/x/oci".into()))
            .is_ok());
        assert!("podman".parse::<Tool>().is_err());
    }

    #[test]
    fn every_node_s_containerd_of_the_local_cluster_in_node_order() {
        let run = tempfile::tempdir().unwrap();
        for dir in ["node-10", "node-2", "node-1", "node-3", "logs"] {
            std::fs::create_dir_all(run.path().join(dir).join("containerd")).unwrap();
        }
        // node-3's containerd has not made its socket yet.
        for dir in ["node-10", "node-2", "node-1", "logs"] {
            std::fs::write(run.path().join(dir).join("containerd/containerd.sock"), "").unwrap();
        }
        let found: Vec<_> = local_cluster_sockets(run.path())
            .into_iter()
            .map(|s| s.strip_prefix(run.path()).unwrap().display().to_string())
            .collect();
        assert_eq!(
            found,
            [
                "node-1/containerd/containerd.sock",
                "node-2/containerd/containerd.sock",
                "node-10/containerd/containerd.sock"
            ]
        );
        assert!(local_cluster_sockets(&run.path().join("absent")).is_empty());
    }
}
