//! The test function's parameters: the `&TestEnvironment` the harness
//! passes, the `#[case]` and `#[values(...)]` parameters the macro fills
//! per generated test, and the fixtures rstest fills.

use proc_macro2::Span;
use quote::ToTokens;
use syn::parse::{Parse, ParseStream};
use syn::spanned::Spanned;
use syn::{Attribute, Expr, ExprLit, FnArg, Ident, Lit, Pat, Token, Type};

use crate::errors::Errors;

/// What fills a parameter.
#[derive(Debug)]
pub enum Role {
    /// The harness's `&TestEnvironment`.
    Env,
    /// One value per `#[case(...)]`.
    Case,
    /// One test per value (times the other lists).
    Values(Vec<Value>),
    /// An rstest fixture.
    Fixture,
}

/// One parameter of the test function.
#[derive(Debug)]
pub struct Param {
    /// Its name.
    pub ident: Ident,
    /// Its type as written.
    pub ty: Type,
    /// What fills it.
    pub role: Role,
}

/// One value of a `#[values(...)]` list.
#[derive(Debug)]
pub struct Value {
    /// The expression.
    pub expr: Expr,
    /// What names the test: a doc comment before the value, else the
    /// expression as written (rstest's rule).
    pub description: String,
}

impl Parse for Value {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let attrs = Attribute::parse_outer(input)?;
        let expr: Expr = input.parse()?;
        let doc: Vec<String> = attrs
            .iter()
            .filter_map(|a| a.meta.require_name_value().ok())
            .filter(|nv| nv.path.is_ident("doc"))
            .filter_map(|nv| match &nv.value {
                Expr::Lit(ExprLit {
                    lit: Lit::Str(s), ..
                }) => Some(s.value().trim().to_owned()),
                _ => None,
            })
            .filter(|s| !s.is_empty())
            .collect();
        let description = if doc.is_empty() {
            expr.to_token_stream().to_string()
        } else {
            doc.join(" ").replace(' ', "_")
        };
        Ok(Value { expr, description })
    }
}

/// The parameters, in the order written.
#[derive(Debug)]
pub struct Params(pub Vec<Param>);

impl Params {
    /// The fixture parameters.
    pub fn fixtures(&self) -> impl Iterator<Item = &Param> {
        self.0.iter().filter(|p| matches!(p.role, Role::Fixture))
    }
}

/// The name of the type a path type ends with, if any.
fn last_segment(ty: &Type) -> Option<&Ident> {
    match ty {
        Type::Path(p) => p.path.segments.last().map(|s| &s.ident),
        _ => None,
    }
}

fn is_test_environment(ty: &Type) -> bool {
    match ty {
        Type::Reference(r) => last_segment(&r.elem).is_some_and(|i| i == "TestEnvironment"),
        _ => false,
    }
}

/// Reads the parameters of `inputs`, removing the `#[case]` and
/// `#[values]` attributes (fixture parameters keep theirs, for rstest).
/// Every problem is collected into `errors`.
pub fn classify(
    inputs: &mut syn::punctuated::Punctuated<FnArg, Token![,]>,
    parens: Span,
    errors: &mut Errors,
) -> Params {
    let mut params = Vec::new();
    let mut env_seen = false;
    for arg in inputs.iter_mut() {
        let typed = match arg {
            FnArg::Receiver(r) => {
                errors.push(syn::Error::new_spanned(
                    r,
                    "a tmpnet test is a free function; remove `self`",
                ));
                continue;
            }
            FnArg::Typed(t) => t,
        };
        let mut role = None;
        let mut kept = Vec::new();
        for attr in std::mem::take(&mut typed.attrs) {
            let name = attr.path().get_ident().map(ToString::to_string);
            match name.as_deref() {
                Some("case") => {
                    if let Err(e) = attr.meta.require_path_only() {
                        errors.push(syn::Error::new(
                            e.span(),
                            "write `#[case]` on the parameter and the values in `#[case(...)]` above the function",
                        ));
                    }
                    set_role(&mut role, Role::Case, &attr, errors);
                }
                Some("values") => {
                    let values = attr.parse_args_with(
                        syn::punctuated::Punctuated::<Value, Token![,]>::parse_terminated,
                    );
                    match values {
                        Ok(v) if v.is_empty() => errors.push(syn::Error::new_spanned(
                            &attr,
                            "`#[values]` needs at least one value, e.g. `#[values(1, 3)]`",
                        )),
                        Ok(v) => set_role(
                            &mut role,
                            Role::Values(v.into_iter().collect()),
                            &attr,
                            errors,
                        ),
                        Err(e) => errors.push(syn::Error::new(
                            e.span(),
                            format!("{e}; write the values as `#[values(1, 3)]`"),
                        )),
                    }
                }
                // rstest turns `#[files]` into a `#[cfg(test)]` module,
                // which never compiles in a `harness = false` target.
                Some("files") => errors.push(syn::Error::new_spanned(
                    &attr,
                    "`#[files]` is not supported under #[tmpnet_test]; list the paths with `#[values(...)]`",
                )),
                _ => kept.push(attr),
            }
        }
        typed.attrs = kept;
        let ty = (*typed.ty).clone();
        if is_test_environment(&ty) {
            if let Some(role) = role {
                let what = if matches!(role, Role::Case) {
                    "#[case]"
                } else {
                    "#[values]"
                };
                errors.push(syn::Error::new_spanned(
                    &typed.pat,
                    format!("the harness passes the `&TestEnvironment`; remove {what} from it"),
                ));
            }
            if env_seen {
                errors.push(syn::Error::new_spanned(
                    &typed.ty,
                    "a tmpnet test takes one `&TestEnvironment`; remove this one",
                ));
            }
            env_seen = true;
            if let Pat::Ident(p) = &*typed.pat {
                params.push(Param {
                    ident: p.ident.clone(),
                    ty,
                    role: Role::Env,
                });
            } else {
                // `_: &TestEnvironment` and other patterns: name it.
                let ident = Ident::new("__tmpnet_env", typed.pat.span());
                *typed.pat = syn::parse_quote!(#ident);
                params.push(Param {
                    ident,
                    ty,
                    role: Role::Env,
                });
            }
            continue;
        }
        if last_segment(&ty).is_some_and(|i| i == "TestEnvironment") {
            errors.push(syn::Error::new_spanned(
                &typed.ty,
                "take the environment by reference: `env: &TestEnvironment`",
            ));
            env_seen = true;
            continue;
        }
        let ident = match &*typed.pat {
            Pat::Ident(p) if p.by_ref.is_none() && p.subpat.is_none() => p.ident.clone(),
            other => {
                errors.push(syn::Error::new_spanned(
                    other,
                    "give this parameter a plain name (e.g. `nodes: usize`); destructure it in the body",
                ));
                continue;
            }
        };
        params.push(Param {
            ident,
            ty,
            role: role.unwrap_or(Role::Fixture),
        });
    }
    if !env_seen {
        errors.push(syn::Error::new(
            parens,
            "a tmpnet test takes an `env: &TestEnvironment` parameter",
        ));
    }
    Params(params)
}

fn set_role(role: &mut Option<Role>, new: Role, attr: &Attribute, errors: &mut Errors) {
    if role.is_some() {
        errors.push(syn::Error::new_spanned(
            attr,
            "a parameter is either `#[case]` or `#[values(...)]`, once; remove this one",
        ));
    } else {
        *role = Some(new);
    }
}

/// Whether rstest can fill a string literal into a parameter of type `ty`
/// with its `FromStr` conversion (rstest's own rule).
pub fn takes_magic_conversion(ty: &Type) -> bool {
    !matches!(
        ty,
        Type::ImplTrait(_)
            | Type::TraitObject(_)
            | Type::Infer(_)
            | Type::Group(_)
            | Type::Macro(_)
            | Type::Never(_)
            | Type::Paren(_)
            | Type::Verbatim(_)
            | Type::Slice(_)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;
    use syn::ItemFn;

    fn classify_fn(item: proc_macro2::TokenStream) -> (Params, Vec<String>, ItemFn) {
        let mut f: ItemFn = syn::parse2(item).unwrap();
        let mut errors = Errors::default();
        let span = f.sig.paren_token.span.join();
        let params = classify(&mut f.sig.inputs, span, &mut errors);
        let messages = errors.into_messages();
        (params, messages, f)
    }

    #[test]
    fn roles_are_read_and_the_attributes_removed() {
        let (params, errors, f) = classify_fn(quote!(
            async fn t(
                #[case] a: u32,
                env: &TestEnvironment,
                #[values(1, /// three
                    3)]
                nodes: usize,
                #[future(awt)] db: Db,
            ) {
            }
        ));
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(params.0.len(), 4);
        assert!(matches!(params.0[0].role, Role::Case));
        assert!(matches!(params.0[1].role, Role::Env));
        assert!(matches!(params.0[3].role, Role::Fixture));
        let Role::Values(values) = &params.0[2].role else {
            panic!("{:?}", params.0[2]);
        };
        let descriptions: Vec<&str> = values.iter().map(|v| v.description.as_str()).collect();
        assert_eq!(descriptions, ["1", "three"]);
        let text = quote!(#f).to_string();
        assert!(!text.contains("case") && !text.contains("values"), "{text}");
        assert!(text.contains("future"), "fixture attributes stay: {text}");
    }

    #[test]
    fn mistakes_are_each_reported() {
        let (_, errors, _) = classify_fn(quote!(
            async fn t(
                #[case] env: &TestEnvironment,
                other: &TestEnvironment,
                #[values()] a: u32,
                #[case]
                #[values(1)]
                b: u32,
                (x, y): (u32, u32),
                #[files("*.txt")] f: std::path::PathBuf,
                owned: TestEnvironment,
            ) {
            }
        ));
        let expected = [
            "remove #[case] from it",
            "takes one `&TestEnvironment`",
            "at least one value",
            "either `#[case]` or `#[values(...)]`",
            "`#[files]` is not supported",
            "plain name",
            "by reference",
        ];
        assert_eq!(errors.len(), expected.len(), "{errors:?}");
        for e in expected {
            assert!(errors.iter().any(|m| m.contains(e)), "{e}: {errors:?}");
        }
        let (_, errors, _) = classify_fn(quote!(
            async fn t(a: u32) {}
        ));
        assert!(
            errors[0].contains("takes an `env: &TestEnvironment`"),
            "{errors:?}"
        );
    }
}
