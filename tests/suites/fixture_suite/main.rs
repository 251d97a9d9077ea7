//! A suite for the harness's own acceptance tests (`tests/acceptance/harness.rs`):
//! tests that pass, fail, panic, hang, overrun, or must run alone. Each
//! records what it saw under `$TMPNET_ROOT_DIR` so the acceptance tests can
//! check it from outside.

mod bad;
mod cases;
mod ok;
mod record;
mod slow;

tmpnet_fixture::main!();
