//! Container logs: what the kubelet captures, and `pods/<name>/log`.
//!
//! As a real kubelet does, each line a container writes is stored with the
//! time it was read and its stream (`<RFC 3339 nanos> stdout <line>`); the
//! log API serves the lines, with `timestamps`, `tailLines`, `sinceTime`,
//! `sinceSeconds` and `follow` (until the container stops).

use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom};
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use crate::paths::pod_dir;
use crate::query::truthy;
use crate::resources;
use crate::shared::Shared;
use crate::status::{ApiError, ApiResult};

/// One stored line: its timestamp and text (without the newline).
fn parse(line: &[u8]) -> Option<(&str, &[u8])> {
    let space = line.iter().position(|b| *b == b' ')?;
    let ts = std::str::from_utf8(&line[..space]).ok()?;
    let rest = &line[space + 1..];
    let stream = rest.iter().position(|b| *b == b' ').unwrap_or(rest.len());
    Some((ts, rest.get(stream + 1..).unwrap_or_default()))
}

/// What a request asks to see of each line.
struct View {
    timestamps: bool,
    /// Only lines at or after this time.
    since: Option<std::time::SystemTime>,
}

impl View {
    /// The line as served, or `None` when it is filtered out.
    fn render(&self, line: &[u8]) -> Option<Vec<u8>> {
        let (ts, text) = parse(line)?;
        if let Some(since) = self.since {
            if humantime::parse_rfc3339(ts).is_ok_and(|t| t < since) {
                return None;
            }
        }
        let mut out = Vec::with_capacity(line.len());
        if self.timestamps {
            out.extend_from_slice(ts.as_bytes());
            out.push(b' ');
        }
        out.extend_from_slice(text);
        out.push(b'\n');
        Some(out)
    }
}

/// Copies a container's stdout and stderr into its log, a timestamped
/// line at a time; the tasks end when the streams close.
pub fn capture(
    log: &std::path::Path,
    stdout: Option<tokio::process::ChildStdout>,
    stderr: Option<tokio::process::ChildStderr>,
) -> Vec<tokio::task::JoinHandle<()>> {
    use tokio::io::{AsyncBufReadExt as _, AsyncRead, BufReader};
    let file = match std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
    {
        Ok(f) => Arc::new(std::sync::Mutex::new(f)),
        Err(e) => {
            tracing::warn!(error = %e, "cannot open a container log");
            return Vec::new();
        }
    };
    fn copy<R: AsyncRead + Unpin + Send + 'static>(
        reader: R,
        stream: &'static str,
        file: Arc<std::sync::Mutex<std::fs::File>>,
    ) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            use std::io::Write as _;
            let mut reader = BufReader::new(reader);
            let mut line = Vec::new();
            loop {
                line.clear();
                match reader.read_until(b'\n', &mut line).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
                if line.ends_with(b"\n") {
                    line.pop();
                }
                // Stamped under the lock: timestamps grow in file order.
                let mut f = file.lock().unwrap_or_else(|p| p.into_inner());
                let ts = humantime::format_rfc3339_nanos(std::time::SystemTime::now());
                let mut entry = format!("{ts} {stream} ").into_bytes();
                entry.extend_from_slice(&line);
                entry.push(b'\n');
                if f.write_all(&entry).is_err() {
                    return;
                }
            }
        })
    }
    let mut tasks = Vec::new();
    if let Some(out) = stdout {
        tasks.push(copy(out, "stdout", file.clone()));
    }
    if let Some(err) = stderr {
        tasks.push(copy(err, "stderr", file));
    }
    tasks
}

fn container_running(pod: &Value, container: &str) -> bool {
    pod.pointer("/status/containerStatuses")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .chain(
            pod.pointer("/status/initContainerStatuses")
                .and_then(Value::as_array)
                .into_iter()
                .flatten(),
        )
        .any(|s| s["name"] == container && s.pointer("/state/running").is_some())
}

/// Serves a log request.
pub fn respond(
    shared: Arc<Shared>,
    ns: &str,
    name: &str,
    q: &HashMap<String, String>,
) -> ApiResult<Response> {
    let pods = resources::find("", "v1", "pods")
        .ok_or_else(|| ApiError::not_implemented("pods".into()))?;
    let pod = shared.store.get(pods, Some(ns), name)?;
    let uid = pod
        .pointer("/metadata/uid")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let names: Vec<String> = ["/spec/containers", "/spec/initContainers"]
        .iter()
        .flat_map(|p| {
            pod.pointer(p)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
        })
        .filter_map(|c| c["name"].as_str().map(str::to_owned))
        .collect();
    let container = match q.get("container") {
        Some(c) => c.clone(),
        None if names.len() == 1 => names[0].clone(),
        None => {
            return Err(ApiError::bad_request(format!(
                "a container name must be specified for pod {name}, choose one of: {names:?}"
            )))
        }
    };
    if !names.contains(&container) {
        return Err(ApiError::bad_request(format!(
            "container {container} is not valid for pod {name}"
        )));
    }
    let path = pod_dir(&shared.state_dir, ns, name, uid).join(format!("{container}.log"));
    let whole = std::fs::read(&path).unwrap_or_default();
    let now = std::time::SystemTime::now();
    let view = View {
        timestamps: truthy(q, "timestamps"),
        since: q
            .get("sinceTime")
            .and_then(|t| humantime::parse_rfc3339_weak(t).ok())
            .or_else(|| {
                q.get("sinceSeconds")
                    .and_then(|s| s.parse().ok())
                    .map(|s| now - Duration::from_secs(s))
            }),
    };
    // Only whole lines are served; a partial last one waits for its end.
    let complete = whole.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    let mut lines: Vec<Vec<u8>> = whole[..complete]
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .filter_map(|l| view.render(l))
        .collect();
    if let Some(n) = q.get("tailLines").and_then(|n| n.parse::<usize>().ok()) {
        lines.drain(..lines.len().saturating_sub(n));
    }
    let first: Vec<u8> = lines.concat();
    let follow = truthy(q, "follow");
    if !follow {
        return Ok((
            StatusCode::OK,
            [(
                axum::http::header::CONTENT_TYPE,
                "text/plain; charset=utf-8",
            )],
            first,
        )
            .into_response());
    }
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(16);
    let (ns, name) = (ns.to_owned(), name.to_owned());
    tokio::spawn(async move {
        if tx.send(Ok(Bytes::from(first))).await.is_err() {
            return;
        }
        let mut offset = complete as u64;
        let mut partial: Vec<u8> = Vec::new();
        loop {
            let running = shared
                .store
                .get(pods, Some(&ns), &name)
                .is_ok_and(|p| container_running(&p, &container));
            let mut chunk = Vec::new();
            if let Ok(mut f) = std::fs::File::open(&path) {
                if f.seek(SeekFrom::Start(offset)).is_ok() && f.read_to_end(&mut chunk).is_ok() {
                    offset += chunk.len() as u64;
                }
            }
            partial.extend_from_slice(&chunk);
            let end = partial
                .iter()
                .rposition(|b| *b == b'\n')
                .map_or(0, |i| i + 1);
            let out: Vec<u8> = partial
                .drain(..end)
                .collect::<Vec<u8>>()
                .split(|b| *b == b'\n')
                .filter(|l| !l.is_empty())
                .filter_map(|l| view.render(l))
                .collect::<Vec<_>>()
                .concat();
            if !out.is_empty() && tx.send(Ok(Bytes::from(out))).await.is_err() {
                return;
            }
            if !running {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    Ok(Response::builder()
        .header("content-type", "text/plain; charset=utf-8")
        .body(Body::from_stream(
            tokio_stream::wrappers::ReceiverStream::new(rx),
        ))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_lines_serve_with_or_without_their_timestamps() {
        let line = b"2026-12-02T01:00:00.000000001Z stdout hello world";
        let plain = View {
            timestamps: false,
            since: None,
        };
        assert_eq!(plain.render(line).unwrap(), b"hello world\n");
        let stamped = View {
            timestamps: true,
            since: None,
        };
        assert_eq!(
            stamped.render(line).unwrap(),
            b"2026-12-02T01:00:00.000000001Z hello world\n"
        );
        let later = View {
            timestamps: false,
            since: humantime::parse_rfc3339("2026-12-02T01:00:01Z").ok(),
        };
        assert!(later.render(line).is_none());
        assert_eq!(
            plain.render(b"2026-12-02T01:00:00Z stderr ").unwrap(),
            b"\n"
        );
    }
}
