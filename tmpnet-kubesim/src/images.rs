//! Container images from an OCI image layout: the directory
//! `buildah push IMAGE oci:DIR:IMAGE` writes (`index.json`, `blobs/`).
//!
//! An image is found by the name in its `org.opencontainers.image.ref.name`
//! annotation (compared without a `docker.io/`, `library/` or `localhost/`
//! prefix, and with `:latest` when no tag is given). The first container of
//! an image unpacks its layers, in order and with their whiteouts, into a
//! root filesystem under the simulator's state directory (GNU `tar` reads
//! the layers); containers then run on an overlay of it (see the kubelet).
//! The simulator trusts the images it is given (those built here): `tar`
//! extracts each layer as root, following links earlier layers made.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

use serde_json::Value;

/// What a container of an image runs, and where its files are.
#[derive(Debug, Clone)]
pub struct Image {
    /// `sha256:…` of the image manifest: the image's digest.
    pub digest: String,
    /// The unpacked root filesystem (read-only lower layer of containers).
    pub rootfs: PathBuf,
    /// The image's `Entrypoint`.
    pub entrypoint: Vec<String>,
    /// The image's `Cmd`.
    pub cmd: Vec<String>,
    /// The image's `Env`, in order.
    pub env: Vec<(String, String)>,
    /// The image's `WorkingDir` (`/` when empty).
    pub working_dir: String,
    /// The image's `User` (`uid[:gid]` or a name; empty for root).
    pub user: String,
}

/// An unpack: under way, done, or failed (with why).
type Slot = Arc<Mutex<Option<Result<Image, String>>>>;

/// The images of one OCI layout.
#[derive(Debug)]
pub struct ImageStore {
    layout: PathBuf,
    unpack_root: PathBuf,
    /// Normalized name to manifest digest.
    names: HashMap<String, String>,
    unpacked: Mutex<HashMap<String, Slot>>,
}

/// A name as the store compares it: no default registry, `:latest` added.
pub fn normalize(name: &str) -> String {
    let mut n = name;
    for prefix in ["docker.io/", "localhost/", "library/"] {
        n = n.strip_prefix(prefix).unwrap_or(n);
    }
    let last = n.rsplit('/').next().unwrap_or(n);
    if last.contains(':') || last.contains('@') {
        n.to_owned()
    } else {
        format!("{n}:latest")
    }
}

fn blob(layout: &Path, digest: &str) -> PathBuf {
    let (algorithm, hex) = digest.split_once(':').unwrap_or(("sha256", digest));
    layout.join("blobs").join(algorithm).join(hex)
}

fn read_json(path: &Path) -> Result<Value, String> {
    let text = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    serde_json::from_slice(&text).map_err(|e| format!("{} is not JSON: {e}", path.display()))
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|s| s.as_str().map(str::to_owned))
        .collect()
}

impl ImageStore {
    /// Reads the layout's index; containers are unpacked under `unpack_root`.
    pub fn open(layout: &Path, unpack_root: &Path) -> Result<ImageStore, String> {
        let index = read_json(&layout.join("index.json")).map_err(|e| {
            format!(
                "{e}; is {} an OCI image layout (scripts/build-images.sh writes one)?",
                layout.display()
            )
        })?;
        let mut names = HashMap::new();
        for manifest in index
            .get("manifests")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let (Some(name), Some(digest)) = (
                manifest
                    .pointer("/annotations/org.opencontainers.image.ref.name")
                    .and_then(Value::as_str),
                manifest.get("digest").and_then(Value::as_str),
            ) else {
                continue;
            };
            names.insert(normalize(name), digest.to_owned());
        }
        Ok(ImageStore {
            layout: layout.to_owned(),
            unpack_root: unpack_root.to_owned(),
            names,
            unpacked: Mutex::new(HashMap::new()),
        })
    }

    /// Whether the layout holds `name`.
    pub fn has(&self, name: &str) -> bool {
        self.names.contains_key(&normalize(name))
    }

    /// The image `name`, once unpacked: `None` while its unpack runs (the
    /// first call starts it, off the async threads), an error if it failed.
    pub fn get(&self, name: &str) -> Option<Result<Image, String>> {
        let digest = self.names.get(&normalize(name))?.clone();
        let slot = {
            let mut unpacked = self.unpacked.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(slot) = unpacked.get(&digest) {
                return slot.lock().unwrap_or_else(|p| p.into_inner()).clone();
            }
            let slot: Slot = Arc::default();
            unpacked.insert(digest.clone(), slot.clone());
            slot
        };
        let (layout, root) = (self.layout.clone(), self.unpack_root.clone());
        tokio::task::spawn_blocking(move || {
            let result = unpack(&layout, &root, &digest);
            if let Err(e) = &result {
                tracing::warn!(image = %digest, error = %e, "cannot unpack an image");
            }
            *slot.lock().unwrap_or_else(|p| p.into_inner()) = Some(result);
        });
        None
    }
}

/// Unpacks the image whose manifest is `digest` into `root/<hex>/rootfs`.
fn unpack(layout: &Path, root: &Path, digest: &str) -> Result<Image, String> {
    let manifest = read_json(&blob(layout, digest))?;
    let config_digest = manifest
        .pointer("/config/digest")
        .and_then(Value::as_str)
        .ok_or_else(|| format!("manifest {digest} names no config"))?;
    let config = read_json(&blob(layout, config_digest))?;
    let hex = digest.rsplit(':').next().unwrap_or(digest);
    let rootfs = root.join(hex).join("rootfs");
    if rootfs.exists() {
        std::fs::remove_dir_all(&rootfs)
            .map_err(|e| format!("cannot clear {}: {e}", rootfs.display()))?;
    }
    std::fs::create_dir_all(&rootfs)
        .map_err(|e| format!("cannot create {}: {e}", rootfs.display()))?;
    for layer in manifest
        .get("layers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let layer_digest = layer
            .get("digest")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("a layer of {digest} has no digest"))?;
        let media = layer.get("mediaType").and_then(Value::as_str).unwrap_or("");
        let gzip = media.ends_with("+gzip") || media.ends_with(".gzip");
        apply_layer(&blob(layout, layer_digest), gzip, &rootfs)?;
    }
    let c = config.get("config").cloned().unwrap_or(Value::Null);
    Ok(Image {
        digest: digest.to_owned(),
        rootfs,
        entrypoint: strings(c.get("Entrypoint")),
        cmd: strings(c.get("Cmd")),
        env: strings(c.get("Env"))
            .into_iter()
            .map(|kv| match kv.split_once('=') {
                Some((k, v)) => (k.to_owned(), v.to_owned()),
                None => (kv, String::new()),
            })
            .collect(),
        working_dir: c
            .get("WorkingDir")
            .and_then(Value::as_str)
            .filter(|w| !w.is_empty())
            .unwrap_or("/")
            .to_owned(),
        user: c
            .get("User")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned(),
    })
}

/// Applies one layer: its whiteouts remove what lower layers put there
/// (`.wh.NAME` one entry, `.wh..wh..opq` a directory's whole content), then
/// its files are extracted with their owners and modes.
fn apply_layer(layer: &Path, gzip: bool, rootfs: &Path) -> Result<(), String> {
    let z = if gzip { "z" } else { "" };
    let listing = Command::new("tar")
        .arg(format!("-t{z}f"))
        .arg(layer)
        .output()
        .map_err(|e| format!("cannot run tar (GNU tar is needed): {e}"))?;
    if !listing.status.success() {
        return Err(format!(
            "tar cannot read layer {}: {}",
            layer.display(),
            String::from_utf8_lossy(&listing.stderr).trim()
        ));
    }
    for entry in String::from_utf8_lossy(&listing.stdout).lines() {
        let path = Path::new(entry.trim_start_matches("./"));
        let Some(file) = path.file_name().and_then(|f| f.to_str()) else {
            continue;
        };
        // Resolved inside the root: a link a lower layer left must not
        // lead a whiteout out of it.
        let Ok(inside) = crate::sandbox::resolve_in(
            rootfs,
            &path.parent().unwrap_or(Path::new("")).to_string_lossy(),
        ) else {
            continue;
        };
        let parent = rootfs.join(inside.trim_start_matches('/'));
        if file == ".wh..wh..opq" {
            for child in std::fs::read_dir(&parent).into_iter().flatten().flatten() {
                remove(&child.path());
            }
        } else if let Some(name) = file.strip_prefix(".wh.") {
            remove(&parent.join(name));
        }
    }
    let status = Command::new("tar")
        .arg(format!("-x{z}f"))
        .arg(layer)
        .arg("-C")
        .arg(rootfs)
        .args(["--numeric-owner", "--same-owner", "--same-permissions"])
        .args(["--exclude=.wh.*", "--exclude=*/.wh.*"])
        .status()
        .map_err(|e| format!("cannot run tar: {e}"))?;
    if !status.success() {
        return Err(format!("tar cannot extract layer {}", layer.display()));
    }
    Ok(())
}

fn remove(path: &Path) {
    let _ = if path.is_dir() && !path.is_symlink() {
        std::fs::remove_dir_all(path)
    } else {
        std::fs::remove_file(path)
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_compare_without_the_default_registry() {
        assert_eq!(normalize("tmpnet/runner"), "tmpnet/runner:latest");
        assert_eq!(
            normalize("docker.io/tmpnet/runner:latest"),
            "tmpnet/runner:latest"
        );
        assert_eq!(normalize("localhost/tmpnet/runner:v1"), "tmpnet/runner:v1");
        assert_eq!(
            normalize("docker.io/library/debian:bookworm-slim"),
            "debian:bookworm-slim"
        );
        assert_eq!(normalize("registry:5000/x"), "registry:5000/x:latest");
    }

    fn layer(dir: &Path, name: &str, files: &[&str]) -> PathBuf {
        let src = dir.join(format!("{name}-src"));
        for f in files {
            let path = src.join(f);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, f.as_bytes()).unwrap();
        }
        let tar = dir.join(format!("{name}.tar"));
        let ok = Command::new("tar")
            .arg("-cf")
            .arg(&tar)
            .arg("-C")
            .arg(&src)
            .arg(".")
            .status()
            .unwrap()
            .success();
        assert!(ok);
        tar
    }

    #[test]
    fn layers_apply_in_order_with_their_whiteouts() {
        let dir = tempfile::tempdir().unwrap();
        let rootfs = dir.path().join("rootfs");
        std::fs::create_dir(&rootfs).unwrap();
        let lower = layer(
            dir.path(),
            "one",
            &["etc/a", "etc/b", "opaque/x", "opaque/y"],
        );
        let upper = layer(
            dir.path(),
            "two",
            &["etc/.wh.a", "opaque/.wh..wh..opq", "opaque/z", "etc/c"],
        );
        apply_layer(&lower, false, &rootfs).unwrap();
        apply_layer(&upper, false, &rootfs).unwrap();
        let list = |d: &str| {
            let mut names: Vec<String> = std::fs::read_dir(rootfs.join(d))
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            names
        };
        assert_eq!(list("etc"), ["b", "c"], "a is whited out, c added");
        assert_eq!(
            list("opaque"),
            ["z"],
            "an opaque directory hides the lower layer's files"
        );
    }
}
