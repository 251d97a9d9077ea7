//! An own-daemon suite with no Rust kind: `#[tmpnet_test]`s on networks of
//! the kind `monerod.toml` describes. Run it with
//! `cargo test -p tmpnet-example-monerod` (monerod must be installed:
//! `apt-get install monero`).

mod chain;

// The kind file, relative to this package; E2E_KIND_FILE or E2E_NODE_KIND
// override it.
tmpnet_fixture::main!(kind_file = "monerod.toml");
