//! Label and field selectors, as `labelSelector` / `fieldSelector` query
//! parameters express them.

use serde_json::Value;

use crate::status::ApiError;

#[derive(Debug, Clone, PartialEq)]
enum Requirement {
    Equals(String, String),
    NotEquals(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
}

/// A parsed selector; all requirements must hold.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Selector(Vec<Requirement>);

/// Splits on commas that are not inside parentheses.
fn split_top(text: &str) -> Vec<&str> {
    let (mut depth, mut start, mut parts) = (0i32, 0, Vec::new());
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
        .into_iter()
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect()
}

fn set(values: &str) -> Vec<String> {
    values
        .trim()
        .trim_start_matches('(')
        .trim_end_matches(')')
        .split(',')
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
        .collect()
}

impl Selector {
    /// Parses a selector; `field` allows only `=`, `==` and `!=`.
    pub fn parse(text: &str, field: bool) -> Result<Selector, ApiError> {
        let bad =
            |part: &str| ApiError::bad_request(format!("unable to parse requirement: {part:?}"));
        let mut reqs = Vec::new();
        for part in split_top(text) {
            let req = if let Some((k, v)) = part.split_once("!=") {
                Requirement::NotEquals(k.trim().into(), v.trim().into())
            } else if let Some((k, v)) = part.split_once("==") {
                Requirement::Equals(k.trim().into(), v.trim().into())
            } else if let Some((k, v)) = part.split_once('=') {
                Requirement::Equals(k.trim().into(), v.trim().into())
            } else if field {
                return Err(bad(part));
            } else if let Some((k, v)) = part.split_once(" notin ") {
                Requirement::NotIn(k.trim().into(), set(v))
            } else if let Some((k, v)) = part.split_once(" in ") {
                Requirement::In(k.trim().into(), set(v))
            } else if let Some(k) = part.strip_prefix('!') {
                Requirement::NotExists(k.trim().into())
            } else if part
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c))
            {
                Requirement::Exists(part.into())
            } else {
                return Err(bad(part));
            };
            reqs.push(req);
        }
        Ok(Selector(reqs))
    }

    /// Whether an object's labels match.
    pub fn matches_labels(&self, object: &Value) -> bool {
        let labels = object.pointer("/metadata/labels");
        let get = |k: &str| labels.and_then(|l| l.get(k)).and_then(Value::as_str);
        self.matches(get)
    }

    /// Whether an object's fields (dotted paths such as `metadata.name`)
    /// match.
    pub fn matches_fields(&self, object: &Value) -> bool {
        let get = |path: &str| {
            let pointer = format!("/{}", path.replace('.', "/"));
            object.pointer(&pointer).and_then(Value::as_str)
        };
        self.matches(get)
    }

    fn matches<'a>(&self, get: impl Fn(&str) -> Option<&'a str>) -> bool {
        self.0.iter().all(|req| match req {
            Requirement::Equals(k, v) => get(k) == Some(v.as_str()),
            Requirement::NotEquals(k, v) => get(k) != Some(v.as_str()),
            Requirement::In(k, vs) => get(k).is_some_and(|x| vs.iter().any(|v| v == x)),
            Requirement::NotIn(k, vs) => get(k).is_none_or(|x| vs.iter().all(|v| v != x)),
            Requirement::Exists(k) => get(k).is_some(),
            Requirement::NotExists(k) => get(k).is_none(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn label_selectors() {
        let obj = json!({"metadata": {"name": "a", "labels": {"app": "node", "tier": "p2p"}}});
        for (sel, expected) in [
            ("app=node", true),
            ("app==node,tier=p2p", true),
            ("app!=node", false),
            ("app in (node, other)", true),
            ("tier notin (p2p)", false),
            ("app", true),
            ("!missing", true),
            ("missing", false),
            ("", true),
        ] {
            let s = Selector::parse(sel, false).unwrap();
            assert_eq!(s.matches_labels(&obj), expected, "{sel}");
        }
        assert!(Selector::parse("a b c", false).is_err());
    }

    #[test]
    fn field_selectors() {
        let obj =
            json!({"metadata": {"name": "a", "namespace": "n"}, "status": {"phase": "Running"}});
        let s = Selector::parse("metadata.name=a,status.phase!=Failed", true).unwrap();
        assert!(s.matches_fields(&obj));
        assert!(!Selector::parse("metadata.namespace=x", true)
            .unwrap()
            .matches_fields(&obj));
        assert!(Selector::parse("app in (a)", true).is_err());
    }
}
