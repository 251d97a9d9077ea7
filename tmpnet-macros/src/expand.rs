//! The expansion of `#[tmpnet_test]`, as a plain function over token
//! streams so it can be unit-tested.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Expr, FnArg, ItemFn, Type};

use crate::cases::{self, Instance};
use crate::errors::Errors;
use crate::options::{self, Options};
use crate::params::{self, Params, Role};

/// Test attributes whose functions never run in a `harness = false` target.
const FOREIGN_TEST_ATTRS: &[&str] = &["test", "rstest", "test_case"];

/// Expands the attribute. On error the item is still emitted beside the
/// errors, so the rest of the crate (and an IDE) keeps working.
pub fn expand(attr: TokenStream, item: TokenStream) -> TokenStream {
    expand_with(attr, item, rstest_is_a_dependency())
}

/// The path of tmpnet-fixture in the crate being compiled: `crate = path`
/// if given, else its name in the crate's Cargo.toml (a renamed
/// dependency), else `::tmpnet_fixture`.
fn fixture_path(options: &Options) -> syn::Path {
    if let Some(path) = &options.krate {
        return path.clone();
    }
    match proc_macro_crate::crate_name("tmpnet-fixture") {
        Ok(proc_macro_crate::FoundCrate::Name(name)) => {
            let ident = format_ident!("{}", name);
            syn::parse_quote!(::#ident)
        }
        // The library's own tests and doc-tests name it as users do.
        _ => syn::parse_quote!(::tmpnet_fixture),
    }
}

/// `path` with every token at `span`, so an error in code that names it is
/// reported where `span` points (the user's return type, a case value).
fn respanned(path: &syn::Path, span: proc_macro2::Span) -> TokenStream {
    quote::ToTokens::to_token_stream(path)
        .into_iter()
        .map(|mut token| {
            token.set_span(span);
            token
        })
        .collect()
}

/// Whether the crate being compiled depends on rstest, found the way
/// rstest's own expansion finds itself (it cannot expand without it).
fn rstest_is_a_dependency() -> bool {
    proc_macro_crate::crate_name("rstest").is_ok()
}

/// [`expand`], told whether fixtures can be filled (rstest is a dependency).
pub fn expand_with(attr: TokenStream, item: TokenStream, rstest: bool) -> TokenStream {
    let mut func: ItemFn = match syn::parse2(item.clone()) {
        Ok(f) => f,
        Err(_) => {
            let e = syn::Error::new_spanned(&item, "#[tmpnet_test] goes on an `async fn`");
            return with_error(item, e);
        }
    };
    let mut errors = Errors::default();
    let options = errors.take(options::parse(attr));
    check_signature(&func, &mut errors);
    let cases = cases::take_cases(&mut func.attrs, &mut errors);
    let parens = func.sig.paren_token.span.join();
    let params = params::classify(&mut func.sig.inputs, parens, &mut errors);
    let instances = cases::instances(&params, &cases, &mut errors);
    let sized = params
        .0
        .iter()
        .find(|p| p.ident == cases::NODES_PARAM && matches!(p.role, Role::Case | Role::Values(_)));
    if let (Some(options), Some(param)) = (&options, sized) {
        if options.nodes > 0 {
            errors.push(syn::Error::new_spanned(
                &param.ident,
                "the `nodes` parameter sizes each case's network; remove `nodes = N` from #[tmpnet_test]",
            ));
        }
    }
    if !rstest {
        for fixture in params.fixtures() {
            errors.push(syn::Error::new_spanned(
                &fixture.ident,
                format!(
                    "`{name}` is neither `#[case]` nor `#[values(...)]`, so it is filled by the rstest fixture `{name}`, but this crate does not depend on rstest; mark it `#[case]`, or add rstest to the dependencies and write `#[fixture] fn {name}()`",
                    name = fixture.ident
                ),
            ));
        }
    }
    match errors.finish() {
        // Options that did not parse are an error, so they are here.
        Ok(()) => generate(func, &params, &instances, &options.unwrap_or_default()),
        Err(e) => {
            // Emitted without the attributes only this macro understands,
            // and without a stacked test attribute that would expand too.
            func.attrs.retain(|a| foreign_test_attr(a).is_none());
            for arg in func.sig.inputs.iter_mut() {
                if let FnArg::Typed(t) = arg {
                    t.attrs.clear();
                }
            }
            with_error(quote!(#func), e)
        }
    }
}

fn with_error(item: TokenStream, error: syn::Error) -> TokenStream {
    let errors = error.to_compile_error();
    quote!(#errors #item)
}

/// The name of a test attribute of another framework, if `attr` is one.
fn foreign_test_attr(attr: &syn::Attribute) -> Option<String> {
    let last = attr.path().segments.last().map(|s| s.ident.to_string());
    last.filter(|n| FOREIGN_TEST_ATTRS.contains(&n.as_str()))
}

/// Checks the function itself (its parameters are checked by `params`).
fn check_signature(func: &ItemFn, errors: &mut Errors) {
    for attr in &func.attrs {
        if let Some(name) = foreign_test_attr(attr) {
            let path = attr.path();
            let shown = quote!(#path).to_string().replace(' ', "");
            let why = if name == "rstest" {
                " and reads `#[case]`, `#[values]` and rstest fixtures".to_owned()
            } else {
                format!(", and a `#[{name}]` function never runs in a `harness = false` target")
            };
            errors.push(syn::Error::new_spanned(
                attr,
                format!("remove `#[{shown}]`: #[tmpnet_test] registers the test itself{why}"),
            ));
        }
    }
    for attr in &func.attrs {
        let fix = if attr.path().is_ident("ignore") {
            "write `#[tmpnet_test(ignore)]`"
        } else if attr.path().is_ident("should_panic") {
            "a tmpnet test fails by returning `Err` or panicking; assert the error instead"
        } else {
            continue;
        };
        errors.push(syn::Error::new_spanned(
            attr,
            format!("#[tmpnet_test] does not read this attribute; {fix}"),
        ));
    }
    let sig = &func.sig;
    if sig.asyncness.is_none() {
        errors.push(syn::Error::new_spanned(
            sig.fn_token,
            "a tmpnet test must be an `async fn`",
        ));
    }
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        errors.push(syn::Error::new_spanned(
            &sig.generics,
            "a tmpnet test cannot be generic",
        ));
    }
}

/// A `#[case]` or `#[values]` value as passed: a string literal for a
/// parameter of another type goes through rstest's `FromStr` conversion.
fn argument(krate: &syn::Path, expr: &Expr, ty: &Type) -> TokenStream {
    let is_str = matches!(
        expr,
        Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Str(_),
            ..
        })
    );
    if is_str && params::takes_magic_conversion(ty) {
        let krate = respanned(krate, expr.span());
        quote_spanned! {expr.span()=> {
            use #krate::__private::rstest::magic_conversion::*;
            (&&&Magic::<#ty>(::core::marker::PhantomData)).magic_conversion(#expr)
        }}
    } else {
        quote!(#expr)
    }
}

fn generate(
    mut func: ItemFn,
    params: &Params,
    instances: &[Instance],
    options: &Options,
) -> TokenStream {
    let name = func.sig.ident.clone();
    let Options {
        ignore,
        serial,
        timeout_ms,
        nodes,
        ..
    } = *options;
    let krate = fixture_path(options);
    // Spanned on the return type, so a return type that is neither `()` nor
    // `Result<(), E: Display>` is reported where the user wrote it.
    let output_span = match &func.sig.output {
        syn::ReturnType::Default => name.span(),
        syn::ReturnType::Type(_, ty) => ty.span(),
    };
    // With fixtures, rstest's own expansion fills them: it turns the
    // function into one taking only the parameters marked `#[ignore]` (the
    // environment and the case values), which is what the tests call.
    let with_fixtures = params.fixtures().next().is_some();
    let func = if with_fixtures {
        // Without errors, every input is a named parameter, in order.
        for (arg, param) in func.sig.inputs.iter_mut().zip(&params.0) {
            if let (FnArg::Typed(t), false) = (arg, matches!(param.role, Role::Fixture)) {
                t.attrs.push(syn::parse_quote!(#[ignore]));
            }
        }
        quote! {
            #[#krate::__private::rstest::rstest]
            #[test_attr(doc(hidden))]
            #func
        }
    } else {
        quote!(#func)
    };
    let mut registrations = Vec::new();
    for (k, instance) in instances.iter().enumerate() {
        let (runner, registration) = if instances.len() == 1 {
            (
                format_ident!("__tmpnet_run_{}", name),
                format_ident!("__TMPNET_TEST_{}", name),
            )
        } else {
            (
                format_ident!("__tmpnet_run_{}_{}", name, k + 1),
                format_ident!("__TMPNET_TEST_{}_{}", name, k + 1),
            )
        };
        let mut values = instance.args.iter();
        let call_args: Vec<TokenStream> = params
            .0
            .iter()
            .filter_map(|p| match p.role {
                Role::Env => Some(quote!(__tmpnet_env)),
                Role::Fixture => None,
                Role::Case | Role::Values(_) => values.next().map(|e| argument(&krate, e, &p.ty)),
            })
            .collect();
        let krate_here = respanned(&krate, output_span);
        let convert = quote_spanned! {output_span=>
            #krate_here::__private::IntoTestResult::into_test_result(#name(#(#call_args),*).await)
        };
        let suffix = &instance.suffix;
        let nodes = usize::try_from(instance.nodes.unwrap_or(nodes)).unwrap_or(0);
        registrations.push(quote! {
            #[doc(hidden)]
            #[allow(non_snake_case)]
            fn #runner(
                __tmpnet_env: &#krate::TestEnvironment,
            ) -> #krate::__private::TestFuture<'_> {
                ::std::boxed::Box::pin(async move { #convert })
            }

            #[#krate::__private::linkme::distributed_slice(#krate::__private::TESTS)]
            #[linkme(crate = #krate::__private::linkme)]
            #[doc(hidden)]
            #[allow(non_upper_case_globals)]
            static #registration: #krate::__private::TestDescriptor =
                #krate::__private::TestDescriptor {
                    name: ::core::stringify!(#name),
                    case: #suffix,
                    module_path: ::core::module_path!(),
                    file: ::core::file!(),
                    line: ::core::line!(),
                    ignore: #ignore,
                    serial: #serial,
                    timeout_ms: #timeout_ms,
                    nodes: #nodes,
                    run: #runner,
                };
        });
    }
    quote! {
        #func
        #(#registrations)*
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expanded(attr: TokenStream, item: TokenStream) -> String {
        expand_with(attr, item, true).to_string()
    }

    #[test]
    fn registers_the_test_with_its_options() {
        let out = expanded(
            quote!(timeout = "5s", nodes = 2, serial),
            quote!(
                async fn writes(env: &TestEnvironment) -> Result<(), String> {
                    Ok(())
                }
            ),
        );
        assert!(out.contains("async fn writes"), "{out}");
        assert!(out.contains("distributed_slice"), "{out}");
        assert!(out.contains("timeout_ms : 5000u64"), "{out}");
        assert!(out.contains("nodes : 2usize"), "{out}");
        assert!(out.contains("serial : true"), "{out}");
        assert!(out.contains("ignore : false"), "{out}");
        assert!(out.contains("case : \"\""), "{out}");
        assert!(!out.contains("compile_error"), "{out}");
        assert!(!out.contains("rstest"), "no fixture, no rstest: {out}");
    }

    #[test]
    fn each_case_is_registered_with_its_values_and_network_size() {
        let out = expanded(
            quote!(timeout = "5s"),
            quote!(
                #[case(1, "127.0.0.1:1")]
                #[case::three(3, "127.0.0.1:3")]
                async fn sized(
                    env: &TestEnvironment,
                    #[case] nodes: usize,
                    #[case] addr: SocketAddr,
                ) {
                }
            ),
        );
        assert!(!out.contains("compile_error"), "{out}");
        assert_eq!(out.matches("distributed_slice").count(), 2, "{out}");
        assert!(out.contains("case : \"case_1\""), "{out}");
        assert!(out.contains("case : \"case_2_three\""), "{out}");
        assert!(
            out.contains("nodes : 1usize") && out.contains("nodes : 3usize"),
            "{out}"
        );
        assert!(
            out.contains("sized (__tmpnet_env , 3 ,"),
            "values in parameter order: {out}"
        );
        // A string for a parameter of another type goes through FromStr.
        assert!(out.contains("Magic :: < SocketAddr >"), "{out}");
        assert!(
            !out.contains("# [case"),
            "the case attributes are consumed: {out}"
        );
    }

    #[test]
    fn fixtures_go_through_rstest_with_the_filled_parameters_ignored() {
        let out = expanded(
            quote!(),
            quote!(
                #[case(1)]
                async fn uses(#[case] n: u32, env: &TestEnvironment, #[future(awt)] db: Db) {}
            ),
        );
        assert!(!out.contains("compile_error"), "{out}");
        assert!(out.contains("__private :: rstest :: rstest"), "{out}");
        assert!(out.contains("# [test_attr (doc (hidden))]"), "{out}");
        assert!(out.contains("# [ignore] n : u32"), "{out}");
        assert!(out.contains("# [ignore] env : & TestEnvironment"), "{out}");
        assert!(out.contains("# [future (awt)] db : Db"), "{out}");
        assert!(
            out.contains("uses (1 , __tmpnet_env)"),
            "the call has no fixture: {out}"
        );
    }

    #[test]
    fn a_fixture_without_rstest_is_refused_naming_the_fix() {
        let out = expand_with(
            quote!(),
            quote!(
                async fn t(env: &TestEnvironment, db: Db) {}
            ),
            false,
        )
        .to_string();
        assert!(out.contains("does not depend on rstest"), "{out}");
        assert!(!out.contains("distributed_slice"), "{out}");
    }

    #[test]
    fn errors_keep_the_item() {
        let out = expanded(
            quote!(),
            quote!(
                fn not_async(env: &TestEnvironment, #[case] n: u32) {}
            ),
        );
        assert!(out.contains("compile_error"), "{out}");
        assert!(out.contains("must be an `async fn`"), "{out}");
        assert!(
            out.contains("fn not_async (env : & TestEnvironment , n : u32)"),
            "the item is still emitted, without the case attribute: {out}"
        );
        assert!(!out.contains("distributed_slice"), "{out}");
    }

    #[test]
    fn stacked_test_attributes_are_rejected() {
        for attr in [quote!(#[test]), quote!(#[tokio::test]), quote!(#[rstest])] {
            let out = expanded(quote!(), quote!(#attr async fn t(env: &TestEnvironment) {}));
            assert!(out.contains("registers the test itself"), "{out}");
        }
        let out = expanded(
            quote!(),
            quote!(
                #[rstest]
                #[case(1)]
                async fn t(env: &TestEnvironment, #[case] n: u32) {}
            ),
        );
        assert!(out.contains("reads `#[case]`"), "{out}");
    }

    #[test]
    fn a_nodes_option_and_a_nodes_parameter_conflict() {
        let out = expanded(
            quote!(nodes = 2),
            quote!(
                async fn t(env: &TestEnvironment, #[values(1, 3)] nodes: usize) {}
            ),
        );
        assert!(out.contains("remove `nodes = N`"), "{out}");
    }

    #[test]
    fn generic_functions_are_refused() {
        let out = expanded(
            quote!(),
            quote!(
                async fn t<T>(env: &TestEnvironment) {}
            ),
        );
        assert!(out.contains("cannot be generic"), "{out}");
    }
}
