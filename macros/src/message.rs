//! `#[derive(Message)]`: protobuf encoding, serde and schema for a struct with named fields.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Data, DeriveInput, Fields, Ident, Type};

use crate::attr::{self, Encoding};
use crate::docs::doc_lines;
use crate::errors::Errors;
use crate::names::unraw;

/// The largest field number protobuf allows.
const MAX_TAG: u32 = (1 << 29) - 1;
/// Numbers reserved for the protobuf implementation itself.
const RESERVED_TAGS: std::ops::RangeInclusive<u32> = 19000..=19999;

struct Message<'a> {
    ident: &'a Ident,
    krate: syn::Path,
    proto_name: String,
    docs: TokenStream,
    fields: Vec<Field<'a>>,
}

struct Field<'a> {
    ident: &'a Ident,
    ty: &'a Type,
    proto_name: String,
    tag: u32,
    /// The tokens the tag came from (the `#[proto(tag)]` value, or the field), for errors.
    tag_span: Span,
    encoding: Encoding,
    docs: TokenStream,
}

pub(crate) fn expand(input: DeriveInput) -> TokenStream {
    match parse(&input) {
        Ok(message) => generate(&message),
        // A derive's input stays in the program whatever we emit: no fallback item is needed.
        Err(error) => error.to_compile_error(),
    }
}

fn parse(input: &DeriveInput) -> syn::Result<Message<'_>> {
    let mut errors = Errors::default();
    if !input.generics.params.is_empty() {
        errors.at(
            &input.generics,
            "a message cannot be generic: a .proto message has one fixed type per field",
        );
    }
    let type_attrs = attr::type_attrs(&input.attrs, &mut errors);
    let fields = match &input.data {
        Data::Struct(data) => match &data.fields {
            Fields::Named(named) => named.named.iter().collect(),
            Fields::Unit => Vec::new(),
            Fields::Unnamed(unnamed) => {
                errors.at(
                    unnamed,
                    "#[derive(Message)] needs named fields: they become the .proto field names",
                );
                Vec::new()
            }
        },
        Data::Enum(data) => {
            errors.at(
                data.enum_token,
                "#[derive(Message)] is for structs; use #[derive(Enumeration)] for an enum of unit variants",
            );
            Vec::new()
        }
        Data::Union(data) => {
            errors.at(
                data.union_token,
                "#[derive(Message)] is for structs, not unions",
            );
            Vec::new()
        }
    };
    let fields: Vec<Field> = fields
        .into_iter()
        .enumerate()
        .map(|(index, field)| parse_field(index, field, &mut errors))
        .collect();
    check_tags(&fields, &mut errors);
    let proto_name = proto_name(&input.ident, type_attrs.name.clone(), &mut errors);
    errors.finish()?;
    Ok(Message {
        ident: &input.ident,
        krate: type_attrs.krate(),
        proto_name,
        docs: doc_lines(&input.attrs),
        fields,
    })
}

fn proto_name(ident: &Ident, renamed: Option<syn::LitStr>, errors: &mut Errors) -> String {
    match renamed {
        Some(name) => {
            if !attr::is_proto_identifier(&name.value()) {
                errors.at(
                    &name,
                    "a proto name starts with a letter and holds only letters, digits and `_`",
                );
            }
            name.value()
        }
        None => unraw(ident),
    }
}

fn parse_field<'a>(index: usize, field: &'a syn::Field, errors: &mut Errors) -> Field<'a> {
    let attrs = attr::field_attrs(&field.attrs, errors);
    let ident = field.ident.as_ref().expect("named fields have identifiers");
    let (tag, tag_span) = match &attrs.tag {
        Some(literal) => match literal.base10_parse::<u32>() {
            Ok(tag) => (tag, literal.span()),
            Err(_) => {
                errors.at(
                    literal,
                    format!("field number must be between 1 and {MAX_TAG}"),
                );
                (0, literal.span())
            }
        },
        None => (index as u32 + 1, ident.span()),
    };
    if attrs.tag.is_some() {
        if tag == 0 || tag > MAX_TAG {
            errors.push(syn::Error::new(
                tag_span,
                format!("field number must be between 1 and {MAX_TAG}"),
            ));
        } else if RESERVED_TAGS.contains(&tag) {
            errors.push(syn::Error::new(
                tag_span,
                "field numbers 19000 to 19999 are reserved for the protobuf implementation",
            ));
        }
    }
    Field {
        ident,
        ty: &field.ty,
        proto_name: proto_name(ident, attrs.name, errors),
        tag,
        tag_span,
        encoding: attrs
            .encoding
            .map_or(Encoding::Plain, |(encoding, _)| encoding),
        docs: doc_lines(&field.attrs),
    }
}

/// Each field number and proto name may be used once.
fn check_tags(fields: &[Field], errors: &mut Errors) {
    for (index, field) in fields.iter().enumerate() {
        let earlier = &fields[..index];
        if let Some(first) = earlier.iter().find(|other| other.tag == field.tag) {
            errors.push(syn::Error::new(
                field.tag_span,
                format!(
                    "field number {} is already used by `{}`; pin another with #[proto(tag = N)]",
                    field.tag, first.ident
                ),
            ));
        }
        if let Some(first) = earlier
            .iter()
            .find(|other| other.proto_name == field.proto_name)
        {
            errors.at(
                field.ident,
                format!(
                    "proto field name `{}` is already used by `{}`",
                    field.proto_name, first.ident
                ),
            );
        }
    }
}

fn encoding_marker(encoding: Encoding) -> TokenStream {
    match encoding {
        Encoding::Plain => quote!(__p::Plain),
        Encoding::Sint => quote!(__p::Sint),
        Encoding::Fixed => quote!(__p::Fixed),
    }
}

fn generate(message: &Message) -> TokenStream {
    let ident = message.ident;
    let krate = &message.krate;
    let message_impl = generate_message_impl(message);
    let serde_impls = generate_serde(message);
    quote! {
        #[allow(non_local_definitions)]
        const _: () = {
            use #krate::__private as __p;
            #message_impl
            #serde_impls

            impl __p::IsValue for #ident {}

            /// Embedded in another message: a length-delimited field, merged on repeat.
            impl __p::Value for #ident {
                const WIRE_TYPE: __p::wire::WireType = __p::wire::WireType::LengthDelimited;

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
                    buf: &mut __p::Bytes,
                    depth: u32,
                ) -> ::core::result::Result<(), __p::DecodeError> {
                    __p::Message::merge(self, buf, __p::wire::enter(depth)?)
                }
            }
        };
    }
}

fn generate_message_impl(message: &Message) -> TokenStream {
    let ident = message.ident;
    let field_ident = message.fields.iter().map(|field| field.ident);
    let tag: Vec<u32> = message.fields.iter().map(|field| field.tag).collect();
    // Spanned at the field type, so "no protobuf mapping" errors point at the offending type.
    let field_trait: Vec<TokenStream> = message
        .fields
        .iter()
        .map(|field| {
            let ty = field.ty;
            let marker = encoding_marker(field.encoding);
            quote_spanned!(ty.span()=> <#ty as __p::Field<#marker>>)
        })
        .collect();
    let proto_name = &message.proto_name;
    let docs = &message.docs;
    let field_name = message.fields.iter().map(|field| &field.proto_name);
    let field_docs = message.fields.iter().map(|field| &field.docs);
    let field_idents: Vec<_> = field_ident.collect();
    quote! {
        /// Every field at its proto3 default, as a decoder starts.
        impl ::core::default::Default for #ident {
            fn default() -> Self {
                #ident { #( #field_idents: ::core::default::Default::default(), )* }
            }
        }

        impl __p::Message for #ident {
            fn encoded_len(&self) -> usize {
                0 #( + #field_trait::encoded_len(&self.#field_idents, #tag) )*
            }
            fn encode_raw(&self, buf: &mut __p::BytesMut) {
                #( #field_trait::encode(&self.#field_idents, #tag, buf); )*
            }
            fn merge_field(
                &mut self,
                number: u32,
                wire_type: __p::wire::WireType,
                buf: &mut __p::Bytes,
                depth: u32,
            ) -> ::core::result::Result<(), __p::DecodeError> {
                match number {
                    #( #tag => #field_trait::merge(&mut self.#field_idents, wire_type, buf, depth), )*
                    _ => __p::wire::skip_field(number, wire_type, buf, depth),
                }
            }
            fn schema() -> __p::MessageSchema {
                __p::MessageSchema {
                    name: #proto_name,
                    docs: #docs,
                    fields: ::std::vec![#(
                        __p::FieldSchema {
                            name: #field_name,
                            number: #tag,
                            field_type: #field_trait::field_type(),
                            docs: #field_docs,
                        }
                    ),*],
                    import: ::core::option::Option::None,
                }
            }
        }
    }
}

/// serde through a "remote" mirror of the struct, so serde_derive does the work and the user's
/// type needs no serde attributes of its own.
fn generate_serde(message: &Message) -> TokenStream {
    let ident = message.ident;
    let remote = ident.to_string();
    let mirror = format_ident!("__{}Serde", ident);
    let field_ident = message.fields.iter().map(|field| field.ident);
    let field_ty = message.fields.iter().map(|field| field.ty);
    let body = if message.fields.is_empty() {
        quote!({})
    } else {
        quote!({ #( #field_ident: #field_ty, )* })
    };
    quote! {
        #[derive(__p::serde::Serialize, __p::serde::Deserialize)]
        #[serde(crate = "__p::serde", remote = #remote)]
        struct #mirror #body

        impl __p::serde::Serialize for #ident {
            fn serialize<S: __p::serde::Serializer>(
                &self,
                serializer: S,
            ) -> ::core::result::Result<S::Ok, S::Error> {
                #mirror::serialize(self, serializer)
            }
        }

        impl<'de> __p::serde::Deserialize<'de> for #ident {
            fn deserialize<D: __p::serde::Deserializer<'de>>(
                deserializer: D,
            ) -> ::core::result::Result<Self, D::Error> {
                #mirror::deserialize(deserializer)
            }
        }
    }
}
