//! `google.protobuf.FileDescriptorProto` (proto2's `descriptor.proto`) for each package's file,
//! built from the same schema walk as the `.proto` text, so that the two always agree: what
//! server reflection serves is what protoc would produce from the exported file (options and
//! source info aside).
//!
//! A dedicated encoder: descriptor.proto is proto2, with field presence the derive does not
//! model, and only these few messages are ever written.

use std::collections::BTreeSet;

use bytes::BytesMut;

use super::render::{file_options, is_bool_option, scope_of, Defined, TypeCollector};
use super::{
    EnumSchema, FieldSchema, FieldType, Idempotency, MessageSchema, Scalar, SchemaError,
    ServiceSchema, ValueType,
};
use crate::encoding::wire::{self, WireType, MAX_FIELD_NUMBER};

/// A protobuf writer for the descriptor messages.
#[derive(Default)]
struct Writer(BytesMut);

impl Writer {
    fn bytes(&mut self, number: u32, bytes: &[u8]) {
        wire::encode_key(number, WireType::LengthDelimited, &mut self.0);
        wire::encode_varint(bytes.len() as u64, &mut self.0);
        self.0.extend_from_slice(bytes);
    }

    fn string(&mut self, number: u32, text: &str) {
        self.bytes(number, text.as_bytes());
    }

    fn varint(&mut self, number: u32, value: u64) {
        wire::encode_key(number, WireType::Varint, &mut self.0);
        wire::encode_varint(value, &mut self.0);
    }

    /// An `int32` field (negative values take ten bytes, as protobuf writes them).
    fn int32(&mut self, number: u32, value: i32) {
        self.varint(number, i64::from(value) as u64);
    }

    fn message(&mut self, number: u32, write: impl FnOnce(&mut Writer)) {
        let mut inner = Writer::default();
        write(&mut inner);
        self.bytes(number, &inner.0);
    }
}

/// The serialized `FileDescriptorProto` of `file_name`, holding `services` (all of `package`)
/// and every type they reach; the well-known files it depends on are named, not included.
pub(crate) fn file_descriptor(
    file_name: &str,
    package: &str,
    services: &[ServiceSchema],
) -> Result<FileDescriptor, SchemaError> {
    let types = TypeCollector::collect(services, &[])?;
    let scope = |name: &str| {
        if package.is_empty() {
            format!(".{name}")
        } else {
            format!(".{package}.{name}")
        }
    };
    let mut out = Writer::default();
    out.string(1, file_name);
    if !package.is_empty() {
        out.string(2, package);
    }
    for import in &types.imports {
        out.string(3, import);
    }
    let mut symbols = Vec::new();
    for item in types
        .order
        .iter()
        .filter(|item| scope_of(item.name()).is_none())
    {
        match item {
            Defined::Message(message) => out.message(4, |out| {
                write_message(message, &types, &scope, &mut symbols, out)
            }),
            Defined::Enum(schema) => {
                out.message(5, |out| write_enum(schema, &scope, &mut symbols, out))
            }
        }
    }
    let options = file_options(package, services)?;
    if !options.is_empty() {
        out.message(8, |out| write_file_options(&options, out));
    }
    for service in services {
        let name = scope(service.name);
        symbols.push(name[1..].to_owned());
        for method in &service.methods {
            symbols.push(format!("{}.{}", &name[1..], method.name));
        }
        out.message(6, |out| write_service(service, &scope, out));
    }
    out.string(12, "proto3");
    Ok(FileDescriptor {
        name: file_name.to_owned(),
        bytes: out.0.freeze(),
        dependencies: types
            .imports
            .iter()
            .map(|import| (*import).to_owned())
            .collect(),
        symbols,
    })
}

/// One file's descriptor, with what reflection looks up in it.
#[derive(Clone, Debug)]
pub(crate) struct FileDescriptor {
    /// The file's name, such as `helloworld/helloworld.proto`.
    pub(crate) name: String,
    /// The serialized `FileDescriptorProto`.
    pub(crate) bytes: bytes::Bytes,
    /// The files it imports.
    pub(crate) dependencies: BTreeSet<String>,
    /// The fully-qualified names it declares: services, methods, messages, enums (nested too).
    pub(crate) symbols: Vec<String>,
}

/// `UpperCamelCase` of a map field's name, plus `Entry`: the nested type protoc makes for it.
fn map_entry_name(field: &str) -> String {
    camel_case(field, true) + "Entry"
}

/// `name` with its underscores dropped and the letter after each capitalised (the first letter
/// too, when `upper_first`).
pub(crate) fn camel_case(name: &str, upper_first: bool) -> String {
    let mut out = String::with_capacity(name.len());
    let mut upper = upper_first;
    for c in name.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.push(c.to_ascii_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

fn scalar_type(scalar: Scalar) -> u64 {
    match scalar {
        Scalar::Double => 1,
        Scalar::Float => 2,
        Scalar::Int64 => 3,
        Scalar::Uint64 => 4,
        Scalar::Int32 => 5,
        Scalar::Fixed64 => 6,
        Scalar::Fixed32 => 7,
        Scalar::Bool => 8,
        Scalar::String => 9,
        Scalar::Bytes => 12,
        Scalar::Uint32 => 13,
        Scalar::Sfixed32 => 15,
        Scalar::Sfixed64 => 16,
        Scalar::Sint32 => 17,
        Scalar::Sint64 => 18,
    }
}

const LABEL_OPTIONAL: u64 = 1;
const LABEL_REPEATED: u64 = 3;
const TYPE_MESSAGE: u64 = 11;
const TYPE_ENUM: u64 = 14;

/// A message's fully-qualified name: its own for a type imported from another file (whose
/// name is already qualified), else in this file's package.
fn message_type_name(schema: &MessageSchema, scope: &dyn Fn(&str) -> String) -> String {
    match schema.import {
        Some(_) => format!(".{}", schema.name),
        None => scope(schema.name),
    }
}

/// Writes a value's `type` and `type_name` into a `FieldDescriptorProto`.
fn write_value_type(value: ValueType, scope: &dyn Fn(&str) -> String, out: &mut Writer) {
    match value {
        ValueType::Scalar(scalar) => out.varint(5, scalar_type(scalar)),
        ValueType::Message(schema) => {
            out.varint(5, TYPE_MESSAGE);
            out.string(6, &message_type_name(&schema(), scope));
        }
        ValueType::Enum(schema) => {
            out.varint(5, TYPE_ENUM);
            out.string(6, &scope(schema().name));
        }
    }
}

fn write_message(
    message: &MessageSchema,
    types: &TypeCollector,
    scope: &dyn Fn(&str) -> String,
    symbols: &mut Vec<String>,
    out: &mut Writer,
) {
    symbols.push(scope(message.name)[1..].to_owned());
    out.string(1, message.name.rsplit('.').next().unwrap_or(message.name));
    // The oneofs in order of appearance, then proto3 `optional`'s synthetic ones.
    let mut oneofs: Vec<String> = Vec::new();
    for field in &message.fields {
        if let Some(oneof) = field.oneof {
            if !oneofs.iter().any(|known| known == oneof) {
                oneofs.push(oneof.to_owned());
            }
        }
    }
    let real_oneofs = oneofs.len();
    let mut synthetic = Vec::new();
    for field in &message.fields {
        let synthetic_index = match (field.field_type, field.oneof) {
            (FieldType::Optional(ValueType::Message(_)), _) | (_, Some(_)) => None,
            (FieldType::Optional(_), None) => {
                synthetic.push(format!("_{}", field.name));
                Some(real_oneofs + synthetic.len() - 1)
            }
            _ => None,
        };
        out.message(2, |out| {
            write_field(message, field, &oneofs, synthetic_index, scope, out)
        });
    }
    for item in types
        .order
        .iter()
        .filter(|item| scope_of(item.name()) == Some(message.name))
    {
        match item {
            Defined::Message(nested) => {
                out.message(3, |out| write_message(nested, types, scope, symbols, out))
            }
            Defined::Enum(nested) => out.message(4, |out| write_enum(nested, scope, symbols, out)),
        }
    }
    for field in &message.fields {
        if let FieldType::Map(key, value) = field.field_type {
            out.message(3, |out| {
                out.string(1, &map_entry_name(field.name));
                for (name, number, value) in [("key", 1, key), ("value", 2, value)] {
                    out.message(2, |out| {
                        out.string(1, name);
                        out.varint(3, number);
                        out.varint(4, LABEL_OPTIONAL);
                        write_value_type(value, scope, out);
                        out.string(10, name);
                    });
                }
                // MessageOptions.map_entry = true.
                out.message(7, |out| out.varint(7, 1));
            });
        }
    }
    for oneof in oneofs.iter().chain(&synthetic) {
        out.message(8, |out| out.string(1, oneof));
    }
    for &(start, end) in message.reserved_numbers {
        out.message(9, |out| {
            out.int32(1, start as i32);
            // Exclusive; `to max` is the largest field number.
            out.int32(2, end.min(MAX_FIELD_NUMBER) as i32 + 1);
        });
    }
    for name in message.reserved_names {
        out.string(10, name);
    }
}

fn write_field(
    message: &MessageSchema,
    field: &FieldSchema,
    oneofs: &[String],
    synthetic_index: Option<usize>,
    scope: &dyn Fn(&str) -> String,
    out: &mut Writer,
) {
    out.string(1, field.name);
    out.varint(3, u64::from(field.number));
    match field.field_type {
        FieldType::Singular(value) | FieldType::Optional(value) => {
            out.varint(4, LABEL_OPTIONAL);
            write_value_type(value, scope, out);
        }
        FieldType::Repeated(value) => {
            out.varint(4, LABEL_REPEATED);
            write_value_type(value, scope, out);
        }
        FieldType::Map(..) => {
            out.varint(4, LABEL_REPEATED);
            out.varint(5, TYPE_MESSAGE);
            out.string(
                6,
                &format!("{}.{}", scope(message.name), map_entry_name(field.name)),
            );
        }
    }
    if let Some(oneof) = field.oneof {
        let index = oneofs.iter().position(|known| known == oneof).unwrap_or(0);
        out.int32(9, index as i32);
    }
    if let Some(index) = synthetic_index {
        out.int32(9, index as i32);
    }
    out.string(10, &field.json_name());
    if synthetic_index.is_some() {
        out.varint(17, 1);
    }
}

fn write_enum(
    schema: &EnumSchema,
    scope: &dyn Fn(&str) -> String,
    symbols: &mut Vec<String>,
    out: &mut Writer,
) {
    symbols.push(scope(schema.name)[1..].to_owned());
    out.string(1, schema.name.rsplit('.').next().unwrap_or(schema.name));
    for value in &schema.values {
        out.message(2, |out| {
            out.string(1, value.name);
            out.int32(2, value.number);
        });
    }
}

/// `FileOptions`, in field-number order as protoc writes them.
fn write_file_options(options: &[(&'static str, String)], out: &mut Writer) {
    const NUMBERS: [(&str, u32); 9] = [
        ("java_package", 1),
        ("java_outer_classname", 8),
        ("java_multiple_files", 10),
        ("go_package", 11),
        ("objc_class_prefix", 36),
        ("csharp_namespace", 37),
        ("swift_prefix", 39),
        ("php_namespace", 41),
        ("ruby_package", 45),
    ];
    for (name, number) in NUMBERS {
        let Some((_, value)) = options.iter().find(|(option, _)| *option == name) else {
            continue;
        };
        if is_bool_option(name) {
            out.varint(number, u64::from(value == "true"));
        } else {
            out.string(number, value);
        }
    }
}

fn write_service(service: &ServiceSchema, scope: &dyn Fn(&str) -> String, out: &mut Writer) {
    out.string(1, service.name);
    for method in &service.methods {
        out.message(2, |out| {
            out.string(1, method.name);
            let (input, output) = ((method.input)(), (method.output)());
            for (number, schema) in [(2, input), (3, output)] {
                out.string(number, &message_type_name(&schema, scope));
            }
            // MethodOptions.idempotency_level (34).
            let level = match method.idempotency {
                Idempotency::Unknown => None,
                Idempotency::NoSideEffects => Some(1),
                Idempotency::Idempotent => Some(2),
            };
            if let Some(level) = level {
                out.message(4, |out| out.varint(34, level));
            }
            if method.client_streaming {
                out.varint(5, 1);
            }
            if method.server_streaming {
                out.varint(6, 1);
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_and_map_entry_names_follow_protoc() {
        let json_name = crate::json::json_name;
        assert_eq!(json_name("file_by_filename"), "fileByFilename");
        assert_eq!(json_name("a_b_c"), "aBC");
        assert_eq!(json_name("plain"), "plain");
        assert_eq!(map_entry_name("statuses"), "StatusesEntry");
        assert_eq!(map_entry_name("by_name"), "ByNameEntry");
    }
}
