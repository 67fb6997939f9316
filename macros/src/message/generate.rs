//! Writes the implementations: `Default`, `Message`, `Value` (to nest it), and serde.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;

use super::{Field, Message, Shape};
use crate::attr::Encoding;

pub(super) fn generate(message: &Message) -> TokenStream {
    let ident = message.ident;
    let krate = &message.krate;
    let (default, encoded_len, encode, merge) = match &message.shape {
        Shape::Struct => struct_bodies(message),
        Shape::Oneof(_) => oneof_bodies(message),
    };
    let schema = schema(message);
    let serde = serde(message);
    let oneof_impl = match &message.shape {
        Shape::Struct => quote!(),
        Shape::Oneof(_) => {
            let tag = message.fields.iter().map(|field| field.tag);
            quote! {
                /// Embedded in a struct with `#[proto(oneof)]`: these numbers are its members'.
                impl __p::Oneof for #ident {
                    fn owns(number: u32) -> bool {
                        ::core::matches!(number, #( #tag )|*)
                    }
                }
            }
        }
    };
    quote! {
        #[allow(non_local_definitions)]
        const _: () = {
            use #krate::__private as __p;

            /// Every field at its proto3 default, as a decoder starts.
            impl ::core::default::Default for #ident {
                fn default() -> Self {
                    #default
                }
            }

            impl __p::Message for #ident {
                fn encoded_len(&self) -> usize {
                    #encoded_len
                }
                fn encode_raw(&self, buf: &mut __p::BytesMut) {
                    #encode
                }
                #[inline]
                fn merge_field(
                    &mut self,
                    number: u32,
                    wire_type: __p::wire::WireType,
                    buf: &mut __p::DecodeBuf<'_>,
                    depth: u32,
                ) -> ::core::result::Result<(), __p::DecodeError> {
                    #merge
                }
                fn schema() -> __p::MessageSchema {
                    #schema
                }
            }

            impl __p::IsValue for #ident {}

            #oneof_impl

            /// Embedded in another message: a length-delimited field, merged on repeat.
            impl __p::Value for #ident {
                const WIRE_TYPE: __p::wire::WireType = __p::wire::WireType::LengthDelimited;

                fn empty() -> Self {
                    ::core::default::Default::default()
                }
                fn value_type() -> __p::ValueType {
                    __p::ValueType::Message(<Self as __p::Message>::schema)
                }
                fn is_default(&self) -> bool {
                    __p::Message::encoded_len(self) == 0
                }
                fn encoded_len(&self) -> usize {
                    __p::Message::encoded_len(self)
                }
                fn encode(&self, buf: &mut __p::BytesMut) {
                    __p::Message::encode_raw(self, buf)
                }
                fn merge(
                    &mut self,
                    buf: &mut __p::DecodeBuf<'_>,
                    depth: u32,
                ) -> ::core::result::Result<(), __p::DecodeError> {
                    __p::Message::merge(self, buf, __p::wire::enter(depth)?)
                }
            }

            #serde
        };
    }
}

fn encoding_marker(encoding: Encoding) -> TokenStream {
    match encoding {
        Encoding::Plain => quote!(__p::Plain),
        Encoding::Sint => quote!(__p::Sint),
        Encoding::Fixed => quote!(__p::Fixed),
    }
}

/// `<Type as Field<Encoding>>`, spanned at the type so that "no protobuf mapping" errors point
/// at it.
fn field_trait(field: &Field) -> TokenStream {
    let ty = field.ty;
    let marker = encoding_marker(field.encoding);
    quote_spanned!(ty.span()=> <#ty as __p::Field<#marker>>)
}

type Bodies = (TokenStream, TokenStream, TokenStream, TokenStream);

/// `<Type as OneofField>`, spanned at the type, for a `#[proto(oneof)]` field.
fn oneof_trait(field: &Field) -> TokenStream {
    let ty = field.ty;
    quote_spanned!(ty.span()=> <#ty as __p::OneofField>)
}

fn struct_bodies(message: &Message) -> Bodies {
    let ident = message.ident;
    let (oneofs, plain): (Vec<&Field>, Vec<&Field>) =
        message.fields.iter().partition(|field| field.oneof);
    let member: Vec<_> = plain.iter().map(|field| field.ident).collect();
    let tag: Vec<u32> = plain.iter().map(|field| field.tag).collect();
    let field_trait: Vec<TokenStream> = plain.iter().map(|field| field_trait(field)).collect();
    let oneof_member: Vec<_> = oneofs.iter().map(|field| field.ident).collect();
    let oneof_trait: Vec<TokenStream> = oneofs.iter().map(|field| oneof_trait(field)).collect();
    let default = quote! {
        #ident {
            #( #member: #field_trait::empty(), )*
            #( #oneof_member: #oneof_trait::empty(), )*
        }
    };
    let encoded_len = quote! {
        0 #( + #field_trait::encoded_len(&self.#member, #tag) )*
          #( + #oneof_trait::encoded_len(&self.#oneof_member) )*
    };
    let encode = quote! {
        #( #field_trait::encode(&self.#member, #tag, buf); )*
        #( #oneof_trait::encode(&self.#oneof_member, buf); )*
    };
    let merge = quote! {
        match number {
            #( #tag => #field_trait::merge(&mut self.#member, wire_type, buf, depth), )*
            #(
                number if #oneof_trait::owns(number) => {
                    #oneof_trait::merge(&mut self.#oneof_member, number, wire_type, buf, depth)
                }
            )*
            _ => __p::wire::skip_field(number, wire_type, buf, depth),
        }
    };
    (default, encoded_len, encode, merge)
}

/// A oneof: exactly one variant is set, and it is written even when it holds a default value
/// (oneof members have presence). A later occurrence of another member replaces the variant;
/// of the same member, merges into it, as the spec says.
fn oneof_bodies(message: &Message) -> Bodies {
    let ident = message.ident;
    let variant: Vec<_> = message.fields.iter().map(|field| field.ident).collect();
    let tag: Vec<u32> = message.fields.iter().map(|field| field.tag).collect();
    let field_trait: Vec<TokenStream> = message.fields.iter().map(field_trait).collect();
    let marker: Vec<TokenStream> = message
        .fields
        .iter()
        .map(|field| encoding_marker(field.encoding))
        .collect();
    let first = (&variant[0], &field_trait[0]);
    let (first_variant, first_trait) = first;
    let default = quote!(#ident::#first_variant(#first_trait::empty()));
    let encoded_len = quote! {
        match self {
            #( #ident::#variant(value) => __p::oneof_member_len::<#marker, _>(#tag, value), )*
        }
    };
    let encode = quote! {
        match self {
            #( #ident::#variant(value) => __p::encode_oneof_member::<#marker, _>(#tag, value, buf), )*
        }
    };
    let merge = quote! {
        match number {
            #(
                #tag => {
                    if let #ident::#variant(value) = self {
                        return #field_trait::merge(value, wire_type, buf, depth);
                    }
                    let mut value = #field_trait::empty();
                    #field_trait::merge(&mut value, wire_type, buf, depth)?;
                    *self = #ident::#variant(value);
                    ::core::result::Result::Ok(())
                }
            )*
            _ => __p::wire::skip_field(number, wire_type, buf, depth),
        }
    };
    (default, encoded_len, encode, merge)
}

fn schema(message: &Message) -> TokenStream {
    let ident = message.ident;
    let proto_name = &message.proto_name;
    let docs = &message.docs;
    let oneof = match &message.shape {
        Shape::Struct => quote!(::core::option::Option::None),
        Shape::Oneof(name) => quote!(::core::option::Option::Some(#name)),
    };
    let fields = message.fields.iter().map(|field| {
        let name = &field.proto_name;
        if field.oneof {
            let oneof_trait = oneof_trait(field);
            return quote!(fields.extend(#oneof_trait::members(#name)););
        }
        let number = field.tag;
        let field_trait = field_trait(field);
        let docs = &field.docs;
        let json_name = match &field.json_name {
            Some(name) => quote!(::core::option::Option::Some(#name)),
            None => quote!(::core::option::Option::None),
        };
        // A oneof member is `Option`-like: it has presence.
        let field_type = match message.shape {
            Shape::Struct => quote!(#field_trait::field_type()),
            Shape::Oneof(_) => quote!(__p::FieldType::Optional(match #field_trait::field_type() {
                __p::FieldType::Singular(value) => value,
                _ => ::core::unreachable!("a oneof member is a single value"),
            })),
        };
        quote! {
            fields.push(__p::FieldSchema {
                name: #name,
                number: #number,
                field_type: #field_type,
                docs: #docs,
                oneof: #oneof,
                json_name: #json_name,
            });
        }
    });
    let reserved_numbers = message
        .reserved_numbers
        .iter()
        .map(|(start, end)| quote!((#start, #end)));
    let reserved_names = &message.reserved_names;
    let import = match &message.import {
        Some(file) => quote!(::core::option::Option::Some(#file)),
        None => quote!(::core::option::Option::None),
    };
    quote! {
        let mut fields = ::std::vec::Vec::new();
        #(#fields)*
        __p::MessageSchema {
            name: #proto_name,
            docs: #docs,
            fields,
            import: #import,
            rust_name: ::core::concat!(::core::module_path!(), "::", ::core::stringify!(#ident)),
            reserved_numbers: &[#(#reserved_numbers),*],
            reserved_names: &[#(#reserved_names),*],
        }
    }
}

/// serde through a mirror of the type (see [`crate::serde_mirror`]).
fn serde(message: &Message) -> TokenStream {
    let mirror = crate::serde_mirror::mirror_name(message.ident);
    let member = message.fields.iter().map(|field| field.ident);
    let ty = message.fields.iter().map(|field| field.ty);
    let definition = match message.shape {
        Shape::Struct if message.fields.is_empty() => quote!(struct #mirror {}),
        Shape::Struct => quote!(struct #mirror { #( #member: #ty, )* }),
        Shape::Oneof(_) => quote!(enum #mirror { #( #member(#ty), )* }),
    };
    crate::serde_mirror::impls(message.ident, definition)
}
