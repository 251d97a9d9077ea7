//! A local metrics collector: Prometheus, run from `PATH` (Debian's
//! `prometheus` package) or a given binary, on loopback, scraping every
//! target of the root's discovery entries, keeping its data under
//! `<root>/prometheus/`. Its process is recorded like a node's and stopped
//! like one (SIGTERM, then SIGKILL after a grace period).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::network::{discovery_dir, Network};
use crate::sys::{files, pids, ports};

/// Where the collector keeps its configuration, data, log and record.
pub const COLLECTOR_DIR: &str = "prometheus";
/// How often every target is scraped.
pub const SCRAPE_INTERVAL: Duration = Duration::from_secs(1);
/// How long a start may take before it is given up.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a stop waits for the process after SIGTERM.
const STOP_GRACE: Duration = Duration::from_secs(10);
const POLL: Duration = Duration::from_millis(50);

/// The record of a running collector: `<root>/prometheus/collector.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Collector {
    /// Its process.
    pub pid: u32,
    /// The process's start time, so a reused pid is never taken for it.
    pub start_ticks: u64,
    /// Its HTTP address, e.g. `http://127.0.0.1:34567`.
    pub url: String,
}

/// What [`start`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Started {
    /// It started now.
    New(Collector),
    /// One was already running: nothing was done.
    AlreadyRunning(Collector),
}

fn dir(root: &Path) -> PathBuf {
    root.join(COLLECTOR_DIR)
}

fn record_path(root: &Path) -> PathBuf {
    dir(root).join("collector.json")
}

fn log_path(root: &Path) -> PathBuf {
    dir(root).join("prometheus.log")
}

/// The running collector of `root`, if one runs. A record whose process is
/// gone (a killed collector) is removed.
pub fn running(root: &Path) -> Result<Option<Collector>> {
    let path = record_path(root);
    let Some(record) = files::read_json_opt::<Collector>(&path)? else {
        return Ok(None);
    };
    if pids::is_alive(record.pid, record.start_ticks) {
        return Ok(Some(record));
    }
    files::remove_if_exists(&path)?;
    Ok(None)
}

/// The Prometheus configuration: every discovery entry under the root,
/// reread as entries come and go. JSON, which Prometheus reads as YAML.
fn config(root: &Path) -> serde_json::Value {
    // Prometheus reads the path as a glob: the directory's own `[`, `]`,
    // `?` and `\` are escaped so they match themselves (a `*` it refuses
    // outright: `start` turns such a root down).
    let pattern = format!(
        "{}/*.json",
        glob_escape(&discovery_dir(root).to_string_lossy())
    );
    let interval = format!("{}s", SCRAPE_INTERVAL.as_secs());
    serde_json::json!({
        "global": {
            "scrape_interval": interval,
            "scrape_timeout": interval,
            "evaluation_interval": interval,
        },
        "scrape_configs": [{
            "job_name": "tmpnet",
            "file_sd_configs": [{
                "files": [pattern],
                "refresh_interval": interval,
            }],
        }],
    })
}

/// `text` with every character a glob gives a meaning escaped.
fn glob_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '[' | ']' | '?' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Finds the Prometheus binary: `explicit`, else `prometheus` on `PATH`.
fn binary(explicit: Option<&Path>) -> Result<PathBuf> {
    if let Some(path) = explicit {
        if let Some(problem) = files::executable_problem(path) {
            return Err(Error::InvalidInput(format!(
                "Prometheus binary {}: {problem}; pass --prometheus-path with the path of an executable prometheus",
                path.display()
            )));
        }
        return Ok(path.to_owned());
    }
    files::on_path("prometheus").ok_or_else(|| {
        Error::Environment(
            "cannot find prometheus on PATH; install it (Debian: apt-get install prometheus) or pass --prometheus-path".into(),
        )
    })
}

/// Starts the collector of `root` unless one runs, and waits until it is
/// ready to answer queries.
pub async fn start(root: &Path, prometheus: Option<&Path>) -> Result<Started> {
    if root.to_string_lossy().contains('*') {
        return Err(Error::InvalidInput(format!(
            "the metrics collector cannot watch a root whose path has a '*' ({}): Prometheus takes it for a pattern; choose another --root-dir",
            root.display()
        )));
    }
    if let Some(running) = running(root)? {
        return Ok(Started::AlreadyRunning(running));
    }
    let program = binary(prometheus)?;
    let dir = dir(root);
    files::create_dir_all(&dir)?;
    files::create_dir_all(&discovery_dir(root))?;
    let config_path = dir.join("prometheus.yml");
    files::write_json(&config_path, &config(root))?;
    let port = ports::allocate(1)?[0];
    let url = format!("http://127.0.0.1:{port}");
    let log = std::fs::File::create(log_path(root))
        .map_err(|e| Error::io("cannot create", log_path(root), e))?;
    let log_err = log
        .try_clone()
        .map_err(|e| Error::io("cannot open", log_path(root), e))?;
    let mut child = tokio::process::Command::new(&program)
        .arg(format!("--config.file={}", config_path.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .current_dir(&dir)
        .stdin(Stdio::null())
        .stdout(Stdio::from(log))
        .stderr(Stdio::from(log_err))
        .process_group(0)
        .kill_on_drop(false)
        .spawn()
        .map_err(|e| {
            Error::Collector(format!(
                "cannot start {}: {e}; pass --prometheus-path with an executable prometheus",
                program.display()
            ))
        })?;
    let pid = child.id().unwrap_or_default();
    let record = Collector {
        pid,
        start_ticks: pids::start_ticks(pid).unwrap_or_default(),
        url: url.clone(),
    };
    files::write_json(&record_path(root), &record)?;
    let http = crate::runtime::health_client()?;
    let deadline = tokio::time::Instant::now() + START_TIMEOUT;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            files::remove_if_exists(&record_path(root))?;
            return Err(Error::Collector(format!(
                "the metrics collector exited at start ({status}): {}; see {}",
                log_tail(root),
                log_path(root).display()
            )));
        }
        let ready = http.get(format!("{url}/-/ready")).send().await;
        if ready.is_ok_and(|r| r.status().is_success()) {
            return Ok(Started::New(record));
        }
        if tokio::time::Instant::now() >= deadline {
            let _ = stop(root).await;
            return Err(Error::Timeout {
                what: format!("the metrics collector at {url} answering"),
                timeout: START_TIMEOUT,
                last: Some(log_tail(root)),
            });
        }
        tokio::time::sleep(POLL).await;
    }
}

/// The last line of the collector's log.
fn log_tail(root: &Path) -> String {
    std::fs::read_to_string(log_path(root))
        .unwrap_or_default()
        .lines()
        .last()
        .unwrap_or("its log is empty")
        .to_owned()
}

/// Stops the collector of `root`; `false` when none was running.
pub async fn stop(root: &Path) -> Result<bool> {
    let Some(record) = running(root)? else {
        return Ok(false);
    };
    pids::send(record.pid, libc::SIGTERM)?;
    let deadline = tokio::time::Instant::now() + STOP_GRACE;
    while pids::is_alive(record.pid, record.start_ticks) {
        if tokio::time::Instant::now() >= deadline {
            pids::send(record.pid, libc::SIGKILL)?;
        }
        tokio::time::sleep(POLL).await;
    }
    files::remove_if_exists(&record_path(root))?;
    Ok(true)
}

/// Whether each node of a network is being scraped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scraped {
    /// The kind exports no metrics over HTTP: there is nothing to scrape.
    NoMetrics {
        /// The node kind.
        kind: String,
    },
    /// Per node: `None` when scraped (`up == 1`), else why not.
    Nodes(Vec<(String, Option<String>)>),
}

#[derive(Deserialize)]
struct QueryResponse {
    data: QueryData,
}

#[derive(Deserialize)]
struct QueryData {
    result: Vec<Sample>,
}

#[derive(Deserialize)]
struct Sample {
    metric: std::collections::BTreeMap<String, String>,
    value: (f64, String),
}

/// Asks the collector, through its HTTP API, whether every node of
/// `network` is scraped: each bootstrap node and each running ephemeral
/// node must have `up == 1`.
pub async fn scraped(collector: &Collector, network: &Network) -> Result<Scraped> {
    if network.kind().metrics_path().is_none() {
        return Ok(Scraped::NoMetrics {
            kind: network.config().node_kind.clone(),
        });
    }
    // Entries of nodes that stopped since go first (no health check: this
    // runs in check-metrics' polling loop).
    network.sync_discovery().await?;
    let mut expected: Vec<(String, bool)> = Vec::new();
    for node in network.node_records() {
        let running = network.node_state(&node).await?.is_running();
        expected.push((node.id().to_owned(), running));
    }
    for node in network.ephemeral_records()? {
        let state = network.node_state(&node).await?;
        if state.is_running() {
            expected.push((node.id().to_owned(), true));
        }
    }
    let query = format!("up{{network_uuid=\"{}\"}}", network.config().uuid);
    let url = format!("{}/api/v1/query", collector.url);
    let http = crate::runtime::health_client()?;
    let failed = |e: String| {
        Error::Collector(format!(
            "cannot query the metrics collector at {url}: {e}; start it with `tmpnetctl start-metrics-collector`"
        ))
    };
    let response = http
        .get(&url)
        .query(&[("query", query.as_str())])
        .send()
        .await
        .map_err(|e| failed(e.to_string()))?;
    let body: QueryResponse = response.json().await.map_err(|e| failed(e.to_string()))?;
    let up: std::collections::BTreeMap<String, String> = body
        .data
        .result
        .into_iter()
        .filter_map(|s| s.metric.get("node_id").cloned().map(|id| (id, s.value.1)))
        .collect();
    Ok(Scraped::Nodes(
        expected
            .into_iter()
            .map(|(id, is_running)| {
                let why = match (is_running, up.get(&id).map(String::as_str)) {
                    (false, _) => Some("not running".to_owned()),
                    (true, Some("1")) => None,
                    (true, Some(_)) => Some("its last scrape failed (up == 0)".to_owned()),
                    (true, None) => Some("not scraped yet (no sample of `up`)".to_owned()),
                };
                (id, why)
            })
            .collect(),
    ))
}

/// The collector's graph page for the network's `up` series over the last
/// hour.
pub fn graph_link(collector: &Collector, uuid: &str) -> String {
    format!(
        "{}/graph?g0.expr=up%7Bnetwork_uuid%3D%22{uuid}%22%7D&g0.tab=0&g0.range_input=1h",
        collector.url
    )
}

/// The environment variable with the base URL of a Grafana that reads the
/// collector.
pub const GRAFANA_URI_ENV: &str = "GRAFANA_URI";
/// The Grafana base URL when [`GRAFANA_URI_ENV`] is unset.
pub const DEFAULT_GRAFANA_URI: &str = "http://127.0.0.1:3000";
/// The uid of the dashboard shipped in `deploy/grafana/tmpnet-network.json`.
pub const DASHBOARD_UID: &str = "tmpnet-network";
/// The file in a network directory holding its metrics links.
pub const LINKS_FILE: &str = "metrics.txt";

/// Where to look at a network's metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Links {
    /// The shipped Grafana dashboard, filtered on the network, from
    /// `since` to now.
    pub grafana: String,
    /// The local collector's graph page, when a collector runs.
    pub collector: Option<String>,
}

/// The links for `network`, whose start began at `since_ms` (milliseconds
/// since the epoch).
fn links(network: &Network, since_ms: u128) -> Result<Links> {
    let base = std::env::var(GRAFANA_URI_ENV)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| DEFAULT_GRAFANA_URI.to_owned());
    let uuid = &network.config().uuid;
    let grafana = format!(
        "{}/d/{DASHBOARD_UID}/tmpnet-network?var-network_uuid={uuid}&from={since_ms}&to=now",
        base.trim_end_matches('/')
    );
    let root = crate::model::layout::root_for(network.dir())?;
    let collector = running(&root)?.map(|c| graph_link(&c, uuid));
    Ok(Links { grafana, collector })
}

/// Writes the links of `network`, started at `since_ms`, to its
/// `metrics.txt` (atomically), and returns them.
pub fn write_links(network: &Network, since_ms: u128) -> Result<Links> {
    let links = links(network, since_ms)?;
    let collector = links.collector.clone().unwrap_or_else(|| {
        "none running (start one with `tmpnetctl start-metrics-collector`)".to_owned()
    });
    let text = format!("grafana: {}\ncollector: {collector}\n", links.grafana);
    files::atomic_write(&network.dir().join(LINKS_FILE), text.as_bytes(), 0o644)?;
    Ok(links)
}

/// Milliseconds since the epoch now, for [`write_links`].
pub fn now_ms() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_scrapes_every_discovery_entry_of_the_root() {
        let c = config(Path::new("/r"));
        assert_eq!(
            c["scrape_configs"][0]["file_sd_configs"][0]["files"][0],
            "/r/prometheus/file_sd_configs/*.json"
        );
        assert_eq!(c["global"]["scrape_interval"], "1s");
        let odd = config(Path::new("/r/a[x]?\\b"));
        assert_eq!(
            odd["scrape_configs"][0]["file_sd_configs"][0]["files"][0],
            "/r/a\\[x\\]\\?\\\\b/prometheus/file_sd_configs/*.json"
        );
    }

    #[test]
    fn a_record_of_a_dead_collector_is_removed() {
        let root = tempfile::tempdir().unwrap();
        files::create_dir_all(&dir(root.path())).unwrap();
        let gone = Collector {
            pid: u32::MAX - 1,
            start_ticks: 1,
            url: "http://127.0.0.1:1".into(),
        };
        files::write_json(&record_path(root.path()), &gone).unwrap();
        assert_eq!(running(root.path()).unwrap(), None);
        assert!(!record_path(root.path()).exists());
    }

    #[test]
    fn a_missing_binary_names_the_fix() {
        let e = binary(Some(Path::new("/no/such/prometheus")))
            .unwrap_err()
            .to_string();
        assert!(e.contains("--prometheus-path"), "{e}");
    }
}
