//! The test registry: `#[tmpnet_test]` puts one [`TestDescriptor`] per test
//! into the [`TESTS`] slice at link time (no code runs before `main`).

use std::fmt::Display;
use std::future::Future;
use std::pin::Pin;

use super::env::TestEnvironment;

/// The future a registered test returns.
pub type TestFuture<'a> = Pin<Box<dyn Future<Output = Result<(), String>> + 'a>>;

/// One registered test, as the macro writes it.
#[derive(Debug)]
pub struct TestDescriptor {
    /// The function's name.
    pub name: &'static str,
    /// Which of the function's cases this is, named as rstest names them
    /// (`case_2_three_nodes`, `nodes_1_1::kind_2_x`); empty for a function
    /// that is one test.
    pub case: &'static str,
    /// `module_path!()` where it was defined.
    pub module_path: &'static str,
    /// `file!()` where it was defined.
    pub file: &'static str,
    /// `line!()` where it was defined.
    pub line: u32,
    /// Listed but not run unless asked for (`--ignored`).
    pub ignore: bool,
    /// Never runs at the same time as another test.
    pub serial: bool,
    /// Its timeout in milliseconds; 0 means the default.
    pub timeout_ms: u64,
    /// Nodes of its private network; 0 means the shared network.
    pub nodes: usize,
    /// Runs it.
    pub run: for<'a> fn(&'a TestEnvironment) -> TestFuture<'a>,
}

impl TestDescriptor {
    /// The name shown and filtered on: the module path without the crate,
    /// then the function, then its case, joined by `::` (as libtest names
    /// tests, and rstest its cases).
    pub fn full_name(&self) -> String {
        let mut name = match self.module_path.split_once("::") {
            Some((_, module)) => format!("{module}::{}", self.name),
            None => self.name.to_owned(),
        };
        if !self.case.is_empty() {
            name = format!("{name}::{}", self.case);
        }
        name
    }
}

/// Every test registered in this binary.
#[linkme::distributed_slice]
pub static TESTS: [TestDescriptor];

/// What a test may return: `()` or `Result<(), E>` with `E: Display`.
#[diagnostic::on_unimplemented(
    message = "a tmpnet test must return `()` or `Result<(), E>` with `E: Display`, not `{Self}`",
    label = "this return type"
)]
pub trait IntoTestResult {
    /// The outcome, with the error rendered for the report.
    fn into_test_result(self) -> Result<(), String>;
}

impl IntoTestResult for () {
    fn into_test_result(self) -> Result<(), String> {
        Ok(())
    }
}

impl<E: Display> IntoTestResult for Result<(), E> {
    fn into_test_result(self) -> Result<(), String> {
        self.map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noop(_: &TestEnvironment) -> TestFuture<'_> {
        Box::pin(async { Ok(()) })
    }

    #[test]
    fn names_drop_the_crate_like_libtest() {
        let mut d = TestDescriptor {
            name: "writes",
            case: "",
            module_path: "e2e::kv",
            file: "f",
            line: 1,
            ignore: false,
            serial: false,
            timeout_ms: 0,
            nodes: 0,
            run: noop,
        };
        assert_eq!(d.full_name(), "kv::writes");
        d.module_path = "e2e";
        assert_eq!(d.full_name(), "writes");
        d.case = "case_2_three_nodes";
        assert_eq!(d.full_name(), "writes::case_2_three_nodes");
    }

    #[test]
    fn results_convert() {
        assert_eq!(().into_test_result(), Ok(()));
        assert_eq!(Err::<(), _>("boom").into_test_result(), Err("boom".into()));
    }
}
