//! `#[proto(...)]` attributes on messages, fields, enums and variants.

use syn::meta::ParseNestedMeta;
use syn::{Attribute, LitInt, LitStr, Path};

use crate::errors::Errors;

/// The wire encoding a field's integers use.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Encoding {
    Plain,
    Sint,
    Fixed,
}

/// `#[proto(...)]` on a field.
#[derive(Default)]
pub(crate) struct FieldAttrs {
    pub(crate) tag: Option<LitInt>,
    pub(crate) encoding: Option<(Encoding, Path)>,
    pub(crate) name: Option<LitStr>,
    /// `json_name = "..."`: the field's name in proto3 JSON, instead of its lowerCamelCase name.
    pub(crate) json_name: Option<LitStr>,
    /// `oneof`: the field is `Option<E>` of a oneof enum, whose members it embeds.
    pub(crate) oneof: Option<Path>,
}

/// `#[proto(...)]` on a struct or enum.
#[derive(Default)]
pub(crate) struct TypeAttrs {
    pub(crate) name: Option<LitStr>,
    /// `crate = "path"`: where the protoless crate is, when it was renamed.
    pub(crate) krate: Option<Path>,
    /// `reserved(4, 8..=10, "old_name")`: numbers and names no field may use again.
    pub(crate) reserved: Vec<Reserved>,
    /// `import = "google/protobuf/any.proto"`: the type is defined in that file, under its full
    /// `name`; files using it import it instead of declaring it.
    pub(crate) import: Option<LitStr>,
}

/// One entry of `#[proto(reserved(...))]`.
pub(crate) enum Reserved {
    /// Field numbers `start..=end`, with the tokens they came from.
    Numbers(u32, u32, proc_macro2::Span),
    Name(LitStr),
}

/// Parses `4`, `8..=10` or `"name"`.
fn parse_reserved(input: syn::parse::ParseStream) -> syn::Result<Reserved> {
    if input.peek(LitStr) {
        return Ok(Reserved::Name(input.parse()?));
    }
    let start: LitInt = input.parse()?;
    let start_value: u32 = start.base10_parse()?;
    if input.peek(syn::Token![..=]) {
        input.parse::<syn::Token![..=]>()?;
        let end: LitInt = input.parse()?;
        let span = start.span().join(end.span()).unwrap_or(start.span());
        let end_value: u32 = end.base10_parse()?;
        if end_value < start_value {
            return Err(syn::Error::new(
                span,
                "a reserved range runs from low to high",
            ));
        }
        return Ok(Reserved::Numbers(start_value, end_value, span));
    }
    Ok(Reserved::Numbers(start_value, start_value, start.span()))
}

impl TypeAttrs {
    /// The path generated code uses to reach the protoless crate.
    pub(crate) fn krate(&self) -> Path {
        self.krate
            .clone()
            .unwrap_or_else(|| syn::parse_quote!(::protoless))
    }
}

/// Stores `value` in `slot`, or reports a duplicate at the second occurrence.
fn set_once<T>(slot: &mut Option<T>, value: T, meta: &ParseNestedMeta, errors: &mut Errors) {
    if slot.is_some() {
        let key = meta
            .path
            .get_ident()
            .map(ToString::to_string)
            .unwrap_or_default();
        errors.at(&meta.path, format!("duplicate #[proto({key})]"));
    } else {
        *slot = Some(value);
    }
}

/// Calls `each` for every key of every `#[proto(...)]` in `attrs`, collecting syntax errors.
fn for_each_key(
    attrs: &[Attribute],
    errors: &mut Errors,
    mut each: impl FnMut(&ParseNestedMeta, &mut Errors) -> syn::Result<()>,
) {
    for attr in attrs.iter().filter(|attr| attr.path().is_ident("proto")) {
        let mut local = Errors::default();
        let parsed = attr.parse_nested_meta(|meta| each(&meta, &mut local));
        if let Err(error) = parsed {
            errors.push(error);
        }
        if let Err(error) = local.finish() {
            errors.push(error);
        }
    }
}

pub(crate) fn field_attrs(attrs: &[Attribute], errors: &mut Errors) -> FieldAttrs {
    let mut out = FieldAttrs::default();
    for_each_key(attrs, errors, |meta, errors| {
        if meta.path.is_ident("tag") {
            let tag: LitInt = meta.value()?.parse()?;
            set_once(&mut out.tag, tag, meta, errors);
        } else if meta.path.is_ident("name") {
            let name: LitStr = meta.value()?.parse()?;
            set_once(&mut out.name, name, meta, errors);
        } else if meta.path.is_ident("json_name") {
            let name: LitStr = meta.value()?.parse()?;
            set_once(&mut out.json_name, name, meta, errors);
        } else if meta.path.is_ident("sint") || meta.path.is_ident("fixed") {
            let encoding = if meta.path.is_ident("sint") {
                Encoding::Sint
            } else {
                Encoding::Fixed
            };
            if out.encoding.is_some() {
                errors.at(
                    &meta.path,
                    "a field takes one of #[proto(sint)] and #[proto(fixed)]",
                );
            } else {
                out.encoding = Some((encoding, meta.path.clone()));
            }
        } else if meta.path.is_ident("oneof") {
            set_once(&mut out.oneof, meta.path.clone(), meta, errors);
        } else {
            return Err(meta.error(
                "unknown #[proto] key on a field: expected `tag = N`, `name = \"...\"`, `json_name = \"...\"`, `sint`, `fixed` or `oneof`",
            ));
        }
        Ok(())
    });
    out
}

pub(crate) fn type_attrs(attrs: &[Attribute], errors: &mut Errors) -> TypeAttrs {
    let mut out = TypeAttrs::default();
    for_each_key(attrs, errors, |meta, errors| {
        if meta.path.is_ident("name") {
            let name: LitStr = meta.value()?.parse()?;
            set_once(&mut out.name, name, meta, errors);
            Ok(())
        } else if meta.path.is_ident("crate") {
            let path: LitStr = meta.value()?.parse()?;
            set_once(&mut out.krate, path.parse()?, meta, errors);
            Ok(())
        } else if meta.path.is_ident("import") {
            let file: LitStr = meta.value()?.parse()?;
            set_once(&mut out.import, file, meta, errors);
            Ok(())
        } else if meta.path.is_ident("reserved") {
            let content;
            syn::parenthesized!(content in meta.input);
            let entries = content.parse_terminated(parse_reserved, syn::Token![,])?;
            out.reserved.extend(entries);
            Ok(())
        } else {
            Err(meta.error(
                "unknown #[proto] key on a type: expected `name = \"...\"`, `reserved(...)`, `import = \"...\"` or `crate = \"...\"`",
            ))
        }
    });
    out
}

/// Whether `name` names a proto type: an identifier, or identifiers joined by `.` for a type
/// declared inside a message (`HealthCheckResponse.ServingStatus`).
pub(crate) fn is_proto_type_name(name: &str) -> bool {
    name.split('.').all(is_proto_identifier)
}

/// Whether `name` is a valid proto identifier: a letter, then letters, digits or underscores.
pub(crate) fn is_proto_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}
