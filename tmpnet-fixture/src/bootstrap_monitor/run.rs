//! The monitor's two jobs in the node's pod: `init` (an init container,
//! before the node starts) carries out [`plan_init`]; `wait-for-completion`
//! (a sidecar) records the node's interruptions and its sync, then follows
//! the moving tag and rolls the StatefulSet to each new digest.

use std::future::Future;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::cluster::{Cluster, ResolveSettings, Results};
use super::image::ImageRef;
use super::plan::{check_image, plan_init, synced, ImageCheck, InitPlan};
use super::probe::SyncProbe;
use super::record::{Interruption, TestRecord, Volume};
use crate::error::Result;

/// Why a test resumed when the last pod left no note: it ended without its
/// monitor being stopped.
pub const NO_NOTICE: &str =
    "the pod ended without notice (its machine was lost, or the pod was killed at once)";

/// What both jobs are given.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Settings {
    /// This pod's name (downward API).
    pub pod: String,
    /// The node container's name.
    pub container: String,
    /// Where the data volume is mounted in the monitor's containers.
    pub volume: PathBuf,
    /// The node's data directory, relative to the volume.
    pub node_data: PathBuf,
    /// The tag to follow; the image's own tag when `None`.
    pub tag: Option<String>,
    /// How to resolve a tag.
    pub resolve: ResolveSettings,
    /// How often the sidecar looks for a new digest of the tag once synced.
    pub poll: Duration,
    /// How often it checks the node while syncing.
    pub check_every: Duration,
}

impl Settings {
    /// The settings of the pod `pod` whose node container is `container`,
    /// the volume mounted at `volume` with the node's data in `node_data`;
    /// the image's own tag, `--version` with pull `Always` as user 10001
    /// within 5 minutes, a look for a new digest every 5 minutes, a check
    /// of the node every 5 seconds.
    pub fn new(
        pod: &str,
        container: &str,
        volume: &std::path::Path,
        node_data: &std::path::Path,
    ) -> Settings {
        Settings {
            pod: pod.to_owned(),
            container: container.to_owned(),
            volume: volume.to_owned(),
            node_data: node_data.to_owned(),
            tag: None,
            resolve: ResolveSettings::new(
                vec!["--version".into()],
                "Always",
                10001,
                Duration::from_secs(300),
            ),
            poll: Duration::from_secs(300),
            check_every: Duration::from_secs(5),
        }
    }
}

/// What `init` did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum InitOutcome {
    /// The tag was resolved and the StatefulSet pinned; this pod is being
    /// replaced (the node must not start in it).
    Replaced {
        /// The pinned image.
        image: String,
    },
    /// The test on the volume goes on.
    Resumed,
    /// A new test started on a wiped data directory.
    Started,
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The monitor in one pod.
pub struct Monitor {
    cluster: Cluster,
    settings: Settings,
    volume: Volume,
}

impl Monitor {
    /// The monitor of the pod `settings.pod`, reaching its namespace with
    /// `cluster`.
    pub fn new(cluster: Cluster, settings: Settings) -> Monitor {
        let volume = Volume::new(&settings.volume);
        Monitor {
            cluster,
            settings,
            volume,
        }
    }

    /// The tag an unpinned image is resolved at: `--tag`, else its own,
    /// else `latest` (what a pull of a name without a tag gets).
    fn tag_of(&self, image: &ImageRef) -> ImageRef {
        let tag = self
            .settings
            .tag
            .clone()
            .or_else(|| image.tag.clone())
            .unwrap_or_else(|| "latest".to_owned());
        image.at_tag(&tag)
    }

    /// The tag a pinned image under test follows: `--tag`, else its own;
    /// none for a digest given without a tag (tested once).
    fn followed_tag(&self, image: &ImageRef) -> Option<ImageRef> {
        let tag = self.settings.tag.clone().or_else(|| image.tag.clone())?;
        Some(image.at_tag(&tag))
    }

    async fn publish(&self, set: &(String, String), last_error: Option<String>) {
        let results = match (self.volume.current(), self.volume.history()) {
            (Ok(current), Ok(history)) => Results {
                current,
                history,
                last_error,
            },
            (Err(e), _) | (_, Err(e)) => {
                tracing::warn!(error = %e, "cannot read the records to publish them");
                return;
            }
        };
        if let Err(e) = self.cluster.publish(set, &results).await {
            tracing::warn!(error = %e, "cannot publish the results; they are on the volume");
        }
    }

    /// The init container's job: resolve the tag (and replace this pod),
    /// or resume the test on the volume, or start a new one on wiped data.
    pub async fn init(&self) -> Result<InitOutcome> {
        let s = &self.settings;
        let pod = self.cluster.own_pod(&s.pod, &s.container).await?;
        let image = ImageRef::parse(&pod.image)?;
        let current = self.volume.current()?;
        // The note is used (and removed) only once a test resumes or a new
        // one starts: a resolve or a failure keeps it for the next start.
        let why = self
            .volume
            .stop_note()?
            .map_or_else(|| NO_NOTICE.to_owned(), |note| note.reason);
        match plan_init(&image, current.as_ref(), now(), &why) {
            InitPlan::Resolve { tag } => {
                let tag = self.tag_of(&tag);
                tracing::info!(%tag, "resolving the moving tag to a digest");
                let resolved = match self.cluster.resolve(&tag, &s.resolve, &pod.set).await {
                    Ok(r) => r,
                    Err(e) => {
                        self.publish(&pod.set, Some(e.to_string())).await;
                        return Err(e);
                    }
                };
                let pinned = tag.pinned_to(&resolved.digest);
                self.cluster
                    .pin(
                        &pod.set.0,
                        &s.container,
                        &pinned,
                        resolved.version.as_deref(),
                    )
                    .await?;
                self.publish(&pod.set, None).await;
                tracing::info!(image = %pinned, version = ?resolved.version, "pinned the StatefulSet; replacing this pod");
                self.cluster.delete_pod(&s.pod).await?;
                Ok(InitOutcome::Replaced {
                    image: pinned.to_string(),
                })
            }
            InitPlan::Resume { record } => {
                self.volume.write_current(&record)?;
                self.volume.clear_stop_note()?;
                self.publish(&pod.set, None).await;
                tracing::info!(image = %record.image, started_at = record.started_at, interruptions = record.interruptions.len(), "resuming the test on the volume");
                Ok(InitOutcome::Resumed)
            }
            InitPlan::Start {
                mut record,
                previous,
            } => {
                self.volume.wipe(&s.node_data)?;
                if let Some(previous) = previous {
                    self.volume.archive(&previous)?;
                }
                record.version = pod.version;
                self.volume.write_current(&record)?;
                self.volume.clear_stop_note()?;
                self.publish(&pod.set, None).await;
                tracing::info!(image = %record.image, version = ?record.version, "started a new test on wiped node data");
                Ok(InitOutcome::Started)
            }
        }
    }

    /// The sidecar's job, until `shutdown` completes (SIGTERM): records
    /// each restart of the node while it syncs, records the sync, then
    /// polls the tag and pins the StatefulSet to its next digest (and
    /// waits for the rollout to replace the pod). On
    /// shutdown during a sync it leaves a note of why for the next start.
    pub async fn wait_for_completion(
        &self,
        probe: &dyn SyncProbe,
        shutdown: impl Future<Output = ()>,
    ) -> Result<()> {
        tokio::pin!(shutdown);
        tokio::select! {
            biased;
            () = &mut shutdown => {
                self.note_stop().await;
                Ok(())
            }
            result = self.watch(probe) => result,
        }
    }

    async fn note_stop(&self) {
        let Ok(Some(record)) = self.volume.current() else {
            return;
        };
        if record.is_synced() {
            return;
        }
        let reason = match self
            .cluster
            .own_pod(&self.settings.pod, &self.settings.container)
            .await
        {
            Ok(pod) => pod.stopping,
            Err(_) => None,
        }
        .unwrap_or_else(|| "the pod was stopped by Kubernetes".to_owned());
        if let Err(e) = self
            .volume
            .write_stop_note(&Interruption::new(now(), reason))
        {
            tracing::warn!(error = %e, "cannot leave the stop note");
        }
    }

    async fn watch(&self, probe: &dyn SyncProbe) -> Result<()> {
        let s = &self.settings;
        let pod = self.cluster.own_pod(&s.pod, &s.container).await?;
        let set = pod.set.clone();
        let mut restarts = pod.restarts;
        let mut last_log = Instant::now();
        let mut tag = TagWatch::new(s.poll);
        // This sidecar is the record's only writer while its pod runs.
        let Some(mut record) = self.volume.current()? else {
            return Err(crate::error::Error::Environment(format!(
                "the volume at {} has no test record; the init container must run first (tmpnet-bootstrap-monitor init)",
                s.volume.display()
            )));
        };
        while !record.is_synced() {
            match self.cluster.own_pod(&s.pod, &s.container).await {
                Ok(pod) if pod.restarts > restarts => {
                    restarts = pod.restarts;
                    let how = pod.last_exit.unwrap_or_else(|| "an unknown exit".into());
                    tracing::warn!(%how, "the node container was restarted during the sync");
                    record.interruptions.push(Interruption::new(
                        now(),
                        format!("the node container ended ({how}) and was restarted"),
                    ));
                    self.volume.write_current(&record)?;
                    self.publish(&set, None).await;
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "cannot read this pod"),
            }
            match probe.pending().await {
                None => {
                    let bytes = self.volume.disk_bytes(&s.node_data);
                    record = synced(&record, now(), bytes);
                    self.volume.write_current(&record)?;
                    self.publish(&set, None).await;
                    tracing::info!(image = %record.image, status = ?record.status, "the node has synced");
                    break;
                }
                Some(progress) if last_log.elapsed() >= Duration::from_secs(30) => {
                    last_log = Instant::now();
                    tracing::info!(%progress, "the node is syncing");
                }
                Some(_) => {}
            }
            // A build that never syncs must not hold the next one back.
            if tag.due() && self.roll_if_new(&record, &set, &mut tag).await? {
                return self.await_replacement().await;
            }
            tokio::time::sleep(s.check_every).await;
        }
        loop {
            tokio::time::sleep(s.poll).await;
            if self.roll_if_new(&record, &set, &mut tag).await? {
                return self.await_replacement().await;
            }
        }
    }

    /// Replaces this pod after a roll (a pod that is not ready would not
    /// be replaced by the rollout), then waits for its stop: were this
    /// container to end, the kubelet would restart it and it would roll
    /// again.
    async fn await_replacement(&self) -> Result<()> {
        self.cluster.delete_pod(&self.settings.pod).await?;
        std::future::pending::<Result<()>>().await
    }

    /// Resolves the followed tag of the image under test and, on a new
    /// digest, pins the StatefulSet to it; whether it rolled. A failure
    /// is published (and cleared by the next success) and tried again.
    async fn roll_if_new(
        &self,
        record: &TestRecord,
        set: &(String, String),
        watch: &mut TagWatch,
    ) -> Result<bool> {
        watch.looked();
        let s = &self.settings;
        let under_test = ImageRef::parse(&record.image)?;
        let Some(tag) = self.followed_tag(&under_test) else {
            return Ok(false);
        };
        match self.cluster.resolve(&tag, &s.resolve, set).await {
            Ok(resolved) => match check_image(&under_test, &resolved.digest) {
                ImageCheck::Unchanged => {
                    if std::mem::take(&mut watch.failing) {
                        self.publish(set, None).await;
                    }
                    Ok(false)
                }
                ImageCheck::Changed { .. } => {
                    let image = tag.pinned_to(&resolved.digest);
                    self.cluster
                        .pin(&set.0, &s.container, &image, resolved.version.as_deref())
                        .await?;
                    tracing::info!(%image, "the tag has a new digest: rolled the StatefulSet to it");
                    self.publish(set, None).await;
                    Ok(true)
                }
            },
            Err(e) => {
                tracing::warn!(error = %e, "cannot resolve the tag; trying again");
                watch.failing = true;
                self.publish(set, Some(e.to_string())).await;
                Ok(false)
            }
        }
    }
}

/// When the sidecar last looked for a new build of its tag.
struct TagWatch {
    every: Duration,
    last: Instant,
    /// The last look failed (its error is published).
    failing: bool,
}

impl TagWatch {
    fn new(every: Duration) -> TagWatch {
        TagWatch {
            every,
            last: Instant::now(),
            failing: false,
        }
    }

    fn due(&self) -> bool {
        self.last.elapsed() >= self.every
    }

    fn looked(&mut self) {
        self.last = Instant::now();
    }
}
