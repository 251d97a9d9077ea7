//! The acceptance tests: black-box tests of `tmpnetctl`, the library and
//! the node binaries on real networks, one module per area, linked into
//! one test binary. Filter by area: `cargo test -p tmpnet-acceptance
//! --test acceptance -- errors::`.

mod avalanchego;
mod bitcoind;
mod cli;
mod concurrency;
mod errors;
mod harness;
mod kind_file;
mod kube;
mod kubesim_refnode;
mod logs;
mod metrics;
mod network;
mod output;
mod own_daemons;
mod reliability;
mod retention;
mod state_files;
mod user_crate;
