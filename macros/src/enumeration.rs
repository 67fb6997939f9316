//! `#[derive(Enumeration)]`: a Rust enum of unit variants as a proto enum.

use proc_macro2::TokenStream;
use quote::quote;
use syn::{Data, DeriveInput, Expr, ExprLit, ExprUnary, Fields, Ident, Lit, UnOp};

use crate::attr;
use crate::docs::doc_lines;
use crate::errors::Errors;
use crate::names::{unraw, upper_snake};

struct Enumeration<'a> {
    ident: &'a Ident,
    krate: syn::Path,
    proto_name: String,
    docs: TokenStream,
    variants: Vec<Variant<'a>>,
}

struct Variant<'a> {
    ident: &'a Ident,
    /// `COLOR_RED` for `Color::Red`: prefixed, as the style guide asks, because proto enum values
    /// share their package's namespace.
    proto_name: String,
    number: i32,
    docs: TokenStream,
}

pub(crate) fn expand(input: DeriveInput) -> TokenStream {
    match parse(&input) {
        Ok(enumeration) => generate(&enumeration),
        Err(error) => error.to_compile_error(),
    }
}

fn parse(input: &DeriveInput) -> syn::Result<Enumeration<'_>> {
    let mut errors = Errors::default();
    if !input.generics.params.is_empty() {
        errors.at(&input.generics, "a proto enum cannot be generic");
    }
    let type_attrs = attr::type_attrs(&input.attrs, &mut errors);
    let proto_name = type_attrs
        .name
        .as_ref()
        .map_or_else(|| unraw(&input.ident), |name| name.value());
    let Data::Enum(data) = &input.data else {
        return Err(syn::Error::new_spanned(
            &input.ident,
            "#[derive(Enumeration)] is for enums of unit variants; use #[derive(Message)] for a struct",
        ));
    };
    if let Some(name) = &type_attrs.name {
        if !attr::is_proto_type_name(&name.value()) {
            errors.at(
                name,
                "a proto name starts with a letter and holds only letters, digits and `_` \
                 (or, for an enum nested in a message, is `Outer.Inner`)",
            );
        }
    }
    // Values are prefixed with the enum's own name, not its scope's.
    let prefix = upper_snake(proto_name.rsplit('.').next().unwrap_or(&proto_name));
    let mut next = 0i32;
    let mut variants = Vec::new();
    for variant in &data.variants {
        if !matches!(variant.fields, Fields::Unit) {
            errors.at(
                &variant.fields,
                "a proto enum value carries no data: remove the fields",
            );
        }
        let number = match &variant.discriminant {
            Some((_, expr)) => match literal_i32(expr) {
                Some(number) => number,
                None => {
                    errors.at(expr, "a proto enum value's number must be an i32 literal");
                    next
                }
            },
            None => next,
        };
        next = number.wrapping_add(1);
        let renamed = attr::field_attrs(&variant.attrs, &mut errors).name;
        variants.push(Variant {
            ident: &variant.ident,
            proto_name: renamed.map_or_else(
                || format!("{prefix}_{}", upper_snake(&unraw(&variant.ident))),
                |name| name.value(),
            ),
            number,
            docs: doc_lines(&variant.attrs),
        });
    }
    check_zero_first(input, &variants, &mut errors);
    errors.finish()?;
    Ok(Enumeration {
        ident: &input.ident,
        krate: type_attrs.krate(),
        proto_name,
        docs: doc_lines(&input.attrs),
        variants,
    })
}

fn literal_i32(expr: &Expr) -> Option<i32> {
    match expr {
        Expr::Lit(ExprLit {
            lit: Lit::Int(int), ..
        }) => int.base10_parse().ok(),
        Expr::Unary(ExprUnary {
            op: UnOp::Neg(_),
            expr,
            ..
        }) => literal_i32(expr).and_then(i32::checked_neg),
        _ => None,
    }
}

fn check_zero_first(input: &DeriveInput, variants: &[Variant], errors: &mut Errors) {
    // proto3 makes the first value the default, and requires it to be zero.
    match variants.first() {
        None => errors.at(&input.ident, "a proto enum needs at least one value, and the first must be 0"),
        Some(first) if first.number != 0 => errors.at(
            first.ident,
            "the first value of a proto3 enum must be 0 (it is the default): add a variant such as `Unspecified = 0` first",
        ),
        Some(_) => {}
    }
    // Two variants with one number: rustc reports that itself (E0081), so no second error here.
}

fn generate(enumeration: &Enumeration) -> TokenStream {
    let ident = enumeration.ident;
    let krate = &enumeration.krate;
    let variant: Vec<_> = enumeration.variants.iter().map(|v| v.ident).collect();
    let number: Vec<_> = enumeration.variants.iter().map(|v| v.number).collect();
    let value_name = enumeration.variants.iter().map(|v| &v.proto_name);
    let value_docs = enumeration.variants.iter().map(|v| &v.docs);
    let first = variant[0];
    let proto_name = &enumeration.proto_name;
    let docs = &enumeration.docs;
    let mirror = crate::serde_mirror::mirror_name(ident);
    let serde = crate::serde_mirror::impls(ident, quote!(enum #mirror { #( #variant, )* }));
    quote! {
        #[allow(non_local_definitions)]
        const _: () = {
            use #krate::__private as __p;

            impl ::core::default::Default for #ident {
                /// The zero value, proto3's default.
                fn default() -> Self {
                    #ident::#first
                }
            }

            impl __p::Enumeration for #ident {
                fn to_i32(self) -> i32 {
                    match self {
                        #( #ident::#variant => #number, )*
                    }
                }
                fn from_i32(value: i32) -> ::core::option::Option<Self> {
                    match value {
                        #( #number => ::core::option::Option::Some(#ident::#variant), )*
                        _ => ::core::option::Option::None,
                    }
                }
                fn schema() -> __p::EnumSchema {
                    __p::EnumSchema {
                        name: #proto_name,
                        docs: #docs,
                        values: ::std::vec![#(
                            __p::EnumValueSchema { name: #value_name, number: #number, docs: #value_docs }
                        ),*],
                    }
                }
            }

            impl __p::IsValue for #ident {}

            impl __p::Value for #ident {
                const WIRE_TYPE: __p::wire::WireType = __p::wire::WireType::Varint;
                const PACKED: bool = true;

                fn empty() -> Self {
                    #ident::#first
                }
                fn value_type() -> __p::ValueType {
                    __p::ValueType::Enum(<Self as __p::Enumeration>::schema)
                }
                fn is_default(&self) -> bool {
                    __p::Enumeration::to_i32(*self) == 0
                }
                fn encoded_len(&self) -> usize {
                    <i32 as __p::Value>::encoded_len(&__p::Enumeration::to_i32(*self))
                }
                fn encode(&self, buf: &mut __p::BytesMut) {
                    <i32 as __p::Value>::encode(&__p::Enumeration::to_i32(*self), buf)
                }
                fn merge(
                    &mut self,
                    buf: &mut __p::DecodeBuf<'_>,
                    depth: u32,
                ) -> ::core::result::Result<(), __p::DecodeError> {
                    let mut number = 0i32;
                    <i32 as __p::Value>::merge(&mut number, buf, depth)?;
                    // proto3 enums are open: an unknown number leaves the field as it was.
                    if let ::core::option::Option::Some(value) =
                        <Self as __p::Enumeration>::from_i32(number)
                    {
                        *self = value;
                    }
                    ::core::result::Result::Ok(())
                }
            }

            #serde
        };
    }
}
