//! Admitting a pod: its directory, volumes (configMap and secret ones
//! filled), ServiceAccount kubeconfig and containers; and what a
//! container's environment resolves to, with `$(VAR)` expansion.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::Value;

use crate::paths::pod_dir;
use crate::resources;
use crate::shared::Shared;

use super::{str_at, Container, Kubelet, PodRun};

/// The longest grace period it grants.
const MAX_GRACE: Duration = Duration::from_secs(30);

fn grace_of(pod: &Value) -> Duration {
    pod.pointer("/spec/terminationGracePeriodSeconds")
        .and_then(Value::as_u64)
        .map_or(MAX_GRACE, |s| Duration::from_secs(s).min(MAX_GRACE))
}

/// Decodes standard base64 (Secret data, which may be wrapped); `None`
/// if malformed.
fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    STANDARD.decode(compact).ok()
}

impl Kubelet {
    /// Sets up a pod seen for the first time: its directory, volumes and
    /// kubeconfig, and its containers (none started yet).
    pub(super) fn admit(&mut self, uid: &str, pod: &Value) -> std::io::Result<PodRun> {
        let namespace = str_at(pod, "/metadata/namespace")
            .unwrap_or("default")
            .to_owned();
        let name = str_at(pod, "/metadata/name").unwrap_or_default().to_owned();
        let dir = pod_dir(&self.config.state_dir, &namespace, &name, uid);
        std::fs::create_dir_all(&dir)?;
        let mut mounts = BTreeMap::new();
        for volume in pod
            .pointer("/spec/volumes")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let vname = str_at(volume, "/name").unwrap_or_default().to_owned();
            let path = match str_at(volume, "/persistentVolumeClaim/claimName") {
                Some(claim) => self
                    .config
                    .state_dir
                    .join("pvcs")
                    .join(&namespace)
                    .join(claim),
                None => dir.join("volumes").join(&vname),
            };
            std::fs::create_dir_all(&path)?;
            // Writable by any container user, as emptyDir and the local
            // volume provisioners make them.
            std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o777))?;
            self.fill_volume(volume, &namespace, &path)?;
            mounts.insert(vname, path);
        }
        // The pod's ServiceAccount token, in a kubeconfig of its own.
        let account = str_at(pod, "/spec/serviceAccountName").unwrap_or("default");
        let token = self.shared.rbac.issue(&namespace, account);
        let kubeconfig = crate::kubeconfig::render_with_token(
            &format!("http://{}", self.shared.address),
            &namespace,
            Some(&token),
        );
        std::fs::write(dir.join("kubeconfig"), kubeconfig)?;
        let specs = |key: &str| -> Vec<Container> {
            pod.pointer(&format!("/spec/{key}"))
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(|c| Container::new(c, &dir))
                .collect()
        };
        Ok(PodRun {
            uid: uid.to_owned(),
            ip: self.allocate_ip(),
            grace: grace_of(pod),
            restart_policy: str_at(pod, "/spec/restartPolicy")
                .unwrap_or("Always")
                .to_owned(),
            first_seen: Instant::now(),
            init: specs("initContainers"),
            containers: specs("containers"),
            last_status: Value::Null,
            namespace,
            name,
            dir,
            mounts,
        })
    }

    /// Writes a configMap or secret volume's keys as files.
    fn fill_volume(&self, volume: &Value, namespace: &str, path: &Path) -> std::io::Result<()> {
        let source = if let Some(name) = str_at(volume, "/configMap/name") {
            resources::find("", "v1", "configmaps").map(|r| (r, name, false))
        } else if let Some(name) = str_at(volume, "/secret/secretName") {
            resources::find("", "v1", "secrets").map(|r| (r, name, true))
        } else {
            None
        };
        let Some((res, name, secret)) = source else {
            return Ok(());
        };
        let Ok(object) = self.shared.store.get(res, Some(namespace), name) else {
            return Ok(());
        };
        for (key, value) in object
            .get("data")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            let text = value.as_str().unwrap_or_default();
            let bytes = if secret {
                base64_decode(text).unwrap_or_default()
            } else {
                text.as_bytes().to_vec()
            };
            std::fs::write(path.join(key), bytes)?;
        }
        Ok(())
    }
}

/// Looks up `key` in a ConfigMap's data or a Secret's (decoded) data.
fn lookup(shared: &Shared, ns: &str, plural: &str, name: &str, key: &str) -> Option<String> {
    let res = resources::find("", "v1", plural)?;
    let object = shared.store.get(res, Some(ns), name).ok()?;
    let raw = object.get("data")?.get(key)?.as_str()?;
    if plural == "secrets" {
        String::from_utf8(base64_decode(raw)?).ok()
    } else {
        Some(raw.to_owned())
    }
}

/// A container's environment, resolved: (name, value, whether it is a
/// literal `env[].value`, the only kind Kubernetes expands `$(VAR)` in).
pub(super) fn environment(
    shared: &Shared,
    run: &PodRun,
    pod: &Value,
    spec: &Value,
) -> Vec<(String, String, bool)> {
    let mut env = Vec::new();
    let ns = run.namespace.as_str();
    for from in spec
        .get("envFrom")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let prefix = str_at(from, "/prefix").unwrap_or_default();
        let (plural, name) = match (
            str_at(from, "/configMapRef/name"),
            str_at(from, "/secretRef/name"),
        ) {
            (Some(n), _) => ("configmaps", n),
            (_, Some(n)) => ("secrets", n),
            _ => continue,
        };
        let Some(res) = resources::find("", "v1", plural) else {
            continue;
        };
        let Ok(object) = shared.store.get(res, Some(ns), name) else {
            continue;
        };
        for key in object
            .get("data")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .map(|(k, _)| k)
        {
            if let Some(value) = lookup(shared, ns, plural, name, key) {
                env.push((format!("{prefix}{key}"), value, false));
            }
        }
    }
    for var in spec
        .get("env")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let Some(name) = str_at(var, "/name") else {
            continue;
        };
        let value = if let Some(v) = str_at(var, "/value") {
            Some(v.to_owned())
        } else if let Some(path) = str_at(var, "/valueFrom/fieldRef/fieldPath") {
            match path {
                "status.podIP" => Some(run.ip.clone()),
                "status.hostIP" => Some("127.0.0.1".to_owned()),
                "spec.nodeName" => Some("kubesim".to_owned()),
                _ => pod
                    .pointer(&format!("/{}", path.replace('.', "/")))
                    .and_then(Value::as_str)
                    .map(str::to_owned),
            }
        } else if let Some(cm) = var.pointer("/valueFrom/configMapKeyRef") {
            lookup(
                shared,
                ns,
                "configmaps",
                str_at(cm, "/name").unwrap_or_default(),
                str_at(cm, "/key").unwrap_or_default(),
            )
        } else if let Some(secret) = var.pointer("/valueFrom/secretKeyRef") {
            lookup(
                shared,
                ns,
                "secrets",
                str_at(secret, "/name").unwrap_or_default(),
                str_at(secret, "/key").unwrap_or_default(),
            )
        } else {
            None
        };
        if let Some(value) = value {
            env.push((name.to_owned(), value, str_at(var, "/value").is_some()));
        }
    }
    env
}

/// Expands `$(NAME)` references to the container's variables, as the
/// kubelet does in command, args and env values (`$$(` stays literal).
pub(super) fn expand(text: &str, vars: &[(String, String)]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("$(") {
        if rest[..i].ends_with('$') {
            out.push_str(&rest[..i]);
            out.push('(');
            rest = &rest[i + 2..];
            continue;
        }
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        match after.find(')') {
            Some(end) => {
                let name = &after[..end];
                match vars.iter().rev().find(|(k, _)| k == name) {
                    Some((_, v)) => out.push_str(v),
                    None => {
                        out.push_str("$(");
                        out.push_str(name);
                        out.push(')');
                    }
                }
                rest = &after[end + 1..];
            }
            None => {
                out.push_str(&rest[i..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variable_references_expand_like_the_kubelets() {
        let vars = vec![
            ("IP".to_owned(), "127.0.0.5".to_owned()),
            ("PORT".to_owned(), "80".to_owned()),
        ];
        assert_eq!(expand("--bind=$(IP):$(PORT)", &vars), "--bind=127.0.0.5:80");
        assert_eq!(expand("$(MISSING) $$(IP)", &vars), "$(MISSING) $(IP)");
        assert_eq!(expand("$(unclosed", &vars), "$(unclosed");
    }

    #[test]
    fn secret_data_decodes() {
        assert_eq!(base64_decode("c2VjcmV0").unwrap(), b"secret");
        assert_eq!(base64_decode("YQ==").unwrap(), b"a");
        assert!(base64_decode("!!").is_none());
    }
}
