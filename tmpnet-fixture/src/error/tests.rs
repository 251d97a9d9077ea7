//! The messages' unit tests.

use super::*;

#[test]
fn errors_joined_say_each_thing_once() {
    let alike = || Error::InvalidInput("node binary cannot be started".into());
    let other = Error::InvalidInput("and another".into());
    let joined = Error::join(vec![alike(), alike(), other, alike()]).unwrap_err();
    assert_eq!(
        joined.to_string(),
        "node binary cannot be started; and another"
    );
}

#[test]
fn a_kind_file_error_quoting_a_long_value_stays_short() {
    let e = Error::KindFile {
        path: "k.toml".into(),
        field: "name".into(),
        problem: format!("{:?} is not a kind name", "n".repeat(100_000)),
        fix: "use a short name".into(),
    };
    let shown = e.to_string();
    assert!(shown.len() < 500, "{} bytes", shown.len());
    assert!(
        shown.contains("bytes in all") && shown.ends_with("use a short name"),
        "{shown}"
    );
}

#[test]
fn advice_quotes_a_path_a_shell_would_run() {
    let e = Error::NoRunningNode {
        dir: "/tmp/x$(touch PWNED)y/n".into(),
    };
    assert!(
        e.to_string()
            .ends_with("`tmpnetctl start-network --network-dir '/tmp/x$(touch PWNED)y/n'`"),
        "{e}"
    );
    let plain = Error::NoRunningNode {
        dir: "/tmp/tmpnet/networks/20261207-1".into(),
    };
    assert!(
        plain
            .to_string()
            .ends_with("--network-dir /tmp/tmpnet/networks/20261207-1`"),
        "{plain}"
    );
}
