//! A node image of a kind file's daemon: a binary built here, or Debian
//! packages that hold it (and whatever else it needs: libraries, the tools
//! of its health command), on the base image, run as an unprivileged user
//! with its data volume at the kind's `kubernetes.data_path`.

use std::path::PathBuf;
use std::process::Command;

use super::command::run;
use super::tool::{Load, Tool};
use super::{check_glibc, Built, BASE_IMAGE};
use crate::error::{Error, Result};
use crate::kinds::file::image_facts;
use crate::sys::files;

/// The uid and gid the daemon runs as in the image.
const NODE_UID: u32 = 10001;

/// Where a node image comes from and where it goes.
#[derive(Debug, Clone, Default)]
pub struct NodeImage {
    /// The kind file: the daemon's name, `kubernetes.image` (the default
    /// name) and `kubernetes.data_path`.
    pub kind_file: PathBuf,
    /// The daemon's executable, built here; the kind's `binary.path` when
    /// `None` and no package is given.
    pub binary: Option<PathBuf>,
    /// Debian packages to install (the daemon's own, or what a binary
    /// needs).
    pub debs: Vec<String>,
    /// The image's name; the kind's `kubernetes.image` when `None`.
    pub tag: Option<String>,
    /// The builder; chosen when `None`.
    pub tool: Option<Tool>,
    /// Where it is loaded after the build.
    pub loads: Vec<Load>,
}

/// Whether `name` is a Debian package name (so it is safe in a `RUN`).
fn is_package_name(name: &str) -> bool {
    name.len() >= 2
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "+-.".contains(c))
}

/// Whether `text` can be written into the Dockerfile as it is.
fn is_plain(text: &str, extra: &str) -> bool {
    !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c) || extra.contains(c))
}

/// Builds the node image `node` describes; `progress` hears each step.
pub fn build_node(node: &NodeImage, progress: &dyn Fn(&str)) -> Result<Built> {
    let facts = image_facts(&node.kind_file)?;
    let bad = |what: String| Err(Error::InvalidInput(what));
    let Some(tag) = node.tag.clone().or(facts.image.clone()) else {
        return bad(format!(
            "{} has no [kubernetes] image to name the image by; give --tag NAME",
            node.kind_file.display()
        ));
    };
    let binary = match (&node.binary, node.debs.is_empty()) {
        (Some(b), _) => Some(b.clone()),
        (None, true) => match &facts.binary_path {
            Some(p) => Some(p.clone()),
            None => {
                return bad(format!(
                    "nothing gives {}: pass --binary PATH (the daemon built here) or --deb PACKAGE (the Debian package that holds it)",
                    facts.daemon
                ))
            }
        },
        (None, false) => None,
    };
    if let Some(name) = node.debs.iter().find(|d| !is_package_name(d)) {
        return bad(format!(
            "--deb {name:?} is not a Debian package name; give one such as redis-server"
        ));
    }
    if !is_plain(&facts.daemon, "+") {
        return bad(format!(
            "the daemon's name {:?} has characters an image's entry point cannot take; use letters, digits, '.', '_', '-' and '+'",
            facts.daemon
        ));
    }
    if !facts.data_path.starts_with('/') || !is_plain(&facts.data_path, "/") {
        return bad(format!(
            "kubernetes.data_path {:?} is not a plain absolute path; use letters, digits, '.', '_', '-' and '/'",
            facts.data_path
        ));
    }
    if let Some(binary) = &binary {
        if let Some(problem) = files::executable_problem(binary) {
            return bad(format!(
                "--binary {} {problem}; give the daemon's executable",
                binary.display()
            ));
        }
    }
    let tool = Tool::choose(node.tool)?;
    for place in &node.loads {
        tool.check_load(place)?;
    }
    let context =
        tempfile::tempdir().map_err(|e| Error::io("cannot make", "a build context", e))?;
    let mut contents = Vec::new();
    if let Some(binary) = &binary {
        let dest = context.path().join(&facts.daemon);
        run(
            Command::new("cp").arg(binary).arg(&dest),
            "copying the daemon",
        )?;
        check_glibc(&dest, &binary.display().to_string())?;
        contents.push(format!("binary {}", binary.display()));
    }
    contents.extend(node.debs.iter().map(|d| format!("Debian package {d}")));
    files::atomic_write(
        &context.path().join("Dockerfile"),
        dockerfile(
            &facts.daemon,
            binary.is_some(),
            &node.debs,
            &facts.data_path,
        )
        .as_bytes(),
        0o644,
    )?;
    tool.ensure_base(progress)?;
    progress(&format!("building {tag} with {tool}"));
    let id = tool.build(context.path(), &tag)?;
    for place in &node.loads {
        progress(&format!("loading {tag} into {place}"));
        tool.load(&tag, place)?;
    }
    Ok(Built {
        tag,
        id,
        tool,
        context: None,
        contents,
    })
}

/// The node image's Dockerfile.
fn dockerfile(daemon: &str, binary: bool, debs: &[String], data: &str) -> String {
    let mut text = format!(
        "# A node image of {daemon}, made by `tmpnetctl image node`.\n\
         FROM {BASE_IMAGE}\n\
         ARG NODE_UID={NODE_UID}\n"
    );
    if !debs.is_empty() {
        text += &format!(
            "RUN apt-get update \\\n    \
             && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends {} \\\n    \
             && rm -rf /var/lib/apt/lists/*\n",
            debs.join(" ")
        );
    }
    if binary {
        text += &format!("COPY {daemon} /usr/local/bin/{daemon}\n");
    }
    // The build fails, naming the fix, when the daemon is not there or
    // misses a library.
    text += &format!(
        "RUN set -eu; \\\n    \
         path=\"$(command -v {daemon})\" \\\n        \
         || {{ echo \"error: {daemon} is not on PATH in the image; give --deb with the package that holds it, or --binary\" >&2; exit 1; }}; \\\n    \
         missing=\"$(ldd \"$path\" 2>/dev/null | grep -F 'not found' || true)\"; \\\n    \
         [ -z \"$missing\" ] \\\n        \
         || {{ echo \"error: {daemon} needs libraries the image lacks: $missing; add the packages that hold them with --deb\" >&2; exit 1; }}; \\\n    \
         groupadd --system --gid \"${{NODE_UID}}\" tmpnet; \\\n    \
         useradd --system --uid \"${{NODE_UID}}\" --gid tmpnet --home-dir {data} --no-create-home --shell /usr/sbin/nologin tmpnet; \\\n    \
         install -d -m 0750 -o tmpnet -g tmpnet {data}\n\
         USER ${{NODE_UID}}:${{NODE_UID}}\n\
         ENV HOME={data}\n\
         WORKDIR {data}\n\
         VOLUME [\"{data}\"]\n\
         ENTRYPOINT [\"{daemon}\"]\n"
    );
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(dir: &std::path::Path, extra: &str) -> PathBuf {
        let path = dir.join("k.toml");
        std::fs::write(
            &path,
            format!(
                "name = \"d\"\n[binary]\nname = \"mydaemon\"\n[ports]\napi = \"rpc\"\n\
                 [health]\ncheck = \"tcp\"\n{extra}"
            ),
        )
        .unwrap();
        path
    }

    #[test]
    fn what_a_node_image_needs_is_refused_in_one_line_before_a_build() {
        let dir = tempfile::tempdir().unwrap();
        let plain = kind(dir.path(), "");
        let cases: [(NodeImage, &str); 4] = [
            (
                NodeImage {
                    kind_file: plain.clone(),
                    debs: vec!["x".into()],
                    ..NodeImage::default()
                },
                "has no [kubernetes] image to name the image by; give --tag NAME",
            ),
            (
                NodeImage {
                    kind_file: plain.clone(),
                    tag: Some("me/d:1".into()),
                    ..NodeImage::default()
                },
                "nothing gives mydaemon: pass --binary PATH",
            ),
            (
                NodeImage {
                    kind_file: plain.clone(),
                    tag: Some("me/d:1".into()),
                    debs: vec!["redis-server; rm -rf /".into()],
                    ..NodeImage::default()
                },
                "is not a Debian package name",
            ),
            (
                NodeImage {
                    kind_file: plain,
                    tag: Some("me/d:1".into()),
                    binary: Some(dir.path().join("missing")),
                    ..NodeImage::default()
                },
                "missing does not exist; give the daemon's executable",
            ),
        ];
        for (node, expected) in cases {
            let err = build_node(&node, &|_| {}).unwrap_err().to_string();
            assert!(err.contains(expected), "{err}");
            assert!(!err.contains('\n'), "{err}");
        }
    }

    #[test]
    fn the_dockerfile_installs_checks_and_runs_the_daemon_unprivileged() {
        let text = dockerfile("redis-server", false, &["redis-server".into()], "/data");
        assert!(text.contains("apt-get install -y --no-install-recommends redis-server"));
        assert!(text.contains("command -v redis-server"));
        assert!(text.contains("ENTRYPOINT [\"redis-server\"]"));
        assert!(text.contains("USER ${NODE_UID}:${NODE_UID}"));
        assert!(!text.contains("COPY"));
        let text = dockerfile("myd", true, &[], "/var/lib/myd");
        assert!(text.contains("COPY myd /usr/local/bin/myd"));
        assert!(text.contains("install -d -m 0750 -o tmpnet -g tmpnet /var/lib/myd"));
        assert!(!text.contains("apt-get"));
    }
}
