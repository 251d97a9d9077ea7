//! Finds `#[test]`, `#[tokio::test]` and `#[rstest]` functions in a
//! `harness = false` target. Such functions compile but never run there, so
//! the harness refuses to start rather than let them vanish silently.

use std::path::{Path, PathBuf};

/// Attribute paths that mark a function libtest would run (`#[fixture]`
/// and `#[rstest::fixture]` do not: fixtures serve `#[tmpnet_test]`s).
const MARKERS: &[&str] = &[
    "test",
    "tokio::test",
    "rstest",
    "rstest::rstest",
    "::core::prelude::v1::test",
    "core::prelude::v1::test",
    "test_case",
    "test_case::test_case",
];

/// The path of the attribute a line of code starts with, if any.
fn attribute_path(code: &str) -> Option<&str> {
    let rest = code.strip_prefix("#[")?;
    let end = rest
        .find(|c: char| c == '(' || c == ']' || c == '=' || c.is_whitespace())
        .unwrap_or(rest.len());
    Some(&rest[..end])
}

/// One stray test attribute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The file.
    pub file: PathBuf,
    /// 1-based line number.
    pub line: usize,
    /// The attribute as written.
    pub attribute: String,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}: `{}` never runs in a harness = false target; use #[tmpnet_test] (or move it to a target with the standard harness)",
            self.file.display(),
            self.line,
            self.attribute
        )
    }
}

/// The target's main source file on disk: `main_file` is `file!()` of the
/// harness's `main` (relative to the workspace or package root).
pub fn locate_main(main_file: &str, manifest_dir: &str) -> Option<PathBuf> {
    let file = Path::new(main_file);
    if file.is_absolute() {
        return file.is_file().then(|| file.to_owned());
    }
    Path::new(manifest_dir)
        .ancestors()
        .map(|dir| dir.join(file))
        .find(|p| p.is_file())
}

/// Scans the target's sources: its main file and, for `x/main.rs` or
/// `x.rs`, every `.rs` file under `x/`.
pub fn scan(main: &Path) -> Vec<Finding> {
    let mut files = vec![main.to_owned()];
    let module_dir = if main.file_name().is_some_and(|n| n == "main.rs") {
        main.parent().map(Path::to_owned)
    } else {
        Some(main.with_extension(""))
    };
    if let Some(dir) = module_dir {
        collect_rs(&dir, &mut files);
    }
    files.sort();
    files.dedup();
    let mut findings = Vec::new();
    for file in files {
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        for (i, line) in text.lines().enumerate() {
            let code = line.trim_start();
            if attribute_path(code).is_some_and(|p| MARKERS.contains(&p)) {
                let end = code.find(']').map_or(code.len(), |e| e + 1);
                findings.push(Finding {
                    file: file.clone(),
                    line: i + 1,
                    attribute: code[..end].to_owned(),
                });
            }
        }
    }
    findings
}

fn collect_rs(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.filter_map(|e| e.ok()) {
        let path = entry.path();
        if path.is_dir() {
            collect_rs(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_stray_test_attributes_and_ignores_comments() {
        let dir = tempfile::tempdir().unwrap();
        let main = dir.path().join("main.rs");
        std::fs::write(&main, "mod kv;\n// #[test] in a comment\n#[tmpnet_test]\nasync fn ok(env: &TestEnvironment) {}\n").unwrap();
        std::fs::write(
            dir.path().join("kv.rs"),
            "#[test]\nfn a() {}\n    #[tokio::test(flavor = \"multi_thread\")]\nasync fn b() {}\n#[rstest]\nfn c() {}\n#[rstest::fixture]\nfn d() {}\n#[fixture]\nfn e() {}\n#[test_harness]\nfn f() {}\n",
        )
        .unwrap();
        let found = scan(&main);
        let attrs: Vec<&str> = found.iter().map(|f| f.attribute.as_str()).collect();
        assert_eq!(
            attrs,
            [
                "#[test]",
                "#[tokio::test(flavor = \"multi_thread\")]",
                "#[rstest]"
            ]
        );
        assert_eq!(found[1].line, 3);
        assert!(found[0].to_string().contains("kv.rs:1"), "{}", found[0]);
    }

    #[test]
    fn locates_the_main_file_from_a_workspace_relative_path() {
        let found = locate_main(
            "tmpnet-fixture/src/harness/foreign.rs",
            env!("CARGO_MANIFEST_DIR"),
        );
        assert!(found.is_some_and(|p| p.ends_with("harness/foreign.rs")));
        assert!(locate_main("no/such/file.rs", env!("CARGO_MANIFEST_DIR")).is_none());
    }
}
