//! Authentication by bearer token and RBAC authorization, enforced.
//!
//! A request without a token is the cluster admin (the kubeconfig the
//! simulator hands out). A request with a ServiceAccount's token (each pod
//! gets one in its kubeconfig; tests can ask [`Rbac::issue`]) is allowed
//! only what the Roles bound to that ServiceAccount by RoleBindings in the
//! request's namespace allow, and refused with 403 otherwise, as the real
//! apiserver would. Discovery is open to every authenticated caller.

use std::collections::HashMap;
use std::sync::Mutex;

use serde_json::Value;

use crate::resources;
use crate::status::ApiError;
use crate::store::Store;

/// Who is asking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    /// No token: everything is allowed.
    Admin,
    /// A ServiceAccount.
    ServiceAccount {
        /// Its namespace.
        namespace: String,
        /// Its name.
        name: String,
    },
}

/// One request to authorize.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    /// `get`, `list`, `watch`, `create`, `update`, `patch`, `delete`, ...
    pub verb: &'a str,
    /// API group ("" for core).
    pub group: &'a str,
    /// Resource plural, with `/subresource` when there is one.
    pub resource: String,
    /// Namespace, if the request has one.
    pub namespace: Option<&'a str>,
    /// Object name, if the request names one.
    pub name: Option<&'a str>,
}

/// Issued tokens.
#[derive(Debug, Default)]
pub struct Rbac {
    tokens: Mutex<HashMap<String, (String, String)>>,
}

fn list_has(rule: &Value, key: &str, wanted: &str) -> bool {
    rule.get(key)
        .and_then(Value::as_array)
        .is_some_and(|items| items.iter().any(|i| i == "*" || i == wanted))
}

impl Rbac {
    /// A token for the ServiceAccount `name` in `namespace`.
    pub fn issue(&self, namespace: &str, name: &str) -> String {
        let token = format!("kubesim-{}", uuid::Uuid::new_v4().simple());
        self.tokens
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(token.clone(), (namespace.to_owned(), name.to_owned()));
        token
    }

    /// The identity behind an `Authorization` header value.
    pub fn authenticate(&self, header: Option<&str>) -> Result<Identity, ApiError> {
        let Some(header) = header else {
            return Ok(Identity::Admin);
        };
        let token = header.strip_prefix("Bearer ").unwrap_or_default().trim();
        self.tokens
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(token)
            .map(|(namespace, name)| Identity::ServiceAccount {
                namespace: namespace.clone(),
                name: name.clone(),
            })
            .ok_or_else(ApiError::unauthorized)
    }

    /// Allows or refuses `request` for `who`.
    pub fn authorize(
        &self,
        store: &Store,
        who: &Identity,
        request: &Request<'_>,
    ) -> Result<(), ApiError> {
        let Identity::ServiceAccount {
            namespace: sa_ns,
            name: sa,
        } = who
        else {
            return Ok(());
        };
        let user = format!("system:serviceaccount:{sa_ns}:{sa}");
        let refuse = || {
            let target = match request.name {
                Some(name) => format!("{} \"{name}\"", request.resource),
                None => request.resource.clone(),
            };
            let scope = match request.namespace {
                Some(ns) => format!(" in the namespace \"{ns}\""),
                None => " at the cluster scope".to_owned(),
            };
            ApiError::forbidden(format!(
                "{target} is forbidden: User \"{user}\" cannot {} resource \"{}\" in API group \"{}\"{scope}",
                request.verb, request.resource, request.group
            ))
        };
        let Some(ns) = request.namespace else {
            return Err(refuse());
        };
        let (Some(bindings_res), Some(roles_res)) = (
            resources::find("rbac.authorization.k8s.io", "v1", "rolebindings"),
            resources::find("rbac.authorization.k8s.io", "v1", "roles"),
        ) else {
            return Err(refuse());
        };
        let (bindings, _) = store.list(bindings_res, Some(ns), |b| {
            b.get("subjects")
                .and_then(Value::as_array)
                .is_some_and(|subjects| {
                    subjects.iter().any(|s| {
                        s["kind"] == "ServiceAccount"
                            && s["name"] == sa.as_str()
                            && s.get("namespace").and_then(Value::as_str).unwrap_or(ns) == sa_ns
                    })
                })
        });
        for binding in bindings {
            if binding.pointer("/roleRef/kind").and_then(Value::as_str) != Some("Role") {
                continue;
            }
            let role_name = binding
                .pointer("/roleRef/name")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let Ok(role) = store.get(roles_res, Some(ns), role_name) else {
                continue;
            };
            let allowed = role
                .get("rules")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .any(|rule| {
                    list_has(rule, "apiGroups", request.group)
                        && list_has(rule, "resources", &request.resource)
                        && list_has(rule, "verbs", request.verb)
                        && match (
                            rule.get("resourceNames").and_then(Value::as_array),
                            request.name,
                        ) {
                            (Some(names), Some(name)) if !names.is_empty() => {
                                names.iter().any(|n| n == name)
                            }
                            (Some(names), None) if !names.is_empty() => false,
                            _ => true,
                        }
                });
            if allowed {
                return Ok(());
            }
        }
        Err(refuse())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn roles_bound_to_a_service_account_decide() {
        let store = Store::new();
        let roles = resources::find("rbac.authorization.k8s.io", "v1", "roles").unwrap();
        let bindings = resources::find("rbac.authorization.k8s.io", "v1", "rolebindings").unwrap();
        store
            .create(roles, Some("default"), json!({"metadata": {"name": "r"}, "rules": [
                {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]},
                {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"], "resourceNames": ["p1"]}
            ]}))
            .unwrap();
        store
            .create(
                bindings,
                Some("default"),
                json!({"metadata": {"name": "b"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "r"},
                "subjects": [{"kind": "ServiceAccount", "name": "sa"}]}),
            )
            .unwrap();
        let rbac = Rbac::default();
        let token = rbac.issue("default", "sa");
        let who = rbac.authenticate(Some(&format!("Bearer {token}"))).unwrap();
        let req = |verb, resource: &str, name| Request {
            verb,
            group: "",
            resource: resource.to_owned(),
            namespace: Some("default"),
            name,
        };
        assert!(rbac
            .authorize(&store, &who, &req("list", "configmaps", None))
            .is_ok());
        assert!(rbac
            .authorize(&store, &who, &req("get", "pods/log", Some("p1")))
            .is_ok());
        let e = rbac
            .authorize(&store, &who, &req("get", "pods/log", Some("p2")))
            .unwrap_err();
        assert_eq!(e.code, 403);
        let e = rbac
            .authorize(&store, &who, &req("delete", "configmaps", Some("x")))
            .unwrap_err();
        assert!(
            e.message.contains("cannot delete resource \"configmaps\""),
            "{}",
            e.message
        );
        assert_eq!(
            rbac.authenticate(Some("Bearer forged")).unwrap_err().code,
            401
        );
        assert_eq!(rbac.authenticate(None).unwrap(), Identity::Admin);
        let other = rbac
            .authenticate(Some(&format!("Bearer {}", rbac.issue("default", "other"))))
            .unwrap();
        assert!(rbac
            .authorize(&store, &other, &req("list", "configmaps", None))
            .is_err());
    }
}
