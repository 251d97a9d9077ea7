//! Starting a node's process: spawning it with its launch record, waiting
//! for its endpoint (failing fast on an exit or a fatal log line), and
//! pinning the API port it bound.

use std::os::unix::fs::OpenOptionsExt;
use std::process::Stdio;
use std::time::Instant;

use tokio::process::{Child, Command};

use super::logscan::read_from;
use super::{is_ours, ProcessRuntime, POLL};
use crate::error::{Error, Result};
use crate::kinds::{self, embedded, LaunchContext, Placement, PortDiscovery};
use crate::model::node::LOG_TAIL_LINES;
use crate::model::{Endpoint, LaunchRecord, Node, Peer, ProcessContext};
use crate::sys::{files, pids};

impl ProcessRuntime {
    /// Spawns the node and records it. Nothing between the spawn and the
    /// written launch record awaits, so a cancelled start never leaves an
    /// unrecorded process.
    pub(super) fn spawn(
        &self,
        node: &Node,
        peers: &[Peer],
        members: &[Peer],
    ) -> Result<(Child, LaunchRecord)> {
        let local = self.local()?;
        let launch = LaunchContext {
            placement: Placement::Local,
            network_dir: &self.network_dir,
            node,
            peers,
            members,
        };
        let flags =
            kinds::compose_and_record(self.kind.as_ref(), &self.network.default_flags, &launch)?;
        local.prepare(node, &flags)?;
        files::create_dir_all(&node.dir.join(crate::model::node::LOGS_DIR))?;
        let log_path = node.log_path();
        let log = std::fs::OpenOptions::new()
            .mode(0o644)
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(|e| Error::io("cannot open", &log_path, e))?;
        end_last_line(&log_path, &log)?;
        let log_offset = log.metadata().map(|m| m.len()).unwrap_or(0);
        let log_err = log
            .try_clone()
            .map_err(|e| Error::io("cannot open", &log_path, e))?;
        let gate = self.spawn_gate.lock().unwrap_or_else(|p| p.into_inner());
        if !*gate {
            return Err(Error::StartFailed {
                node: node.id().to_owned(),
                reason: "its network is being stopped".into(),
                log_tail: Vec::new(),
            });
        }
        let mut cmd = Command::new(self.program());
        if let Some(name) = &self.config.embedded {
            cmd.env(embedded::EMBEDDED_NODE_ENV, name)
                .arg0(embedded::NODE_ARG0);
        }
        // Found by this mark even when its state files are gone, and by its
        // directory even when the network's records are.
        cmd.env(pids::MARK_ENV, self.mark(node)).env(
            pids::NODE_DIR_ENV,
            std::path::absolute(&node.dir).unwrap_or_else(|_| node.dir.clone()),
        );
        // Temporary files go with the node (avalanchego's keystore, for
        // one, would stay in /tmp for good).
        let tmp = node.tmp_path();
        files::create_dir_all(&tmp)?;
        cmd.env("TMPDIR", std::path::absolute(&tmp).unwrap_or(tmp));
        // What the daemon writes is not writable by other users, whatever
        // umask this program was started with (a stricter one is kept).
        // SAFETY: umask is async-signal-safe and touches no memory.
        unsafe {
            cmd.pre_exec(|| {
                let mask = libc::umask(0o022);
                libc::umask(mask | 0o022);
                Ok(())
            });
        }
        cmd.args(local.argv(&node.flags_path(), &flags))
            .current_dir(&node.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log_err))
            .process_group(0)
            .kill_on_drop(false);
        let child = cmd.spawn().map_err(|e| Error::NetworkBinary {
            dir: self.network_dir.clone(),
            path: self.config.node_path.clone(),
            problem: format!("cannot be started: {e}"),
        })?;
        let child_pid = child.id().unwrap_or_default();
        let record = LaunchRecord {
            pid: child_pid,
            start_ticks: pids::start_ticks(child_pid).unwrap_or_default(),
            log_offset,
        };
        if let Err(e) = files::write_json(&node.launch_path(), &record) {
            let _ = pids::send(child_pid, libc::SIGKILL);
            return Err(e);
        }
        drop(gate);
        tracing::debug!(node = node.id(), pid = child_pid, "spawned");
        Ok((child, record))
    }

    /// Waits until the node's endpoint is known (its `process.json`, or for
    /// pre-allocated ports, its API port accepting connections, after which
    /// `process.json` is written here), failing fast on exit or a FATAL line.
    pub(super) async fn wait_for_endpoint(
        &self,
        node: &Node,
        child: &mut Child,
        record: &LaunchRecord,
    ) -> Result<Endpoint> {
        let deadline = Instant::now() + self.init_timeout();
        let failed = |reason: String| Error::StartFailed {
            node: node.id().to_owned(),
            reason,
            log_tail: node.log_tail(LOG_TAIL_LINES),
        };
        loop {
            if let Some(status) = child
                .try_wait()
                .map_err(|e| failed(format!("cannot wait for it: {e}")))?
            {
                return Err(failed(match self.fatal_line(node, record, true) {
                    Some(line) => format!("it logged {line:?} and exited ({status})"),
                    None => format!("it exited during start ({status})"),
                }));
            }
            if let Some(line) = self.fatal_line(node, record, false) {
                return Err(failed(format!("it logged {line:?}")));
            }
            if let Some(endpoint) = self.endpoint_if_ready(node, record).await? {
                return Ok(endpoint);
            }
            if Instant::now() >= deadline {
                let local = self.local()?;
                let waited_for = match local.port_discovery() {
                    PortDiscovery::SelfReported => {
                        format!("it wrote no {}", node.process_path().display())
                    }
                    PortDiscovery::Reported => {
                        "it never reported its ports (the kind looks for them in its log or ports file)".to_owned()
                    }
                    _ => match local.endpoint(node) {
                        Some(e) => format!("its API at {} accepts no connections", e.uri),
                        None => "its ports were never assigned".into(),
                    },
                };
                return Err(failed(format!(
                    "{waited_for} after {:?}; see its log, or allow longer with runtime.process.initTimeoutSecs in {}",
                    self.init_timeout(),
                    self.network_dir.join("config.json").display()
                )));
            }
            tokio::time::sleep(POLL).await;
        }
    }

    async fn endpoint_if_ready(
        &self,
        node: &Node,
        record: &LaunchRecord,
    ) -> Result<Option<Endpoint>> {
        let local = self.local()?;
        let endpoint = match local.port_discovery() {
            PortDiscovery::SelfReported => {
                return Ok(node
                    .process_context()?
                    .filter(|ctx| is_ours(ctx.pid, record))
                    .map(|ctx| Endpoint {
                        uri: ctx.uri,
                        p2p_address: ctx.p2p_address,
                    }))
            }
            PortDiscovery::Reported => {
                let logged = read_from(&node.log_path(), record.log_offset);
                match local.reported_endpoint(node, &logged) {
                    Some(endpoint) => endpoint,
                    None => return Ok(None),
                }
            }
            PortDiscovery::PreAllocated(_) => {
                let endpoint = self.assigned_endpoint(node)?;
                let api = endpoint
                    .uri
                    .split_once("://")
                    .map_or(endpoint.uri.as_str(), |(_, a)| a);
                if tokio::net::TcpStream::connect(api).await.is_err() {
                    return Ok(None);
                }
                endpoint
            }
        };
        let ctx = ProcessContext::new(record.pid, &endpoint.uri, &endpoint.p2p_address);
        files::write_json(&node.process_path(), &ctx)?;
        Ok(Some(endpoint))
    }

    fn assigned_endpoint(&self, node: &Node) -> Result<Endpoint> {
        self.local()?
            .endpoint(node)
            .ok_or_else(|| Error::StartFailed {
                node: node.id().to_owned(),
                reason: "its ports were never assigned; start it through its network".into(),
                log_tail: Vec::new(),
            })
    }

    /// Stops a process this start spawned, after a failed start.
    pub(super) async fn abort_start(&self, node: &Node, child: &mut Child) {
        let _ = self.signal_stop(node);
        if let Err(e) = self.await_stopped(node).await {
            tracing::warn!(node = node.id(), error = %e, "could not stop a failed node");
        }
        let _ = child.try_wait();
    }

    /// With `reuse_dynamic_ports`, records the API port a node bound in its
    /// own flags, so every later start (a restart, or a stop and a start
    /// from another process) binds it again.
    pub(super) fn pin_api_port(&self, node: &Node, endpoint: &Endpoint) -> Result<()> {
        if !self.config.reuse_dynamic_ports {
            return Ok(());
        }
        let Some(port) = endpoint.uri.rsplit(':').next() else {
            return Ok(());
        };
        let flag = self.local()?.api_port_flag().to_owned();
        if flag.is_empty() {
            return Ok(());
        }
        if node.config.flags.get(&flag).map(String::as_str) == Some(port) {
            return Ok(());
        }
        let mut pinned = node.clone();
        pinned.config.flags.insert(flag, port.to_owned());
        pinned.save()
    }
}

/// Ends the log's last line when a previous run left it unended (a crash
/// mid-line), so the new run's first line starts a line of its own.
fn end_last_line(path: &std::path::Path, log: &std::fs::File) -> Result<()> {
    use std::io::{Read, Seek, SeekFrom, Write};
    let mut reader = std::fs::File::open(path).map_err(|e| Error::io("cannot open", path, e))?;
    if reader.seek(SeekFrom::End(-1)).is_err() {
        return Ok(()); // empty
    }
    let mut last = [0u8; 1];
    reader
        .read_exact(&mut last)
        .map_err(|e| Error::io("cannot read", path, e))?;
    if last[0] != b'\n' {
        (&*log)
            .write_all(b"\n")
            .map_err(|e| Error::io("cannot write", path, e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_log_left_mid_line_gets_its_line_ended_before_the_next_run_writes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("main.log");
        let open = || {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .unwrap()
        };
        end_last_line(&path, &open()).unwrap();
        assert_eq!(
            std::fs::read(&path).unwrap(),
            b"",
            "an empty log stays empty"
        );
        std::fs::write(&path, "a\nlast words").unwrap();
        end_last_line(&path, &open()).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "a\nlast words\n");
        end_last_line(&path, &open()).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "a\nlast words\n",
            "an ended line is left"
        );
    }
}
