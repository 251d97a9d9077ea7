//! Parsing and checking the attribute's options.

use proc_macro2::{Span, TokenStream};
use syn::parse::{Parse, ParseStream, Parser};
use syn::punctuated::Punctuated;
use syn::{Expr, ExprLit, Lit, Meta, Token};

/// The options a test may carry.
const KNOWN: &[&str] = &["ignore", "timeout", "nodes", "serial", "crate"];
/// The most nodes a private network may have (as the library allows).
pub const MAX_NODES: u64 = 256;

/// Parsed options.
#[derive(Debug, Default, PartialEq)]
pub struct Options {
    pub ignore: bool,
    pub serial: bool,
    /// Milliseconds; 0 means the harness default.
    pub timeout_ms: u64,
    /// 0 means the shared network.
    pub nodes: u64,
    /// The path of the tmpnet-fixture crate, for a crate that renamed the
    /// dependency (`crate = my_tmpnet`); `None`: found from Cargo.toml.
    pub krate: Option<syn::Path>,
}

/// Parses a duration like `90s`, `2m`, `500ms` or `1h` into milliseconds.
pub fn parse_duration_ms(text: &str) -> Option<u64> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    let (number, unit) = text.split_at(split);
    let n: u64 = number.parse().ok()?;
    let factor = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        _ => return None,
    };
    n.checked_mul(factor).filter(|ms| *ms > 0)
}

/// Levenshtein distance, for "did you mean".
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let next = (prev + usize::from(ca != *cb))
                .min(row[j] + 1)
                .min(row[j + 1] + 1);
            prev = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

fn unknown(name: &str, span: Span) -> syn::Error {
    let closest = KNOWN
        .iter()
        .min_by_key(|k| distance(name, k))
        .filter(|k| distance(name, k) <= 3);
    let hint = closest.map_or(String::new(), |k| format!("did you mean `{k}`? "));
    syn::Error::new(
        span,
        format!(
            "unknown option `{name}`; {hint}expected one of: `ignore`, `timeout = \"90s\"`, `nodes = N`, `serial`, `crate = path`"
        ),
    )
}

struct MetaList(Punctuated<Meta, Token![,]>);

impl Parse for MetaList {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        Punctuated::parse_terminated(input).map(MetaList)
    }
}

fn lit_of(expr: &Expr) -> Option<&Lit> {
    match expr {
        Expr::Lit(ExprLit { lit, .. }) => Some(lit),
        _ => None,
    }
}

/// Parses the attribute's arguments; every problem is a spanned error,
/// combined so the user sees them all at once.
pub fn parse(attr: TokenStream) -> syn::Result<Options> {
    let list = MetaList::parse.parse2(attr)?;
    let mut options = Options::default();
    let mut seen: Vec<String> = Vec::new();
    let mut errors: Option<syn::Error> = None;
    let mut push = |e: syn::Error| match &mut errors {
        Some(all) => all.combine(e),
        None => errors = Some(e),
    };
    for meta in list.0 {
        let path = meta.path();
        let name = path
            .get_ident()
            .map(ToString::to_string)
            .unwrap_or_else(|| quote::quote!(#path).to_string());
        if !KNOWN.contains(&name.as_str()) {
            push(unknown(&name, syn::spanned::Spanned::span(path)));
            continue;
        }
        if seen.contains(&name) {
            push(syn::Error::new_spanned(
                path,
                format!("option `{name}` is given twice"),
            ));
            continue;
        }
        seen.push(name.clone());
        match (name.as_str(), &meta) {
            ("ignore", Meta::Path(_)) => options.ignore = true,
            ("serial", Meta::Path(_)) => options.serial = true,
            ("timeout", Meta::NameValue(nv)) => match lit_of(&nv.value) {
                Some(Lit::Str(s)) => match parse_duration_ms(&s.value()) {
                    Some(ms) => options.timeout_ms = ms,
                    None => push(syn::Error::new_spanned(
                        s,
                        format!(
                            "`{}` is not a duration; write it like \"90s\", \"2m\", \"500ms\" or \"1h\"",
                            s.value()
                        ),
                    )),
                },
                _ => push(syn::Error::new_spanned(
                    &nv.value,
                    "timeout takes a string, e.g. `timeout = \"90s\"`",
                )),
            },
            ("nodes", Meta::NameValue(nv)) => match lit_of(&nv.value) {
                Some(Lit::Int(i)) => match i.base10_parse::<u64>() {
                    Ok(n) if (1..=MAX_NODES).contains(&n) => options.nodes = n,
                    _ => push(syn::Error::new_spanned(
                        i,
                        format!("nodes must be from 1 to {MAX_NODES}"),
                    )),
                },
                _ => push(syn::Error::new_spanned(
                    &nv.value,
                    "nodes takes a whole number, e.g. `nodes = 3`",
                )),
            },
            ("crate", Meta::NameValue(nv)) => match &nv.value {
                Expr::Path(p) if p.qself.is_none() => options.krate = Some(p.path.clone()),
                Expr::Lit(ExprLit {
                    lit: Lit::Str(s), ..
                }) => match s.parse::<syn::Path>() {
                    Ok(path) => options.krate = Some(path),
                    Err(_) => push(syn::Error::new_spanned(
                        s,
                        format!("`{}` is not a path; write the crate's name, e.g. `crate = my_tmpnet`", s.value()),
                    )),
                },
                other => push(syn::Error::new_spanned(
                    other,
                    "crate takes the path of tmpnet-fixture as your crate names it, e.g. `crate = my_tmpnet`",
                )),
            },
            ("ignore" | "serial", other) => push(syn::Error::new_spanned(
                other,
                format!("`{name}` takes no value; write just `{name}`"),
            )),
            (_, other) => push(syn::Error::new_spanned(
                other,
                format!(
                    "`{name}` needs a value, e.g. `{}`",
                    match name.as_str() {
                        "timeout" => "timeout = \"90s\"",
                        "crate" => "crate = my_tmpnet",
                        _ => "nodes = 3",
                    }
                ),
            )),
        }
    }
    match errors {
        Some(e) => Err(e),
        None => Ok(options),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    #[test]
    fn durations() {
        assert_eq!(parse_duration_ms("90s"), Some(90_000));
        assert_eq!(parse_duration_ms("2m"), Some(120_000));
        assert_eq!(parse_duration_ms("500ms"), Some(500));
        assert_eq!(parse_duration_ms("1h"), Some(3_600_000));
        assert_eq!(parse_duration_ms("0s"), None);
        assert_eq!(parse_duration_ms("90"), None);
        assert_eq!(parse_duration_ms("s"), None);
        assert_eq!(parse_duration_ms("9x"), None);
    }

    #[test]
    fn all_options() {
        let o = parse(quote!(ignore, timeout = "3s", nodes = 4, serial)).unwrap();
        assert_eq!(
            o,
            Options {
                ignore: true,
                serial: true,
                timeout_ms: 3000,
                nodes: 4,
                krate: None,
            }
        );
        let o = parse(quote!(crate = my_tmpnet)).unwrap();
        assert_eq!(o.krate, Some(syn::parse_quote!(my_tmpnet)));
        let o = parse(quote!(crate = "::renamed::inner")).unwrap();
        assert_eq!(o.krate, Some(syn::parse_quote!(::renamed::inner)));
        let e = parse(quote!(crate = "not a path")).unwrap_err().to_string();
        assert!(e.contains("is not a path"), "{e}");
        let e = parse(quote!(crate = 3)).unwrap_err().to_string();
        assert!(e.contains("crate takes the path"), "{e}");
        assert_eq!(parse(quote!()).unwrap(), Options::default());
    }

    #[test]
    fn errors_suggest_and_combine() {
        let e = parse(quote!(timout = "3s", nodes = 0)).unwrap_err();
        let messages: Vec<String> = e.into_iter().map(|e| e.to_string()).collect();
        assert_eq!(messages.len(), 2);
        assert!(
            messages[0].contains("did you mean `timeout`"),
            "{messages:?}"
        );
        assert!(messages[1].contains("from 1 to 256"), "{messages:?}");
        let e = parse(quote!(serial, serial)).unwrap_err().to_string();
        assert!(e.contains("given twice"), "{e}");
        let e = parse(quote!(wibble)).unwrap_err().to_string();
        assert!(!e.contains("did you mean"), "{e}");
    }
}
