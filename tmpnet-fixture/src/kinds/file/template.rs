//! The `{placeholder}` templates of kind files, and the `{port}` patterns
//! that find a reported port in a line.

/// The placeholders a template uses, in order; `{{` and `}}` are literal
/// braces. Fails on an unclosed or empty placeholder.
pub(super) fn placeholders(template: &str) -> Result<Vec<String>, String> {
    let mut found = Vec::new();
    expand_with(template, |name| {
        found.push(name.to_owned());
        Some(String::new())
    })?;
    Ok(found)
}

/// Replaces each placeholder with what `value` gives for it. The caller
/// has validated the template, so a placeholder without a value becomes
/// the empty string.
pub(super) fn expand(template: &str, value: impl Fn(&str) -> Option<String>) -> String {
    expand_with(template, |name| Some(value(name).unwrap_or_default())).unwrap_or_default()
}

fn expand_with(
    template: &str,
    mut value: impl FnMut(&str) -> Option<String>,
) -> Result<String, String> {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(i) = rest.find(['{', '}']) {
        out.push_str(&rest[..i]);
        let brace = rest.as_bytes()[i];
        let after = &rest[i + 1..];
        if after.as_bytes().first() == Some(&brace) {
            out.push(char::from(brace));
            rest = &after[1..];
            continue;
        }
        if brace == b'}' {
            return Err(format!(
                "{template:?} has a lone '}}' (write '}}}}' for a brace)"
            ));
        }
        let Some(end) = after.find('}') else {
            return Err(format!("{template:?} has a '{{' that is never closed"));
        };
        let name = after[..end].trim();
        if name.is_empty() || name.contains('{') {
            return Err(format!("{template:?} has an empty or nested placeholder"));
        }
        out.push_str(&value(name).unwrap_or_default());
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// A pattern with one `{port}`: the text around it, literally.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct PortPattern {
    before: String,
    after: String,
}

impl PortPattern {
    /// Parses `pattern`, which must hold `{port}` exactly once.
    pub(super) fn parse(pattern: &str) -> Result<Self, String> {
        match pattern.split_once("{port}") {
            Some((before, after)) if !after.contains("{port}") => {
                if before.is_empty() && after.is_empty() {
                    return Err("a pattern of only {port} would match any number".into());
                }
                Ok(PortPattern {
                    before: before.to_owned(),
                    after: after.to_owned(),
                })
            }
            Some(_) => Err(format!("{pattern:?} has {{port}} more than once")),
            None => Err(format!("{pattern:?} has no {{port}}")),
        }
    }

    /// The port in the last line of `text` the pattern matches.
    pub(super) fn find_in(&self, text: &str) -> Option<u16> {
        text.lines().rev().find_map(|line| self.find_in_line(line))
    }

    fn find_in_line(&self, line: &str) -> Option<u16> {
        let mut from = 0;
        while let Some(i) = line[from..].find(&self.before) {
            let start = from + i + self.before.len();
            let digits = line[start..]
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(line.len() - start);
            if digits > 0 && line[start + digits..].starts_with(&self.after) {
                if let Ok(port) = line[start..start + digits].parse::<u16>() {
                    if port != 0 {
                        return Some(port);
                    }
                }
            }
            if self.before.is_empty() {
                from = start + digits.max(1);
                if from >= line.len() {
                    return None;
                }
            } else {
                from = from + i + 1;
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_expand_and_keep_doubled_braces() {
        let value = |n: &str| match n {
            "node_id" => Some("n-1".to_owned()),
            "port.rpc" => Some("9000".to_owned()),
            _ => None,
        };
        assert_eq!(
            expand("--id={node_id} --rpc=127.0.0.1:{port.rpc} {{x}}", value),
            "--id=n-1 --rpc=127.0.0.1:9000 {x}"
        );
        assert_eq!(
            placeholders("{a}-{ b }{{c}}").unwrap(),
            vec!["a".to_owned(), "b".to_owned()]
        );
        assert!(placeholders("{open").unwrap_err().contains("never closed"));
        assert!(placeholders("a}b").unwrap_err().contains("lone"));
        assert!(placeholders("{}").unwrap_err().contains("empty"));
    }

    #[test]
    fn a_port_pattern_finds_the_last_report() {
        let p = PortPattern::parse("listening on 127.0.0.1 (port={port})").unwrap();
        let log = "x listening on 127.0.0.1 (port=0)\n\
                   (net) Pool server listening on 127.0.0.1 (port=41711)\n\
                   noise\n";
        assert_eq!(p.find_in(log), Some(41711));
        assert_eq!(p.find_in("listening on 127.0.0.1 (port=41711"), None);
        let p = PortPattern::parse("http_addr=127.0.0.1:{port}").unwrap();
        assert_eq!(
            p.find_in("INFO serving node=a http_addr=127.0.0.1:3456 p2p_addr=127.0.0.1:1"),
            Some(3456)
        );
        assert_eq!(p.find_in("http_addr=127.0.0.1:99999"), None);
        assert!(PortPattern::parse("no port").is_err());
        assert!(PortPattern::parse("{port}:{port}").is_err());
        assert!(PortPattern::parse("{port}").is_err());
    }
}
