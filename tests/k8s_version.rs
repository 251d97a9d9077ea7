//! A user's crate that chooses its own Kubernetes API version (k8s-openapi
//! `v1_35`) compiles against tmpnet-fixture, which chooses none (the
//! workspace itself builds with `v1_33`).

use std::path::Path;
use std::process::Command;

const MANIFEST: &str = r#"[package]
name = "k8s-version-user"
version = "0.0.0"
edition = "2021"
publish = false

[workspace]

[dependencies]
k8s-openapi = { version = "0.29", features = ["v1_35"] }
tmpnet-fixture = { path = "FIXTURE" }
"#;

const LIB: &str = r#"//! tmpnet-fixture and k8s-openapi types side by side.
pub fn both() -> (k8s_openapi::api::core::v1::Pod, tmpnet_fixture::NetworkSpec) {
    let mut pod = k8s_openapi::api::core::v1::Pod::default();
    pod.metadata.name = Some("user".into());
    (pod, tmpnet_fixture::NetworkSpec::new("/tmp/tmpnet", 1))
}
"#;

#[test]
fn a_user_crate_on_another_kubernetes_version_compiles() {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned();
    let user = tempfile::tempdir().unwrap();
    let fixture = workspace.join("tmpnet-fixture");
    let manifest = MANIFEST.replace("FIXTURE", &fixture.display().to_string());
    std::fs::write(user.path().join("Cargo.toml"), manifest).unwrap();
    std::fs::create_dir(user.path().join("src")).unwrap();
    std::fs::write(user.path().join("src/lib.rs"), LIB).unwrap();
    // The workspace's lock, so the versions are those the workspace is
    // tested with; its own target dir (the running cargo holds the
    // workspace's), kept between runs.
    std::fs::copy(workspace.join("Cargo.lock"), user.path().join("Cargo.lock")).unwrap();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = Command::new(cargo)
        .args(["check", "--quiet", "--manifest-path"])
        .arg(user.path().join("Cargo.toml"))
        .arg("--target-dir")
        .arg(workspace.join("target/k8s-version-user"))
        .output()
        .expect("run cargo check");
    assert!(
        out.status.success(),
        "a crate choosing k8s-openapi v1_35 does not compile with tmpnet-fixture:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
