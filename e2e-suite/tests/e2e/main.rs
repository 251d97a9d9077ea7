//! The example end-to-end suite. Each module holds `#[tmpnet_test]`s; the
//! last line writes the harness's `main`.
//!
//! Run it with `cargo test -p e2e-suite` or `cargo nextest run -p e2e-suite`;
//! add `-- --reuse-network` (or `E2E_REUSE_NETWORK=1`) to keep the network
//! for the next run. With `E2E_USE_KUBERNETES=true` the nodes run on
//! Kubernetes; add `ENV_JOB_IMAGE=tmpnet/runner:latest` and the suite itself
//! runs there too, as a Job (see docs/src/guide/in-cluster-runner.md).

mod cases;
mod ephemeral;
mod faults;
mod kv;
mod private;
mod restart;
mod settings;

tmpnet_fixture::main!();
