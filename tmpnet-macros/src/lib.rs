//! The `#[tmpnet_test]` attribute (to come): it will register `async fn`
//! tests with the tmpnet harness. This crate is empty until then.
