//! Finding a kind by name: the built-in kinds, then the kinds any crate
//! linked into this program registered with [`crate::register_kind!`].
//!
//! Registration is a link-time slice (like the tests of
//! `#[tmpnet_test]`): a kind defined in a user crate is known to every
//! process that links that crate (its test binaries, each nextest test
//! process, its own tools) and to no other. A network whose kind a process
//! does not have fails to load with one line naming the kind and the fix.

use std::sync::Arc;

#[cfg(feature = "avalanchego")]
use super::avalanchego;
use super::{bitcoind, refnode, NodeKind};
use crate::error::{Error, Result};

/// Makes one registered kind.
pub type KindFactory = fn() -> Arc<dyn NodeKind>;

/// Every kind registered with [`crate::register_kind!`] in this program.
#[linkme::distributed_slice]
pub static KINDS: [KindFactory];

/// The names of the built-in kinds.
pub const BUILT_IN: &[&str] = &[
    refnode::NAME,
    bitcoind::NAME,
    #[cfg(feature = "avalanchego")]
    avalanchego::NAME,
];

/// Built-in kinds behind a Cargo feature of this library: name, feature.
const FEATURE_KINDS: &[(&str, &str)] = &[("avalanchego", "avalanchego")];

fn built_in(name: &str) -> Option<Arc<dyn NodeKind>> {
    match name {
        refnode::NAME => Some(Arc::new(refnode::RefNode)),
        bitcoind::NAME => Some(Arc::new(bitcoind::Bitcoind)),
        #[cfg(feature = "avalanchego")]
        avalanchego::NAME => Some(Arc::new(avalanchego::Avalanchego)),
        _ => None,
    }
}

/// The names of every kind this program has: built-in, then registered.
pub fn known() -> Vec<String> {
    BUILT_IN
        .iter()
        .map(|n| (*n).to_owned())
        .chain(KINDS.iter().map(|make| make().name().to_owned()))
        .collect()
}

/// Looks up a kind by name: a built-in one, or one registered in this
/// program. A registered kind may not take a built-in name, and two may not
/// share one.
pub fn by_name(name: &str) -> Result<Arc<dyn NodeKind>> {
    let registered = KINDS
        .iter()
        .map(|make| make())
        .filter(|k| k.name() == name)
        .collect();
    choose(name, built_in(name), registered)
}

fn choose(
    name: &str,
    built_in: Option<Arc<dyn NodeKind>>,
    registered: Vec<Arc<dyn NodeKind>>,
) -> Result<Arc<dyn NodeKind>> {
    match (built_in, registered.len()) {
        (Some(kind), 0) => Ok(kind),
        (None, 1) => Ok(registered.into_iter().next().expect("one registered kind")),
        // A built-in kind this build has is found above, so one listed here
        // was left out of the build.
        (None, 0) => match FEATURE_KINDS.iter().find(|(n, _)| *n == name) {
            Some((_, feature)) => Err(Error::feature_disabled(feature, format!("the {name} node kind"))),
            None => Err(Error::UnknownNodeKind {
                name: name.to_owned(),
                known: known(),
            }),
        },
        (builtin, count) => Err(Error::InvalidInput(format!(
            "{count} kind(s) registered in this program are named {name:?}{}; give each registered kind a name of its own",
            if builtin.is_some() { ", like a built-in kind" } else { "" }
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::{node_with_random_id, HealthContext, LaunchContext, Placement};
    use crate::model::{Flags, Health, NodeConfig};
    use async_trait::async_trait;

    /// Registered by this test module, as a user crate would.
    #[derive(Debug)]
    struct Registered(&'static str);

    #[async_trait]
    impl NodeKind for Registered {
        fn name(&self) -> &str {
            self.0
        }
        fn new_node(&self, index: usize) -> Result<NodeConfig> {
            Ok(node_with_random_id("reg", index))
        }
        fn default_flags(&self, _: Placement) -> Flags {
            Flags::new()
        }
        fn forced_flags(&self, _: &LaunchContext<'_>) -> Result<Flags> {
            Ok(Flags::new())
        }
        async fn check_health(&self, _: &HealthContext<'_>) -> Health {
            Health::Healthy
        }
    }

    crate::register_kind!(Registered("registered-by-a-test"));
    crate::register_kind!(Registered("twice"));
    crate::register_kind!(Registered("twice"));

    /// A built-in kind left out of the build is named with its feature,
    /// not as an unknown kind.
    #[test]
    #[cfg(not(feature = "avalanchego"))]
    fn a_kind_behind_a_feature_names_the_feature() {
        let err = by_name("avalanchego").unwrap_err().to_string();
        assert!(err.contains("`avalanchego` feature"), "{err}");
        assert!(!known().contains(&"avalanchego".to_owned()));
        let err = by_name("no-such-kind").unwrap_err().to_string();
        assert!(err.contains("refnode"), "{err}");
    }

    #[test]
    fn a_registered_kind_is_found_by_name() {
        let kind = by_name("registered-by-a-test").unwrap();
        assert_eq!(kind.name(), "registered-by-a-test");
        assert!(known().contains(&"registered-by-a-test".to_owned()));
    }

    #[test]
    fn an_unknown_kind_lists_every_known_one() {
        let err = by_name("geth").unwrap_err().to_string();
        assert!(
            err.contains("geth") && err.contains("refnode") && err.contains("registered-by-a-test"),
            "{err}"
        );
        assert!(!err.contains('\n'), "{err}");
    }

    #[test]
    fn names_must_be_unique() {
        let err = by_name("twice").unwrap_err().to_string();
        assert!(
            err.contains("2 kind(s)") && err.contains("\"twice\""),
            "{err}"
        );
        let clash: Arc<dyn NodeKind> = Arc::new(Registered("refnode"));
        let err = choose("refnode", built_in("refnode"), vec![clash])
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("built-in"), "{err}");
    }
}
