//! The HTTP API: parses a request's path into what it addresses, and
//! serves it from the store. Anything not implemented is a 501 naming the
//! verb and resource.

mod routes;
mod watch;

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use crate::patch::{self, PatchKind};
use crate::resources::{self, Resource};
use crate::selectors::Selector;
use crate::shared::Shared;
use crate::status::{ApiError, ApiResult};
use crate::store::Store;

use self::routes::route;

/// What a path addresses.
#[derive(Debug, PartialEq)]
enum Target<'a> {
    Version,
    CoreVersions,
    Groups,
    Group(&'a str),
    ResourceList(&'a str, &'a str),
    Object {
        res: &'static Resource,
        ns: Option<&'a str>,
        name: Option<&'a str>,
        sub: Option<&'a str>,
    },
}

fn parse_path(path: &str) -> Result<Target<'_>, ApiError> {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let unknown = || ApiError::not_implemented(format!("the path {path}"));
    let (group, version, rest) = match segs.as_slice() {
        ["version"] => return Ok(Target::Version),
        ["api"] => return Ok(Target::CoreVersions),
        ["apis"] => return Ok(Target::Groups),
        ["apis", g] => return Ok(Target::Group(g)),
        ["api", v] => return Ok(Target::ResourceList("", v)),
        ["apis", g, v] => return Ok(Target::ResourceList(g, v)),
        ["api", v, rest @ ..] => ("", *v, rest),
        ["apis", g, v, rest @ ..] => (*g, *v, rest),
        _ => return Err(unknown()),
    };
    let not_served = |plural: &str| {
        ApiError::not_implemented(format!(
            "the resource {plural} in {}",
            if group.is_empty() {
                version.to_owned()
            } else {
                format!("{group}/{version}")
            }
        ))
    };
    // `namespaces/<ns>/<plural>...` addresses a namespaced resource, except
    // a namespace's own subresources (`namespaces/<name>/status`).
    let namespace_sub = |plural: &str, more: &[&str]| {
        group.is_empty() && more.is_empty() && matches!(plural, "status" | "finalize")
    };
    let (res, ns, name, sub) = match rest {
        ["namespaces", ns, plural, more @ ..]
            if more.len() <= 2 && !namespace_sub(plural, more) =>
        {
            let res = resources::find(group, version, plural)
                .filter(|r| r.namespaced)
                .ok_or_else(|| not_served(plural))?;
            (res, Some(*ns), more.first().copied(), more.get(1).copied())
        }
        [plural, more @ ..] if more.len() <= 2 => {
            let res = resources::find(group, version, plural).ok_or_else(|| not_served(plural))?;
            (res, None, more.first().copied(), more.get(1).copied())
        }
        _ => return Err(unknown()),
    };
    Ok(Target::Object { res, ns, name, sub })
}

fn body_json(body: &Bytes) -> ApiResult<Value> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("the request body is not JSON: {e}")))
}

fn verb_name(method: &Method, name: Option<&str>, watch: bool) -> &'static str {
    match (method.as_str(), name, watch) {
        ("GET", _, true) => "watch",
        ("GET", None, _) => "list",
        ("GET", Some(_), _) => "get",
        ("POST", _, _) => "create",
        ("PUT", _, _) => "update",
        ("PATCH", _, _) => "patch",
        ("DELETE", None, _) => "deletecollection",
        ("DELETE", Some(_), _) => "delete",
        _ => "an unknown verb",
    }
}

/// Serves one request.
pub async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    shared
        .requests
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    match route(&shared, &method, &uri, &headers, body).await {
        Ok(response) => response,
        Err(e) => {
            tracing::debug!(%method, %uri, code = e.code, message = %e.message, "refused");
            e.into_response()
        }
    }
}

fn selectors(q: &HashMap<String, String>) -> ApiResult<(Selector, Selector)> {
    Ok((
        Selector::parse(
            q.get("labelSelector").map(String::as_str).unwrap_or(""),
            false,
        )?,
        Selector::parse(
            q.get("fieldSelector").map(String::as_str).unwrap_or(""),
            true,
        )?,
    ))
}

fn list(
    store: &Store,
    res: &'static Resource,
    ns: Option<&str>,
    q: &HashMap<String, String>,
) -> ApiResult<Response> {
    let (labels, fields) = selectors(q)?;
    let (items, rv) = store.list(res, ns, |o| {
        labels.matches_labels(o) && fields.matches_fields(o)
    });
    Ok(Json(json!({
        "kind": format!("{}List", res.kind),
        "apiVersion": res.api_version(),
        "metadata": {"resourceVersion": rv.to_string()},
        "items": items,
    }))
    .into_response())
}

#[allow(clippy::too_many_arguments)]
fn patch_object(
    store: &Store,
    res: &'static Resource,
    ns: Option<&str>,
    name: &str,
    status_only: bool,
    headers: &HeaderMap,
    q: &HashMap<String, String>,
    body: &Bytes,
) -> ApiResult<Response> {
    let content_type = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let kind = PatchKind::from_content_type(content_type)?;
    if kind == PatchKind::Apply {
        if q.get("fieldManager").is_none_or(|m| m.is_empty()) {
            return Err(ApiError::bad_request(
                "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch".into(),
            ));
        }
        if store.get(res, ns, name).is_err() && !status_only {
            let mut object = body_json(body)?;
            if !object.is_object() || object.get("metadata").is_some_and(|m| !m.is_object()) {
                return Err(ApiError::bad_request(
                    "an apply patch must be an object with an object `metadata`".into(),
                ));
            }
            if object.get("metadata").is_none() {
                object["metadata"] = json!({});
            }
            object["metadata"]["name"] = json!(name);
            let created = store.create(res, ns, object)?;
            return Ok((StatusCode::CREATED, Json(created)).into_response());
        }
    }
    let mut object = store.get(res, ns, name)?;
    let before_rv = object.pointer("/metadata/resourceVersion").cloned();
    patch::apply(kind, &mut object, body)?;
    if !object.is_object() || !object.get("metadata").is_some_and(Value::is_object) {
        return Err(ApiError::invalid(
            &res.qualified(),
            name,
            "the patch leaves no object metadata".into(),
        ));
    }
    // A patch applies to the latest version unless it names one itself, as
    // on a real apiserver: only a resourceVersion the patch set is checked.
    if object.pointer("/metadata/resourceVersion").cloned() == before_rv {
        if let Some(meta) = object["metadata"].as_object_mut() {
            meta.remove("resourceVersion");
        }
    }
    Ok(Json(store.replace(res, ns, name, object, status_only)?).into_response())
}

/// `statefulsets/<name>/scale`: the replica count as an autoscaling/v1 Scale.
fn scale(
    store: &Store,
    res: &'static Resource,
    ns: Option<&str>,
    name: &str,
    method: &Method,
    headers: &HeaderMap,
    body: &Bytes,
) -> ApiResult<Response> {
    let object = store.get(res, ns, name)?;
    let as_scale = |o: &Value| {
        let selector = o
            .pointer("/spec/selector/matchLabels")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .unwrap_or_default();
        json!({
            "kind": "Scale",
            "apiVersion": "autoscaling/v1",
            "metadata": {"name": name, "namespace": ns, "uid": o["metadata"]["uid"],
                         "resourceVersion": o["metadata"]["resourceVersion"]},
            "spec": {"replicas": o.pointer("/spec/replicas").cloned().unwrap_or(json!(1))},
            "status": {"replicas": o.pointer("/status/replicas").cloned().unwrap_or(json!(0)), "selector": selector},
        })
    };
    let mut scale_obj = as_scale(&object);
    match *method {
        Method::GET => return Ok(Json(scale_obj).into_response()),
        Method::PUT => scale_obj = body_json(body)?,
        Method::PATCH => {
            let content_type = headers
                .get(axum::http::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            patch::apply(
                PatchKind::from_content_type(content_type)?,
                &mut scale_obj,
                body,
            )?;
        }
        _ => {
            return Err(ApiError::not_implemented(format!(
                "{method} on statefulsets/scale"
            )))
        }
    }
    let replicas = scale_obj
        .pointer("/spec/replicas")
        .and_then(Value::as_u64)
        .ok_or_else(|| ApiError::invalid("scale", name, "spec.replicas: Required value".into()))?;
    let mut updated = object;
    updated["spec"]["replicas"] = json!(replicas);
    let updated = store.replace(res, ns, name, updated, false)?;
    Ok(Json(as_scale(&updated)).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_parse_into_targets() {
        let cm = resources::find("", "v1", "configmaps").unwrap();
        let ns = resources::find("", "v1", "namespaces").unwrap();
        assert_eq!(
            parse_path("/api/v1/namespaces/d/configmaps/x").unwrap(),
            Target::Object {
                res: cm,
                ns: Some("d"),
                name: Some("x"),
                sub: None
            }
        );
        assert_eq!(
            parse_path("/api/v1/namespaces/d").unwrap(),
            Target::Object {
                res: ns,
                ns: None,
                name: Some("d"),
                sub: None
            }
        );
        assert_eq!(
            parse_path("/api/v1/configmaps").unwrap(),
            Target::Object {
                res: cm,
                ns: None,
                name: None,
                sub: None
            }
        );
        let sts = resources::find("apps", "v1", "statefulsets").unwrap();
        assert_eq!(
            parse_path("/apis/apps/v1/namespaces/d/statefulsets/s/status").unwrap(),
            Target::Object {
                res: sts,
                ns: Some("d"),
                name: Some("s"),
                sub: Some("status")
            }
        );
        let err = parse_path("/apis/apps/v1/namespaces/d/deployments").unwrap_err();
        assert_eq!(err.code, 501);
        assert!(
            err.message.contains("deployments in apps/v1"),
            "{}",
            err.message
        );
    }
}
