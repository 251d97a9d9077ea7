//! `#[case(...)]` and `#[values(...)]`: the tests one function stands for,
//! named as rstest names them (`case_2_three_nodes`,
//! `nodes_1_1::kind_2___refnode__`).

use quote::ToTokens;
use syn::punctuated::Punctuated;
use syn::{Attribute, Expr, ExprLit, Ident, Lit, Token};

use crate::errors::Errors;
use crate::options::MAX_NODES;
use crate::params::{Param, Params, Role};

/// The parameter whose value sizes a case's private network.
pub const NODES_PARAM: &str = "nodes";

/// One `#[case(...)]` attribute.
#[derive(Debug)]
pub struct Case {
    /// `case::name(...)`'s name.
    pub description: Option<Ident>,
    /// Its values, one per `#[case]` parameter.
    pub args: Vec<Expr>,
    /// The attribute, for errors.
    pub attr: Attribute,
}

/// Removes the function's `#[case(...)]` attributes and returns them.
pub fn take_cases(attrs: &mut Vec<Attribute>, errors: &mut Errors) -> Vec<Case> {
    let mut cases = Vec::new();
    attrs.retain(|attr| {
        let path = attr.path();
        if path.is_ident("values") {
            errors.push(syn::Error::new_spanned(
                attr,
                "put `#[values(...)]` on the parameter it fills, e.g. `#[values(1, 3)] nodes: usize`",
            ));
            return false;
        }
        let first = path.segments.first().map(|s| s.ident.to_string());
        if path.leading_colon.is_some() || first.as_deref() != Some("case") {
            return true;
        }
        let description = match path.segments.len() {
            1 => None,
            2 => Some(path.segments[1].ident.clone()),
            _ => {
                errors.push(syn::Error::new_spanned(
                    path,
                    "name a case with one word: `#[case::three_nodes(3)]`",
                ));
                return false;
            }
        };
        let args = match &attr.meta {
            syn::Meta::List(_) => {
                attr.parse_args_with(Punctuated::<Expr, Token![,]>::parse_terminated)
            }
            _ => Err(syn::Error::new_spanned(
                attr,
                "a case lists its values: `#[case(3)]`",
            )),
        };
        if let Some(args) = errors.take(args) {
            cases.push(Case {
                description,
                args: args.into_iter().collect(),
                attr: attr.clone(),
            });
        }
        false
    });
    cases
}

/// One generated test.
#[derive(Debug)]
pub struct Instance {
    /// What follows the function's name in the test's name (empty for a
    /// function that stands for one test).
    pub suffix: String,
    /// The value of each `#[case]` and `#[values]` parameter, in the order
    /// of the parameters.
    pub args: Vec<Expr>,
    /// The size of its private network, from a `nodes` parameter.
    pub nodes: Option<u64>,
}

/// A test being built: the parts of its name, its values by parameter
/// index.
type Partial = (Vec<String>, Vec<(usize, Expr)>);

/// rstest's rule for turning a value into part of a name (for ASCII text;
/// rstest keeps every identifier character, this keeps letters and digits).
pub fn sanitize(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| match c {
            '"' | '\'' => "__".to_owned(),
            ':' | '(' | ')' | '{' | '}' | '[' | ']' | ',' | '.' | '*' | '+' | '/' | '-' | '%'
            | '^' | '!' | '&' | '|' => "_".to_owned(),
            _ => c.to_string(),
        })
        .collect::<String>()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == '_')
        .collect()
}

/// The width of `n` printed in decimal, for zero-padded indices.
fn width(n: usize) -> usize {
    n.to_string().len()
}

/// The `nodes` value of one expression, or an error on it.
fn nodes_of(expr: &Expr) -> syn::Result<u64> {
    let message = format!(
        "`{NODES_PARAM}` sizes this case's private network: write a whole number from 1 to {MAX_NODES}"
    );
    match expr {
        Expr::Lit(ExprLit {
            lit: Lit::Int(i), ..
        }) => match i.base10_parse::<u64>() {
            Ok(n) if (1..=MAX_NODES).contains(&n) => Ok(n),
            _ => Err(syn::Error::new_spanned(i, message)),
        },
        other => Err(syn::Error::new_spanned(other, message)),
    }
}

/// Expands the cases and value lists into the tests they stand for, in
/// rstest's order: cases outermost, then each list in parameter order.
pub fn instances(params: &Params, cases: &[Case], errors: &mut Errors) -> Vec<Instance> {
    let case_params: Vec<(usize, &Param)> = params
        .0
        .iter()
        .enumerate()
        .filter(|(_, p)| matches!(p.role, Role::Case))
        .collect();
    if cases.is_empty() {
        for (_, p) in &case_params {
            errors.push(syn::Error::new_spanned(
                &p.ident,
                format!(
                    "`{}` is marked `#[case]` but the test has no case; add `#[case(...)]` above the function, one per test",
                    p.ident
                ),
            ));
        }
    } else if case_params.is_empty() {
        errors.push(syn::Error::new_spanned(
            &cases[0].attr,
            "no parameter takes this case's values; mark them, e.g. `#[case] nodes: usize`",
        ));
    }
    let names: Vec<String> = case_params
        .iter()
        .map(|(_, p)| format!("`{}`", p.ident))
        .collect();
    let mut partial: Vec<Partial> = vec![(Vec::new(), Vec::new())];
    if !cases.is_empty() && !case_params.is_empty() {
        let w = width(cases.len());
        partial = Vec::new();
        for (i, case) in cases.iter().enumerate() {
            if case.args.len() != case_params.len() {
                errors.push(syn::Error::new_spanned(
                    &case.attr,
                    format!(
                        "this case gives {} value(s) but {} parameter(s) are marked `#[case]` ({}); give one value for each",
                        case.args.len(),
                        case_params.len(),
                        names.join(", ")
                    ),
                ));
                continue;
            }
            let description = case
                .description
                .as_ref()
                .map(|d| format!("_{d}"))
                .unwrap_or_default();
            let values = case_params
                .iter()
                .zip(&case.args)
                .map(|((index, _), e)| (*index, e.clone()))
                .collect();
            partial.push((vec![format!("case_{:0w$}{description}", i + 1)], values));
        }
    }
    for (index, param) in params.0.iter().enumerate() {
        let Role::Values(values) = &param.role else {
            continue;
        };
        let w = width(values.len());
        partial = partial
            .into_iter()
            .flat_map(|(suffix, args)| {
                values.iter().enumerate().map(move |(i, v)| {
                    let mut suffix = suffix.clone();
                    let description: String = sanitize(&v.description).chars().take(64).collect();
                    suffix.push(format!("{}_{:0w$}_{description}", param.ident, i + 1));
                    let mut args = args.clone();
                    args.push((index, v.expr.clone()));
                    (suffix, args)
                })
            })
            .collect();
    }
    let nodes_index = params
        .0
        .iter()
        .position(|p| p.ident == NODES_PARAM && matches!(p.role, Role::Case | Role::Values(_)));
    let mut reported = Vec::new();
    let mut out = Vec::new();
    for (suffix, mut args) in partial {
        args.sort_by_key(|(i, _)| *i);
        let mut nodes = None;
        if let Some(n) = nodes_index {
            if let Some((_, expr)) = args.iter().find(|(i, _)| *i == n) {
                match nodes_of(expr) {
                    Ok(v) => nodes = Some(v),
                    Err(e) => {
                        // A value of a list is in many tests: once is enough.
                        let key = expr.to_token_stream().to_string();
                        if !reported.contains(&key) {
                            reported.push(key);
                            errors.push(e);
                        }
                    }
                }
            }
        }
        out.push(Instance {
            suffix: suffix.join("::"),
            args: args.into_iter().map(|(_, e)| e).collect(),
            nodes,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;
    use syn::ItemFn;

    fn expand(item: proc_macro2::TokenStream) -> (Vec<Instance>, Vec<String>) {
        let mut f: ItemFn = syn::parse2(item).unwrap();
        let mut errors = Errors::default();
        let cases = take_cases(&mut f.attrs, &mut errors);
        let span = f.sig.paren_token.span.join();
        let params = crate::params::classify(&mut f.sig.inputs, span, &mut errors);
        let out = instances(&params, &cases, &mut errors);
        (out, errors.into_messages())
    }

    fn suffixes(i: &[Instance]) -> Vec<&str> {
        i.iter().map(|i| i.suffix.as_str()).collect()
    }

    #[test]
    fn cases_are_named_like_rstest_names_them() {
        let (out, errors) = expand(quote!(
            #[case(1, "a")]
            #[case::three_nodes(3, "b")]
            async fn t(env: &TestEnvironment, #[case] nodes: usize, #[case] tag: &str) {}
        ));
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(suffixes(&out), ["case_1", "case_2_three_nodes"]);
        assert_eq!(out[1].nodes, Some(3));
        let args = &out[1].args;
        assert_eq!(quote!(#(#args),*).to_string(), "3 , \"b\"");
    }

    #[test]
    fn ten_cases_are_zero_padded() {
        let cases: Vec<_> = (1..=10).map(|i| quote!(#[case(#i)])).collect();
        let (out, _) = expand(quote!(
            #(#cases)*
            async fn t(env: &TestEnvironment, #[case] n: u32) {}
        ));
        assert_eq!(out[0].suffix, "case_01");
        assert_eq!(out[9].suffix, "case_10");
        assert_eq!(
            out[0].nodes, None,
            "only a parameter named nodes sizes a network"
        );
    }

    #[test]
    fn values_multiply_in_parameter_order_inside_cases() {
        let (out, errors) = expand(quote!(
            #[case::small(1)]
            #[case(2)]
            async fn t(
                #[values("refnode", /// the other one
                    Kind::Other)]
                kind: Kind,
                env: &TestEnvironment,
                #[case] n: u32,
                #[values(1, 3)] nodes: usize,
            ) {
            }
        ));
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(
            suffixes(&out),
            [
                "case_1_small::kind_1___refnode__::nodes_1_1",
                "case_1_small::kind_1___refnode__::nodes_2_3",
                "case_1_small::kind_2_the_other_one::nodes_1_1",
                "case_1_small::kind_2_the_other_one::nodes_2_3",
                "case_2::kind_1___refnode__::nodes_1_1",
                "case_2::kind_1___refnode__::nodes_2_3",
                "case_2::kind_2_the_other_one::nodes_1_1",
                "case_2::kind_2_the_other_one::nodes_2_3",
            ]
        );
        // Values come in parameter order: kind, n, nodes.
        let args = &out[3].args;
        assert_eq!(quote!(#(#args),*).to_string(), "Kind :: Other , 1 , 3");
        assert_eq!(out[3].nodes, Some(3));
    }

    #[test]
    fn long_descriptions_are_cut_at_64() {
        let long = "x".repeat(80);
        let (out, _) = expand(quote!(
            async fn t(env: &TestEnvironment, #[values(#long)] s: &str) {}
        ));
        assert_eq!(out[0].suffix, format!("s_1___{}", "x".repeat(62)));
    }

    #[test]
    fn a_plain_test_is_one_instance() {
        let (out, errors) = expand(quote!(
            async fn t(env: &TestEnvironment) {}
        ));
        assert!(errors.is_empty());
        assert_eq!(suffixes(&out), [""]);
    }

    #[test]
    fn mistakes_name_the_fix() {
        let (_, errors) = expand(quote!(
            #[case(1, 2)]
            #[case(1)]
            #[values(1)]
            async fn t(env: &TestEnvironment, #[case] nodes: usize, #[values(0, x)] other: u8) {}
        ));
        assert!(
            errors.iter().any(|e| e.contains("gives 2 value(s) but 1")),
            "{errors:?}"
        );
        assert!(
            errors
                .iter()
                .any(|e| e.contains("put `#[values(...)]` on the parameter")),
            "{errors:?}"
        );
        let (_, errors) = expand(quote!(
            #[case(0)]
            #[case(x)]
            async fn t(env: &TestEnvironment, #[case] nodes: usize) {}
        ));
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(
            errors.iter().all(|e| e.contains("from 1 to 256")),
            "{errors:?}"
        );
        let (_, errors) = expand(quote!(
            #[case(1)]
            async fn t(env: &TestEnvironment, n: usize) {}
        ));
        assert!(
            errors[0].contains("no parameter takes this case"),
            "{errors:?}"
        );
        let (_, errors) = expand(quote!(
            async fn t(env: &TestEnvironment, #[case] n: usize) {}
        ));
        assert!(errors[0].contains("has no case"), "{errors:?}");
    }
}
