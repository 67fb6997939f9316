//! Canonical proto3 JSON for every message, as protobuf's JSON mapping defines it: what the
//! Connect protocol, gRPC-Web's JSON clients and `curl` speak.
//!
//! The mapping is driven by the message's [schema](crate::Message::schema), from its protobuf
//! encoding: [`to_json`] reads the encoded fields and writes JSON; [`from_json`] writes the
//! protobuf encoding of the JSON and decodes that. Field names are lowerCamelCase (the original
//! names are accepted too), 64-bit integers are strings, enums are their value names, bytes are
//! base64, `Duration`, `Timestamp` and `Empty` have their own forms; fields at their default are
//! left out unless they have presence. Parsing accepts numeric enums, integers as numbers or
//! strings, and ignores unknown fields.
//!
//! ```
//! use protoless::Message;
//!
//! #[derive(Message, Debug, PartialEq)]
//! struct Reading {
//!     celsius: f32,
//!     sensor_id: u64,
//!     tags: Vec<String>,
//! }
//!
//! let reading = Reading { celsius: 21.5, sensor_id: 7, tags: vec!["roof".into()] };
//! let json = protoless::json::to_json(&reading)?;
//! assert_eq!(json, r#"{"celsius":21.5,"sensorId":"7","tags":["roof"]}"#);
//! let parsed: Reading = protoless::json::from_json(br#"{"sensor_id": 7, "celsius": 21.5, "tags": ["roof"]}"#)?;
//! assert_eq!(parsed, reading);
//! # Ok::<(), protoless::json::JsonError>(())
//! ```

use std::fmt;

use base64::Engine;
use bytes::BytesMut;
use serde_json::{Map, Number, Value};

use crate::encoding::wire::{encode_key, encode_varint, WireType};
use crate::schema::{EnumSchema, FieldSchema, FieldType, MessageSchema, Scalar, ValueType};
use crate::Message;

/// Why a message could not be written as JSON, or JSON read as a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JsonError(String);

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for JsonError {}

fn error(message: impl Into<String>) -> JsonError {
    JsonError(message.into())
}

/// How deep messages may nest, as protobuf's parsers allow.
const MAX_DEPTH: u32 = 100;

/// `message` as canonical proto3 JSON, without whitespace.
///
/// Fails only for a type the mapping cannot write without more information (a
/// `google.protobuf.Any`, which needs a registry of types), or a string field holding invalid
/// UTF-8 (possible only for `bytes::Bytes`-backed strings decoded from a peer).
pub fn to_json<M: Message>(message: &M) -> Result<String, JsonError> {
    Ok(to_value(message)?.to_string())
}

/// `message` as a proto3 JSON value (see [`to_json`]).
pub fn to_value<M: Message>(message: &M) -> Result<Value, JsonError> {
    print_message(&M::schema(), &message.encode_to_vec(), 0)
}

/// The message that proto3 JSON `json` describes.
///
/// Fails with a message that says which field was wrong and why: malformed JSON, a value of
/// the wrong type or out of range, an unknown enum name, two members of one oneof.
pub fn from_json<M: Message>(json: &[u8]) -> Result<M, JsonError> {
    let value: Value =
        serde_json::from_slice(json).map_err(|cause| error(format!("invalid JSON: {cause}")))?;
    from_value(&value)
}

/// The message that the proto3 JSON value `value` describes (see [`from_json`]).
pub fn from_value<M: Message>(value: &Value) -> Result<M, JsonError> {
    let mut out = BytesMut::new();
    parse_message(&M::schema(), value, &mut out, 0)?;
    M::decode(out.freeze()).map_err(|cause| error(format!("invalid message: {cause}")))
}

/// The protobuf encoding of JSON `json`, read as a message of `schema`.
pub(crate) fn schema_json_to_proto(
    schema: &MessageSchema,
    json: &[u8],
) -> Result<Vec<u8>, JsonError> {
    let value: Value =
        serde_json::from_slice(json).map_err(|cause| error(format!("invalid JSON: {cause}")))?;
    let mut out = BytesMut::new();
    parse_message(schema, &value, &mut out, 0)?;
    Ok(out.to_vec())
}

/// The JSON of `bytes`, encoded as a message of `schema`.
pub(crate) fn schema_proto_to_json(
    schema: &MessageSchema,
    bytes: &[u8],
) -> Result<String, JsonError> {
    Ok(print_message(schema, bytes, 0)?.to_string())
}

/// A field's default JSON name: its proto name in lowerCamelCase, as `protoc` derives
/// `json_name` (underscores dropped, the letter after each capitalised).
pub fn json_name(proto_name: &str) -> String {
    crate::schema::descriptor::camel_case(proto_name, false)
}

// ---------------------------------------------------------------------------------------------
// Reading the protobuf encoding.

/// One encoded value, as read.
#[derive(Clone, Copy)]
enum Raw<'a> {
    Varint(u64),
    Fixed64([u8; 8]),
    Fixed32([u8; 4]),
    Bytes(&'a [u8]),
    /// A group (proto2's start- and end-group tags), skipped: it has no proto3 form.
    Group,
}

impl Raw<'_> {
    /// Whether every bit is zero (or nothing is there): a proto3 field at its default.
    fn is_zero(&self) -> bool {
        match self {
            Raw::Varint(value) => *value == 0,
            Raw::Fixed64(bytes) => *bytes == [0; 8],
            Raw::Fixed32(bytes) => *bytes == [0; 4],
            Raw::Bytes(bytes) => bytes.is_empty(),
            Raw::Group => false,
        }
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn varint(&mut self) -> Result<u64, JsonError> {
        let mut value = 0u64;
        for shift in (0..70).step_by(7) {
            let (&byte, rest) = self
                .bytes
                .split_first()
                .ok_or_else(|| error("truncated varint"))?;
            self.bytes = rest;
            if shift == 63 && byte > 1 {
                return Err(error("varint overflows 64 bits"));
            }
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(error("varint longer than 10 bytes"))
    }

    fn take(&mut self, len: usize) -> Result<&'a [u8], JsonError> {
        if len > self.bytes.len() {
            return Err(error("truncated field"));
        }
        let (taken, rest) = self.bytes.split_at(len);
        self.bytes = rest;
        Ok(taken)
    }

    /// The next field's number and value.
    fn field(&mut self) -> Result<(u32, Raw<'a>), JsonError> {
        let (number, wire_type) = self.key()?;
        Ok((number, self.value(number, wire_type, 0)?))
    }

    /// A field's number and wire type.
    fn key(&mut self) -> Result<(u32, u64), JsonError> {
        let key = self.varint()?;
        let number = u32::try_from(key >> 3).map_err(|_| error("field number out of range"))?;
        Ok((number, key & 7))
    }

    /// The value of field `number`, of `wire_type`, inside `depth` groups.
    fn value(&mut self, number: u32, wire_type: u64, depth: u32) -> Result<Raw<'a>, JsonError> {
        Ok(match wire_type {
            0 => Raw::Varint(self.varint()?),
            1 => Raw::Fixed64(self.take(8)?.try_into().expect("took 8")),
            2 => {
                let len = usize::try_from(self.varint()?).map_err(|_| error("length too large"))?;
                Raw::Bytes(self.take(len)?)
            }
            3 => {
                self.skip_group(number, depth)?;
                Raw::Group
            }
            4 => return Err(error(format!("end-group tag of {number} outside a group"))),
            5 => Raw::Fixed32(self.take(4)?.try_into().expect("took 4")),
            other => return Err(error(format!("unsupported wire type {other}"))),
        })
    }

    /// Skips group `number`, inside `depth` groups, up to its end tag, as protobuf's own
    /// parsers skip an unknown group.
    fn skip_group(&mut self, number: u32, depth: u32) -> Result<(), JsonError> {
        if depth >= MAX_DEPTH {
            return Err(error(format!("groups nest deeper than {MAX_DEPTH}")));
        }
        while !self.bytes.is_empty() {
            match self.key()? {
                (end, 4) if end == number => return Ok(()),
                (end, 4) => {
                    return Err(error(format!(
                        "group {number} ends with the end tag of {end}"
                    )))
                }
                (inner, wire_type) => {
                    self.value(inner, wire_type, depth + 1)?;
                }
            }
        }
        Err(error(format!("group {number} has no end tag")))
    }
}

/// The values of each field of `schema` in `bytes`, in the schema's order.
fn read_fields<'a>(
    schema: &MessageSchema,
    bytes: &'a [u8],
) -> Result<Vec<Vec<Raw<'a>>>, JsonError> {
    let mut fields = vec![Vec::new(); schema.fields.len()];
    let mut reader = Reader { bytes };
    while !reader.bytes.is_empty() {
        let (number, raw) = reader.field()?;
        // Unknown fields have no JSON form: left out, as protobuf's printers do.
        if let Some(index) = schema.fields.iter().position(|f| f.number == number) {
            fields[index].push(raw);
        }
    }
    Ok(fields)
}

fn print_message(schema: &MessageSchema, bytes: &[u8], depth: u32) -> Result<Value, JsonError> {
    if depth > MAX_DEPTH {
        return Err(error(format!("messages nest deeper than {MAX_DEPTH}")));
    }
    match schema.name {
        "google.protobuf.Duration" => return print_duration(bytes).map(Value::String),
        "google.protobuf.Timestamp" => return print_timestamp(bytes).map(Value::String),
        "google.protobuf.Empty" => return Ok(Value::Object(Map::new())),
        "google.protobuf.Any" => {
            return Err(error(
                "google.protobuf.Any has no JSON form without a registry of its types",
            ))
        }
        _ => {}
    }
    let mut out = Map::new();
    for (field, raws) in schema.fields.iter().zip(read_fields(schema, bytes)?) {
        if raws.is_empty() {
            continue;
        }
        let value = match field.field_type {
            FieldType::Singular(value_type) | FieldType::Optional(value_type) => {
                let presence = field.oneof.is_some()
                    || matches!(field.field_type, FieldType::Optional(_))
                    || matches!(value_type, ValueType::Message(_));
                let last = raws[raws.len() - 1];
                if !presence && last.is_zero() {
                    continue;
                }
                if let ValueType::Message(schema) = value_type {
                    // A message given several times is their merge: their encodings, joined.
                    let mut joined = Vec::new();
                    for raw in &raws {
                        let Raw::Bytes(bytes) = raw else {
                            return Err(wire_type_error(field));
                        };
                        joined.extend_from_slice(bytes);
                    }
                    print_message(&schema(), &joined, depth + 1)?
                } else {
                    print_value(field, value_type, last, depth)?
                }
            }
            FieldType::Repeated(value_type) => {
                let mut items = Vec::new();
                for raw in raws {
                    match (raw, packed_width(value_type)) {
                        (Raw::Bytes(bytes), Some(width)) => {
                            for raw in unpack(bytes, width)? {
                                items.push(print_value(field, value_type, raw, depth)?);
                            }
                        }
                        (raw, _) => items.push(print_value(field, value_type, raw, depth)?),
                    }
                }
                Value::Array(items)
            }
            FieldType::Map(key_type, value_type) => {
                let mut entries = Map::new();
                for raw in raws {
                    let Raw::Bytes(entry) = raw else {
                        return Err(wire_type_error(field));
                    };
                    let (key, value) = map_entry(field, key_type, value_type, entry, depth)?;
                    entries.insert(key, value);
                }
                Value::Object(entries)
            }
        };
        out.insert(field.json_name().into_owned(), value);
    }
    Ok(Value::Object(out))
}

/// One map entry as a JSON key and value; missing keys and values are their defaults.
fn map_entry(
    field: &FieldSchema,
    key_type: ValueType,
    value_type: ValueType,
    entry: &[u8],
    depth: u32,
) -> Result<(String, Value), JsonError> {
    let (mut key, mut value) = (None, None);
    let mut reader = Reader { bytes: entry };
    while !reader.bytes.is_empty() {
        match reader.field()? {
            (1, raw) => key = Some(raw),
            (2, raw) => value = Some(raw),
            _ => {}
        }
    }
    let key = match key {
        Some(raw) => print_value(field, key_type, raw, depth)?,
        None => default_value(key_type),
    };
    let key = match key {
        Value::String(text) => text,
        other => other.to_string(),
    };
    let value = match (value, value_type) {
        (Some(raw), _) => print_value(field, value_type, raw, depth)?,
        (None, ValueType::Message(schema)) => print_message(&schema(), &[], depth + 1)?,
        (None, value_type) => default_value(value_type),
    };
    Ok((key, value))
}

/// The JSON of a value at its default, for a map entry that leaves it out.
fn default_value(value_type: ValueType) -> Value {
    match value_type {
        ValueType::Scalar(scalar) => match scalar {
            Scalar::Int64
            | Scalar::Uint64
            | Scalar::Sint64
            | Scalar::Fixed64
            | Scalar::Sfixed64 => Value::String("0".to_owned()),
            Scalar::Bool => Value::Bool(false),
            Scalar::String | Scalar::Bytes => Value::String(String::new()),
            Scalar::Double | Scalar::Float => Value::from(0.0),
            _ => Value::from(0),
        },
        ValueType::Enum(schema) => enum_name(&schema(), 0),
        ValueType::Message(_) => Value::Object(Map::new()),
    }
}

/// The width of one packed element of `value_type`: `Some(0)` for varints; `None` when the
/// type cannot be packed.
fn packed_width(value_type: ValueType) -> Option<usize> {
    match value_type {
        ValueType::Scalar(Scalar::String | Scalar::Bytes) | ValueType::Message(_) => None,
        ValueType::Scalar(Scalar::Double | Scalar::Fixed64 | Scalar::Sfixed64) => Some(8),
        ValueType::Scalar(Scalar::Float | Scalar::Fixed32 | Scalar::Sfixed32) => Some(4),
        _ => Some(0),
    }
}

fn unpack(bytes: &[u8], width: usize) -> Result<Vec<Raw<'_>>, JsonError> {
    let mut reader = Reader { bytes };
    let mut items = Vec::new();
    while !reader.bytes.is_empty() {
        items.push(match width {
            0 => Raw::Varint(reader.varint()?),
            8 => Raw::Fixed64(reader.take(8)?.try_into().expect("took 8")),
            _ => Raw::Fixed32(reader.take(4)?.try_into().expect("took 4")),
        });
    }
    Ok(items)
}

fn wire_type_error(field: &FieldSchema) -> JsonError {
    error(format!("field {} has the wrong wire type", field.name))
}

fn print_value(
    field: &FieldSchema,
    value_type: ValueType,
    raw: Raw<'_>,
    depth: u32,
) -> Result<Value, JsonError> {
    let wrong = || wire_type_error(field);
    Ok(match value_type {
        ValueType::Message(schema) => match raw {
            Raw::Bytes(bytes) => print_message(&schema(), bytes, depth + 1)?,
            _ => return Err(wrong()),
        },
        ValueType::Enum(schema) => match raw {
            Raw::Varint(value) => enum_name(&schema(), value as i32),
            _ => return Err(wrong()),
        },
        ValueType::Scalar(scalar) => match (scalar, raw) {
            (Scalar::Int32, Raw::Varint(v)) => Value::from(v as i32),
            (Scalar::Int64, Raw::Varint(v)) => Value::String((v as i64).to_string()),
            (Scalar::Uint32, Raw::Varint(v)) => Value::from(v as u32),
            (Scalar::Uint64, Raw::Varint(v)) => Value::String(v.to_string()),
            (Scalar::Sint32, Raw::Varint(v)) => {
                let v = v as u32;
                Value::from((v >> 1) as i32 ^ -((v & 1) as i32))
            }
            (Scalar::Sint64, Raw::Varint(v)) => {
                Value::String(((v >> 1) as i64 ^ -((v & 1) as i64)).to_string())
            }
            (Scalar::Bool, Raw::Varint(v)) => Value::Bool(v != 0),
            (Scalar::Fixed32, Raw::Fixed32(b)) => Value::from(u32::from_le_bytes(b)),
            (Scalar::Sfixed32, Raw::Fixed32(b)) => Value::from(i32::from_le_bytes(b)),
            (Scalar::Float, Raw::Fixed32(b)) => print_float(f32::from_le_bytes(b)),
            (Scalar::Fixed64, Raw::Fixed64(b)) => Value::String(u64::from_le_bytes(b).to_string()),
            (Scalar::Sfixed64, Raw::Fixed64(b)) => Value::String(i64::from_le_bytes(b).to_string()),
            (Scalar::Double, Raw::Fixed64(b)) => print_double(f64::from_le_bytes(b)),
            (Scalar::String, Raw::Bytes(bytes)) => Value::String(
                std::str::from_utf8(bytes)
                    .map_err(|_| error(format!("field {} is not valid UTF-8", field.name)))?
                    .to_owned(),
            ),
            (Scalar::Bytes, Raw::Bytes(bytes)) => {
                Value::String(base64::engine::general_purpose::STANDARD.encode(bytes))
            }
            _ => return Err(wrong()),
        },
    })
}

fn enum_name(schema: &EnumSchema, number: i32) -> Value {
    match schema.values.iter().find(|value| value.number == number) {
        Some(value) => Value::String(value.name.to_owned()),
        // A value this side does not know keeps its number.
        None => Value::from(number),
    }
}

fn print_double(value: f64) -> Value {
    match Number::from_f64(value) {
        Some(number) => Value::Number(number),
        None if value.is_nan() => Value::String("NaN".to_owned()),
        None if value > 0.0 => Value::String("Infinity".to_owned()),
        None => Value::String("-Infinity".to_owned()),
    }
}

/// A float as its shortest decimal form that reads back as the same `f32`, as protobuf's
/// printers write it (widened to `f64` it would show digits the float does not have).
fn print_float(value: f32) -> Value {
    if !value.is_finite() {
        return print_double(f64::from(value));
    }
    let shortest: f64 = value
        .to_string()
        .parse()
        .expect("a float prints as a number");
    print_double(shortest)
}

// ---------------------------------------------------------------------------------------------
// Duration and Timestamp.

/// Seconds and nanos of an encoded Duration or Timestamp.
fn seconds_and_nanos(bytes: &[u8]) -> Result<(i64, i32), JsonError> {
    let (mut seconds, mut nanos) = (0i64, 0i32);
    let mut reader = Reader { bytes };
    while !reader.bytes.is_empty() {
        match reader.field()? {
            (1, Raw::Varint(value)) => seconds = value as i64,
            (2, Raw::Varint(value)) => nanos = value as i32,
            (1 | 2, _) => return Err(error("seconds and nanos must be varints")),
            _ => {}
        }
    }
    Ok((seconds, nanos))
}

/// A fraction of a second as JSON writes it: nothing, or 3, 6 or 9 digits.
fn fraction(nanos: u32) -> String {
    if nanos == 0 {
        String::new()
    } else if nanos.is_multiple_of(1_000_000) {
        format!(".{:03}", nanos / 1_000_000)
    } else if nanos.is_multiple_of(1_000) {
        format!(".{:06}", nanos / 1_000)
    } else {
        format!(".{nanos:09}")
    }
}

/// The largest Duration, in seconds (about 10,000 years).
const MAX_DURATION_SECONDS: i64 = 315_576_000_000;

fn print_duration(bytes: &[u8]) -> Result<String, JsonError> {
    let (seconds, nanos) = seconds_and_nanos(bytes)?;
    if seconds.abs() > MAX_DURATION_SECONDS
        || nanos.abs() > 999_999_999
        || (seconds > 0 && nanos < 0)
        || (seconds < 0 && nanos > 0)
    {
        return Err(error(format!(
            "Duration out of range: {seconds}s {nanos}ns"
        )));
    }
    let sign = if seconds < 0 || nanos < 0 { "-" } else { "" };
    Ok(format!(
        "{sign}{}{}s",
        seconds.unsigned_abs(),
        fraction(nanos.unsigned_abs())
    ))
}

/// Seconds from 0001-01-01T00:00:00Z and to 9999-12-31T23:59:59Z, from the epoch.
const MIN_TIMESTAMP: i64 = -62_135_596_800;
const MAX_TIMESTAMP: i64 = 253_402_300_799;

fn print_timestamp(bytes: &[u8]) -> Result<String, JsonError> {
    let (seconds, nanos) = seconds_and_nanos(bytes)?;
    if !(MIN_TIMESTAMP..=MAX_TIMESTAMP).contains(&seconds) || !(0..=999_999_999).contains(&nanos) {
        return Err(error(format!(
            "Timestamp out of range: {seconds}s {nanos}ns"
        )));
    }
    let days = seconds.div_euclid(86_400);
    let of_day = seconds.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    Ok(format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}{}Z",
        of_day / 3600,
        of_day / 60 % 60,
        of_day % 60,
        fraction(nanos as u32)
    ))
}

/// The proleptic Gregorian date `days` after 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Days from 1970-01-01 to the proleptic Gregorian date (the inverse of the above).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = year - i64::from(month <= 2);
    let era = year.div_euclid(400);
    let yoe = year.rem_euclid(400);
    let month = i64::from(month);
    let doy = (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Reads `digits` (1 to 9 of them) as nanoseconds.
fn parse_fraction(digits: &str) -> Option<u32> {
    if digits.is_empty() || digits.len() > 9 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let value: u32 = digits.parse().ok()?;
    Some(value * 10u32.pow(9 - digits.len() as u32))
}

fn parse_duration(text: &str) -> Option<(i64, i32)> {
    let body = text.strip_suffix('s')?;
    let (negative, body) = match body.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, body),
    };
    let (whole, nanos) = match body.split_once('.') {
        Some((whole, digits)) => (whole, parse_fraction(digits)?),
        None => (body, 0),
    };
    if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let seconds: i64 = whole.parse().ok()?;
    if seconds > MAX_DURATION_SECONDS {
        return None;
    }
    let sign = if negative { -1 } else { 1 };
    Some((sign * seconds, sign as i32 * nanos as i32))
}

/// RFC 3339, as protobuf accepts it: `Z` or an offset, 0 to 9 fractional digits.
fn parse_timestamp(text: &str) -> Option<(i64, i32)> {
    let bytes = text.as_bytes();
    let number = |range: std::ops::Range<usize>| -> Option<u32> {
        let part = text.get(range)?;
        part.bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    if bytes.len() < 20 || bytes[4] != b'-' || bytes[7] != b'-' || bytes[10] != b'T' {
        return None;
    }
    if bytes[13] != b':' || bytes[16] != b':' {
        return None;
    }
    let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
    let (hour, minute, second) = (number(11..13)?, number(14..16)?, number(17..19)?);
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let mut rest = &text[19..];
    let mut nanos = 0;
    if let Some(after_dot) = rest.strip_prefix('.') {
        let end = after_dot
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(after_dot.len());
        nanos = parse_fraction(&after_dot[..end])?;
        rest = &after_dot[end..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let offset = rest.get(1..)?;
            let (hours, minutes) = offset.split_once(':')?;
            if hours.len() != 2 || minutes.len() != 2 {
                return None;
            }
            let (hours, minutes): (i64, i64) = (hours.parse().ok()?, minutes.parse().ok()?);
            if hours > 23 || minutes > 59 {
                return None;
            }
            sign * (hours * 3600 + minutes * 60)
        }
    };
    let days = days_from_civil(i64::from(year), month, day);
    let seconds = days * 86_400 + i64::from(hour * 3600 + minute * 60 + second) - offset;
    (MIN_TIMESTAMP..=MAX_TIMESTAMP)
        .contains(&seconds)
        .then_some((seconds, nanos as i32))
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400)) => {
            29
        }
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

fn encode_seconds_and_nanos((seconds, nanos): (i64, i32), out: &mut BytesMut) {
    if seconds != 0 {
        encode_key(1, WireType::Varint, out);
        encode_varint(seconds as u64, out);
    }
    if nanos != 0 {
        encode_key(2, WireType::Varint, out);
        encode_varint(nanos as i64 as u64, out);
    }
}

// ---------------------------------------------------------------------------------------------
// Writing the protobuf encoding of JSON.

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn parse_message(
    schema: &MessageSchema,
    value: &Value,
    out: &mut BytesMut,
    depth: u32,
) -> Result<(), JsonError> {
    if depth > MAX_DEPTH {
        return Err(error(format!("messages nest deeper than {MAX_DEPTH}")));
    }
    let expected = |what: &str| {
        error(format!(
            "{} must be {what}, not {}",
            schema.name,
            kind(value)
        ))
    };
    match schema.name {
        "google.protobuf.Duration" => {
            let text = value
                .as_str()
                .ok_or_else(|| expected("a string such as \"1.5s\""))?;
            let parsed = parse_duration(text)
                .ok_or_else(|| error(format!("{text:?} is not a Duration such as \"1.5s\"")))?;
            encode_seconds_and_nanos(parsed, out);
            return Ok(());
        }
        "google.protobuf.Timestamp" => {
            let text = value
                .as_str()
                .ok_or_else(|| expected("an RFC 3339 string"))?;
            let parsed = parse_timestamp(text).ok_or_else(|| {
                error(format!(
                    "{text:?} is not an RFC 3339 timestamp such as \"1972-01-01T10:00:20.021Z\""
                ))
            })?;
            encode_seconds_and_nanos(parsed, out);
            return Ok(());
        }
        "google.protobuf.Any" => {
            return Err(error(
                "google.protobuf.Any has no JSON form without a registry of its types",
            ))
        }
        _ => {}
    }
    let Value::Object(members) = value else {
        return Err(expected("an object"));
    };
    let mut oneofs: Vec<(&str, &str)> = Vec::new();
    for (name, value) in members {
        let Some(field) = schema
            .fields
            .iter()
            .find(|field| field.name == name || field.json_name() == name.as_str())
        else {
            // Unknown fields are ignored, so that older readers accept newer writers.
            continue;
        };
        if value.is_null() {
            continue;
        }
        if let Some(oneof) = field.oneof {
            if let Some((_, other)) = oneofs.iter().find(|(group, _)| *group == oneof) {
                return Err(error(format!(
                    "{other} and {} are both set, but belong to one oneof {oneof}",
                    field.name
                )));
            }
            oneofs.push((oneof, field.name));
        }
        parse_field(field, value, out, depth)
            .map_err(|cause| error(format!("field {}: {cause}", field.name)))?;
    }
    Ok(())
}

fn parse_field(
    field: &FieldSchema,
    value: &Value,
    out: &mut BytesMut,
    depth: u32,
) -> Result<(), JsonError> {
    match field.field_type {
        FieldType::Singular(value_type) | FieldType::Optional(value_type) => {
            parse_value(field.number, value_type, value, out, depth)
        }
        FieldType::Repeated(value_type) => {
            let Value::Array(items) = value else {
                return Err(error(format!("must be an array, not {}", kind(value))));
            };
            if packed_width(value_type).is_some() {
                let mut packed = BytesMut::new();
                for item in items {
                    parse_scalar_payload(value_type, item, &mut packed)?;
                }
                if !packed.is_empty() {
                    encode_key(field.number, WireType::LengthDelimited, out);
                    encode_varint(packed.len() as u64, out);
                    out.extend_from_slice(&packed);
                }
            } else {
                for item in items {
                    if item.is_null() {
                        return Err(error("null is not an element"));
                    }
                    parse_value(field.number, value_type, item, out, depth)?;
                }
            }
            Ok(())
        }
        FieldType::Map(key_type, value_type) => {
            let Value::Object(entries) = value else {
                return Err(error(format!("must be an object, not {}", kind(value))));
            };
            for (key, value) in entries {
                let mut entry = BytesMut::new();
                let key = match key_type {
                    ValueType::Scalar(Scalar::String) => Value::String(key.clone()),
                    ValueType::Scalar(Scalar::Bool) => match key.as_str() {
                        "true" => Value::Bool(true),
                        "false" => Value::Bool(false),
                        _ => return Err(error(format!("map key {key:?} is not a boolean"))),
                    },
                    // Integer keys are read as integer strings are.
                    _ => Value::String(key.clone()),
                };
                parse_value(1, key_type, &key, &mut entry, depth)?;
                if !value.is_null() {
                    parse_value(2, value_type, value, &mut entry, depth)?;
                }
                encode_key(field.number, WireType::LengthDelimited, out);
                encode_varint(entry.len() as u64, out);
                out.extend_from_slice(&entry);
            }
            Ok(())
        }
    }
}

/// Writes field `number` holding `value`.
fn parse_value(
    number: u32,
    value_type: ValueType,
    value: &Value,
    out: &mut BytesMut,
    depth: u32,
) -> Result<(), JsonError> {
    match value_type {
        ValueType::Message(schema) => {
            let mut nested = BytesMut::new();
            parse_message(&schema(), value, &mut nested, depth + 1)?;
            encode_key(number, WireType::LengthDelimited, out);
            encode_varint(nested.len() as u64, out);
            out.extend_from_slice(&nested);
        }
        ValueType::Scalar(Scalar::String) => {
            let text = value
                .as_str()
                .ok_or_else(|| error(format!("must be a string, not {}", kind(value))))?;
            encode_key(number, WireType::LengthDelimited, out);
            encode_varint(text.len() as u64, out);
            out.extend_from_slice(text.as_bytes());
        }
        ValueType::Scalar(Scalar::Bytes) => {
            let text = value
                .as_str()
                .ok_or_else(|| error(format!("must be a base64 string, not {}", kind(value))))?;
            let bytes = crate::base64::decode_any(text.as_bytes())
                .ok_or_else(|| error(format!("{text:?} is not base64")))?;
            encode_key(number, WireType::LengthDelimited, out);
            encode_varint(bytes.len() as u64, out);
            out.extend_from_slice(&bytes);
        }
        _ => {
            let wire_type = match packed_width(value_type) {
                Some(8) => WireType::Fixed64,
                Some(4) => WireType::Fixed32,
                _ => WireType::Varint,
            };
            encode_key(number, wire_type, out);
            parse_scalar_payload(value_type, value, out)?;
        }
    }
    Ok(())
}

/// Writes the payload (no key) of a numeric, boolean or enum `value`.
fn parse_scalar_payload(
    value_type: ValueType,
    value: &Value,
    out: &mut BytesMut,
) -> Result<(), JsonError> {
    let scalar = match value_type {
        ValueType::Enum(schema) => {
            let number = match value {
                Value::String(name) => schema()
                    .values
                    .iter()
                    .find(|value| value.name == name)
                    .map(|value| value.number)
                    .ok_or_else(|| {
                        error(format!("{name:?} is not a value of {}", schema().name))
                    })?,
                _ => integer(value, i64::from(i32::MIN), i64::from(i32::MAX) as u64)? as i32,
            };
            encode_varint(number as i64 as u64, out);
            return Ok(());
        }
        ValueType::Scalar(scalar) => scalar,
        ValueType::Message(_) => unreachable!("messages are not scalars"),
    };
    let (i32_min, i32_max) = (i64::from(i32::MIN), i32::MAX as u64);
    match scalar {
        Scalar::Int32 => encode_varint(integer(value, i32_min, i32_max)? as i32 as i64 as u64, out),
        Scalar::Int64 => encode_varint(integer(value, i64::MIN, i64::MAX as u64)? as u64, out),
        Scalar::Uint32 => encode_varint(integer(value, 0, u64::from(u32::MAX))? as u64, out),
        Scalar::Uint64 => encode_varint(unsigned(value)?, out),
        Scalar::Sint32 => {
            let v = integer(value, i32_min, i32_max)? as i32;
            encode_varint(u64::from(((v << 1) ^ (v >> 31)) as u32), out);
        }
        Scalar::Sint64 => {
            let v = integer(value, i64::MIN, i64::MAX as u64)? as i64;
            encode_varint(((v << 1) ^ (v >> 63)) as u64, out);
        }
        Scalar::Fixed32 => {
            let v = integer(value, 0, u64::from(u32::MAX))? as u32;
            out.extend_from_slice(&v.to_le_bytes());
        }
        Scalar::Sfixed32 => {
            let v = integer(value, i32_min, i32_max)? as i32;
            out.extend_from_slice(&v.to_le_bytes());
        }
        Scalar::Fixed64 => out.extend_from_slice(&unsigned(value)?.to_le_bytes()),
        Scalar::Sfixed64 => {
            let v = integer(value, i64::MIN, i64::MAX as u64)? as i64;
            out.extend_from_slice(&v.to_le_bytes());
        }
        Scalar::Bool => match value {
            Value::Bool(v) => encode_varint(u64::from(*v), out),
            // Map keys arrive as strings.
            Value::String(text) if text == "true" => encode_varint(1, out),
            Value::String(text) if text == "false" => encode_varint(0, out),
            other => return Err(error(format!("must be true or false, not {}", kind(other)))),
        },
        Scalar::Double => out.extend_from_slice(&float(value)?.to_le_bytes()),
        Scalar::Float => {
            let v = float(value)?;
            // Out of range only if it does not round to a finite float: the shortest text of
            // f32::MAX ("3.4028235e38") reads as a double just above it.
            if v.is_finite() && !(v as f32).is_finite() {
                return Err(error(format!("{v} is out of range for a float")));
            }
            out.extend_from_slice(&(v as f32).to_le_bytes());
        }
        Scalar::String | Scalar::Bytes => unreachable!("written by parse_value"),
    }
    Ok(())
}

/// An integer from a JSON number or a string of one, within `min..=max` (as `i128` bounds).
fn integer(value: &Value, min: i64, max: u64) -> Result<i128, JsonError> {
    let parsed: Option<i128> = match value {
        Value::Number(number) => {
            if let Some(v) = number.as_i64() {
                Some(i128::from(v))
            } else if let Some(v) = number.as_u64() {
                Some(i128::from(v))
            } else {
                // 1e3 and 5.0 are integers too; 1.5 is not.
                number
                    .as_f64()
                    .filter(|v| v.fract() == 0.0 && v.abs() < 2e19)
                    .map(|v| v as i128)
            }
        }
        Value::String(text) => text.trim().parse::<i128>().ok().or_else(|| {
            text.parse::<f64>()
                .ok()
                .filter(|v| v.fract() == 0.0 && v.abs() < 2e19)
                .map(|v| v as i128)
        }),
        other => return Err(error(format!("must be an integer, not {}", kind(other)))),
    };
    let v = parsed.ok_or_else(|| error(format!("{value} is not an integer")))?;
    if v < i128::from(min) || v > i128::from(max) {
        return Err(error(format!("{value} is out of range")));
    }
    Ok(v)
}

fn unsigned(value: &Value) -> Result<u64, JsonError> {
    Ok(integer(value, 0, u64::MAX)? as u64)
}

fn float(value: &Value) -> Result<f64, JsonError> {
    match value {
        Value::Number(number) => number
            .as_f64()
            .ok_or_else(|| error(format!("{value} is not a number"))),
        Value::String(text) => match text.as_str() {
            "NaN" => Ok(f64::NAN),
            "Infinity" => Ok(f64::INFINITY),
            "-Infinity" => Ok(f64::NEG_INFINITY),
            _ => text
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .ok_or_else(|| error(format!("{text:?} is not a number"))),
        },
        other => Err(error(format!("must be a number, not {}", kind(other)))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{FieldSchema, FieldType, MessageSchema, Scalar, ValueType};

    /// A message `name` with one field, number 1, `field` of type `scalar`.
    fn one_field(name: &'static str, field: &'static str, scalar: Scalar) -> MessageSchema {
        MessageSchema {
            fields: vec![FieldSchema {
                name: field,
                number: 1,
                field_type: FieldType::Singular(ValueType::Scalar(scalar)),
                docs: &[],
                oneof: None,
                json_name: None,
            }],
            import: None,
            ..MessageSchema::well_known(name, "test.proto")
        }
    }

    #[test]
    fn the_largest_floats_read_back_from_their_shortest_text() {
        let schema = one_field("test.Floats", "f", Scalar::Float);
        for value in [f32::MAX, f32::MIN, f32::MIN_POSITIVE] {
            let encoded = [&[0x0d][..], &value.to_le_bytes()].concat();
            let json = schema_proto_to_json(&schema, &encoded).unwrap();
            assert_eq!(
                schema_json_to_proto(&schema, json.as_bytes()).unwrap(),
                encoded
            );
        }
        assert!(schema_json_to_proto(&schema, br#"{"f": 3.5e38}"#).is_err());
    }

    #[test]
    fn an_unknown_group_is_skipped_and_a_broken_one_fails() {
        let schema = one_field("test.Grouped", "n", Scalar::Int32);
        // Field 9 a group holding a varint, a string and a nested group 10; then n = 7.
        let group = [
            &[
                0x4b, 0x08, 0x01, 0x12, 0x02, b'h', b'i', 0x53, 0x08, 0x02, 0x54, 0x4c,
            ][..],
            &[0x08, 0x07],
        ]
        .concat();
        assert_eq!(schema_proto_to_json(&schema, &group).unwrap(), r#"{"n":7}"#);
        // Field 1 known, sent as a group: the wrong wire type for it.
        assert!(schema_proto_to_json(&schema, &[0x0b, 0x0c]).is_err());
        // So for a message field, alone or after a proper value.
        let outer = MessageSchema {
            fields: vec![FieldSchema {
                field_type: FieldType::Singular(ValueType::Message(|| {
                    one_field("test.Grouped", "n", Scalar::Int32)
                })),
                ..one_field("test.Outer", "inner", Scalar::Int32).fields[0].clone()
            }],
            ..one_field("test.Outer", "inner", Scalar::Int32)
        };
        assert_eq!(
            schema_proto_to_json(&outer, &[0x0a, 0x02, 0x08, 0x07]).unwrap(),
            r#"{"inner":{"n":7}}"#
        );
        for wrong in [&[0x0b, 0x0c][..], &[0x0a, 0x02, 0x08, 0x07, 0x08, 0x01]] {
            let failed = schema_proto_to_json(&outer, wrong).unwrap_err();
            assert!(failed.to_string().contains("wire type"), "{failed}");
        }
        for broken in [
            &[0x4b, 0x08, 0x01][..], // no end tag
            &[0x4b, 0x54],           // ends with another group's end tag
            &[0x4c],                 // an end tag alone
        ] {
            let failed = schema_proto_to_json(&schema, broken).unwrap_err();
            assert!(failed.to_string().contains("group"), "{failed}");
        }
        // Nested past the depth limit: an error, not a stack overflow.
        let deep = [vec![0x4b; 10_000], vec![0x4c; 10_000]].concat();
        let failed = schema_proto_to_json(&schema, &deep).unwrap_err();
        assert!(failed.to_string().contains("deeper"), "{failed}");
    }

    #[test]
    fn json_names_are_lower_camel_case() {
        assert_eq!(json_name("double_value"), "doubleValue");
        assert_eq!(json_name("by_int32"), "byInt32");
        assert_eq!(json_name("name"), "name");
    }

    #[test]
    fn durations_and_timestamps_print_and_parse_as_protobuf_does() {
        let duration = |seconds: i64, nanos: i32| {
            let mut out = BytesMut::new();
            encode_seconds_and_nanos((seconds, nanos), &mut out);
            print_duration(&out).unwrap()
        };
        assert_eq!(duration(90, 500_000_000), "90.500s");
        assert_eq!(duration(0, -1_000), "-0.000001s");
        assert_eq!(duration(-3, -1), "-3.000000001s");
        assert_eq!(duration(0, 0), "0s");
        assert_eq!(parse_duration("-0.000001s"), Some((0, -1_000)));
        assert_eq!(parse_duration("1.5"), None);
        assert_eq!(parse_duration("1.1234567891s"), None, "ten digits");
        let timestamp = |seconds: i64, nanos: i32| {
            let mut out = BytesMut::new();
            encode_seconds_and_nanos((seconds, nanos), &mut out);
            print_timestamp(&out).unwrap()
        };
        assert_eq!(timestamp(0, 0), "1970-01-01T00:00:00Z");
        assert_eq!(
            timestamp(1_700_000_000, 123_456_789),
            "2023-11-14T22:13:20.123456789Z"
        );
        assert_eq!(timestamp(-86_401, 750_000_000), "1969-12-30T23:59:59.750Z");
        assert_eq!(timestamp(MIN_TIMESTAMP, 0), "0001-01-01T00:00:00Z");
        assert_eq!(timestamp(MAX_TIMESTAMP, 0), "9999-12-31T23:59:59Z");
        assert_eq!(
            parse_timestamp("2023-11-14T23:13:20.5+01:00"),
            Some((1_700_000_000, 500_000_000))
        );
        assert_eq!(
            parse_timestamp("2023-02-29T00:00:00Z"),
            None,
            "not a leap year"
        );
        assert_eq!(
            parse_timestamp("2024-02-29T00:00:00Z").map(|t| t.0),
            Some(1_709_164_800)
        );
    }
}
