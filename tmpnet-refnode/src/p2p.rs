//! The p2p layer: a TCP listener, a dialer per bootstrap peer, and one task
//! per connection speaking newline-delimited JSON [`Message`]s.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

use crate::config::BootstrapPeer;
use crate::node::{Message, Node};

/// Pause between dial attempts to a peer that is not connected.
const REDIAL: Duration = Duration::from_millis(100);
/// How long the other side may take to say hello.
const HELLO_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one dial may take. A SYN that is dropped (an address whose
/// route or NAT rule is not there yet, as a Kubernetes Service address is
/// until kube-proxy has written it) is retried by the kernel on the same
/// connection for about two minutes; a fresh dial picks up the new rules.
const DIAL_TIMEOUT: Duration = Duration::from_secs(2);

/// Accepts inbound connections forever.
pub async fn accept(node: Arc<Node>, listener: TcpListener) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                tokio::spawn(connection(node.clone(), stream, true));
            }
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(REDIAL).await;
            }
        }
    }
}

/// Keeps a connection to `peer` open: dials whenever none is open, at the
/// newest address the peer announced (it may have restarted on new ports).
pub async fn keep_connected(node: Arc<Node>, peer: BootstrapPeer) {
    loop {
        if !node.connected_to(&peer.id) {
            let address = node
                .address_of(&peer.id)
                .unwrap_or_else(|| peer.address.clone());
            match tokio::time::timeout(DIAL_TIMEOUT, TcpStream::connect(&address)).await {
                Ok(Ok(stream)) => connection(node.clone(), stream, false).await,
                Ok(Err(e)) => {
                    tracing::debug!(peer = %peer.id, %address, error = %e, "dial failed")
                }
                Err(_) => tracing::debug!(peer = %peer.id, %address, "dial timed out"),
            }
        }
        tokio::time::sleep(REDIAL).await;
    }
}

/// Runs one connection until either side closes it.
async fn connection(node: Arc<Node>, stream: TcpStream, inbound: bool) {
    let _ = stream.set_nodelay(true);
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    if send(&mut write, &node.hello()).await.is_err() {
        return;
    }
    let (peer_id, peer_address) = match tokio::time::timeout(HELLO_TIMEOUT, lines.next_line()).await
    {
        Ok(Ok(Some(line))) => match serde_json::from_str(&line) {
            Ok(Message::Hello {
                node_id,
                p2p_address,
            }) => (node_id, p2p_address),
            _ => {
                tracing::warn!("peer did not start with hello; closing");
                return;
            }
        },
        _ => return,
    };
    if peer_id == node.config.node_id {
        return;
    }
    let (tx, mut rx) = mpsc::unbounded_channel();
    let (conn, snapshot) = node.add_conn(peer_id.clone(), peer_address, inbound, tx.clone());
    tracing::info!(peer = %peer_id, inbound, "peer connected");
    for entry in snapshot {
        let _ = tx.send(Message::Put(entry));
    }
    drop(tx);
    let writer = tokio::spawn(async move {
        while let Some(msg) = rx.recv().await {
            if send(&mut write, &msg).await.is_err() {
                break;
            }
        }
    });
    while let Ok(Some(line)) = lines.next_line().await {
        match serde_json::from_str(&line) {
            Ok(Message::Put(entry)) => {
                if let Err(e) = node.receive(entry, conn) {
                    tracing::error!(error = %e, "cannot store a gossiped entry");
                }
            }
            Ok(Message::Hello { .. }) => {}
            Err(e) => tracing::warn!(peer = %peer_id, error = %e, "bad message"),
        }
    }
    node.remove_conn(conn);
    writer.abort();
    tracing::info!(peer = %peer_id, "peer disconnected");
}

async fn send(write: &mut tokio::net::tcp::OwnedWriteHalf, msg: &Message) -> std::io::Result<()> {
    let mut line = serde_json::to_vec(msg).map_err(std::io::Error::other)?;
    line.push(b'\n');
    write.write_all(&line).await
}
