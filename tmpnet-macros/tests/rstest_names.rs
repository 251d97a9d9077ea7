//! The tests one `#[tmpnet_test]` function stands for are named exactly as
//! rstest names the same cases and values: the same functions are written
//! once for rstest (run by this target's standard harness) and once for
//! tmpnet (registered, never run), and the names are compared.

use std::process::Command;

use rstest::rstest;

#[rstest]
#[case(1, "one")]
#[case::fails(2, "two")]
#[case::third(3, "three")]
fn numbered(#[case] n: u32, #[case] word: &str) {
    let _ = (n, word);
}

#[rstest]
fn matrix(
    #[values(1, 2)] nodes: usize,
    #[values('a', "b".chars().next().unwrap_or('b'), /// the last one
        'c')]
    letter: char,
) {
    let _ = (nodes, letter);
}

#[rstest]
#[case::first(1)]
#[case(2)]
fn mixed(#[case] n: u32, #[values("127.0.0.1:80", "[::1]:8080")] addr: std::net::SocketAddr) {
    let _ = (n, addr);
}

#[rstest]
#[case(1)]
#[case(2)]
#[case(3)]
#[case(4)]
#[case(5)]
#[case(6)]
#[case(7)]
#[case(8)]
#[case(9)]
#[case(10)]
fn ten(#[case] n: u32) {
    let _ = n;
}

#[rstest]
fn long(
    #[values("a value much longer than sixty-four characters, which rstest cuts off at 64")]
    text: &str,
) {
    let _ = text;
}

mod ours {
    use tmpnet_fixture::{tmpnet_test, TestEnvironment};

    #[tmpnet_test]
    #[case(1, "one")]
    #[case::fails(2, "two")]
    #[case::third(3, "three")]
    async fn numbered(_env: &TestEnvironment, #[case] n: u32, #[case] word: &str) {
        let _ = (n, word);
    }

    #[tmpnet_test]
    async fn matrix(
        _env: &TestEnvironment,
        #[values(1, 2)] nodes: usize,
        #[values('a', "b".chars().next().unwrap_or('b'), /// the last one
            'c')]
        letter: char,
    ) {
        let _ = (nodes, letter);
    }

    #[tmpnet_test]
    #[case::first(1)]
    #[case(2)]
    async fn mixed(
        _env: &TestEnvironment,
        #[case] n: u32,
        #[values("127.0.0.1:80", "[::1]:8080")] addr: std::net::SocketAddr,
    ) {
        let _ = (n, addr);
    }

    #[tmpnet_test]
    #[case(1)]
    #[case(2)]
    #[case(3)]
    #[case(4)]
    #[case(5)]
    #[case(6)]
    #[case(7)]
    #[case(8)]
    #[case(9)]
    #[case(10)]
    async fn ten(_env: &TestEnvironment, #[case] n: u32) {
        let _ = n;
    }

    #[tmpnet_test]
    async fn long(
        _env: &TestEnvironment,
        #[values("a value much longer than sixty-four characters, which rstest cuts off at 64")]
        text: &str,
    ) {
        let _ = text;
    }
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
        .filter(|n| *n != "names_are_the_ones_rstest_gives")
        .map(str::to_owned)
        .collect();
    rstest_names.sort();
    let mut ours: Vec<String> = tmpnet_fixture::__private::TESTS
        .iter()
        .map(|d| {
            let name = d.full_name();
            name.strip_prefix("ours::").unwrap_or(&name).to_owned()
        })
        .collect();
    ours.sort();
    assert_eq!(rstest_names.len(), 3 + 6 + 4 + 10 + 1, "{rstest_names:#?}");
    assert_eq!(ours, rstest_names);
}
