//! `#[derive(Message)]`: protobuf encoding, serde and schema for a struct with named fields, or
//! for an enum whose variants each hold one value (a message holding one `oneof`).

mod generate;

use proc_macro2::{Span, TokenStream};
use syn::{Data, DeriveInput, Fields, Ident, Type};

use crate::attr::{self, Encoding, Reserved};
use crate::docs::doc_lines;
use crate::errors::Errors;
use crate::names::{unraw, upper_snake};

/// The largest field number protobuf allows.
const MAX_TAG: u32 = (1 << 29) - 1;
/// Numbers reserved for the protobuf implementation itself.
const RESERVED_TAGS: std::ops::RangeInclusive<u32> = 19000..=19999;

struct Message<'a> {
    ident: &'a Ident,
    krate: syn::Path,
    proto_name: String,
    docs: TokenStream,
    shape: Shape,
    fields: Vec<Field<'a>>,
    reserved_numbers: Vec<(u32, u32)>,
    reserved_names: Vec<String>,
    /// The file defining the type, when it is another file's (its name is then fully qualified).
    import: Option<String>,
}

/// A struct's fields, or an enum's variants as the members of one `oneof`.
enum Shape {
    Struct,
    /// The name of the `oneof`: the enum's name in snake_case.
    Oneof(String),
}

/// A struct field, or an enum variant holding one value.
struct Field<'a> {
    ident: &'a Ident,
    ty: &'a Type,
    proto_name: String,
    tag: u32,
    /// The tokens the tag came from (the `#[proto(tag)]` value, or the field), for errors.
    tag_span: Span,
    encoding: Encoding,
    docs: TokenStream,
    /// `#[proto(oneof)]`: an `Option` of a oneof enum, whose members carry their own numbers.
    oneof: bool,
    /// `#[proto(json_name = "...")]`.
    json_name: Option<String>,
}

pub(crate) fn expand(input: DeriveInput) -> TokenStream {
    match parse(&input) {
        Ok(message) => generate::generate(&message),
        // A derive's input stays in the program whatever we emit: no fallback item is needed.
        Err(error) => error.to_compile_error(),
    }
}

fn parse(input: &DeriveInput) -> syn::Result<Message<'_>> {
    let mut errors = Errors::default();
    // Lifetimes that only serve reference fields are reported once, at the references.
    let only_lifetimes = input
        .generics
        .params
        .iter()
        .all(|param| matches!(param, syn::GenericParam::Lifetime(_)));
    let has_reference = match &input.data {
        Data::Struct(data) => data
            .fields
            .iter()
            .any(|field| matches!(field.ty, Type::Reference(_))),
        _ => false,
    };
    let explained_by_references = only_lifetimes && has_reference;
    if !input.generics.params.is_empty() && !explained_by_references {
        errors.at(
            &input.generics,
            "a message cannot be generic: a .proto message has one fixed type per field",
        );
    }
    let type_attrs = attr::type_attrs(&input.attrs, &mut errors);
    let proto_name = proto_name(&input.ident, type_attrs.name.clone(), &mut errors);
    let (shape, fields) = match &input.data {
        Data::Struct(data) => (Shape::Struct, struct_fields(&data.fields, &mut errors)),
        Data::Enum(data) => {
            let fields = data
                .variants
                .iter()
                .enumerate()
                .filter_map(|(index, variant)| parse_variant(index, variant, &mut errors))
                .collect();
            let oneof = upper_snake(&proto_name).to_lowercase();
            (Shape::Oneof(oneof), fields)
        }
        Data::Union(data) => {
            errors.at(
                data.union_token,
                "#[derive(Message)] is for structs and enums, not unions",
            );
            (Shape::Struct, Vec::new())
        }
    };
    check_tags(&fields, &mut errors);
    let (reserved_numbers, reserved_names) = reserved(&type_attrs.reserved, &fields, &mut errors);
    errors.finish()?;
    Ok(Message {
        ident: &input.ident,
        krate: type_attrs.krate(),
        proto_name,
        docs: doc_lines(&input.attrs),
        shape,
        fields,
        reserved_numbers,
        reserved_names,
        import: type_attrs.import.as_ref().map(syn::LitStr::value),
    })
}

fn struct_fields<'a>(fields: &'a Fields, errors: &mut Errors) -> Vec<Field<'a>> {
    match fields {
        Fields::Named(named) => named
            .named
            .iter()
            .enumerate()
            .map(|(index, field)| {
                let ident = field.ident.as_ref().expect("named fields have identifiers");
                parse_field(index, ident, &field.ty, &field.attrs, errors)
            })
            .collect(),
        Fields::Unit => Vec::new(),
        Fields::Unnamed(unnamed) => {
            errors.at(
                unnamed,
                "#[derive(Message)] needs named fields: they become the .proto field names",
            );
            Vec::new()
        }
    }
}

/// A variant of a oneof enum: it must hold exactly one value.
fn parse_variant<'a>(
    index: usize,
    variant: &'a syn::Variant,
    errors: &mut Errors,
) -> Option<Field<'a>> {
    match &variant.fields {
        Fields::Unnamed(fields) if fields.unnamed.len() == 1 => {
            let ty = &fields.unnamed[0].ty;
            let mut field = parse_field(index, &variant.ident, ty, &variant.attrs, errors);
            if field.oneof {
                errors.at(
                    &variant.ident,
                    "a oneof member cannot itself be a oneof: proto has no nested oneofs",
                );
            }
            if field.proto_name == unraw(&variant.ident) {
                // Variants are UpperCamel; the fields they become are snake_case.
                field.proto_name = upper_snake(&field.proto_name).to_lowercase();
            }
            Some(field)
        }
        _ => {
            errors.at(
                variant,
                "each variant of a oneof holds exactly one value, such as `Circle(Circle)`; \
                 use #[derive(Enumeration)] for an enum of unit variants",
            );
            None
        }
    }
}

fn proto_name(ident: &Ident, renamed: Option<syn::LitStr>, errors: &mut Errors) -> String {
    match renamed {
        Some(name) => {
            if !attr::is_proto_type_name(&name.value()) {
                errors.at(
                    &name,
                    "a proto name starts with a letter and holds only letters, digits and `_` \
                     (or, for a type nested in a message, is `Outer.Inner`)",
                );
            }
            name.value()
        }
        None => unraw(ident),
    }
}

fn parse_field<'a>(
    index: usize,
    ident: &'a Ident,
    ty: &'a Type,
    attrs: &[syn::Attribute],
    errors: &mut Errors,
) -> Field<'a> {
    let field_attrs = attr::field_attrs(attrs, errors);
    if let Type::Reference(reference) = ty {
        errors.at(
            reference,
            "a message owns its fields, since it is decoded from received bytes: use `String` for `&str`, `Vec<u8>` or `Bytes` for `&[u8]`",
        );
    }
    let (tag, tag_span) = match &field_attrs.tag {
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
    if field_attrs.tag.is_some() {
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
    let oneof = field_attrs.oneof.is_some();
    let json_name = field_attrs.json_name.map(|name| {
        let text = name.value();
        // protoc's rule: anything but an empty name, or one with a NUL.
        if text.is_empty() || text.contains('\0') {
            errors.at(
                &name,
                "a json_name is a non-empty string without NUL characters",
            );
        }
        if oneof {
            errors.at(
                &name,
                "a #[proto(oneof)] field has no JSON name of its own: name its members' JSON \
                 names on the enum's variants",
            );
        }
        text
    });
    if oneof {
        if let Some(tag) = &field_attrs.tag {
            errors.at(
                tag,
                "a #[proto(oneof)] field has no number of its own: pin its members' numbers with \
                 #[proto(tag = N)] on the enum's variants",
            );
        }
        if let Some((_, encoding)) = &field_attrs.encoding {
            errors.at(
                encoding,
                "#[proto(sint)] and #[proto(fixed)] go on the oneof enum's variants, not on the \
                 #[proto(oneof)] field",
            );
        }
    }
    Field {
        ident,
        ty,
        proto_name: proto_name(ident, field_attrs.name, errors),
        oneof,
        tag: if oneof { 0 } else { tag },
        tag_span,
        encoding: field_attrs
            .encoding
            .map_or(Encoding::Plain, |(encoding, _)| encoding),
        docs: doc_lines(attrs),
        json_name,
    }
}

/// Each field number and proto name may be used once.
fn check_tags(fields: &[Field], errors: &mut Errors) {
    for (index, field) in fields.iter().enumerate() {
        let earlier = &fields[..index];
        let numbered = |other: &&Field| !other.oneof && other.tag == field.tag;
        // A oneof field's members carry the enum's numbers; the schema checks those.
        let clash = if field.oneof {
            None
        } else {
            earlier.iter().find(numbered)
        };
        if let Some(first) = clash {
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

/// The reserved numbers and names, checked against the fields: reusing one is the mistake
/// `reserved` exists to prevent, since old peers still read it with its old meaning.
fn reserved(
    entries: &[Reserved],
    fields: &[Field],
    errors: &mut Errors,
) -> (Vec<(u32, u32)>, Vec<String>) {
    let mut numbers = Vec::new();
    let mut names = Vec::new();
    for entry in entries {
        match entry {
            Reserved::Numbers(start, end, span) => {
                if *start == 0 || *end > MAX_TAG {
                    errors.push(syn::Error::new(
                        *span,
                        format!("reserved field numbers lie between 1 and {MAX_TAG}"),
                    ));
                }
                numbers.push((*start, *end));
            }
            Reserved::Name(name) => names.push(name.value()),
        }
    }
    for field in fields {
        if !field.oneof
            && numbers
                .iter()
                .any(|(start, end)| (start..=end).contains(&&field.tag))
        {
            errors.push(syn::Error::new(
                field.tag_span,
                format!(
                    "field number {} is reserved: it was used by a removed field, and old peers \
                     would misread it; pick another with #[proto(tag = N)]",
                    field.tag
                ),
            ));
        }
        if names.contains(&field.proto_name) {
            errors.at(
                field.ident,
                format!(
                    "field name `{}` is reserved: it was used by a removed field; rename this one",
                    field.proto_name
                ),
            );
        }
    }
    (numbers, names)
}
