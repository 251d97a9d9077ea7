//! The kubeconfig a client uses to reach the simulator (JSON, which every
//! kubeconfig reader accepts as YAML).

use std::path::{Path, PathBuf};

use serde_json::json;

/// A kubeconfig for `server` with `namespace` as the default namespace,
/// as the admin (no token).
pub fn render(server: &str, namespace: &str) -> String {
    render_with_token(server, namespace, None)
}

/// A kubeconfig for `server`, authenticating with `token` when given.
pub fn render_with_token(server: &str, namespace: &str, token: Option<&str>) -> String {
    let user = match token {
        Some(token) => json!({"token": token}),
        None => json!({}),
    };
    let config = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "tmpnet-kubesim", "cluster": {"server": server}}],
        "users": [{"name": "tmpnet-kubesim", "user": user}],
        "contexts": [{
            "name": "tmpnet-kubesim",
            "context": {"cluster": "tmpnet-kubesim", "user": "tmpnet-kubesim", "namespace": namespace}
        }],
        "current-context": "tmpnet-kubesim"
    });
    serde_json::to_string_pretty(&config).unwrap_or_default()
}

/// A kubeconfig file in a fresh private directory, removed on drop.
#[derive(Debug)]
pub struct KubeconfigFile {
    dir: PathBuf,
    path: PathBuf,
}

impl KubeconfigFile {
    /// Writes `contents` to `<tmp>/tmpnet-kubesim-<pid>-<random>/kubeconfig`.
    pub fn create(contents: &str) -> std::io::Result<KubeconfigFile> {
        use std::os::unix::fs::DirBuilderExt;
        let dir = std::env::temp_dir().join(format!(
            "tmpnet-kubesim-{}-{}",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::DirBuilder::new().mode(0o700).create(&dir)?;
        let path = dir.join("kubeconfig");
        std::fs::write(&path, contents)?;
        Ok(KubeconfigFile { dir, path })
    }

    /// The private directory holding the file.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for KubeconfigFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
