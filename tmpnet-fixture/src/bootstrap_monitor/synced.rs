//! What "synced" means for the monitored node: the kind's own health check
//! (the default), or conditions on a JSON document read from the node's
//! API through its kind, e.g. litecoind's
//! `getblockchaininfo:/initialblockdownload=false,/blocks=/headers`.

use std::fmt;
use std::str::FromStr;

use serde_json::Value;

use crate::error::{Error, Result};

/// The check that says the node has synced.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SyncedCheck {
    /// The kind's health check answers healthy.
    Health,
    /// Every condition holds on the JSON document the kind's API answers
    /// `request` with (a JSON-RPC method, or an HTTP path).
    Query {
        /// What to ask the node.
        request: String,
        /// What its answer must say.
        conditions: Vec<Condition>,
    },
}

/// One condition on a JSON document: the value at a JSON pointer equals a
/// JSON literal, or the value at another pointer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    /// The JSON pointer (`/blocks`).
    pub pointer: String,
    /// What it must equal.
    pub expected: Expected,
}

/// The right side of a [`Condition`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expected {
    /// A JSON literal (`false`, `300`, `"done"`).
    Literal(Value),
    /// The value at another pointer of the same document.
    Pointer(String),
}

fn bad(text: &str, why: &str) -> Error {
    Error::InvalidInput(format!(
        "{text:?} is not a synced check ({why}); give `health`, or `<request>:<pointer>=<JSON or pointer>[,...]` such as `getblockchaininfo:/initialblockdownload=false,/blocks=/headers`"
    ))
}

impl FromStr for SyncedCheck {
    type Err = Error;

    fn from_str(text: &str) -> Result<SyncedCheck> {
        if text == "health" {
            return Ok(SyncedCheck::Health);
        }
        let (request, conditions) = text
            .split_once(':')
            .ok_or_else(|| bad(text, "it has no ':' between the request and the conditions"))?;
        if request.trim().is_empty() {
            return Err(bad(text, "the request is empty"));
        }
        let conditions = conditions
            .split(',')
            .map(|c| {
                let (pointer, expected) = c
                    .split_once('=')
                    .ok_or_else(|| bad(text, &format!("{c:?} has no '='")))?;
                if !pointer.starts_with('/') {
                    return Err(bad(text, &format!("{pointer:?} is not a JSON pointer")));
                }
                let expected = if expected.starts_with('/') {
                    Expected::Pointer(expected.to_owned())
                } else {
                    Expected::Literal(serde_json::from_str(expected).map_err(|_| {
                        bad(text, &format!("{expected:?} is neither JSON nor a pointer"))
                    })?)
                };
                Ok(Condition {
                    pointer: pointer.to_owned(),
                    expected,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(SyncedCheck::Query {
            request: request.to_owned(),
            conditions,
        })
    }
}

impl fmt::Display for SyncedCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SyncedCheck::Health => f.write_str("health"),
            SyncedCheck::Query {
                request,
                conditions,
            } => {
                write!(f, "{request}:")?;
                for (i, c) in conditions.iter().enumerate() {
                    let sep = if i == 0 { "" } else { "," };
                    match &c.expected {
                        Expected::Literal(v) => write!(f, "{sep}{}={v}", c.pointer)?,
                        Expected::Pointer(p) => write!(f, "{sep}{}={p}", c.pointer)?,
                    }
                }
                Ok(())
            }
        }
    }
}

/// Whether every condition holds on `doc`; else what the first one that
/// does not saw, for the progress log.
pub fn unmet(conditions: &[Condition], doc: &Value) -> Option<String> {
    // A value the document lacks meets no condition: two missing values
    // are not equal (an error reply would otherwise pass as synced).
    let missing = |p: &str| format!("{p} is missing");
    conditions.iter().find_map(|c| {
        let Some(actual) = doc.pointer(&c.pointer) else {
            return Some(missing(&c.pointer));
        };
        match &c.expected {
            Expected::Literal(want) => {
                (actual != want).then(|| format!("{} is {actual}, not {want}", c.pointer))
            }
            Expected::Pointer(other) => match doc.pointer(other) {
                None => Some(missing(other)),
                Some(want) => (actual != want)
                    .then(|| format!("{} is {actual}, {other} is {want}", c.pointer)),
            },
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn checks_parse_and_print_back() {
        assert_eq!(
            "health".parse::<SyncedCheck>().unwrap(),
            SyncedCheck::Health
        );
        let text = "getblockchaininfo:/initialblockdownload=false,/blocks=/headers";
        let check: SyncedCheck = text.parse().unwrap();
        assert_eq!(check.to_string(), text);
        let SyncedCheck::Query {
            request,
            conditions,
        } = check
        else {
            panic!("a query")
        };
        assert_eq!(request, "getblockchaininfo");
        assert_eq!(conditions[0].expected, Expected::Literal(json!(false)));
        assert_eq!(conditions[1].expected, Expected::Pointer("/headers".into()));
        let keys: SyncedCheck = "/ext/info:/keys=300".parse().unwrap();
        assert_eq!(keys.to_string(), "/ext/info:/keys=300");
    }

    #[test]
    fn what_is_no_check_is_refused_in_one_line() {
        for text in ["", "healthy", ":/a=1", "m:a=1", "m:/a", "m:/a=nope"] {
            let err = text.parse::<SyncedCheck>().unwrap_err().to_string();
            assert!(err.contains("is not a synced check"), "{text}: {err}");
            assert!(err.contains("give `health`"), "{err}");
            assert!(!err.contains('\n'));
        }
    }

    #[test]
    fn conditions_hold_or_say_what_they_saw() {
        let SyncedCheck::Query { conditions, .. } =
            "m:/initialblockdownload=false,/blocks=/headers"
                .parse()
                .unwrap()
        else {
            panic!("a query")
        };
        let syncing = json!({"initialblockdownload": false, "blocks": 120, "headers": 300});
        assert_eq!(
            unmet(&conditions, &syncing).as_deref(),
            Some("/blocks is 120, /headers is 300")
        );
        let fresh = json!({"initialblockdownload": true, "blocks": 0, "headers": 0});
        assert_eq!(
            unmet(&conditions, &fresh).as_deref(),
            Some("/initialblockdownload is true, not false")
        );
        let done = json!({"initialblockdownload": false, "blocks": 300, "headers": 300});
        assert_eq!(unmet(&conditions, &done), None);
        assert_eq!(
            unmet(&conditions, &json!({"error": "busy"})).as_deref(),
            Some("/initialblockdownload is missing")
        );
        let SyncedCheck::Query { conditions, .. } = "m:/blocks=/headers".parse().unwrap() else {
            panic!("a query")
        };
        assert_eq!(
            unmet(&conditions, &json!({"error": "busy"})).as_deref(),
            Some("/blocks is missing"),
            "two missing values are not equal"
        );
    }
}
