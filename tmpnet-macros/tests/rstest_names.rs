//! The tests one `#[tmpnet_test]` function stands for are named exactly as
//! rstest names the same cases and values: each function below is expanded
//! once by rstest (run by this target's standard harness) and once by
//! tmpnet (registered, never run), and the names are compared.

use std::process::Command;

/// Writes each function twice from one text: for rstest in `with_rstest`,
/// for tmpnet (with the environment first) in `with_tmpnet`.
macro_rules! both {
    ($( $(#[$attr:meta])* fn $name:ident($($params:tt)*); )*) => {
        mod with_rstest {
            #![allow(unused_variables)]
            use rstest::rstest;
            $(
                #[rstest]
                $(#[$attr])*
                fn $name($($params)*) {}
            )*
        }

        mod with_tmpnet {
            #![allow(unused_variables)]
            use tmpnet_fixture::{tmpnet_test, TestEnvironment};
            $(
                #[tmpnet_test]
                $(#[$attr])*
                async fn $name(_env: &TestEnvironment, $($params)*) {}
            )*
        }
    };
}

both! {
    #[case(1, "one")]
    #[case::fails(2, "two")]
    #[case::third(3, "three")]
    fn numbered(#[case] n: u32, #[case] word: &str);

    fn matrix(
        #[values(1, 2)] nodes: usize,
        #[values('a', "b".chars().next().unwrap_or('b'), /// the last one
            'c')]
        letter: char,
    );

    #[case::first(1)]
    #[case(2)]
    fn mixed(#[case] n: u32, #[values("127.0.0.1:80", "[::1]:8080")] addr: std::net::SocketAddr);

    #[case(1)] #[case(2)] #[case(3)] #[case(4)] #[case(5)]
    #[case(6)] #[case(7)] #[case(8)] #[case(9)] #[case(10)]
    fn ten(#[case] n: u32);

    fn long(
        #[values("a value much longer than sixty-four characters, which rstest cuts off at 64")]
        text: &str,
    );
}

#[test]
fn names_are_the_ones_rstest_gives() {
    // What libtest lists for rstest's expansion, without this test.
    let exe = std::env::current_exe().expect("this test's binary");
    let out = Command::new(exe)
        .args(["--list", "--format", "terse"])
        .output()
        .expect("list the tests");
    let mut rstest_names: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.strip_suffix(": test"))
        .filter_map(|n| n.strip_prefix("with_rstest::"))
        .map(str::to_owned)
        .collect();
    rstest_names.sort();
    let mut ours: Vec<String> = tmpnet_fixture::__private::TESTS
        .iter()
        .map(|d| {
            let name = d.full_name();
            name.strip_prefix("with_tmpnet::")
                .unwrap_or(&name)
                .to_owned()
        })
        .collect();
    ours.sort();
    assert_eq!(rstest_names.len(), 3 + 6 + 4 + 10 + 1, "{rstest_names:#?}");
    assert_eq!(ours, rstest_names);
}
