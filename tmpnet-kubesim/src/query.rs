//! A request's query string, as the API server reads it.

use std::collections::HashMap;

use axum::http::Uri;

/// The query parameters of `uri`, percent- and `+`-decoded.
pub fn query(uri: &Uri) -> HashMap<String, String> {
    form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes())
        .into_owned()
        .collect()
}

/// A boolean query parameter, read as Go's `strconv.ParseBool` reads it
/// (the Python client sends `True`).
pub fn truthy(q: &HashMap<String, String>, key: &str) -> bool {
    q.get(key)
        .is_some_and(|v| matches!(v.as_str(), "1" | "t" | "T" | "true" | "TRUE" | "True"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn query_strings_are_decoded() {
        let uri: Uri = "/x?labelSelector=app%3Dnode%2Ctier+in+(a)&watch=1&bare"
            .parse()
            .unwrap();
        let q = query(&uri);
        assert_eq!(q["labelSelector"], "app=node,tier in (a)");
        assert!(truthy(&q, "watch"));
        assert_eq!(q["bare"], "");
        assert!(!truthy(&q, "bare"));
    }
}
