//! `#[service]`: a trait becomes gRPC server dispatch, a typed client and a schema.

mod args;
mod ast;
mod expand;

use proc_macro2::TokenStream;

use crate::errors::fallback;

pub(crate) fn expand(args: TokenStream, input: TokenStream) -> TokenStream {
    let item: syn::Item = match syn::parse2(input.clone()) {
        Ok(item) => item,
        Err(error) => return fallback(error, input),
    };
    match ast::Service::parse(args, &item) {
        Ok(service) => expand::generate(&service),
        Err(error) => fallback(error, without_patterns(item)),
    }
}

/// The item to emit next to errors: the user's own, except that parameter patterns (which a
/// bodiless trait method may not have, and which an error already reported) become `_`, and
/// the method attributes only `#[service]` understands are removed, so that the compiler does
/// not report anything a second time.
fn without_patterns(mut item: syn::Item) -> syn::Item {
    if let syn::Item::Trait(item) = &mut item {
        for trait_item in &mut item.items {
            let syn::TraitItem::Fn(method) = trait_item else {
                continue;
            };
            method.attrs.retain(|attr| {
                !ast::METHOD_ATTRIBUTES
                    .iter()
                    .any(|name| attr.path().is_ident(name))
            });
            if method.default.is_some() {
                continue;
            }
            for input in &mut method.sig.inputs {
                if let syn::FnArg::Typed(arg) = input {
                    if !matches!(&*arg.pat, syn::Pat::Ident(_) | syn::Pat::Wild(_)) {
                        *arg.pat = syn::parse_quote!(_);
                    }
                }
            }
        }
    }
    item
}
