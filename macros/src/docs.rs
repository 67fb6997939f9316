//! Doc comments, carried into the schema so that they become `.proto` comments.

use proc_macro2::TokenStream;
use quote::quote;

/// The lines of the `///` comments (`#[doc = "..."]` attributes) in `attrs`, as a
/// `&'static [&'static str]` expression.
pub(crate) fn doc_lines(attrs: &[syn::Attribute]) -> TokenStream {
    let lines = attrs.iter().filter_map(|attr| match &attr.meta {
        syn::Meta::NameValue(meta) if meta.path.is_ident("doc") => match &meta.value {
            syn::Expr::Lit(syn::ExprLit {
                lit: syn::Lit::Str(text),
                ..
            }) => Some(text.value()),
            _ => None,
        },
        _ => None,
    });
    // A block comment yields one attribute of several lines: split so each is its own line.
    let lines: Vec<String> = lines
        .flat_map(|text| text.split('\n').map(str::to_owned).collect::<Vec<_>>())
        .collect();
    quote!(&[#(#lines),*])
}
