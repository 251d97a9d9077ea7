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
}

impl PatchKind {
    /// The patch type named by a `Content-Type`.
    pub fn from_content_type(content_type: &str) -> Result<PatchKind, ApiError> {
        let base = content_type.split(';').next().unwrap_or_default().trim();
        match base {
            "application/merge-patch+json" => Ok(PatchKind::Merge),
            "application/json-patch+json" => Ok(PatchKind::Json),
            "application/apply-patch+yaml" | "application/apply-patch+json" => Ok(PatchKind::Apply),
            "application/strategic-merge-patch+json" => Err(ApiError::not_implemented(
                "strategic merge patch (use a JSON merge patch or server-side apply)".into(),
            )),
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
        PatchKind::Json => {
            let ops: json_patch::Patch = serde_json::from_value(parsed)
                .map_err(|e| ApiError::bad_request(format!("invalid JSON patch: {e}")))?;
            json_patch::patch(object, &ops).map_err(|e| {
                ApiError::invalid("", "", format!("the JSON patch does not apply: {e}"))
            })
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
            PatchKind::from_content_type("application/strategic-merge-patch+json")
                .unwrap_err()
                .code,
            501
        );
        assert_eq!(
            PatchKind::from_content_type("text/plain").unwrap_err().code,
            415
        );
    }
}
