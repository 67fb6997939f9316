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
        Err(error) => fallback(error, item),
    }
}
