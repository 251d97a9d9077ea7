//! Node flags: a flat `name -> value` map, as written to `flags.json`.

use std::collections::BTreeMap;

use crate::error::{Error, Result};

/// A flat map of flag names to string values.
pub type Flags = BTreeMap<String, String>;

/// What is wrong with `name` as a flag's name (every daemon's flags are
/// one word), if anything: the one rule for names from a command line and
/// from a kind file.
pub fn name_problem(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        Some("is empty")
    } else if name.chars().any(|c| c.is_whitespace() || c.is_control()) {
        Some("has a space or a control character")
    } else if name.contains('=') {
        Some("has '='")
    } else {
        None
    }
}

/// Parses `KEY=VALUE` (as given on a command line) into a pair.
pub fn parse_flag(text: &str) -> Result<(String, String)> {
    let Some((k, v)) = text.split_once('=') else {
        return Err(Error::InvalidInput(format!(
            "flag {text:?} is not KEY=VALUE; write it as e.g. --flag log-level=debug"
        )));
    };
    let k = k.trim();
    match name_problem(k) {
        None => Ok((k.to_owned(), v.to_owned())),
        Some(problem) => Err(Error::InvalidInput(format!(
            "flag {text:?}: its name {problem}; write it as e.g. --flag log-level=debug"
        ))),
    }
}

/// Composes a node's full flags from layers, lowest precedence first: each
/// later layer overrides the earlier ones key by key.
pub fn compose<'a>(layers: impl IntoIterator<Item = &'a Flags>) -> Flags {
    let mut out = Flags::new();
    for layer in layers {
        out.extend(layer.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(pairs: &[(&str, &str)]) -> Flags {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn later_layers_win() {
        let kind = flags(&[("log-level", "info"), ("http-port", "0")]);
        let network = flags(&[("log-level", "debug")]);
        let node = flags(&[("http-port", "9650")]);
        let out = compose([&kind, &network, &node]);
        assert_eq!(out, flags(&[("log-level", "debug"), ("http-port", "9650")]));
    }

    #[test]
    fn parses_key_value_and_rejects_garbage() {
        assert_eq!(parse_flag("a=b=c").unwrap(), ("a".into(), "b=c".into()));
        assert_eq!(parse_flag("a=").unwrap(), ("a".into(), String::new()));
        let err = parse_flag("novalue").unwrap_err().to_string();
        assert!(err.contains("KEY=VALUE"), "{err}");
        assert!(parse_flag("=x").is_err());
        let err = parse_flag("a b=x").unwrap_err().to_string();
        assert!(err.contains("space"), "{err}");
    }

    #[test]
    fn a_flag_name_is_one_word() {
        assert_eq!(name_problem("log-level"), None);
        for bad in ["", "a b", "a\tb", "a\nb", "a=b"] {
            assert!(name_problem(bad).is_some(), "{bad:?}");
        }
    }
}
