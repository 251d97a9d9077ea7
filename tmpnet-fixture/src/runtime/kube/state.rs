//! The network's state on the cluster: the network directory's files in the
//! state ConfigMap (and the kind's secret files in a Secret), so any process
//! that can read the namespace, inside the cluster or out, can attach to the
//! network by name.
//!
//! Keys are the files' paths relative to the network directory with `/`
//! written as `_` (ConfigMap keys cannot hold `/`): `config.json`,
//! `<node id>_config.json`, `<node id>_flags.json`,
//! `ephemeral_<node id>_config.json`, ...

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::kinds::file::KIND_FILE;
use crate::model::network::{CONFIG_FILE, ENV_FILE, EPHEMERAL_DIR};
use crate::model::{layout, node};
use crate::sys::files;

/// The files a network's state holds: non-secret ones (ConfigMap) and the
/// kind's secret ones (Secret).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct StateFiles {
    /// ConfigMap data, by key.
    pub plain: BTreeMap<String, String>,
    /// Secret data, by key.
    pub secret: BTreeMap<String, Vec<u8>>,
}

/// The key a relative path is stored under.
pub fn key_of(relative: &Path) -> Result<String> {
    let parts: Vec<&str> = relative.iter().filter_map(|p| p.to_str()).collect();
    if parts.iter().any(|p| p.contains('_') || p.is_empty()) || parts.is_empty() {
        return Err(Error::InvalidInput(format!(
            "{} cannot be kept in the network's ConfigMap (its path has a '_'); rename it",
            relative.display()
        )));
    }
    Ok(parts.join("_"))
}

/// The relative path a key stands for.
pub fn path_of(key: &str) -> Result<PathBuf> {
    let path: PathBuf = key.split('_').collect();
    if key.is_empty()
        || key
            .split('_')
            .any(|p| p.is_empty() || p == "." || p == "..")
    {
        return Err(Error::Kube {
            action: "read the network's ConfigMap".into(),
            reason: format!(
                "it has a key {key:?} that is not a file path; it was not written by tmpnet"
            ),
        });
    }
    Ok(path)
}

fn read(dir: &Path, relative: &Path) -> Result<Vec<u8>> {
    let path = dir.join(relative);
    std::fs::read(&path).map_err(|e| Error::io("cannot read", &path, e))
}

/// Adds each node's config and flags under `prefix` to `plain`, and the
/// secret files its config names (its keys) to `secret`.
fn node_files(
    dir: &Path,
    prefix: &Path,
    plain: &mut Vec<PathBuf>,
    secret: &mut Vec<PathBuf>,
) -> Result<()> {
    let base = dir.join(prefix);
    let entries = match std::fs::read_dir(&base) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io("cannot read", &base, e)),
    };
    let mut names: Vec<_> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.file_name())
        .collect();
    names.sort();
    for name in names {
        let node_dir = prefix.join(&name);
        if !dir.join(&node_dir).join(node::CONFIG_FILE).is_file() {
            continue;
        }
        plain.push(node_dir.join(node::CONFIG_FILE));
        if dir.join(&node_dir).join(node::FLAGS_FILE).is_file() {
            plain.push(node_dir.join(node::FLAGS_FILE));
        }
        let node = node::Node::load(&dir.join(&node_dir))?;
        secret.extend(node.config.secret_files.iter().map(|f| node_dir.join(f)));
    }
    Ok(())
}

/// Reads the state of the network in `dir`: its `config.json`, its kind
/// file if it has one, each node's config and flags (the plain part), the
/// kind's network files named in `secret_files` and each node's own secret
/// files (the secret part). Nothing else: run records such as the harness's
/// owner record belong to the machine that wrote them.
pub fn collect(dir: &Path, secret_files: &[String]) -> Result<StateFiles> {
    let mut plain = vec![PathBuf::from(CONFIG_FILE)];
    // A kind described by a file travels with its network.
    if dir.join(KIND_FILE).is_file() {
        plain.push(PathBuf::from(KIND_FILE));
    }
    let mut secret: Vec<PathBuf> = secret_files
        .iter()
        .map(PathBuf::from)
        .filter(|p| dir.join(p).is_file())
        .collect();
    node_files(dir, Path::new(""), &mut plain, &mut secret)?;
    node_files(dir, Path::new(EPHEMERAL_DIR), &mut plain, &mut secret)?;
    let mut state = StateFiles::default();
    for relative in secret {
        state
            .secret
            .insert(key_of(&relative)?, read(dir, &relative)?);
    }
    for relative in plain {
        let text = String::from_utf8(read(dir, &relative)?).map_err(|_| {
            Error::InvalidInput(format!(
                "{} is not UTF-8 text and cannot be kept in a ConfigMap",
                dir.join(&relative).display()
            ))
        })?;
        state.plain.insert(key_of(&relative)?, text);
    }
    Ok(state)
}

/// Whether `node` is an ephemeral node (its directory is under
/// `ephemeral/`).
pub fn is_ephemeral(node: &node::Node) -> bool {
    node.dir
        .parent()
        .and_then(|p| p.file_name())
        .is_some_and(|n| n == EPHEMERAL_DIR)
}

/// The Secret keys of a node's own secret files, each with the file's path
/// relative to the node's directory.
pub fn node_secret_keys(node: &node::Node) -> Result<Vec<(String, String)>> {
    let name = node.dir.file_name().unwrap_or_default();
    let relative_dir = if is_ephemeral(node) {
        Path::new(EPHEMERAL_DIR).join(name)
    } else {
        PathBuf::from(name)
    };
    node.config
        .secret_files
        .iter()
        .map(|file| Ok((key_of(&relative_dir.join(file))?, file.clone())))
        .collect()
}

/// Writes a network directory at `dir` from its state, plus its shell
/// snippet: each file atomically and private (mode 0600), for the network's
/// and nodes' configs can hold secrets given as flags.
pub fn materialize(dir: &Path, state: &StateFiles) -> Result<()> {
    if !state.plain.contains_key(CONFIG_FILE) {
        return Err(Error::NotANetwork {
            path: dir.to_owned(),
            reason: format!("its ConfigMap has no {CONFIG_FILE}"),
        });
    }
    let files = state
        .plain
        .iter()
        .map(|(k, v)| (k, v.as_bytes()))
        .chain(state.secret.iter().map(|(k, v)| (k, v.as_slice())));
    for (key, bytes) in files {
        let path = dir.join(path_of(key)?);
        if let Some(parent) = path.parent() {
            files::create_dir_all(parent)?;
        }
        files::atomic_write(&path, bytes, 0o600)?;
    }
    let env = format!("{}\n", layout::export_line(dir));
    files::atomic_write(&dir.join(ENV_FILE), env.as_bytes(), 0o644)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_paths_round_trip() {
        for p in [
            "config.json",
            "ref-1/flags.json",
            "ephemeral/ref-9/config.json",
        ] {
            let key = key_of(Path::new(p)).unwrap();
            assert!(!key.contains('/'), "{key}");
            assert_eq!(path_of(&key).unwrap(), PathBuf::from(p));
        }
        assert!(key_of(Path::new("a_b.json")).is_err());
        assert!(path_of("..").is_err());
        assert!(path_of("a__b").is_err());
    }

    #[test]
    fn a_directory_survives_collect_and_materialize() {
        let src = tempfile::tempdir().unwrap();
        let d = src.path();
        std::fs::write(d.join("config.json"), "{}").unwrap();
        std::fs::write(d.join("network.env"), "export X=/local").unwrap();
        std::fs::write(d.join("rpc.json"), "secret").unwrap();
        std::fs::write(d.join("owner.json"), "{\"pid\": 1}").unwrap();
        for n in ["ref-1", "ephemeral/ref-2"] {
            std::fs::create_dir_all(d.join(n).join("logs")).unwrap();
            let config = format!(r#"{{"id":"{n}","index":1}}"#);
            std::fs::write(d.join(n).join("config.json"), config).unwrap();
            std::fs::write(d.join(n).join("logs/main.log"), "log").unwrap();
        }
        std::fs::write(d.join("ref-1/flags.json"), "{\"a\":\"b\"}").unwrap();
        // A node with keys of its own: the names in its config, the bytes
        // in the Secret.
        let mut keyed = crate::model::NodeConfig::new("ref-3", 3);
        keyed.secrets = crate::model::SecretFiles(
            [("staking/staker.key".to_owned(), b"node key".to_vec())].into(),
        );
        let keyed = node::Node::create(&d.join(EPHEMERAL_DIR), keyed).unwrap();
        let state = collect(d, &["rpc.json".to_owned()]).unwrap();
        assert_eq!(
            state.plain.keys().collect::<Vec<_>>(),
            [
                "config.json",
                "ephemeral_ref-2_config.json",
                "ephemeral_ref-3_config.json",
                "ref-1_config.json",
                "ref-1_flags.json"
            ]
        );
        assert_eq!(state.secret["rpc.json"], b"secret");
        let keys = node_secret_keys(&keyed).unwrap();
        assert_eq!(
            keys,
            [(
                "ephemeral_ref-3_staking_staker.key".to_owned(),
                "staking/staker.key".to_owned()
            )]
        );
        assert_eq!(state.secret[&keys[0].0], b"node key");
        assert!(
            !state.plain.values().any(|v| v.contains("node key")),
            "a node's key is never in the ConfigMap"
        );
        assert!(
            !state.plain.contains_key("owner.json"),
            "run records stay local"
        );

        let dst = tempfile::tempdir().unwrap();
        materialize(dst.path(), &state).unwrap();
        let read = |p: &str| std::fs::read_to_string(dst.path().join(p)).unwrap();
        assert_eq!(
            read("ephemeral/ref-2/config.json"),
            r#"{"id":"ephemeral/ref-2","index":1}"#
        );
        assert_eq!(read("ephemeral/ref-3/staking/staker.key"), "node key");
        assert_eq!(read("ref-1/flags.json"), "{\"a\":\"b\"}");
        assert!(read("network.env").contains(&dst.path().display().to_string()));
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dst.path().join("rpc.json"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);

        let empty = StateFiles::default();
        assert!(materialize(dst.path(), &empty).is_err());
    }
}
