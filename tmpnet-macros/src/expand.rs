//! The expansion of `#[tmpnet_test]`, as a plain function over token
//! streams so it can be unit-tested.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{FnArg, ItemFn, Type};

use crate::options::{self, Options};

/// Test attributes whose functions never run in a `harness = false` target.
const FOREIGN_TEST_ATTRS: &[&str] = &["test", "rstest", "test_case"];

/// Expands the attribute. On error the item is still emitted beside the
/// errors, so the rest of the crate (and an IDE) keeps working.
pub fn expand(attr: TokenStream, item: TokenStream) -> TokenStream {
    let func: ItemFn = match syn::parse2(item.clone()) {
        Ok(f) => f,
        Err(_) => {
            let e = syn::Error::new_spanned(&item, "#[tmpnet_test] goes on an `async fn`");
            return with_error(item, e);
        }
    };
    let options = options::parse(attr);
    let signature = check_signature(&func);
    match (options, signature) {
        (Ok(options), Ok(())) => generate(&func, &options),
        (Err(mut a), Err(b)) => {
            a.combine(b);
            with_error(quote!(#func), a)
        }
        (Err(e), _) | (_, Err(e)) => with_error(quote!(#func), e),
    }
}

fn with_error(item: TokenStream, error: syn::Error) -> TokenStream {
    let errors = error.to_compile_error();
    quote!(#errors #item)
}

fn is_test_environment(ty: &Type) -> bool {
    match ty {
        Type::Reference(r) => match &*r.elem {
            Type::Path(p) => p
                .path
                .segments
                .last()
                .is_some_and(|s| s.ident == "TestEnvironment"),
            _ => false,
        },
        _ => false,
    }
}

/// Checks everything about the function; all problems are combined.
fn check_signature(func: &ItemFn) -> syn::Result<()> {
    let mut errors: Vec<syn::Error> = Vec::new();
    for attr in &func.attrs {
        let last = attr.path().segments.last().map(|s| s.ident.to_string());
        if let Some(name) = last.filter(|n| FOREIGN_TEST_ATTRS.contains(&n.as_str())) {
            let path = attr.path();
            let shown = quote!(#path).to_string().replace(' ', "");
            errors.push(syn::Error::new_spanned(
                attr,
                format!(
                    "remove `#[{shown}]`: #[tmpnet_test] registers the test itself, and a `#[{name}]` function never runs in a `harness = false` target"
                ),
            ));
        }
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
    let usage = "a tmpnet test takes exactly one parameter, `env: &TestEnvironment`";
    match sig.inputs.len() {
        1 => match &sig.inputs[0] {
            FnArg::Receiver(r) => errors.push(syn::Error::new_spanned(r, usage)),
            FnArg::Typed(t) if !is_test_environment(&t.ty) => {
                errors.push(syn::Error::new_spanned(&t.ty, usage))
            }
            FnArg::Typed(_) => {}
        },
        0 => errors.push(syn::Error::new(sig.paren_token.span.join(), usage)),
        _ => errors.push(syn::Error::new_spanned(&sig.inputs, usage)),
    }
    let mut iter = errors.into_iter();
    match iter.next() {
        None => Ok(()),
        Some(mut first) => {
            for e in iter {
                first.combine(e);
            }
            Err(first)
        }
    }
}

fn generate(func: &ItemFn, options: &Options) -> TokenStream {
    let name = &func.sig.ident;
    let runner = format_ident!("__tmpnet_run_{}", name);
    let registration = format_ident!("__TMPNET_TEST_{}", name);
    let Options {
        ignore,
        serial,
        timeout_ms,
        nodes,
    } = options;
    let nodes = usize::try_from(*nodes).unwrap_or(0);
    // Spanned on the return type, so a return type that is neither `()` nor
    // `Result<(), E: Display>` is reported where the user wrote it.
    let output_span = match &func.sig.output {
        syn::ReturnType::Default => name.span(),
        syn::ReturnType::Type(_, ty) => ty.span(),
    };
    let convert = quote_spanned! {output_span=>
        ::tmpnet_fixture::__private::IntoTestResult::into_test_result(#name(env).await)
    };
    quote! {
        #func

        #[doc(hidden)]
        #[allow(non_snake_case)]
        fn #runner(
            env: &::tmpnet_fixture::TestEnvironment,
        ) -> ::tmpnet_fixture::__private::TestFuture<'_> {
            ::std::boxed::Box::pin(async move { #convert })
        }

        #[::tmpnet_fixture::__private::linkme::distributed_slice(::tmpnet_fixture::__private::TESTS)]
        #[linkme(crate = ::tmpnet_fixture::__private::linkme)]
        #[doc(hidden)]
        #[allow(non_upper_case_globals)]
        static #registration: ::tmpnet_fixture::__private::TestDescriptor =
            ::tmpnet_fixture::__private::TestDescriptor {
                name: ::core::stringify!(#name),
                module_path: ::core::module_path!(),
                file: ::core::file!(),
                line: ::core::line!(),
                ignore: #ignore,
                serial: #serial,
                timeout_ms: #timeout_ms,
                nodes: #nodes,
                run: #runner,
            };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expanded(attr: TokenStream, item: TokenStream) -> String {
        expand(attr, item).to_string()
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
        assert!(!out.contains("compile_error"), "{out}");
    }

    #[test]
    fn errors_keep_the_item() {
        let out = expanded(
            quote!(),
            quote!(
                fn not_async(env: &TestEnvironment) {}
            ),
        );
        assert!(out.contains("compile_error"), "{out}");
        assert!(out.contains("must be an `async fn`"), "{out}");
        assert!(
            out.contains("fn not_async"),
            "the item is still emitted: {out}"
        );
        assert!(!out.contains("distributed_slice"), "{out}");
    }

    #[test]
    fn stacked_test_attributes_are_rejected() {
        for attr in [quote!(#[test]), quote!(#[tokio::test]), quote!(#[rstest])] {
            let out = expanded(quote!(), quote!(#attr async fn t(env: &TestEnvironment) {}));
            assert!(out.contains("registers the test itself"), "{out}");
        }
    }

    #[test]
    fn parameters_are_checked() {
        for item in [
            quote!(
                async fn t() {}
            ),
            quote!(
                async fn t(a: &TestEnvironment, b: u32) {}
            ),
            quote!(
                async fn t(env: TestEnvironment) {}
            ),
            quote!(
                async fn t(&self) {}
            ),
        ] {
            let out = expanded(quote!(), item);
            assert!(out.contains("exactly one parameter"), "{out}");
        }
        let out = expanded(
            quote!(),
            quote!(
                async fn t<T>(env: &TestEnvironment) {}
            ),
        );
        assert!(out.contains("cannot be generic"), "{out}");
    }
}
