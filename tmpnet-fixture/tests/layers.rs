//! The module graph of every crate of the workspace: layers that only
//! point down, and no import cycle between the modules of any one module.
//!
//! Reads each crate's `src/`, finds every `crate::…` and `super::…` path
//! outside comments and string literals, and checks two rules:
//!
//! 1. A top-level module uses only the layers below it (the crate's entry in
//!    [`CRATES`]); the crate root (`lib.rs`, or `main.rs` of a crate without
//!    a library) is the facade and may use everything.
//! 2. Inside every module, its direct submodules form no cycle (a child
//!    may use its parent's items and the parent its children, but two
//!    siblings may not use each other, directly or around a loop).

#![allow(clippy::unwrap_used)] // a test: a failed unwrap is a failed test

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Top-level modules from the bottom up; each may use only earlier layers.
type Layers = &'static [&'static [&'static str]];

/// Every crate of the workspace (its directory beside this crate's) and
/// its layers.
const CRATES: &[(&str, Layers)] = &[
    (
        "tmpnet-fixture",
        &[
            &["error"],
            &["sys"],
            &["model"],
            &["kinds"],
            &["runtime"],
            &["network"],
            &["runner", "collector", "bootstrap_monitor", "images"],
            &["helpers", "cli"],
            &["harness"],
        ],
    ),
    (
        "tmpnet-macros",
        &[&["errors", "options"], &["params"], &["cases"], &["expand"]],
    ),
    ("tmpnetctl", &[&["output"], &["cli"], &["commands"]]),
    (
        "tmpnet-refnode",
        &[&["config", "store"], &["node"], &["api", "p2p"]],
    ),
    ("tmpnet-kubesim", KUBESIM_LAYERS),
    ("tmpnet-bootstrap-monitor", &[]),
    ("tmpnet-contract", &[]),
    ("e2e-suite", &[]),
];

/// The simulator's layers: the object model, the store, the shared state,
/// then the parts that serve or act on it.
const KUBESIM_LAYERS: Layers = &[
    &["status", "resources", "kubeconfig", "paths", "query"],
    &["selectors", "patch", "discovery", "store", "sandbox"],
    &["rbac", "images"],
    &["reviews"],
    &["shared"],
    &["logs", "portforward"],
    &["api", "kubelet"],
    &["controllers"],
];

/// A module path, e.g. `["runtime", "kube", "pods"]`; empty for the root.
type ModPath = Vec<String>;

/// Every source file's module path and its text without comments.
fn sources(src: &Path) -> BTreeMap<ModPath, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![src.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                // A binary beside a library is a crate of its own over it.
                if dir == src && path.ends_with("main.rs") && src.join("lib.rs").exists() {
                    continue;
                }
                let text = std::fs::read_to_string(&path).unwrap();
                out.insert(module_of(src, &path), strip_comments(&text));
            }
        }
    }
    out
}

fn module_of(src: &Path, file: &Path) -> ModPath {
    let relative = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: ModPath = relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    let root = parts.len() == 1 && parts[0] == "main";
    if root || matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
        parts.pop();
    }
    parts
}

/// The text with comments removed and the contents of string and
/// character literals blanked (their quotes kept), so that neither a
/// comment nor a `"crate::…"` or `"http://…"` in a string counts, and a
/// `//` inside a string does not hide the rest of its line.
fn strip_comments(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    if chars[i] == '\n' {
                        out.push('\n');
                    }
                    i += 1;
                }
            }
        } else if c == 'r' && matches!(next, Some('"' | '#')) && !continues_ident(&chars, i) {
            let hashes = chars[i + 1..].iter().take_while(|c| **c == '#').count();
            if chars.get(i + 1 + hashes) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            i += 2 + hashes;
            out.push_str("\"\"");
            while i < chars.len() {
                if chars[i] == '"'
                    && chars[i + 1..]
                        .iter()
                        .take(hashes)
                        .filter(|c| **c == '#')
                        .count()
                        == hashes
                {
                    i += 1 + hashes;
                    break;
                }
                if chars[i] == '\n' {
                    out.push('\n');
                }
                i += 1;
            }
        } else if c == '"' {
            i += 1;
            out.push_str("\"\"");
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\n' {
                    out.push('\n');
                }
                i += if chars[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
        } else if c == '\'' && next == Some('\\') {
            // An escaped character literal: '\'' or '\n' or '\u{..}'.
            i += 2;
            while i < chars.len() && chars[i] != '\'' {
                i += 1;
            }
            i += 1;
            out.push_str("' '");
        } else if c == '\'' && chars.get(i + 2) == Some(&'\'') {
            // A character literal such as '"'; otherwise a lifetime.
            i += 3;
            out.push_str("' '");
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

/// Whether the character at `i` continues an identifier (so an `r` there
/// does not start a raw string).
fn continues_ident(chars: &[char], i: usize) -> bool {
    i > 0 && (chars[i - 1].is_alphanumeric() || chars[i - 1] == '_')
}

/// The paths a file names: `crate::a::b` as `["a", "b"]` (with `use`
/// groups expanded one level) and `super::x` resolved against `module`.
fn references(module: &ModPath, text: &str) -> Vec<ModPath> {
    let mut out = Vec::new();
    for (prefix, base) in [("crate::", Vec::new()), ("super::", parent_of(module))] {
        let mut rest = text;
        while let Some(i) = rest.find(prefix) {
            let before = rest[..i].chars().last();
            rest = &rest[i + prefix.len()..];
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$' || c == ':') {
                continue;
            }
            for path in expand(rest) {
                let mut full = base.clone();
                full.extend(path);
                out.push(full);
            }
        }
    }
    out
}

/// The module a `super::` in `module`'s file refers to. A file `a/b.rs`
/// (module `a::b`) and a file `a/b/mod.rs` both have `a` as their parent.
fn parent_of(module: &ModPath) -> ModPath {
    module[..module.len().saturating_sub(1)].to_vec()
}

/// The paths at the start of `rest`: `a::b::C` or `a::{b, c::D}`.
fn expand(rest: &str) -> Vec<ModPath> {
    let mut head = Vec::new();
    let mut s = rest;
    loop {
        let ident: String = s
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        if ident.is_empty() {
            if let Some(group) = s.strip_prefix('{') {
                let end = matching_brace(group);
                return split_top_level(&group[..end])
                    .into_iter()
                    .flat_map(|item| {
                        expand(item.trim()).into_iter().map({
                            let head = head.clone();
                            move |tail| {
                                let mut full = head.clone();
                                full.extend(tail);
                                full
                            }
                        })
                    })
                    .collect();
            }
            return vec![head];
        }
        s = &s[ident.len()..];
        if ident != "self" {
            head.push(ident);
        }
        match s.strip_prefix("::") {
            Some(next) => s = next,
            None => return vec![head],
        }
    }
}

fn matching_brace(s: &str) -> usize {
    let mut depth = 0;
    for (i, c) in s.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => return i,
            '}' => depth -= 1,
            _ => {}
        }
    }
    s.len()
}

fn split_top_level(s: &str) -> Vec<&str> {
    let (mut depth, mut start, mut out) = (0, 0, Vec::new());
    for (i, c) in s.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out.into_iter().filter(|p| !p.trim().is_empty()).collect()
}

/// The longest prefix of `path` that is a module of the tree; names the
/// root re-exports (`crate::Error`) resolve through `aliases`.
fn resolve(
    path: &ModPath,
    modules: &BTreeSet<ModPath>,
    aliases: &BTreeMap<String, ModPath>,
) -> ModPath {
    if let Some(first) = path.first() {
        if !modules.contains(&vec![first.clone()]) {
            if let Some(target) = aliases.get(first) {
                return target.clone();
            }
        }
    }
    (0..=path.len())
        .rev()
        .map(|n| path[..n].to_vec())
        .find(|p| modules.contains(p))
        .unwrap_or_default()
}

/// What the crate root re-exports: `pub use a::b::{X, Y};` makes `X` and
/// `Y` mean module `a::b`.
fn root_aliases(root: &str, modules: &BTreeSet<ModPath>) -> BTreeMap<String, ModPath> {
    let mut aliases = BTreeMap::new();
    let flat = root.replace('\n', " ");
    for stmt in flat.split(';') {
        let Some(rest) = stmt.trim().strip_prefix("pub use ") else {
            continue;
        };
        for path in expand(rest.trim()) {
            if let Some(name) = path.last() {
                let module = resolve(&path, modules, &BTreeMap::new());
                if !module.is_empty() {
                    aliases.insert(name.clone(), module);
                }
            }
        }
    }
    aliases
}

/// Every violation of the two rules in the tree at `src`, with `layers`.
fn violations(src: &Path, layers: Layers) -> Vec<String> {
    let files = sources(src);
    let modules: BTreeSet<ModPath> = files.keys().cloned().collect();
    let aliases = root_aliases(files.get(&Vec::new()).map_or("", String::as_str), &modules);
    let rank = |top: &str| layers.iter().position(|layer| layer.contains(&top));
    let mut problems = BTreeSet::new();
    // Edges between the children of each module: parent -> (from, to).
    let mut sibling_edges: BTreeMap<ModPath, BTreeSet<(String, String)>> = BTreeMap::new();
    for (module, text) in &files {
        for reference in references(module, text) {
            let target = resolve(&reference, &modules, &aliases);
            if module.is_empty() || target.is_empty() {
                continue;
            }
            let (from_top, to_top) = (&module[0], &target[0]);
            if from_top != to_top {
                match (rank(from_top), rank(to_top)) {
                    (Some(a), Some(b)) if b < a => {}
                    (None, _) | (_, None) => {
                        problems.insert(format!(
                            "module {from_top} or {to_top} has no layer in CRATES"
                        ));
                    }
                    _ => {
                        problems.insert(format!(
                            "{} uses {}: {from_top} may use only the layers below it",
                            module.join("::"),
                            target.join("::")
                        ));
                    }
                }
            }
            let common = module
                .iter()
                .zip(&target)
                .take_while(|(a, b)| a == b)
                .count();
            if common < module.len() && common < target.len() {
                sibling_edges
                    .entry(module[..common].to_vec())
                    .or_default()
                    .insert((module[common].clone(), target[common].clone()));
            }
        }
    }
    for (parent, edges) in &sibling_edges {
        if let Some(cycle) = find_cycle(edges) {
            let name = if parent.is_empty() {
                "crate".to_owned()
            } else {
                parent.join("::")
            };
            problems.insert(format!(
                "the modules of {name} import each other in a cycle: {}",
                cycle.join(" -> ")
            ));
        }
    }
    problems.into_iter().collect()
}

fn find_cycle(edges: &BTreeSet<(String, String)>) -> Option<Vec<String>> {
    let nodes: BTreeSet<&String> = edges.iter().flat_map(|(a, b)| [a, b]).collect();
    fn visit<'a>(
        node: &'a String,
        edges: &'a BTreeSet<(String, String)>,
        path: &mut Vec<&'a String>,
        done: &mut BTreeSet<&'a String>,
    ) -> Option<Vec<String>> {
        if let Some(i) = path.iter().position(|n| *n == node) {
            let mut cycle: Vec<String> = path[i..].iter().map(|s| (*s).clone()).collect();
            cycle.push(node.clone());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node);
        for (_, next) in edges.iter().filter(|(from, _)| from == node) {
            if let Some(cycle) = visit(next, edges, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node);
        None
    }
    let mut done = BTreeSet::new();
    nodes
        .into_iter()
        .find_map(|n| visit(n, edges, &mut Vec::new(), &mut done))
}

#[test]
fn every_crate_s_layers_only_point_down_and_have_no_cycle() {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut problems = Vec::new();
    for (name, layers) in CRATES {
        let src = workspace.join(name).join("src");
        assert!(src.is_dir(), "{} is not a crate's source", src.display());
        problems.extend(
            violations(&src, layers)
                .into_iter()
                .map(|p| format!("{name}: {p}")),
        );
    }
    assert!(
        problems.is_empty(),
        "the module graph is broken:\n  {}",
        problems.join("\n  ")
    );
}

/// Every member of the workspace with a `src/` is checked.
#[test]
fn every_crate_with_sources_is_listed() {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let manifest = std::fs::read_to_string(workspace.join("Cargo.toml")).unwrap();
    let members = manifest
        .split("members = [")
        .nth(1)
        .and_then(|rest| rest.split(']').next())
        .unwrap();
    for member in members.split(',').map(|m| m.trim().trim_matches('"')) {
        if member.is_empty() || !workspace.join(member).join("src").is_dir() {
            continue;
        }
        if member.starts_with("examples/") {
            continue; // users' crates, each a file or two
        }
        assert!(
            CRATES.iter().any(|(name, _)| *name == member),
            "{member} has sources but no entry in CRATES"
        );
    }
}

/// The check itself: a tree with an upward edge and a sibling cycle is
/// refused, and the same tree without them passes.
#[test]
fn the_check_finds_upward_edges_and_cycles() {
    let dir = tempfile::tempdir().unwrap();
    let write = |path: &str, text: &str| {
        let file: PathBuf = dir.path().join(path);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(file, text).unwrap();
    };
    write(
        "lib.rs",
        "pub use network::Network;\npub use error::Error;\n",
    );
    write("error.rs", "pub enum Error {}\n");
    write("model/mod.rs", "mod a;\nmod b;\n");
    write("model/a.rs", "use super::b::B; // model::a -> model::b\n");
    write("model/b.rs", "use crate::error::Error;\n");
    write(
        "network/mod.rs",
        "use crate::model::a::A;\nuse crate::Error;\n",
    );
    assert_eq!(violations(dir.path(), CRATES[0].1), Vec::<String>::new());

    // model::b -> model::a closes a cycle; model -> network points up (via
    // the root's re-export).
    write(
        "model/b.rs",
        "use crate::{error::Error, model::a::A};\nfn f() -> crate::Network { todo!() }\n",
    );
    let problems = violations(dir.path(), CRATES[0].1);
    assert!(
        problems
            .iter()
            .any(|p| p.contains("cycle") && p.contains("a -> b -> a")),
        "{problems:?}"
    );
    assert!(
        problems
            .iter()
            .any(|p| p.contains("model::b uses network") && p.contains("layers below")),
        "{problems:?}"
    );
    // Comments do not count.
    write("model/b.rs", "// use crate::network::Network;\n");
    assert_eq!(violations(dir.path(), CRATES[0].1), Vec::<String>::new());
    // Nor do block comments, or paths inside strings; a `//` inside a
    // string hides nothing after it.
    write(
        "model/b.rs",
        "/* use crate::network::Network;\n */ const S: &str = \"crate::network\";\n",
    );
    assert_eq!(violations(dir.path(), CRATES[0].1), Vec::<String>::new());
    write(
        "model/b.rs",
        "const U: &str = \"http://x\"; fn f() -> crate::Network { todo!() }\n",
    );
    let problems = violations(dir.path(), CRATES[0].1);
    assert!(
        problems.iter().any(|p| p.contains("model::b uses network")),
        "{problems:?}"
    );
    write(
        "model/b.rs",
        "const Q: char = '\"'; fn f() -> crate::Network { todo!() }\n",
    );
    let problems = violations(dir.path(), CRATES[0].1);
    assert!(
        problems.iter().any(|p| p.contains("model::b uses network")),
        "{problems:?}"
    );
}
