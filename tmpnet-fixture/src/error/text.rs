//! The words of the errors' messages: what to do about an I/O failure, a
//! quoted value cut short, a log tail, a path a shell can paste, a
//! Kubernetes failure on one line.

use super::{Error, UnhealthyNode};

/// What to do about a failed file operation, by its kind.
pub(super) fn io_fix(e: &std::io::Error) -> &'static str {
    use std::io::ErrorKind as K;
    match e.kind() {
        K::NotFound => "; check that the path exists",
        K::PermissionDenied => "; check its permissions, or choose another --root-dir",
        K::AlreadyExists => "; remove what is in the way, or choose another --root-dir",
        K::NotADirectory => {
            "; a file is in the way of the path: remove it, or choose another --root-dir"
        }
        K::ReadOnlyFilesystem => "; choose a writable --root-dir",
        K::StorageFull | K::QuotaExceeded => {
            "; free some space (`tmpnetctl list` shows the networks), or choose another --root-dir"
        }
        K::InvalidFilename => "; choose a shorter --root-dir",
        _ => "",
    }
}

/// The errors' messages, each once, in order.
pub(super) fn distinct(errors: &[Error]) -> Vec<String> {
    let mut seen = Vec::new();
    for message in errors.iter().map(ToString::to_string) {
        if !seen.contains(&message) {
            seen.push(message);
        }
    }
    seen
}

/// `text` cut to 300 characters, saying how long it was: an error quoting
/// a file stays one readable line.
pub(super) fn clip(text: &str) -> std::borrow::Cow<'_, str> {
    const MAX: usize = 300;
    match text.char_indices().nth(MAX) {
        Some((at, _)) => format!("{}... ({} bytes in all)", &text[..at], text.len()).into(),
        None => text.into(),
    }
}

pub(super) fn format_tail(tail: &[String]) -> String {
    if tail.is_empty() {
        String::new()
    } else {
        format!("; last log lines: {}", tail.join(" | "))
    }
}

pub(super) fn describe_unhealthy(nodes: &[UnhealthyNode]) -> String {
    nodes
        .iter()
        .map(|n| format!("{} ({}){}", n.node, n.reason, format_tail(&n.log_tail)))
        .collect::<Vec<_>>()
        .join("; ")
}

/// What enabling `feature` also asks of the application.
pub(super) fn feature_hint(feature: &str) -> &'static str {
    match feature {
        "kube" => " and choose a k8s-openapi version (docs/src/guide/kubernetes.md)",
        _ => "",
    }
}

/// `path` as one word a POSIX shell reads back as that path: as it is when
/// it holds only characters no shell treats specially, else in single
/// quotes. Every path the tool puts into a command a user may paste (the
/// advice in an error) goes through here, so pasting it never runs
/// anything. (The export line always quotes: scripts read it.)
pub(crate) fn shell_word(path: &std::path::Path) -> String {
    let text = path.to_string_lossy();
    let plain = |c: char| c.is_ascii_alphanumeric() || "/._-+:,@%=".contains(c);
    if !text.is_empty() && text.chars().all(plain) {
        return text.into_owned();
    }
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// The signal an exit code of 128 + N reports, by name (the signals that
/// end a run: see `sys::signals`).
pub(super) fn signal_name(exit_code: u8) -> &'static str {
    match exit_code {
        130 => "SIGINT",
        143 => "SIGTERM",
        129 => "SIGHUP",
        _ => "a signal",
    }
}

/// Why a Kubernetes API call failed, on one line, with the fix for the
/// usual causes.
#[cfg(feature = "kube")]
pub(crate) fn kube_reason(e: &kube::Error) -> String {
    let code = match e {
        kube::Error::Api(status) => Some(status.code),
        _ => None,
    };
    let hint = match code {
        Some(401) => "; the credentials were refused: check --kubeconfig / --kube-context",
        Some(403) => {
            "; the account lacks a permission: apply deploy/rbac.yaml to the namespace (see docs/src/guide/kubernetes.md)"
        }
        Some(404) if matches!(e, kube::Error::Api(s) if s.message.contains("namespaces")) => {
            "; create the namespace (deploy/rbac.yaml does, for `tmpnet`) or choose another with --kube-namespace"
        }
        Some(_) => "",
        None => "; is the cluster reachable? check --kubeconfig / KUBECONFIG and --kube-context",
    };
    let reason = match e {
        // A proxy or a server that is no API server answers in plain text
        // or HTML, or with nothing at all.
        kube::Error::Api(s) if kube_answer_unparsed(e) && s.message.trim().is_empty() => {
            format!("the server answered HTTP {} with an empty body", s.code)
        }
        kube::Error::Api(s) if kube_answer_unparsed(e) => {
            format!("the server answered HTTP {}: {}", s.code, s.message)
        }
        kube::Error::Api(s) => s.message.clone(),
        // A transport error says "client error (Connect)" for a refused
        // port, a bad certificate and a name not found alike: the innermost
        // cause tells them apart.
        other => {
            let text = other.to_string();
            let mut innermost = None;
            let mut source = std::error::Error::source(other);
            while let Some(cause) = source {
                innermost = Some(cause.to_string());
                source = cause.source();
            }
            match innermost {
                Some(cause) if !text.contains(&cause) => format!("{text}: {cause}"),
                _ => text,
            }
        }
    };
    // One line, whatever the server wrote (webhook denials have several),
    // and a short one (an HTML page can be long).
    let mut reason = reason.split_whitespace().collect::<Vec<_>>().join(" ");
    if reason.chars().count() > KUBE_REASON_CHARS {
        reason = reason.chars().take(KUBE_REASON_CHARS).collect::<String>() + " ...";
    }
    format!("{reason}{hint}")
}

/// How much of a server's own words a Kubernetes error quotes.
#[cfg(feature = "kube")]
const KUBE_REASON_CHARS: usize = 300;

/// Whether `e` is an HTTP error whose body was no Kubernetes `Status` (kube
/// then keeps the body as the message).
#[cfg(feature = "kube")]
pub(crate) fn kube_answer_unparsed(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.reason == "Failed to parse error data")
}
