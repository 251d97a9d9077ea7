//! `tmpnet-kubesim`: a scoped Kubernetes API simulator for tests.
//!
//! It serves, over plain HTTP on loopback, the kinds and verbs tmpnet uses
//! (see `README.md` for the list, and for everything it does differently from
//! a real cluster), and answers every other request with a 501 that names
//! it. It is test support only: the product never depends on it, and what
//! is proven against it is labelled "simulated".
//!
//! Two ways to use it: in-process,
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let sim = tmpnet_kubesim::Simulator::start().await?;
//! let client = sim.client()?;            // a kube::Client for it
//! let kubeconfig = sim.kubeconfig_path(); // for another process
//! # Ok(()) }
//! ```
//!
//! or as a program: `tmpnet-kubesim serve --kubeconfig-out FILE`.

mod api;
mod controllers;
mod discovery;
mod images;
mod kubeconfig;
mod kubelet;
mod logs;
mod patch;
mod paths;
mod portforward;
mod query;
mod rbac;
mod resources;
mod reviews;
mod sandbox;
mod selectors;
mod shared;
mod status;
mod store;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use paths::mount_env;

pub use resources::{Resource, RESOURCES};
pub use status::ApiError;

/// Errors starting the simulator.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Binding the listener or writing the kubeconfig failed.
    #[error("{action}: {source}")]
    Io {
        /// What was being done.
        action: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// Building a client for the simulator failed.
    #[error("cannot build a client: {0}")]
    Client(String),
    /// A manifest given to [`Simulator::apply`] cannot be applied.
    #[error("cannot apply {what}: {reason}")]
    Apply {
        /// Which document.
        what: String,
        /// Why.
        reason: String,
    },
}

/// How to start a simulator.
#[derive(Debug, Clone)]
pub struct Options {
    /// Address to listen on; loopback only.
    pub listen: String,
    /// Image name to the local executable a container of that image runs
    /// (for images that are not built).
    pub images: HashMap<String, PathBuf>,
    /// An OCI image layout whose images containers run from, for real
    /// (their root filesystem, entrypoint, environment, user), in
    /// preference to the image map.
    pub image_dir: Option<PathBuf>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            listen: "127.0.0.1:0".into(),
            images: HashMap::new(),
            image_dir: None,
        }
    }
}

impl Options {
    /// Maps `image` to the local executable `program`.
    pub fn image(mut self, image: &str, program: impl Into<PathBuf>) -> Self {
        self.images.insert(image.to_owned(), program.into());
        self
    }
}

/// A running simulator. Dropping it stops the server and asks the kubelet
/// to stop every pod process; [`Simulator::shutdown`] waits for that.
#[derive(Debug)]
pub struct Simulator {
    shared: Arc<shared::Shared>,
    url: String,
    kubeconfig: kubeconfig::KubeconfigFile,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    kubelet_stop: Option<tokio::sync::oneshot::Sender<()>>,
    kubelet: Option<tokio::task::JoinHandle<()>>,
    controllers_stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Simulator {
    /// Starts a simulator on 127.0.0.1 with an OS-chosen port and no images.
    pub async fn start() -> Result<Simulator, Error> {
        Self::start_with(Options::default()).await
    }

    /// Starts a simulator with `options`.
    pub async fn start_with(options: Options) -> Result<Simulator, Error> {
        let address = options.listen.as_str();
        let listener = tokio::net::TcpListener::bind(address)
            .await
            .map_err(|e| Error::Io {
                action: format!("cannot listen on {address}"),
                source: e,
            })?;
        let local = listener.local_addr().map_err(|e| Error::Io {
            action: "cannot read the listening address".into(),
            source: e,
        })?;
        let url = format!("http://{local}");
        let kubeconfig = kubeconfig::KubeconfigFile::create(&kubeconfig::render(&url, "default"))
            .map_err(|e| Error::Io {
            action: "cannot write the kubeconfig".into(),
            source: e,
        })?;
        let state_dir = kubeconfig.dir().join("state");
        let shared = Arc::new(shared::Shared {
            store: store::Store::new(),
            address: local.to_string(),
            state_dir: state_dir.clone(),
            rbac: rbac::Rbac::default(),
            groups: Default::default(),
            requests: Default::default(),
        });
        let store = match &options.image_dir {
            Some(dir) => Some(Arc::new(
                images::ImageStore::open(dir, &state_dir.join("images")).map_err(|e| {
                    Error::Io {
                        action: format!("cannot read the image layout {}", dir.display()),
                        source: std::io::Error::other(e),
                    }
                })?,
            )),
            None => None,
        };
        let (kubelet_stop, kubelet_stopped) = tokio::sync::oneshot::channel::<()>();
        let kubelet = kubelet::Kubelet::new(
            shared.clone(),
            kubelet::KubeletConfig {
                images: options.images.clone(),
                store,
                state_dir,
            },
        );
        let kubelet = tokio::spawn(kubelet.run(kubelet_stopped));
        let (controllers_stop, controllers_stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(controllers::run(shared.clone(), controllers_stopped));
        let app = axum::Router::new()
            .route(
                "/api/v1/namespaces/{ns}/pods/{name}/portforward",
                axum::routing::get(portforward::handle),
            )
            .fallback(api::handle)
            .with_state(shared.clone());
        let (shutdown, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
            if let Err(e) = served {
                tracing::error!(error = %e, "the simulator's server failed");
            }
        });
        Ok(Simulator {
            shared,
            url,
            kubeconfig,
            shutdown: Some(shutdown),
            kubelet_stop: Some(kubelet_stop),
            kubelet: Some(kubelet),
            controllers_stop: Some(controllers_stop),
        })
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// A kubeconfig file for the simulator (removed when it is dropped).
    pub fn kubeconfig_path(&self) -> &Path {
        self.kubeconfig.path()
    }

    /// Writes a kubeconfig for the simulator to `path`. The file appears
    /// whole (written aside, then renamed), so a script waiting for it never
    /// reads half of it.
    pub fn write_kubeconfig(&self, path: &Path) -> Result<PathBuf, Error> {
        let aside = path.with_extension("tmp");
        std::fs::write(&aside, kubeconfig::render(&self.url, "default"))
            .and_then(|()| std::fs::rename(&aside, path))
            .map_err(|e| Error::Io {
                action: format!("cannot write {}", path.display()),
                source: e,
            })?;
        Ok(path.to_owned())
    }

    /// A `kube::Client` for the simulator, on the current tokio runtime.
    pub fn client(&self) -> Result<kube::Client, Error> {
        let uri = self
            .url
            .parse()
            .map_err(|e| Error::Client(format!("{}: {e}", self.url)))?;
        let config = kube::Config::new(uri);
        kube::Client::try_from(config).map_err(|e| Error::Client(e.to_string()))
    }

    /// A bearer token for the ServiceAccount `name` in `namespace`: requests
    /// with it are allowed only what RBAC allows that account.
    pub fn service_account_token(&self, namespace: &str, name: &str) -> String {
        self.shared.rbac.issue(namespace, name)
    }

    /// A kube client acting as the ServiceAccount `name` in `namespace`.
    pub fn service_account_client(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<kube::Client, Error> {
        let uri = self
            .url
            .parse()
            .map_err(|e| Error::Client(format!("{}: {e}", self.url)))?;
        let mut config = kube::Config::new(uri);
        config.default_namespace = namespace.to_owned();
        config.auth_info.token = Some(self.service_account_token(namespace, name).into());
        kube::Client::try_from(config).map_err(|e| Error::Client(e.to_string()))
    }

    /// Writes a kubeconfig acting as the ServiceAccount `name` in
    /// `namespace` (RBAC applies to it) to `path`.
    pub fn write_service_account_kubeconfig(
        &self,
        namespace: &str,
        name: &str,
        path: &Path,
    ) -> Result<PathBuf, Error> {
        let token = self.service_account_token(namespace, name);
        let text = kubeconfig::render_with_token(&self.url, namespace, Some(&token));
        std::fs::write(path, text).map_err(|e| Error::Io {
            action: format!("cannot write {}", path.display()),
            source: e,
        })?;
        Ok(path.to_owned())
    }

    /// Creates the objects of a YAML (or JSON) stream as the cluster admin,
    /// as `kubectl apply` would for new objects; objects that exist are
    /// left as they are. Returns how many were created.
    pub fn apply(&self, yaml: &str) -> Result<usize, Error> {
        let docs: Vec<serde_json::Value> =
            serde_saphyr::from_multiple(yaml).map_err(|e| Error::Apply {
                what: "the manifests".into(),
                reason: e.to_string(),
            })?;
        let mut created = 0;
        for doc in docs.into_iter().filter(|d| !d.is_null()) {
            let api_version = doc["apiVersion"].as_str().unwrap_or_default().to_owned();
            let kind = doc["kind"].as_str().unwrap_or_default().to_owned();
            let what = format!(
                "{kind} {}",
                doc.pointer("/metadata/name")
                    .and_then(|n| n.as_str())
                    .unwrap_or("(unnamed)")
            );
            let res = resources::by_kind(&api_version, &kind).ok_or_else(|| Error::Apply {
                what: what.clone(),
                reason: format!("{api_version} {kind} is not served by the simulator"),
            })?;
            let ns = res.namespaced.then(|| {
                doc.pointer("/metadata/namespace")
                    .and_then(|n| n.as_str())
                    .unwrap_or("default")
                    .to_owned()
            });
            match self.shared.store.create(res, ns.as_deref(), doc) {
                Ok(_) => created += 1,
                Err(e) if e.code == 409 => {}
                Err(e) => {
                    return Err(Error::Apply {
                        what,
                        reason: e.message,
                    })
                }
            }
        }
        Ok(created)
    }

    /// How many API requests the simulator has served.
    pub fn requests(&self) -> u64 {
        self.shared
            .requests
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Forgets the watch history, as etcd compaction does: watches resuming
    /// from an older resourceVersion get `410 Gone`.
    pub fn compact(&self) {
        self.shared.store.compact();
    }
}

impl Simulator {
    /// Stops the server and every pod process, and waits until they are gone.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.controllers_stop.take() {
            let _ = stop.send(());
        }
        if let Some(stop) = self.kubelet_stop.take() {
            let _ = stop.send(());
        }
        if let Some(kubelet) = self.kubelet.take() {
            let _ = kubelet.await;
        }
    }
}

impl Drop for Simulator {
    /// Without waiting: every pod process group gets SIGKILL (a runtime
    /// that is being torn down may never run the kubelet's graceful stop).
    fn drop(&mut self) {
        if self.kubelet.as_ref().is_some_and(|k| !k.is_finished()) {
            let groups = self.shared.groups.lock().unwrap_or_else(|p| p.into_inner());
            for group in groups.iter() {
                if let Ok(pid) = i32::try_from(*group) {
                    if pid > 1 {
                        // SAFETY: kill(2) has no memory-safety preconditions.
                        unsafe {
                            libc::kill(-pid, libc::SIGKILL);
                        }
                    }
                }
            }
        }
        if let Some(stop) = self.controllers_stop.take() {
            let _ = stop.send(());
        }
        if let Some(stop) = self.kubelet_stop.take() {
            let _ = stop.send(());
        }
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}
