//! Readiness and liveness probes (httpGet, tcpSocket, exec): when they
//! are due, running them in their own tasks, and acting on the results.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::process::Command;

use super::stop::signal_group;
use super::{str_at, Container};

pub(super) fn probe_delay(spec: &Value, kind: &str) -> Duration {
    Duration::from_secs(
        spec.pointer(&format!("/{kind}/initialDelaySeconds"))
            .and_then(Value::as_u64)
            .unwrap_or(0),
    )
}

fn probe_period(spec: &Value, kind: &str) -> Duration {
    Duration::from_secs(
        spec.pointer(&format!("/{kind}/periodSeconds"))
            .and_then(Value::as_u64)
            .unwrap_or(1)
            .max(1),
    )
}

/// The port a probe names (a number, or a container port's name).
fn probe_port(spec: &Value, port: &Value) -> Option<u16> {
    if let Some(n) = port.as_u64() {
        return u16::try_from(n).ok();
    }
    let name = port.as_str()?;
    if let Ok(n) = name.parse() {
        return Some(n);
    }
    spec.get("ports")?
        .as_array()?
        .iter()
        .find(|p| str_at(p, "/name") == Some(name))
        .and_then(|p| p.get("containerPort")?.as_u64())
        .and_then(|n| u16::try_from(n).ok())
}

/// Runs one probe; `true` when it passes.
async fn probe(probe: &Value, spec: &Value, ip: &str, dir: &Path) -> bool {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let timeout = Duration::from_secs(
        probe
            .get("timeoutSeconds")
            .and_then(Value::as_u64)
            .unwrap_or(1)
            .max(1),
    );
    let check = async {
        if let Some(http) = probe.get("httpGet") {
            let port = probe_port(spec, http.get("port")?)?;
            let path = str_at(http, "/path").unwrap_or("/");
            let mut stream = tokio::net::TcpStream::connect((ip, port)).await.ok()?;
            let request =
                format!("GET {path} HTTP/1.1\r\nHost: {ip}:{port}\r\nConnection: close\r\n\r\n");
            stream.write_all(request.as_bytes()).await.ok()?;
            let mut head = [0u8; 12];
            stream.read_exact(&mut head).await.ok()?;
            let code: u16 = std::str::from_utf8(&head[9..12]).ok()?.parse().ok()?;
            Some((200..400).contains(&code))
        } else if let Some(tcp) = probe.get("tcpSocket") {
            let port = probe_port(spec, tcp.get("port")?)?;
            Some(tokio::net::TcpStream::connect((ip, port)).await.is_ok())
        } else if let Some(exec) = probe.pointer("/exec/command").and_then(Value::as_array) {
            let argv: Vec<&str> = exec.iter().filter_map(Value::as_str).collect();
            let (first, rest) = argv.split_first()?;
            let status = Command::new(first)
                .args(rest)
                .current_dir(dir)
                .kill_on_drop(true)
                .status()
                .await
                .ok()?;
            Some(status.success())
        } else {
            None
        }
    };
    matches!(tokio::time::timeout(timeout, check).await, Ok(Some(true)))
}

/// Collects a finished probe's result and starts the next due one. Probes
/// run in their own tasks, so a slow one never stalls the kubelet.
pub(super) fn probe_step(c: &mut Container, ip: &str, dir: &Path) {
    if let Some(task) = c.probing.take() {
        if !task.is_finished() {
            c.probing = Some(task);
            return;
        }
        if let Some(Ok((liveness, passed))) = task.now_or_never_result() {
            if liveness {
                if passed {
                    c.liveness_failures = 0;
                } else {
                    c.liveness_failures += 1;
                    let threshold = c
                        .spec
                        .pointer("/livenessProbe/failureThreshold")
                        .and_then(Value::as_u64)
                        .unwrap_or(3);
                    if u64::from(c.liveness_failures) >= threshold {
                        if let Some(pid) = c.pid {
                            signal_group(pid, libc::SIGKILL);
                        }
                    }
                }
            } else {
                c.ready = passed;
            }
        }
    }
    let now = Instant::now();
    let (liveness, probe_spec) = if now >= c.next_probe {
        c.next_probe = now + probe_period(&c.spec, "readinessProbe");
        match c.spec.get("readinessProbe") {
            Some(p) => (false, p.clone()),
            None => {
                c.ready = true;
                return;
            }
        }
    } else if now >= c.next_liveness {
        c.next_liveness = now + probe_period(&c.spec, "livenessProbe");
        match c.spec.get("livenessProbe") {
            Some(p) => (true, p.clone()),
            None => return,
        }
    } else {
        return;
    };
    let (spec, ip, dir) = (c.spec.clone(), ip.to_owned(), dir.to_owned());
    c.probing = Some(tokio::spawn(async move {
        (liveness, probe(&probe_spec, &spec, &ip, &dir).await)
    }));
}

/// The result of a finished task, without waiting.
trait FinishedResult<T> {
    fn now_or_never_result(self) -> Option<Result<T, tokio::task::JoinError>>;
}

impl<T> FinishedResult<T> for tokio::task::JoinHandle<T> {
    fn now_or_never_result(self) -> Option<Result<T, tokio::task::JoinError>> {
        futures::FutureExt::now_or_never(self)
    }
}
