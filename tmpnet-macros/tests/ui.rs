//! Compile-fail tests: every error `#[tmpnet_test]` reports, with its span.
//! Regenerate the expected output with `TRYBUILD=overwrite cargo test -p tmpnet-macros --test ui`.

#[test]
fn macro_errors() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}
