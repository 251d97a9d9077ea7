//! A node as a test sees it: its id, a URI reachable from here, its health.

use super::Network;
use crate::error::{Error, Result};
use crate::model::{Health, Node, NodeState};

/// One node of a network, with the network it belongs to.
#[derive(Debug, Clone)]
pub struct NodeHandle {
    network: Network,
    node: Node,
}

impl NodeHandle {
    pub(super) fn new(network: Network, node: Node) -> Self {
        NodeHandle { network, node }
    }

    /// The node id.
    pub fn id(&self) -> &str {
        self.node.id()
    }

    /// The node's directory and configuration.
    pub fn node(&self) -> &Node {
        &self.node
    }

    /// The network it belongs to.
    pub fn network(&self) -> &Network {
        &self.network
    }

    /// A URI for the node's API reachable from where this code runs; an
    /// error when the node is not running.
    pub async fn uri(&self) -> Result<String> {
        self.network
            .runtime()
            .accessible_uri(&self.node)
            .await?
            .ok_or_else(|| Error::NotRunning {
                node: self.id().to_owned(),
                detail: "it has no reachable API".into(),
                log_tail: Vec::new(),
            })
    }

    /// The host and port of the node's API reachable from where this code
    /// runs (`("127.0.0.1", 6379)`), for clients that take an address, not
    /// a URI; an error when the node is not running. On local processes
    /// the other ports the tool allocated are in `node().config.ports`.
    pub async fn address(&self) -> Result<(String, u16)> {
        let uri = self.uri().await?;
        address_of(&uri).ok_or_else(|| Error::NotRunning {
            node: self.id().to_owned(),
            detail: format!("its URI {uri} names no host and port"),
            log_tail: Vec::new(),
        })
    }

    /// Its health now; a stopped node is unhealthy.
    pub async fn health(&self) -> Result<Health> {
        super::health::health_now(self.network.runtime().as_ref(), &self.node).await
    }

    /// Its state now.
    pub async fn state(&self) -> Result<NodeState> {
        self.network.runtime().state(&self.node).await
    }

    /// Stops it (SIGTERM, then SIGKILL after the grace period; a pod is
    /// scaled to zero).
    pub async fn stop(&self) -> Result<()> {
        self.network.stop_node(&self.node).await
    }
}

/// The host and port of `uri` (`scheme://host:port/...`; an IPv6 host
/// without its brackets); `None` without an explicit port.
fn address_of(uri: &str) -> Option<(String, u16)> {
    let rest = uri.split_once("://").map_or(uri, |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#']).next()?;
    let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
    let (host, port) = authority.rsplit_once(':')?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    (!host.is_empty()).then_some(())?;
    Some((host.to_owned(), port.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_address_of_a_uri_is_its_host_and_port() {
        let of = |uri: &str| address_of(uri);
        assert_eq!(
            of("http://127.0.0.1:9650"),
            Some(("127.0.0.1".into(), 9650))
        );
        assert_eq!(
            of("redis://127.0.0.1:6379/0"),
            Some(("127.0.0.1".into(), 6379))
        );
        assert_eq!(of("tcp://[::1]:80"), Some(("::1".into(), 80)));
        assert_eq!(
            of("https://u:p@node.example:8443/x?y"),
            Some(("node.example".into(), 8443))
        );
        assert_eq!(of("http://127.0.0.1"), None);
        assert_eq!(of("http://:80"), None);
        assert_eq!(of("http://h:port"), None);
    }
}
