//! Discovery documents, so generic clients (kubectl, the Python client) can
//! find the served resources.

use serde_json::{json, Value};

use crate::resources::{self, Resource, RESOURCES};

/// The Kubernetes version the simulator claims to be.
pub const MINOR: &str = "33";

/// `/version`.
pub fn version() -> Value {
    json!({
        "major": "1",
        "minor": MINOR,
        "gitVersion": format!("v1.{MINOR}.0+tmpnet-kubesim"),
        "gitCommit": "",
        "gitTreeState": "clean",
        "buildDate": "1970-01-01T00:00:00Z",
        "goVersion": "none",
        "compiler": "rustc",
        "platform": "linux/amd64"
    })
}

/// `/api`.
pub fn core_versions(server: &str) -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server}]
    })
}

fn group_entry(group: &str, version: &str) -> Value {
    let gv = format!("{group}/{version}");
    json!({
        "name": group,
        "versions": [{"groupVersion": gv, "version": version}],
        "preferredVersion": {"groupVersion": gv, "version": version}
    })
}

/// `/apis`.
pub fn groups() -> Value {
    let groups: Vec<Value> = resources::groups()
        .into_iter()
        .map(|(g, v)| group_entry(g, v))
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// `/apis/<group>`, if served.
pub fn group(group: &str) -> Option<Value> {
    resources::groups()
        .into_iter()
        .find(|(g, _)| *g == group)
        .map(|(g, v)| {
            let mut entry = group_entry(g, v);
            entry["kind"] = json!("APIGroup");
            entry["apiVersion"] = json!("v1");
            entry
        })
}

fn entry(r: &Resource, name: String, verbs: &[&str], kind: &str) -> Value {
    let mut entry = json!({
        "name": name,
        "singularName": if name.contains('/') { "" } else { r.singular },
        "namespaced": r.namespaced,
        "kind": kind,
        "verbs": verbs,
    });
    if !name.contains('/') {
        let (short, categories) = aliases(r.plural);
        if !short.is_empty() {
            entry["shortNames"] = json!(short);
        }
        if !categories.is_empty() {
            entry["categories"] = json!(categories);
        }
    }
    entry
}

/// The short names and categories Kubernetes gives a resource, by which
/// kubectl finds it (`kubectl get ns`, `kubectl get all`).
fn aliases(plural: &str) -> (&'static [&'static str], &'static [&'static str]) {
    match plural {
        "namespaces" => (&["ns"], &[]),
        "pods" => (&["po"], &["all"]),
        "services" => (&["svc"], &["all"]),
        "endpoints" => (&["ep"], &[]),
        "configmaps" => (&["cm"], &[]),
        "serviceaccounts" => (&["sa"], &[]),
        "persistentvolumeclaims" => (&["pvc"], &[]),
        "events" => (&["ev"], &[]),
        "statefulsets" => (&["sts"], &["all"]),
        "jobs" => (&[], &["all"]),
        "ingresses" => (&["ing"], &[]),
        _ => (&[], &[]),
    }
}

/// `/api/v1` or `/apis/<group>/<version>`, if served.
pub fn resource_list(group: &str, version: &str) -> Option<Value> {
    let served: Vec<&Resource> = RESOURCES
        .iter()
        .filter(|r| r.group == group && r.version == version)
        .collect();
    if served.is_empty() {
        return None;
    }
    let mut list = Vec::new();
    for r in served {
        // A review is only asked (created), never stored.
        let verbs: &[&str] = if r.kind == "SelfSubjectAccessReview" {
            &["create"]
        } else {
            &[
                "create", "delete", "get", "list", "patch", "update", "watch",
            ]
        };
        list.push(entry(r, r.plural.to_owned(), verbs, r.kind));
        if r.status {
            list.push(entry(
                r,
                format!("{}/status", r.plural),
                &["get", "patch", "update"],
                r.kind,
            ));
        }
    }
    let group_version = if group.is_empty() {
        version.to_owned()
    } else {
        format!("{group}/{version}")
    };
    Some(json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": list
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resources_carry_the_short_names_and_categories_kubectl_looks_up() {
        let core = resource_list("", "v1").unwrap();
        let find = |name: &str| {
            core["resources"]
                .as_array()
                .unwrap()
                .iter()
                .find(|r| r["name"] == name)
                .cloned()
                .unwrap()
        };
        assert_eq!(find("namespaces")["shortNames"], json!(["ns"]));
        assert_eq!(find("pods")["shortNames"], json!(["po"]));
        assert_eq!(find("pods")["categories"], json!(["all"]));
        assert!(find("pods/status").get("shortNames").is_none());
        assert!(find("secrets").get("shortNames").is_none());
        let apps = resource_list("apps", "v1").unwrap();
        assert_eq!(apps["resources"][0]["shortNames"], json!(["sts"]));
    }
}
