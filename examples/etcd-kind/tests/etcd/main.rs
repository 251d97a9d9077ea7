//! An own-daemon suite: `#[tmpnet_test]`s on networks of the etcd kind this
//! crate defines. Run it with `cargo test -p tmpnet-example-etcd` or
//! `cargo nextest run -p tmpnet-example-etcd` (etcd must be installed:
//! `apt-get install etcd-server`).

mod cluster;

// Networks of this suite run the crate's own kind unless E2E_NODE_KIND or
// E2E_KIND_FILE say otherwise. Linking the crate registers it.
tmpnet_fixture::main!(node_kind = tmpnet_example_etcd::NAME);
