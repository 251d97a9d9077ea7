//! `pods/<name>/portforward` over WebSocket, in the channel protocol
//! kube-rs and kubectl speak (`v4.channel.k8s.io`): for the i-th requested
//! port, channel 2i carries data and 2i+1 errors; the first frame on each
//! channel is the channel id and the port (little-endian u16). Connections
//! go to the pod's own address.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Uri};
use axum::response::{IntoResponse, Response};
use futures::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::mpsc;

use crate::resources;
use crate::shared::Shared;
use crate::status::ApiError;

/// The subprotocols accepted, newest first.
const PROTOCOLS: [&str; 3] = [
    "v5.channel.k8s.io",
    "v4.channel.k8s.io",
    "portforward.k8s.io",
];

fn ports(uri: &Uri) -> Result<Vec<u16>, ApiError> {
    let mut out = Vec::new();
    for pair in uri.query().unwrap_or_default().split('&') {
        if let Some(list) = pair.strip_prefix("ports=") {
            for p in list.split("%2C").flat_map(|s| s.split(',')) {
                out.push(
                    p.parse()
                        .map_err(|_| ApiError::bad_request(format!("invalid port {p:?}")))?,
                );
            }
        }
    }
    if out.is_empty() {
        return Err(ApiError::bad_request(
            "at least one port is required (ports=N)".into(),
        ));
    }
    Ok(out)
}

/// Upgrades the request and forwards the requested ports.
pub async fn handle(
    State(shared): State<Arc<Shared>>,
    Path((ns, name)): Path<(String, String)>,
    uri: Uri,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    let who = match shared.rbac.authenticate(
        headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok()),
    ) {
        Ok(who) => who,
        Err(e) => return e.into_response(),
    };
    // Port-forward is `create` on pods/portforward (`get` is accepted too).
    let request = |verb| crate::rbac::Request {
        verb,
        group: "",
        resource: "pods/portforward".into(),
        namespace: Some(&ns),
        name: Some(&name),
    };
    if let Err(e) = shared
        .rbac
        .authorize(&shared.store, &who, &request("create"))
        .or_else(|_| shared.rbac.authorize(&shared.store, &who, &request("get")))
    {
        return e.into_response();
    }
    let ports = match ports(&uri) {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    let Some(res) = resources::find("", "v1", "pods") else {
        return ApiError::not_implemented("pods".into()).into_response();
    };
    let pod = match shared.store.get(res, Some(&ns), &name) {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    if pod.pointer("/status/phase").and_then(Value::as_str) != Some("Running") {
        return ApiError::bad_request(format!(
            "pod {name} is not running; port-forward needs a running pod"
        ))
        .into_response();
    }
    let ip = pod
        .pointer("/status/podIP")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    upgrade
        .protocols(PROTOCOLS)
        .on_upgrade(move |socket| forward(socket, ip, ports))
}

async fn forward(socket: WebSocket, ip: String, ports: Vec<u16>) {
    let (mut sink, mut stream) = socket.split();
    let (tx, mut rx) = mpsc::channel::<Vec<u8>>(64);
    let mut writers: HashMap<u8, OwnedWriteHalf> = HashMap::new();
    for (i, port) in ports.iter().enumerate() {
        let (data, error) = ((2 * i) as u8, (2 * i + 1) as u8);
        let [lo, hi] = port.to_le_bytes();
        let _ = tx.send(vec![data, lo, hi]).await;
        let _ = tx.send(vec![error, lo, hi]).await;
        match tokio::net::TcpStream::connect((ip.as_str(), *port)).await {
            Ok(conn) => {
                let (mut read, write) = conn.into_split();
                writers.insert(data, write);
                let tx = tx.clone();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 64 * 1024];
                    loop {
                        match read.read(&mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => {
                                let mut frame = Vec::with_capacity(n + 1);
                                frame.push(data);
                                frame.extend_from_slice(&buf[..n]);
                                if tx.send(frame).await.is_err() {
                                    break;
                                }
                            }
                        }
                    }
                });
            }
            Err(e) => {
                let mut frame = vec![error];
                frame.extend_from_slice(
                    format!("error forwarding port {port} to pod {ip}: {e}").as_bytes(),
                );
                let _ = tx.send(frame).await;
            }
        }
    }
    drop(tx);
    // Once every pod connection has ended, the socket is closed, as the
    // kubelet closes it when its port-forward is done.
    let pump = tokio::spawn(async move {
        while let Some(frame) = rx.recv().await {
            if sink.send(Message::Binary(frame.into())).await.is_err() {
                break;
            }
        }
        let _ = sink.close().await;
    });
    while let Some(Ok(message)) = stream.next().await {
        match message {
            Message::Binary(bytes) if bytes.len() > 1 => {
                if let Some(writer) = writers.get_mut(&bytes[0]) {
                    if writer.write_all(&bytes[1..]).await.is_err() {
                        writers.remove(&bytes[0]);
                    }
                }
            }
            Message::Close(_) => break,
            _ => {}
        }
    }
    drop(writers);
    pump.abort();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_come_from_the_query() {
        let uri: Uri = "/x?ports=8080&ports=9090".parse().unwrap();
        assert_eq!(ports(&uri).unwrap(), [8080, 9090]);
        let uri: Uri = "/x?ports=1%2C2".parse().unwrap();
        assert_eq!(ports(&uri).unwrap(), [1, 2]);
        assert_eq!(ports(&"/x".parse().unwrap()).unwrap_err().code, 400);
    }
}
