//! The runner image of a suite, from any cargo workspace: its test
//! binaries built with `cargo test`'s profile and stripped of debug info,
//! the files it declares copied to the same paths, on the libraries they
//! load (see `Dockerfile.runner`).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

use super::command::{need, run};
use super::tool::{Load, Tool};
use super::{check_glibc, Built};
use crate::error::{Error, Result};
use crate::sys::files;

/// The runner image's Dockerfile: the build context's `bin/` (the test
/// binaries) and `files/` (copied to `/`).
pub const RUNNER_DOCKERFILE: &str = include_str!("../../../Dockerfile.runner");

/// What a suite's runner image holds and where it goes.
#[derive(Debug, Clone, Default)]
pub struct SuiteImage {
    /// The workspace's (or package's) `Cargo.toml`; cargo's own search
    /// from the working directory when `None`.
    pub manifest_path: Option<PathBuf>,
    /// The packages whose test binaries go in; cargo's default when empty.
    pub packages: Vec<String>,
    /// Features to build with, as `cargo test --features` takes them.
    pub features: Vec<String>,
    /// Build with `--locked`.
    pub locked: bool,
    /// Files (or directories) the tests read at run time, copied to the
    /// same absolute paths in the image, besides those the packages
    /// declare in `[package.metadata.tmpnet] image-files`.
    pub files: Vec<PathBuf>,
    /// The image's name.
    pub tag: String,
    /// The builder; chosen when `None`.
    pub tool: Option<Tool>,
    /// Where it is loaded after the build.
    pub loads: Vec<Load>,
}

/// Where the workspace is and the files its packages declare.
struct Workspace {
    target_dir: PathBuf,
    declared: Vec<PathBuf>,
}

/// Builds the runner image of `suite`; `progress` hears each step.
pub fn build_suite(suite: &SuiteImage, progress: &dyn Fn(&str)) -> Result<Built> {
    need("cargo", "cargo")?;
    need("objcopy", "binutils")?;
    let tool = Tool::choose(suite.tool)?;
    for place in &suite.loads {
        tool.check_load(place)?;
    }
    let workspace = workspace(suite)?;
    // The files first: a wrong one is refused before minutes of building.
    let wanted = image_files(suite.files.iter().chain(&workspace.declared))?;
    progress("building the test binaries (cargo test --no-run)");
    let binaries = test_binaries(suite)?;
    let context = context_dir(&workspace.target_dir, &suite.tag);
    if context.exists() {
        std::fs::remove_dir_all(&context).map_err(|e| Error::io("cannot remove", &context, e))?;
    }
    let bin = context.join("bin");
    files::create_dir_all(&bin)?;
    files::create_dir_all(&context.join("files"))?;
    let mut contents = Vec::new();
    for exe in &binaries {
        let name = exe.file_name().map(PathBuf::from).unwrap_or_default();
        let dest = bin.join(&name);
        // Debug info is most of a test binary; the code is unchanged.
        run(
            Command::new("objcopy")
                .arg("--strip-debug")
                .arg(exe)
                .arg(&dest),
            "stripping a test binary",
        )?;
        check_glibc(&dest, &name.to_string_lossy())?;
        contents.push(format!("test binary {}", name.display()));
    }
    let mut copies = String::new();
    for path in wanted {
        let inside = context
            .join("files")
            .join(path.strip_prefix("/").unwrap_or(&path));
        if let Some(parent) = inside.parent() {
            files::create_dir_all(parent)?;
        }
        // Links are copied as what they point to, at the path named.
        run(
            Command::new("cp").arg("-aL").arg(&path).arg(&inside),
            "copying a file of the suite",
        )?;
        contents.push(format!("file {}", path.display()));
        copies += &copy_line(&path);
    }
    files::atomic_write(
        &context.join("Dockerfile"),
        format!("{RUNNER_DOCKERFILE}\n# The files the suite reads, at their own paths.\n{copies}")
            .as_bytes(),
        0o644,
    )?;
    tool.ensure_base(progress)?;
    progress(&format!("building {} with {tool}", suite.tag));
    let id = tool.build(&context, &suite.tag)?;
    for place in &suite.loads {
        progress(&format!("loading {} into {place}", suite.tag));
        tool.load(&suite.tag, place)?;
    }
    Ok(Built {
        tag: suite.tag.clone(),
        id,
        tool,
        context: Some(context),
        contents,
    })
}

/// The `COPY` of the file or directory `path` (absolute) from the
/// context's `files/` to the same path: one path each, so the image's own
/// directories on the way (`/tmp`, the home) keep their owners and modes.
fn copy_line(path: &Path) -> String {
    let relative = path.strip_prefix("/").unwrap_or(path);
    let quote = |p: &Path| serde_json::Value::from(p.to_string_lossy().into_owned()).to_string();
    format!(
        "COPY [{}, {}]\n",
        quote(&Path::new("files").join(relative)),
        quote(path)
    )
}

/// The files to copy into the image, each once, at the absolute path
/// named (links not followed: the path the tests open); one that does not
/// exist, or whose path `COPY` would read as a pattern, is refused.
fn image_files<'a>(named: impl Iterator<Item = &'a PathBuf>) -> Result<Vec<PathBuf>> {
    let mut wanted: Vec<PathBuf> = Vec::new();
    for file in named {
        let path = std::path::absolute(file).map_err(|e| Error::io("cannot read", file, e))?;
        if !path.exists() {
            return Err(Error::InvalidInput(format!(
                "file {} for the image does not exist; give a file the tests read (--file, or image-files in [package.metadata.tmpnet])",
                path.display()
            )));
        }
        let text = path.to_string_lossy();
        if text.contains(['*', '?', '[', '$', '\\', '\n']) {
            return Err(Error::InvalidInput(format!(
                "file {} for the image has a character a Dockerfile's COPY reads as a pattern ('*', '?', '[', '$', '\\' or a newline); rename it",
                path.display()
            )));
        }
        if !wanted.contains(&path) {
            wanted.push(path);
        }
    }
    Ok(wanted)
}

/// Where the image `tag` of a workspace whose target directory is `target`
/// is built from: `<target>/tmpnet-images/<tag, one directory name>`, its
/// test binaries under `bin/`.
pub fn context_dir(target: &Path, tag: &str) -> PathBuf {
    target.join("tmpnet-images").join(context_name(tag))
}

/// A directory name for `tag`.
fn context_name(tag: &str) -> String {
    tag.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// `cargo` with the suite's manifest, packages and features.
fn cargo(suite: &SuiteImage, subcommand: &[&str]) -> Command {
    let mut command = Command::new("cargo");
    command.args(subcommand);
    if let Some(manifest) = &suite.manifest_path {
        command.arg("--manifest-path").arg(manifest);
    }
    if suite.locked {
        command.arg("--locked");
    }
    command
}

/// The workspace's target directory and the files its chosen packages
/// declare, read from `cargo metadata`.
fn workspace(suite: &SuiteImage) -> Result<Workspace> {
    let out = run(
        &mut cargo(suite, &["metadata", "--format-version", "1", "--no-deps"]),
        "reading the workspace",
    )?;
    let meta: Value = serde_json::from_slice(&out.stdout)
        .map_err(|e| Error::Environment(format!("cargo metadata printed what is not JSON: {e}")))?;
    let target_dir = PathBuf::from(meta["target_directory"].as_str().unwrap_or("target"));
    let packages = meta["packages"].as_array().cloned().unwrap_or_default();
    let names: Vec<&str> = packages.iter().filter_map(|p| p["name"].as_str()).collect();
    for wanted in &suite.packages {
        if !names.contains(&wanted.as_str()) {
            return Err(Error::InvalidInput(format!(
                "package {wanted:?} is not in the workspace; its packages are {}",
                names.join(", ")
            )));
        }
    }
    let mut declared = Vec::new();
    for package in &packages {
        let name = package["name"].as_str().unwrap_or_default();
        if !suite.packages.is_empty() && !suite.packages.iter().any(|p| p == name) {
            continue;
        }
        let Some(list) = package.pointer("/metadata/tmpnet/image-files") else {
            continue;
        };
        let dir = Path::new(package["manifest_path"].as_str().unwrap_or_default())
            .parent()
            .unwrap_or(Path::new("."))
            .to_owned();
        let items = list
            .as_array()
            .filter(|items| items.iter().all(Value::is_string));
        let Some(items) = items else {
            return Err(Error::InvalidInput(format!(
                "package {name}: [package.metadata.tmpnet] image-files is not a list of paths; write e.g. image-files = [\"tests/kinds/mydaemon.toml\"]"
            )));
        };
        declared.extend(items.iter().filter_map(Value::as_str).map(|p| dir.join(p)));
    }
    Ok(Workspace {
        target_dir,
        declared,
    })
}

/// Builds the suite's test binaries as `cargo test` does and returns the
/// integration test binaries (`tests/`), the ones a runner Job runs.
fn test_binaries(suite: &SuiteImage) -> Result<Vec<PathBuf>> {
    let mut command = cargo(
        suite,
        &[
            "test",
            "--no-run",
            "--message-format=json-render-diagnostics",
        ],
    );
    for package in &suite.packages {
        command.arg("-p").arg(package);
    }
    if !suite.features.is_empty() {
        command.arg("--features").arg(suite.features.join(","));
    }
    // Compiler messages go to the terminal as cargo prints them.
    let output = command
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| Error::Environment(format!("cannot run cargo: {e}")))?;
    if !output.status.success() {
        return Err(Error::Environment(
            "cargo test --no-run failed (its errors are above); the suite must build before its image".to_owned(),
        ));
    }
    let binaries = executables(&String::from_utf8_lossy(&output.stdout));
    if binaries.is_empty() {
        return Err(Error::InvalidInput(
            "the packages built no integration test binary (a target under tests/); pass --package with the suite's package".to_owned(),
        ));
    }
    Ok(binaries)
}

/// The integration test executables among cargo's JSON messages.
fn executables(messages: &str) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = messages
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|m| m["reason"] == "compiler-artifact" && m["profile"]["test"] == true)
        .filter(|m| {
            m["target"]["kind"]
                .as_array()
                .is_some_and(|kinds| kinds.iter().any(|k| k == "test"))
        })
        .filter_map(|m| m["executable"].as_str().map(PathBuf::from))
        .collect();
    found.sort();
    found.dedup();
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_integration_test_binaries_go_in() {
        let messages = [
            r#"{"reason":"compiler-artifact","profile":{"test":true},"target":{"kind":["test"]},"executable":"/t/debug/deps/suite-1a"}"#,
            r#"{"reason":"compiler-artifact","profile":{"test":true},"target":{"kind":["lib"]},"executable":"/t/debug/deps/mylib-2b"}"#,
            r#"{"reason":"compiler-artifact","profile":{"test":false},"target":{"kind":["bin"]},"executable":"/t/debug/mybin"}"#,
            r#"{"reason":"compiler-artifact","profile":{"test":false},"target":{"kind":["lib"]},"executable":null}"#,
            r#"{"reason":"build-finished","success":true}"#,
            "not json",
        ]
        .join("\n");
        assert_eq!(
            executables(&messages),
            [PathBuf::from("/t/debug/deps/suite-1a")]
        );
        assert_eq!(context_name("me/runner:1.2"), "me_runner_1.2");
        assert_eq!(
            copy_line(Path::new("/work/my suite/kinds/\"d\".toml")),
            "COPY [\"files/work/my suite/kinds/\\\"d\\\".toml\", \"/work/my suite/kinds/\\\"d\\\".toml\"]\n"
        );
    }

    #[test]
    fn files_are_taken_once_at_the_path_named_and_patterns_refused() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real.toml");
        std::fs::write(&real, "x").unwrap();
        let link = dir.path().join("link.toml");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let star = dir.path().join("a*b");
        std::fs::write(&star, "x").unwrap();
        let got = image_files([link.clone(), real.clone(), link.clone()].iter()).unwrap();
        assert_eq!(got, [link, real]);
        let err = image_files([star].iter()).unwrap_err().to_string();
        assert!(
            err.contains("reads as a pattern") && err.contains("rename it"),
            "{err}"
        );
        let err = image_files([dir.path().join("gone")].iter())
            .unwrap_err()
            .to_string();
        assert!(err.contains("does not exist"), "{err}");
    }

    #[test]
    fn the_runner_dockerfile_takes_the_binaries_and_stays_without_tools() {
        assert!(RUNNER_DOCKERFILE.contains("COPY bin/ /opt/tmpnet/tests/"));
        assert!(RUNNER_DOCKERFILE.contains("FROM scratch"));
    }
}
