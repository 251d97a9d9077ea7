//! Reading a kind file: its TOML parsed into a [`KindSpec`], a syntax error
//! turned into one line naming the file and the line or table, then the
//! checks of [`check`](super::check).

use std::path::Path;

use super::check;
use super::spec::KindSpec;
use crate::error::{Error, Result};

/// Where a reader finds every field explained.
const SEE: &str = "see docs/src/reference/kind-file.md";

/// The largest kind file read (a real one is a few KiB).
const MAX_BYTES: u64 = 1 << 20;

/// Reads and checks a kind file; returns its settings and its text. Only a
/// regular file of at most 1 MiB is read: a FIFO, a device or a huge file
/// is refused before any byte is read.
pub(super) fn read(path: &Path) -> Result<(KindSpec, String)> {
    let refuse = |problem: String| Error::KindFile {
        path: path.to_owned(),
        field: "the file".into(),
        problem,
        fix: "give the path of a TOML kind file (--kind-file)".into(),
    };
    let text = crate::sys::files::read_small(path, MAX_BYTES).map_err(refuse)?;
    Ok((parse(path, &text)?, text))
}

/// Parses and checks a kind file's text.
pub(super) fn parse(path: &Path, text: &str) -> Result<KindSpec> {
    let spec: KindSpec = toml::from_str(text).map_err(|e| syntax_error(path, text, &e))?;
    check::check(path, &spec)?;
    Ok(spec)
}

fn syntax_error(path: &Path, text: &str, e: &toml::de::Error) -> Error {
    let (field, excerpt) = match e.span() {
        // A whole table (a missing field): name it, not its first line.
        Some(span)
            if e.message().starts_with("missing field")
                || text
                    .get(span.clone())
                    .unwrap_or("")
                    .trim_end()
                    .contains('\n') =>
        {
            let first = text
                .get(span.start..)
                .unwrap_or("")
                .lines()
                .next()
                .unwrap_or("");
            if span.start == 0 {
                ("the top level".into(), String::new())
            } else {
                (format!("table {}", first.trim()), String::new())
            }
        }
        Some(span) => {
            let line_no = text[..span.start.min(text.len())].matches('\n').count() + 1;
            let line = text.lines().nth(line_no - 1).unwrap_or("").trim();
            (format!("line {line_no}"), format!(" (`{line}`)"))
        }
        None => ("the file".into(), String::new()),
    };
    let message = e.message().replace('\n', " ");
    Error::KindFile {
        path: path.to_owned(),
        field: format!("{field}{excerpt}"),
        problem: message.trim().trim_end_matches('.').to_owned(),
        fix: format!("correct it ({SEE})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::file::spec::{Check, Discovery, StopSignal};

    fn error_of(text: &str) -> String {
        parse(Path::new("k.toml"), text).unwrap_err().to_string()
    }

    #[test]
    fn files_may_live_in_the_node_s_directories_but_not_be_them() {
        let base = "name = \"x\"\n[binary]\nname = \"x\"\n[ports]\napi = \"rpc\"\n[launch]\nflags_via = \"file\"\n";
        for fine in [
            "data_dir = \"db\"\nconfig_file = \"db/node.conf\"",
            "data_dir = \"data\"\nconfig_file = \"data/node.conf\"",
            "config_file = \"./node.conf\"",
        ] {
            let text = format!("{base}{fine}");
            assert!(parse(Path::new("k.toml"), &text).is_ok(), "{fine}: {text}");
        }
        for (bad, says) in [
            (
                "config_file = \"data\"",
                "names the same path as launch.data_dir",
            ),
            ("data_dir = \"c/d\"\nconfig_file = \"c\"", "lies inside it"),
            ("config_file = \"node.conf/\"", "names a directory"),
        ] {
            let err = error_of(&format!("{base}{bad}"));
            assert!(err.contains(says), "{bad}: {err}");
        }
    }

    #[test]
    fn peers_by_place_in_pods_need_every_address_up_front() {
        use crate::kinds::PodDaemon as _;
        let base = "name = \"x\"\n[binary]\nname = \"x\"\n[ports]\napi = \"rpc\"\n";
        let pods = "[kubernetes]\nimage = \"x:1\"\n[kubernetes.ports]\nrpc = 1\n";
        let dir = tempfile::tempdir().unwrap();
        let needs = |peers: &str| {
            let path = dir.path().join("k.toml");
            std::fs::write(&path, format!("{base}{peers}{pods}")).unwrap();
            crate::kinds::file::FileKind::load_for_pods(&path)
                .unwrap()
                .needs_members()
        };
        assert!(needs("[peers]\nflag = \"seeds\"\nof = \"first\"\n"));
        assert!(needs(
            "[peers]\nflag = \"seeds\"\n[[roles]]\nname = \"a\"\npeers = \"a\"\n"
        ));
        assert!(!needs("[peers]\nflag = \"seeds\"\nof = \"earlier\"\n"));
        // Without a flag no node is told of peers.
        assert!(!needs("[peers]\nof = \"first\"\n"));
    }

    #[test]
    fn syntax_errors_name_the_line_or_the_table() {
        let err = error_of("[binary]\nname = \"x\"\n[ports]\napi = \"rpc\"");
        assert!(err.contains("missing field `name`"), "{err}");
        assert!(err.contains("top level"), "{err}");
        let err = error_of("name = \"x\"\n[binary]\nname = \"x\"\n[ports]\nscheme = \"http\"");
        assert!(err.contains("missing field `api`"), "{err}");
        assert!(err.contains("table [ports]"), "{err}");
        let err = error_of("name = \"x\"\n[binary]\nname = 3\n[ports]\napi = \"rpc\"");
        assert!(err.contains("line 3 (`name = 3`)"), "{err}");
        assert!(!err.contains('\n'), "{err}");
    }

    #[test]
    fn defaults_fill_what_is_left_out() {
        let spec = parse(
            Path::new("k.toml"),
            "name = \"mini\"\n[binary]\nname = \"mini\"\n[ports]\napi = \"rpc\"",
        )
        .unwrap();
        assert_eq!(spec.launch.flag_args, ["--{name}={value}"]);
        assert_eq!(spec.launch.data_dir, "data");
        assert_eq!(spec.launch.stop_signal, StopSignal::Term);
        assert_eq!(spec.ports.discovery, Discovery::Allocate);
        assert_eq!(spec.health.check, Check::Http);
        assert_eq!(spec.health.status, 200);
        assert_eq!(spec.logs.fatal, ["FATAL"]);
        assert!(spec.kubernetes.is_none());
    }
}
