//! `SelfSubjectAccessReview`: a caller asks whether it may do something,
//! answered by the same RBAC rules that guard its real requests. Every
//! authenticated caller may ask (as a real cluster's `system:basic-user`
//! role allows); nothing is stored.

use serde_json::{json, Value};

use crate::rbac::{Identity, Rbac, Request};
use crate::status::{ApiError, ApiResult};
use crate::store::Store;

/// The review `body` with its `status` filled in for `who`.
pub fn answer(rbac: &Rbac, store: &Store, who: &Identity, body: Value) -> ApiResult<Value> {
    let attributes = body
        .pointer("/spec/resourceAttributes")
        .and_then(Value::as_object)
        .ok_or_else(|| {
            ApiError::bad_request(
                "spec.resourceAttributes: Required value: a resource to ask about (non-resource URLs are not served)".into(),
            )
        })?;
    let text = |key: &str| attributes.get(key).and_then(Value::as_str).unwrap_or("");
    let verb = text("verb");
    if verb.is_empty() || text("resource").is_empty() {
        return Err(ApiError::bad_request(
            "spec.resourceAttributes: verb and resource are required".into(),
        ));
    }
    let resource = match text("subresource") {
        "" => text("resource").to_owned(),
        sub => format!("{}/{sub}", text("resource")),
    };
    let namespace = Some(text("namespace")).filter(|n| !n.is_empty());
    let name = Some(text("name")).filter(|n| !n.is_empty());
    let verdict = rbac.authorize(
        store,
        who,
        &Request {
            verb,
            group: text("group"),
            resource,
            namespace,
            name,
        },
    );
    let mut review = body;
    review["apiVersion"] = json!("authorization.k8s.io/v1");
    review["kind"] = json!("SelfSubjectAccessReview");
    review["status"] = match verdict {
        Ok(()) => json!({"allowed": true}),
        Err(refused) => json!({"allowed": false, "reason": refused.message}),
    };
    Ok(review)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_review_is_answered_by_the_rules_that_guard_requests() {
        let rbac = Rbac::default();
        let store = Store::new();
        let namespaces = crate::resources::find("", "v1", "namespaces").unwrap();
        store
            .create(namespaces, None, json!({"metadata": {"name": "ns"}}))
            .unwrap();
        let roles = crate::resources::find("rbac.authorization.k8s.io", "v1", "roles").unwrap();
        let bindings =
            crate::resources::find("rbac.authorization.k8s.io", "v1", "rolebindings").unwrap();
        store
            .create(
                roles,
                Some("ns"),
                json!({"metadata": {"name": "r"}, "rules": [
                    {"apiGroups": ["apps"], "resources": ["statefulsets"], "verbs": ["create"]},
                    {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]}
                ]}),
            )
            .unwrap();
        store
            .create(
                bindings,
                Some("ns"),
                json!({"metadata": {"name": "b"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "r"},
                "subjects": [{"kind": "ServiceAccount", "name": "sa"}]}),
            )
            .unwrap();
        let sa = Identity::ServiceAccount {
            namespace: "ns".into(),
            name: "sa".into(),
        };
        let ask = |who: &Identity, attrs: Value| {
            answer(
                &rbac,
                &store,
                who,
                json!({"spec": {"resourceAttributes": attrs}}),
            )
            .map(|r| r["status"]["allowed"].as_bool().unwrap())
        };
        let create_sets = json!({"namespace": "ns", "verb": "create", "group": "apps", "resource": "statefulsets"});
        assert_eq!(ask(&sa, create_sets.clone()), Ok(true));
        assert_eq!(ask(&Identity::Admin, create_sets), Ok(true));
        let logs =
            json!({"namespace": "ns", "verb": "get", "resource": "pods", "subresource": "log"});
        assert_eq!(ask(&sa, logs), Ok(true));
        let elsewhere = json!({"namespace": "other", "verb": "create", "group": "apps", "resource": "statefulsets"});
        assert_eq!(ask(&sa, elsewhere), Ok(false));
        let secrets = json!({"namespace": "ns", "verb": "create", "resource": "secrets"});
        assert_eq!(ask(&sa, secrets), Ok(false));
        assert!(
            ask(&sa, json!({"verb": "get"})).is_err(),
            "a resource is required"
        );
        assert!(answer(&rbac, &store, &sa, json!({"spec": {}})).is_err());
    }
}
