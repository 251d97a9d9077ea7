//! Routing: authenticates and authorizes a request, then dispatches it by
//! method and target to discovery, the store, watches, scale or logs.

use std::sync::Arc;

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::Value;

use crate::discovery;
use crate::logs;
use crate::query::{query, truthy};
use crate::shared::Shared;
use crate::status::{ApiError, ApiResult};

use super::watch::watch_response;
use super::{body_json, list, parse_path, patch_object, scale, verb_name, Target};

pub(super) async fn route(
    shared: &Arc<Shared>,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let q = query(uri);
    let who = shared.rbac.authenticate(
        headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok()),
    )?;
    let target = parse_path(uri.path())?;
    if let Target::Object { res, .. } = &target {
        if res.kind == "SelfSubjectAccessReview" {
            // Anyone may ask what they may do; nothing is stored.
            return match *method {
                Method::POST => {
                    let review = crate::reviews::answer(
                        &shared.rbac,
                        &shared.store,
                        &who,
                        body_json(&body)?,
                    )?;
                    Ok((StatusCode::CREATED, Json(review)).into_response())
                }
                _ => Err(ApiError::not_implemented(format!(
                    "{method} on {} (only create is served)",
                    res.qualified()
                ))),
            };
        }
    }
    if let Target::Object { res, ns, name, sub } = &target {
        let verb = verb_name(method, *name, truthy(&q, "watch"));
        let resource = match sub {
            Some(sub) => format!("{}/{sub}", res.plural),
            None => res.plural.to_owned(),
        };
        shared.rbac.authorize(
            &shared.store,
            &who,
            &crate::rbac::Request {
                verb,
                group: res.group,
                resource,
                namespace: *ns,
                name: *name,
            },
        )?;
    }
    let found = |v: Option<Value>| {
        v.map(|v| Json(v).into_response()).ok_or_else(|| {
            ApiError::not_found("the server could not find the requested resource", "")
        })
    };
    match (method, target) {
        (&Method::GET, Target::Version) => Ok(Json(discovery::version()).into_response()),
        (&Method::GET, Target::CoreVersions) => {
            Ok(Json(discovery::core_versions(&shared.address)).into_response())
        }
        (&Method::GET, Target::Groups) => Ok(Json(discovery::groups()).into_response()),
        (&Method::GET, Target::Group(g)) => found(discovery::group(g)),
        (&Method::GET, Target::ResourceList(g, v)) => found(discovery::resource_list(g, v)),
        (_, Target::Object { res, ns, name, sub }) => {
            let watch = truthy(&q, "watch");
            let verb = verb_name(method, name, watch);
            if res.namespaced != ns.is_some() && !(name.is_none() && method == Method::GET) {
                return Err(ApiError::bad_request(format!(
                    "{} is {}namespaced; {} it {}",
                    res.qualified(),
                    if res.namespaced { "" } else { "not " },
                    verb,
                    if res.namespaced {
                        "under /namespaces/<ns>/"
                    } else {
                        "without a namespace"
                    }
                )));
            }
            let store = &shared.store;
            match (sub, name) {
                (None, None) => match *method {
                    Method::GET if watch => watch_response(shared.clone(), res, ns, &q),
                    Method::GET => list(store, res, ns, &q),
                    Method::POST => {
                        let created = store.create(res, ns, body_json(&body)?)?;
                        Ok((StatusCode::CREATED, Json(created)).into_response())
                    }
                    _ => Err(ApiError::not_implemented(format!(
                        "{verb} on {}",
                        res.qualified()
                    ))),
                },
                (sub @ (None | Some("status")), Some(name)) => {
                    let status_only = sub.is_some();
                    if status_only && !res.status {
                        return Err(ApiError::not_implemented(format!(
                            "{verb} on {}/status",
                            res.qualified()
                        )));
                    }
                    match *method {
                        Method::GET => Ok(Json(store.get(res, ns, name)?).into_response()),
                        Method::PUT => Ok(Json(store.replace(
                            res,
                            ns,
                            name,
                            body_json(&body)?,
                            status_only,
                        )?)
                        .into_response()),
                        Method::PATCH => {
                            patch_object(store, res, ns, name, status_only, headers, &q, &body)
                        }
                        Method::DELETE if !status_only => {
                            Ok(Json(store.delete(res, ns, name)?).into_response())
                        }
                        _ => Err(ApiError::not_implemented(format!(
                            "{verb} on {}/status",
                            res.qualified()
                        ))),
                    }
                }
                (Some("scale"), Some(name)) if res.kind == "StatefulSet" => {
                    scale(store, res, ns, name, method, headers, &body)
                }
                (Some("log"), Some(name)) if res.kind == "Pod" && *method == Method::GET => {
                    logs::respond(shared.clone(), ns.unwrap_or("default"), name, &q)
                }
                (Some(sub), _) => Err(ApiError::not_implemented(format!(
                    "{verb} on {}/{sub}",
                    res.qualified()
                ))),
            }
        }
        (m, _) => Err(ApiError::not_implemented(format!("{m} {}", uri.path()))),
    }
}
