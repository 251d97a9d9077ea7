//! Which nodes a node is given as peers, and how they are written: the
//! roles of a kind file (nodes that differ by index), the sets of
//! `peers.of`, and `peers.item`'s placeholders.

use super::spec::{self, PeerChoice, PeerSet};
use super::{template, FileKind};
use crate::kinds::LaunchContext;
use crate::model::Peer;

impl FileKind {
    /// The role of the node at `index`, if the kind has roles (see
    /// [`spec::Role`]).
    pub(super) fn role_of(&self, index: usize) -> Option<&spec::Role> {
        let mut start = 0;
        for role in &self.spec.roles {
            match role.nodes {
                Some(count) if index < start + count => return Some(role),
                Some(count) => start += count,
                None => return Some(role),
            }
        }
        None
    }

    /// Whether some node is given peers by their place in the network (the
    /// first node, a role's nodes, every member), which needs every node's
    /// address up front.
    pub(super) fn names_peers_by_place(&self) -> bool {
        self.spec.peers.flag.is_some()
            && (PeerChoice::Set(self.spec.peers.of).needs_members()
                || self
                    .spec
                    .roles
                    .iter()
                    .filter_map(|r| r.peers.as_deref())
                    .any(|p| PeerChoice::parse(p).needs_members()))
    }

    /// The nodes `launch.node` is given as peers: its role's choice, else
    /// `peers.of`. Every choice but "earlier" and "none" is taken from the
    /// members, in index order, so it is the same on every start and
    /// restart.
    fn peers_of(&self, launch: &LaunchContext<'_>) -> Vec<Peer> {
        let index = launch.node.config.index;
        let choice = self
            .role_of(index)
            .and_then(|r| r.peers.as_deref())
            .map_or(PeerChoice::Set(self.spec.peers.of), PeerChoice::parse);
        let others = || {
            launch
                .members
                .iter()
                .enumerate()
                .filter(|(_, m)| m.node_id != launch.node.id())
        };
        match choice {
            PeerChoice::Set(PeerSet::Earlier) => launch.peers.to_vec(),
            PeerChoice::Set(PeerSet::Members) => launch.members.to_vec(),
            PeerChoice::Set(PeerSet::None) => Vec::new(),
            PeerChoice::Set(PeerSet::First) if index == 0 => Vec::new(),
            PeerChoice::Set(PeerSet::First) => launch.members.iter().take(1).cloned().collect(),
            PeerChoice::Role(name) => others()
                .filter(|(i, _)| self.role_of(*i).is_some_and(|r| r.name == name))
                .map(|(_, m)| m.clone())
                .collect(),
        }
    }

    /// The peers flag's value, if the kind gives peers.
    pub(super) fn peers_value(&self, launch: &LaunchContext<'_>) -> Option<String> {
        let peers = &self.spec.peers;
        peers.flag.as_ref()?;
        let list = self.peers_of(launch);
        if list.is_empty() {
            return peers.when_none.clone();
        }
        let items: Vec<String> = list
            .iter()
            .map(|p| {
                let (host, port) = p
                    .p2p_address
                    .rsplit_once(':')
                    .unwrap_or((p.p2p_address.as_str(), ""));
                template::expand(&peers.item, |n| match n {
                    "id" => Some(p.node_id.clone()),
                    "address" => Some(p.p2p_address.clone()),
                    "host" => Some(host.to_owned()),
                    "port" => Some(port.to_owned()),
                    _ => None,
                })
            })
            .collect();
        Some(match &peers.separator {
            Some(sep) => items.join(sep),
            None => items.join("\n"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::Placement;
    use crate::model::{Node, NodeConfig};

    const REDIS_LIKE: &str = r#"
name = "redis-like"
[binary]
name = "redis-server"
[ports]
api = "redis"
scheme = "redis"
[peers]
flag = "replicaof"
item = "{host} {port}"
[[roles]]
name = "primary"
nodes = 1
peers = "none"
[[roles]]
name = "replica"
peers = "primary"
[roles.flags]
replica-read-only = "yes"
[health]
check = "tcp"
"#;

    fn kind(text: &str) -> FileKind {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.toml");
        std::fs::write(&path, text).unwrap();
        FileKind::read(&path).unwrap()
    }

    fn member(i: usize) -> Peer {
        Peer {
            node_id: format!("n{i}"),
            p2p_address: format!("127.0.0.1:{}", 7000 + i),
        }
    }

    /// The peers value node `index` of `count` is given, with the nodes
    /// before it running (as `peers` on a first start).
    fn value(kind: &FileKind, index: usize, count: usize) -> Option<String> {
        let members: Vec<Peer> = (0..count).map(member).collect();
        let node = Node {
            dir: std::path::PathBuf::from("/nowhere"),
            config: NodeConfig::new(format!("n{index}"), index),
        };
        let launch = LaunchContext {
            placement: Placement::Local,
            network_dir: std::path::Path::new("/nowhere"),
            node: &node,
            peers: &members[..index],
            members: &members,
        };
        kind.peers_value(&launch)
    }

    #[test]
    fn roles_take_nodes_by_index_and_name_their_peers() {
        let redis = kind(REDIS_LIKE);
        let roles: Vec<&str> = (0..4)
            .map(|i| redis.role_of(i).unwrap().name.as_str())
            .collect();
        assert_eq!(roles, ["primary", "replica", "replica", "replica"]);
        assert_eq!(value(&redis, 0, 3), None, "the primary has no primary");
        assert_eq!(value(&redis, 2, 3).as_deref(), Some("127.0.0.1 7000"));
        // The same whatever runs: a restart of the primary alone.
        assert_eq!(value(&redis, 1, 3).as_deref(), Some("127.0.0.1 7000"));
    }

    #[test]
    fn first_none_and_roles_of_many_nodes() {
        let first = kind(
            "name = \"seeded\"\n[binary]\nname = \"d\"\n[ports]\napi = \"rpc\"\n\
             [peers]\nflag = \"seed\"\nitem = \"{id}@{address}\"\nof = \"first\"\n\
             [health]\ncheck = \"tcp\"\n",
        );
        assert_eq!(value(&first, 0, 3), None);
        assert_eq!(value(&first, 2, 3).as_deref(), Some("n0@127.0.0.1:7000"));
        let seeds = kind(
            &REDIS_LIKE
                .replace(
                    "nodes = 1\npeers = \"none\"",
                    "nodes = 2\npeers = \"primary\"",
                )
                .replace(
                    "item = \"{host} {port}\"",
                    "item = \"{address}\"\nseparator = \",\"",
                ),
        );
        // Two "primaries" (seeds) know each other; the rest know both.
        assert_eq!(value(&seeds, 0, 4).as_deref(), Some("127.0.0.1:7001"));
        assert_eq!(
            value(&seeds, 3, 4).as_deref(),
            Some("127.0.0.1:7000,127.0.0.1:7001")
        );
    }
}
