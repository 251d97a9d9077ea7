//! What the docs promise, from crates outside this repository.
//!
//! - A crate with the library's default features and the README's first
//!   suite, copied from the README itself, passes under `cargo test`, and
//!   compiles no Kubernetes client, no k8s-openapi and no avalanchego
//!   crypto.
//! - A crate choosing its own Kubernetes API version (k8s-openapi `v1_35`)
//!   compiles with the library's `kube` feature (the workspace itself
//!   builds with `v1_33`), and its suite compiles with the library renamed
//!   (`tmpnet = { package = "tmpnet-fixture" }`): `#[tmpnet_test]` finds
//!   it by its new name, or is told with `crate = path`.
//!
//! Each crate is generated in a temporary directory with the workspace's
//! lock (so the versions are those the workspace is tested with) and built
//! in a target directory of its own, kept between runs.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace")
        .to_owned()
}

/// Writes `files` (relative path, content) into a new crate directory.
fn generate(files: &[(&str, String)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    for (path, content) in files {
        let file = dir.path().join(path);
        std::fs::create_dir_all(file.parent().expect("a parent")).expect("mkdir");
        std::fs::write(file, content).expect("write");
    }
    std::fs::copy(
        workspace().join("Cargo.lock"),
        dir.path().join("Cargo.lock"),
    )
    .expect("copy the lock");
    dir
}

/// Runs cargo `args` on the crate in `dir`, in the shared target directory
/// for generated crates (the running cargo holds the workspace's).
fn cargo(dir: &Path, args: &[&str]) -> Output {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    Command::new(cargo)
        .args(args)
        .arg("--manifest-path")
        .arg(dir.join("Cargo.toml"))
        .env("CARGO_TARGET_DIR", workspace().join("target/user-crates"))
        // Networks of the suite go under the crate's directory.
        .env("TMPNET_ROOT_DIR", dir.join("tmpnet"))
        .env_remove("E2E_USE_KUBERNETES")
        .env_remove("ENV_JOB_IMAGE")
        .output()
        .expect("run cargo")
}

/// The code blocks of `lang` in a Markdown text, with rustdoc's hidden
/// lines (`# ...`) removed, in order.
fn blocks(markdown: &str, lang: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current: Option<String> = None;
    for line in markdown.lines() {
        match &mut current {
            None if line.starts_with("```") && line[3..].split(',').next() == Some(lang) => {
                current = Some(String::new());
            }
            None => {}
            Some(_) if line.starts_with("```") => out.extend(current.take()),
            Some(block) => {
                let hidden = lang == "rust" && (line == "#" || line.starts_with("# "));
                if !hidden {
                    block.push_str(line);
                    block.push('\n');
                }
            }
        }
    }
    out
}

/// The README's first suite: its Cargo.toml lines, `main.rs` and `kv.rs`.
fn readme_suite() -> (String, String, String) {
    let readme = std::fs::read_to_string(workspace().join("README.md")).expect("README");
    let section = readme
        .split("## A first suite")
        .nth(1)
        .expect("the README has a first suite")
        .split("\n## ")
        .next()
        .unwrap_or_default();
    let toml = blocks(section, "toml");
    let rust = blocks(section, "rust");
    assert!(
        toml.len() == 1 && rust.len() == 2,
        "the README's first suite is one Cargo.toml and two Rust files"
    );
    let find = |name: &str| {
        rust.iter()
            .find(|b| b.contains(&format!("// tests/e2e/{name}")))
            .unwrap_or_else(|| panic!("no tests/e2e/{name} in the README"))
            .clone()
    };
    (toml[0].clone(), find("main.rs"), find("kv.rs"))
}

#[test]
fn the_readme_s_first_suite_passes_in_a_crate_of_its_own_without_kubernetes() {
    let (toml, main, kv) = readme_suite();
    let fixture = workspace().join("tmpnet-fixture");
    let toml = toml.replace("../tmpnet-fixture", &fixture.display().to_string());
    assert!(
        toml.contains(&fixture.display().to_string()),
        "the README's Cargo.toml names tmpnet-fixture by a path:\n{toml}"
    );
    let manifest = format!(
        "[package]\nname = \"first-suite\"\nversion = \"0.0.0\"\nedition = \"2021\"\npublish = false\n\n[workspace]\n\n{toml}"
    );
    let user = generate(&[
        ("Cargo.toml", manifest),
        ("src/lib.rs", "//! A user's crate.\n".into()),
        ("tests/e2e/main.rs", main),
        ("tests/e2e/kv.rs", kv),
    ]);

    let out = cargo(user.path(), &["test", "--quiet", "--test", "e2e"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the README's first suite failed in a crate of its own:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("2 passed"), "{stdout}");

    let out = cargo(
        user.path(),
        &["tree", "--edges", "normal,build,dev", "--prefix", "none"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tree = String::from_utf8_lossy(&out.stdout);
    let crates: Vec<&str> = tree
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    for absent in [
        "kube",
        "kube-client",
        "k8s-openapi",
        "rustls",
        "blst",
        "k256",
        "rcgen",
        "bech32",
        "bs58",
        "ripemd",
        "sha3",
    ] {
        assert!(
            !crates.contains(&absent),
            "a local-only crate compiles {absent}:\n{tree}"
        );
    }
    assert!(crates.contains(&"tmpnet-refnode"), "{tree}");
}

#[test]
fn a_user_crate_on_another_kubernetes_version_compiles_with_kube() {
    let fixture = workspace().join("tmpnet-fixture");
    let manifest = format!(
        r#"[package]
name = "k8s-version-user"
version = "0.0.0"
edition = "2021"
publish = false

[workspace]

[dependencies]
k8s-openapi = {{ version = "0.29", features = ["v1_35"] }}
tmpnet = {{ package = "tmpnet-fixture", path = "{}", features = ["kube"] }}

[[test]]
name = "suite"
path = "tests/suite/main.rs"
harness = false
"#,
        fixture.display()
    );
    let lib = r#"//! tmpnet-fixture's Kubernetes side and k8s-openapi types side by side.
pub fn both() -> (k8s_openapi::api::core::v1::Pod, tmpnet::Result<String>) {
    let mut pod = k8s_openapi::api::core::v1::Pod::default();
    pod.metadata.name = Some("user".into());
    let settings = tmpnet::model::KubeSettings::new("tmpnet", "");
    let spec = tmpnet::NetworkSpec::new("/tmp/tmpnet", 1).with_kube(settings);
    // Rendering manifests is the kube feature's.
    (pod, tmpnet::Network::render(&spec))
}
"#;
    let suite = r#"use tmpnet::{tmpnet_test, TestEnvironment, TestResult};

#[tmpnet_test]
async fn found_by_its_new_name(env: &TestEnvironment) -> TestResult {
    env.node_uris().await?;
    Ok(())
}

#[tmpnet_test(crate = tmpnet, nodes = 1)]
async fn told_by_crate(env: &TestEnvironment) -> TestResult {
    env.random_node_uri().await?;
    Ok(())
}

tmpnet::main!();
"#;
    let user = generate(&[
        ("Cargo.toml", manifest),
        ("src/lib.rs", lib.into()),
        ("tests/suite/main.rs", suite.into()),
    ]);
    let out = cargo(user.path(), &["check", "--quiet", "--all-targets"]);
    assert!(
        out.status.success(),
        "a crate choosing k8s-openapi v1_35 does not compile with tmpnet-fixture's kube feature:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A suite's own settings (`main!(kind_file = ..., nodes = N)`) in a crate
/// with a library target: the flags reach the suite through `--test`, the
/// kind file travels inside the test binary (it runs with the file gone,
/// as in a runner image), and a bad kind file is one error before any test.
#[test]
fn a_suite_s_settings_travel_in_its_binary_and_fail_once() {
    let fixture = workspace().join("tmpnet-fixture");
    let manifest = format!(
        r#"[package]
name = "own-settings"
version = "0.0.0"
edition = "2021"
publish = false

[workspace]

[dev-dependencies]
tmpnet-fixture = {{ path = "{}" }}

[[test]]
name = "own"
path = "tests/own/main.rs"
harness = false
"#,
        fixture.display()
    );
    let tests = r#"use tmpnet_fixture::{tmpnet_test, TestEnvironment, TestResult};

fn check(env: &TestEnvironment) {
    let want: usize = std::env::var("WANT_NODES").unwrap().parse().unwrap();
    let ids: Vec<String> = env.nodes().iter().map(|n| n.id().to_owned()).collect();
    assert_eq!(ids.len(), want, "{ids:?}");
    assert!(ids.iter().all(|id| id.starts_with("rf")), "not the kind file's nodes: {ids:?}");
}

#[tmpnet_test]
async fn the_settings_hold(env: &TestEnvironment) -> TestResult {
    check(env);
    Ok(())
}

#[tmpnet_test]
async fn they_hold_for_every_test(env: &TestEnvironment) -> TestResult {
    check(env);
    Ok(())
}
"#;
    let kind = tmpnet_acceptance::REFNODE_KIND_FILE.replace(
        "@REFNODE@",
        &tmpnet_acceptance::refnode().display().to_string(),
    );
    let user = generate(&[
        ("Cargo.toml", manifest),
        ("src/lib.rs", "//! A user's crate.\n".into()),
        ("kinds/refnode.toml", kind),
        (
            "tests/own/main.rs",
            "mod t;\ntmpnet_fixture::main!(kind_file = \"kinds/refnode.toml\", nodes = 3);\n"
                .into(),
        ),
        ("tests/own/t.rs", tests.into()),
    ]);
    let run = |args: &[&str], want: &str| {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        // The manifest before any `--`, after which the rest is the suite's.
        let out = Command::new(cargo)
            .arg(args[0])
            .arg("--manifest-path")
            .arg(user.path().join("Cargo.toml"))
            .args(&args[1..])
            .env("CARGO_TARGET_DIR", workspace().join("target/user-crates"))
            .env("TMPNET_ROOT_DIR", user.path().join("tmpnet"))
            .env("WANT_NODES", want)
            .env_remove("E2E_USE_KUBERNETES")
            .env_remove("E2E_NODE_COUNT")
            .env_remove("ENV_JOB_IMAGE")
            .output()
            .expect("run cargo");
        let text = format!(
            "{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "cargo {args:?}:\n{text}");
        text
    };
    // The suite's defaults, then a flag through `--test` in a crate that
    // also has a library (whose unit tests would refuse the flag).
    let text = run(&["test", "--test", "own"], "3");
    assert!(text.contains("2 passed"), "{text}");
    let text = run(&["test", "--test", "own", "--", "--node-count", "2"], "2");
    assert!(text.contains("2 passed"), "{text}");

    // The binary alone, its kind file gone from where it was built.
    let text = run(&["test", "--test", "own", "--no-run"], "3");
    let binary = text
        .lines()
        .find(|l| l.contains("Executable") && l.contains("tests/own/main.rs"))
        .and_then(|l| l.rsplit_once('(')?.1.strip_suffix(')'))
        .map(PathBuf::from)
        .unwrap_or_else(|| panic!("no test binary in:\n{text}"));
    std::fs::rename(user.path().join("kinds"), user.path().join("elsewhere")).unwrap();
    let root = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let alone = Command::new(&binary)
        .current_dir(elsewhere.path())
        .env("TMPNET_ROOT_DIR", root.path())
        .env("WANT_NODES", "3")
        .env_remove("E2E_NODE_COUNT")
        .env_remove("E2E_KIND_FILE")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&alone.stdout);
    assert!(
        alone.status.success() && stdout.contains("2 passed"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&alone.stderr)
    );
    assert!(root.path().join("kinds/own-refnode.toml").is_file());

    // A bad kind file: one error, no test run.
    let bad = elsewhere.path().join("bad.toml");
    std::fs::write(&bad, "name = \"bad\"\n[binary]\nnme = \"x\"\n").unwrap();
    let failed = Command::new(&binary)
        .env("TMPNET_ROOT_DIR", root.path())
        .env("E2E_KIND_FILE", &bad)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&failed.stderr);
    let stdout = String::from_utf8_lossy(&failed.stdout);
    assert_eq!(failed.status.code(), Some(1), "{stdout}\n{stderr}");
    assert_eq!(
        stderr.lines().filter(|l| l.starts_with("error:")).count(),
        1,
        "one error for the run: {stderr}"
    );
    assert!(stderr.contains("bad.toml"), "{stderr}");
    assert!(!stdout.contains("test result"), "no test ran: {stdout}");
}
