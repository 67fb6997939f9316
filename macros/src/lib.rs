//! Procedural macros of [protoless](https://docs.rs/protoless). Use them through the `protoless`
//! crate, which documents them: `#[protoless::service]`, `#[derive(Message)]`,
//! `#[derive(Enumeration)]`.
//!
//! Each macro is a pipeline: parse into a model that keeps spans, check it (collecting every
//! error), expand. When expansion fails the user's item is still emitted next to the errors, so
//! one mistake gives one error.

mod attr;
mod docs;
mod enumeration;
mod errors;
mod message;
mod names;
mod serde_mirror;
mod service;

use proc_macro::TokenStream;

/// Turns a trait into a gRPC service. Documented on `protoless::service`.
#[proc_macro_attribute]
pub fn service(args: TokenStream, input: TokenStream) -> TokenStream {
    service::expand(args.into(), input.into()).into()
}

/// Derives protobuf encoding, serde and schema for a struct. Documented on `protoless::Message`.
#[proc_macro_derive(Message, attributes(proto))]
pub fn derive_message(input: TokenStream) -> TokenStream {
    message::expand(syn::parse_macro_input!(input)).into()
}

/// Derives a proto enum for a Rust enum of unit variants. Documented on
/// `protoless::Enumeration`.
#[proc_macro_derive(Enumeration, attributes(proto))]
pub fn derive_enumeration(input: TokenStream) -> TokenStream {
    enumeration::expand(syn::parse_macro_input!(input)).into()
}
