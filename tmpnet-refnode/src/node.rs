//! The node's shared state: its store, its peer connections, its counters.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::config::Config;
use crate::store::{Entry, Store};

/// A message on a p2p connection, one JSON object per line.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum Message {
    /// First message both ways: who is talking and where it listens.
    #[serde(rename_all = "camelCase")]
    Hello {
        node_id: String,
        p2p_address: String,
    },
    /// A key-value entry, gossiped.
    Put(Entry),
}

/// One open p2p connection.
#[derive(Debug)]
struct Conn {
    node_id: String,
    address: String,
    inbound: bool,
    tx: mpsc::UnboundedSender<Message>,
}

/// A peer as shown by `/ext/info`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PeerInfo {
    pub node_id: String,
    pub address: String,
    pub inbound: bool,
}

/// Counters exported at `/ext/metrics`.
#[derive(Debug, Default)]
pub struct Counters {
    pub puts: AtomicU64,
    pub gossip_received: AtomicU64,
    pub gossip_sent: AtomicU64,
    pub connections_opened: AtomicU64,
}

/// The running node.
#[derive(Debug)]
pub struct Node {
    pub config: Config,
    pub p2p_address: String,
    pub started: Instant,
    pub counters: Counters,
    store: Mutex<Store>,
    conns: Mutex<HashMap<u64, Conn>>,
    addresses: Mutex<HashMap<String, String>>,
    next_conn: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Node {
    pub fn new(config: Config, p2p_address: String, store: Store) -> Node {
        Node {
            config,
            p2p_address,
            started: Instant::now(),
            counters: Counters::default(),
            store: Mutex::new(store),
            conns: Mutex::new(HashMap::new()),
            addresses: Mutex::new(HashMap::new()),
            next_conn: AtomicU64::new(0),
        }
    }

    pub fn hello(&self) -> Message {
        Message::Hello {
            node_id: self.config.node_id.clone(),
            p2p_address: self.p2p_address.clone(),
        }
    }

    /// Registers a connection; returns its id and the snapshot to send.
    pub fn add_conn(
        &self,
        node_id: String,
        address: String,
        inbound: bool,
        tx: mpsc::UnboundedSender<Message>,
    ) -> (u64, Vec<Entry>) {
        let id = self.next_conn.fetch_add(1, Ordering::Relaxed);
        self.counters
            .connections_opened
            .fetch_add(1, Ordering::Relaxed);
        lock(&self.addresses).insert(node_id.clone(), address.clone());
        lock(&self.conns).insert(
            id,
            Conn {
                node_id,
                address,
                inbound,
                tx,
            },
        );
        let snapshot = lock(&self.store).entries().cloned().collect();
        (id, snapshot)
    }

    pub fn remove_conn(&self, id: u64) {
        lock(&self.conns).remove(&id);
    }

    /// Whether any connection to `node_id` is open.
    pub fn connected_to(&self, node_id: &str) -> bool {
        lock(&self.conns).values().any(|c| c.node_id == node_id)
    }

    /// The newest address `node_id` announced, if it ever connected.
    pub fn address_of(&self, node_id: &str) -> Option<String> {
        lock(&self.addresses).get(node_id).cloned()
    }

    /// Connected peers, one per node id.
    pub fn peers(&self) -> Vec<PeerInfo> {
        let mut by_id = BTreeMap::new();
        for c in lock(&self.conns).values() {
            by_id.entry(c.node_id.clone()).or_insert_with(|| PeerInfo {
                node_id: c.node_id.clone(),
                address: c.address.clone(),
                inbound: c.inbound,
            });
        }
        by_id.into_values().collect()
    }

    /// Bootstrap peers not connected yet.
    pub fn missing_bootstrap_peers(&self) -> Vec<String> {
        self.config
            .bootstrap_peers
            .iter()
            .filter(|p| !self.connected_to(&p.id))
            .map(|p| format!("{}@{}", p.id, p.address))
            .collect()
    }

    /// A local write: store, then gossip to every peer.
    pub fn put(&self, key: &str, value: String) -> Result<Entry, String> {
        let entry = lock(&self.store).put(key, value, &self.config.node_id)?;
        self.counters.puts.fetch_add(1, Ordering::Relaxed);
        self.gossip(&entry, None);
        Ok(entry)
    }

    /// An entry from connection `from`: merge, and pass it on if it was new.
    pub fn receive(&self, entry: Entry, from: u64) -> Result<(), String> {
        self.counters
            .gossip_received
            .fetch_add(1, Ordering::Relaxed);
        let fresh = lock(&self.store).merge(entry.clone())?;
        if fresh {
            self.gossip(&entry, Some(from));
        }
        Ok(())
    }

    fn gossip(&self, entry: &Entry, except: Option<u64>) {
        for (id, conn) in lock(&self.conns).iter() {
            if Some(*id) != except && conn.tx.send(Message::Put(entry.clone())).is_ok() {
                self.counters.gossip_sent.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    pub fn get(&self, key: &str) -> Option<String> {
        lock(&self.store).get(key).map(str::to_owned)
    }

    pub fn key_count(&self) -> usize {
        lock(&self.store).len()
    }
}
