//! Port-forwarding: a loopback listener per (pod, port); each connection
//! accepted is carried to the pod over the API server's port-forward. The
//! listener names the pod, not an address, so it follows the pod across
//! restarts and its local URI never changes.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;

use k8s_openapi::api::core::v1::Pod;
use kube::api::Api;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::AbortHandle;

use crate::error::{Error, Result};

/// The listeners of one runtime; dropping it closes them all.
#[derive(Debug, Default)]
pub struct Forwards {
    listeners: Mutex<HashMap<(String, u16), (SocketAddr, AbortHandle)>>,
}

impl Forwards {
    /// The local address forwarding to `port` of pod `pod`, opened on first
    /// use.
    pub async fn local(&self, pods: &Api<Pod>, pod: &str, port: u16) -> Result<SocketAddr> {
        let key = (pod.to_owned(), port);
        if let Some((addr, _)) = self.lock().get(&key) {
            return Ok(*addr);
        }
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| Error::io("cannot listen for port-forwarding on", "127.0.0.1:0", e))?;
        let addr = listener
            .local_addr()
            .map_err(|e| Error::io("cannot read the address of", "127.0.0.1:0", e))?;
        let mut listeners = self.lock();
        if let Some((existing, _)) = listeners.get(&key) {
            // Another caller won the race; this listener is dropped.
            return Ok(*existing);
        }
        let task = tokio::spawn(serve(listener, pods.clone(), pod.to_owned(), port));
        listeners.insert(key, (addr, task.abort_handle()));
        tracing::debug!(pod, port, %addr, "port-forward listening");
        Ok(addr)
    }

    /// Closes every listener.
    pub fn close_all(&self) {
        for (_, (_, task)) in self.lock().drain() {
            task.abort();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, u16), (SocketAddr, AbortHandle)>> {
        self.listeners
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Drop for Forwards {
    fn drop(&mut self) {
        self.close_all();
    }
}

async fn serve(listener: TcpListener, pods: Api<Pod>, pod: String, port: u16) {
    loop {
        let conn = match listener.accept().await {
            Ok((conn, _)) => conn,
            Err(e) => {
                // E.g. out of file descriptors: back off instead of spinning.
                tracing::debug!(pod, port, error = %e, "port-forward accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let pods = pods.clone();
        let pod = pod.clone();
        tokio::spawn(async move {
            if let Err(e) = carry(conn, &pods, &pod, port).await {
                tracing::debug!(pod, port, error = %e, "port-forward connection ended");
            }
        });
    }
}

async fn carry(mut conn: TcpStream, pods: &Api<Pod>, pod: &str, port: u16) -> std::io::Result<()> {
    let mut forwarder = pods
        .portforward(pod, &[port])
        .await
        .map_err(std::io::Error::other)?;
    let mut upstream = forwarder
        .take_stream(port)
        .ok_or_else(|| std::io::Error::other("the port-forward has no stream"))?;
    let copied = tokio::io::copy_bidirectional(&mut conn, &mut upstream).await;
    drop(upstream);
    let _ = forwarder.join().await;
    copied.map(|_| ())
}
