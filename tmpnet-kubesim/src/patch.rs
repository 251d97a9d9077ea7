//! PATCH bodies: JSON merge patch, JSON patch, and server-side apply (as an
//! approximation: create when absent, else merge the applied fields in).

use serde_json::Value;

use crate::status::ApiError;

/// The patch types the simulator understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchKind {
    /// `application/merge-patch+json` (RFC 7386).
    Merge,
    /// `application/json-patch+json` (RFC 6902).
    Json,
    /// `application/apply-patch+yaml`: server-side apply, approximated.
    Apply,
    /// `application/strategic-merge-patch+json`, for the list fields whose
    /// merge keys [`merge_key`] knows.
    Strategic,
}

impl PatchKind {
    /// The patch type named by a `Content-Type`.
    pub fn from_content_type(content_type: &str) -> Result<PatchKind, ApiError> {
        let base = content_type.split(';').next().unwrap_or_default().trim();
        match base {
            "application/merge-patch+json" => Ok(PatchKind::Merge),
            "application/json-patch+json" => Ok(PatchKind::Json),
            "application/apply-patch+yaml" | "application/apply-patch+json" => Ok(PatchKind::Apply),
            "application/strategic-merge-patch+json" => Ok(PatchKind::Strategic),
            other => Err(ApiError::unsupported_media(format!(
                "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml (got {other:?})"
            ))),
        }
    }
}

/// Applies `body` to `object`.
pub fn apply(kind: PatchKind, object: &mut Value, body: &[u8]) -> Result<(), ApiError> {
    let parsed: Value = serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(format!(
            "the patch is not JSON ({e}); tmpnet-kubesim reads JSON bodies only, also for apply patches"
        ))
    })?;
    match kind {
        PatchKind::Merge | PatchKind::Apply => {
            json_patch::merge(object, &parsed);
            Ok(())
        }
        PatchKind::Strategic => {
            strategic_merge(object, &parsed);
            Ok(())
        }
        PatchKind::Json => {
            let ops: json_patch::Patch = serde_json::from_value(parsed)
                .map_err(|e| ApiError::bad_request(format!("invalid JSON patch: {e}")))?;
            json_patch::patch(object, &ops).map_err(|e| {
                ApiError::invalid("", "", format!("the JSON patch does not apply: {e}"))
            })
        }
    }
}

/// The merge key of a list field, by the field's name, for the lists tmpnet
/// patches (containers, env, ports, volumes, mounts); `None` for lists that
/// a patch replaces whole.
pub fn merge_key(field: &str) -> Option<&'static str> {
    match field {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "env"
        | "volumes"
        | "imagePullSecrets"
        | "volumeClaimTemplates" => Some("name"),
        "ports" => Some("containerPort"),
        "volumeMounts" => Some("mountPath"),
        _ => None,
    }
}

/// Merges `patch` into `target` as a strategic merge patch: objects merge,
/// `null` deletes, lists with a merge key merge element by element (an
/// element with `"$patch": "delete"` removes its match), other lists and
/// scalars replace. `"$patch": "replace"` on an object replaces it whole.
pub fn strategic_merge(target: &mut Value, patch: &Value) {
    let Some(patch_map) = patch.as_object() else {
        *target = patch.clone();
        return;
    };
    if patch_map.get("$patch").and_then(Value::as_str) == Some("replace") {
        let mut replacement = patch.clone();
        if let Some(map) = replacement.as_object_mut() {
            map.remove("$patch");
        }
        *target = replacement;
        return;
    }
    if !target.is_object() {
        *target = Value::Object(Default::default());
    }
    let Some(target_map) = target.as_object_mut() else {
        return;
    };
    for (key, value) in patch_map {
        if key.starts_with('$') {
            continue;
        }
        if value.is_null() {
            target_map.remove(key);
            continue;
        }
        match (target_map.get_mut(key), value, merge_key(key)) {
            (Some(Value::Array(items)), Value::Array(changes), Some(merge_by)) => {
                for change in changes {
                    let id = change.get(merge_by);
                    let position = items
                        .iter()
                        .position(|i| id.is_some() && i.get(merge_by) == id);
                    let delete = change.get("$patch").and_then(Value::as_str) == Some("delete");
                    match (position, delete) {
                        (Some(i), true) => {
                            items.remove(i);
                        }
                        (None, true) => {}
                        (Some(i), false) => strategic_merge(&mut items[i], change),
                        (None, false) => items.push(change.clone()),
                    }
                }
            }
            (Some(existing @ Value::Object(_)), Value::Object(_), _) => {
                strategic_merge(existing, value)
            }
            _ => {
                // A new value, with its directives and nulls resolved.
                let mut fresh = Value::Null;
                strategic_merge(&mut fresh, value);
                target_map.insert(key.clone(), fresh);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_and_json_patches() {
        let mut obj = json!({"a": 1, "b": {"c": 2, "d": 3}});
        apply(PatchKind::Merge, &mut obj, br#"{"b": {"c": null, "e": 4}}"#).unwrap();
        assert_eq!(obj, json!({"a": 1, "b": {"d": 3, "e": 4}}));
        apply(
            PatchKind::Json,
            &mut obj,
            br#"[{"op": "replace", "path": "/a", "value": 9}]"#,
        )
        .unwrap();
        assert_eq!(obj["a"], 9);
        let err = apply(
            PatchKind::Json,
            &mut obj,
            br#"[{"op": "remove", "path": "/zz"}]"#,
        )
        .unwrap_err();
        assert_eq!(err.code, 422);
    }

    #[test]
    fn content_types() {
        assert_eq!(
            PatchKind::from_content_type("application/merge-patch+json").unwrap(),
            PatchKind::Merge
        );
        assert_eq!(
            PatchKind::from_content_type("application/apply-patch+yaml; charset=utf-8").unwrap(),
            PatchKind::Apply
        );
        assert_eq!(
            PatchKind::from_content_type("application/strategic-merge-patch+json").unwrap(),
            PatchKind::Strategic
        );
        assert_eq!(
            PatchKind::from_content_type("text/plain").unwrap_err().code,
            415
        );
    }

    #[test]
    fn strategic_merge_by_keys() {
        let mut pod = json!({"spec": {"containers": [
            {"name": "a", "image": "x", "env": [{"name": "K", "value": "1"}, {"name": "L", "value": "2"}]},
            {"name": "b", "image": "y"}
        ], "tolerations": [{"key": "t"}]}});
        strategic_merge(
            &mut pod,
            &json!({"spec": {"containers": [
            {"name": "a", "env": [{"name": "K", "value": "9"}, {"name": "L", "$patch": "delete"}, {"name": "M", "value": "3"}]},
            {"name": "c", "image": "z"}
        ], "tolerations": [{"key": "u"}]}}),
        );
        let containers = pod["spec"]["containers"].as_array().unwrap();
        assert_eq!(containers.len(), 3);
        assert_eq!(containers[0]["image"], "x", "untouched fields stay");
        assert_eq!(
            containers[0]["env"],
            json!([{"name": "K", "value": "9"}, {"name": "M", "value": "3"}])
        );
        assert_eq!(containers[2]["name"], "c");
        assert_eq!(
            pod["spec"]["tolerations"],
            json!([{"key": "u"}]),
            "lists without a merge key are replaced"
        );
        strategic_merge(
            &mut pod,
            &json!({"spec": {"$patch": "replace", "containers": []}}),
        );
        assert_eq!(pod["spec"], json!({"containers": []}));
    }
}
