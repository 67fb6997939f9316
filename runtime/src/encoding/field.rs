//! [`Field`]: the shape of a message field (singular, `optional`, `repeated`, `map`) built on
//! [`Value`]. `#[derive(Message)]` calls these for each field, so the field's Rust type picks its
//! encoding: aliases and nesting work without the macro having to recognise them.

use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;

use bytes::BytesMut;

use super::value::{Plain, Value};
use super::wire::{
    check_wire_type, decode_key, decode_length_delimited, encode_key, encode_varint, key_len,
    skip_field, varint_len, DecodeBuf, WireType,
};
use super::{DecodeError, Message};
use crate::schema::{FieldSchema, FieldType};

/// A message field of some shape, under the encoding `E` of its values.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a protobuf message field",
    label = "no protobuf mapping",
    note = "fields may be bool, i32, i64, u32, u64, f32, f64, String, Vec<u8>, Bytes, a type deriving \
            Message or Enumeration, or Option, Vec, HashMap or BTreeMap of those; \
            #[proto(sint)] and #[proto(fixed)] apply to integers only"
)]
pub trait Field<E = Plain>: Sized {
    /// The field's proto3 default: what a decoder starts from, and what is not written.
    fn empty() -> Self;
    /// The field's shape and type, for the schema.
    fn field_type() -> FieldType;
    /// The encoded size of the field, keys included; zero when nothing would be written.
    fn encoded_len(&self, number: u32) -> usize;
    /// Writes the field with its key(s); proto3 defaults of singular fields are not written.
    fn encode(&self, number: u32, buf: &mut BytesMut);
    /// Merges one occurrence of the field, whose key has just been read.
    fn merge(
        &mut self,
        wire_type: WireType,
        buf: &mut DecodeBuf<'_>,
        depth: u32,
    ) -> Result<(), DecodeError>;
}

/// Size of one value with its key and, for `LEN` values, its length prefix.
#[inline]
fn keyed_len<E, T: Value<E>>(number: u32, value: &T) -> usize {
    key_len(number) + unkeyed_len(value)
}

#[inline]
fn unkeyed_len<E, T: Value<E>>(value: &T) -> usize {
    let len = value.encoded_len();
    if T::WIRE_TYPE == WireType::LengthDelimited {
        varint_len(len as u64) + len
    } else {
        len
    }
}

#[inline]
fn encode_keyed<E, T: Value<E>>(number: u32, value: &T, buf: &mut BytesMut) {
    encode_key(number, T::WIRE_TYPE, buf);
    encode_unkeyed(value, buf);
}

#[inline]
fn encode_unkeyed<E, T: Value<E>>(value: &T, buf: &mut BytesMut) {
    if T::WIRE_TYPE == WireType::LengthDelimited {
        encode_varint(value.encoded_len() as u64, buf);
    }
    value.encode(buf);
}

/// Reads one value (its key already consumed) and merges it into `value`.
#[inline]
fn merge_unkeyed<E, T: Value<E>>(
    value: &mut T,
    buf: &mut DecodeBuf<'_>,
    depth: u32,
) -> Result<(), DecodeError> {
    if T::WIRE_TYPE == WireType::LengthDelimited {
        let mut body = decode_length_delimited(buf)?;
        value.merge(&mut body, depth)
    } else {
        value.merge(buf, depth)
    }
}

/// The size of a oneof member: always written, since oneof members have presence.
pub fn oneof_member_len<E, T: Value<E>>(number: u32, value: &T) -> usize {
    keyed_len(number, value)
}

/// Writes a oneof member: always, since oneof members have presence.
pub fn encode_oneof_member<E, T: Value<E>>(number: u32, value: &T, buf: &mut BytesMut) {
    encode_keyed(number, value, buf)
}

/// A singular field: written unless it holds the proto3 default; the last occurrence wins
/// (messages merge).
impl<E, T: Value<E>> Field<E> for T {
    fn empty() -> Self {
        T::empty()
    }
    fn field_type() -> FieldType {
        FieldType::Singular(T::value_type())
    }
    #[inline]
    fn encoded_len(&self, number: u32) -> usize {
        if self.is_default() {
            0
        } else {
            keyed_len(number, self)
        }
    }
    #[inline]
    fn encode(&self, number: u32, buf: &mut BytesMut) {
        if !self.is_default() {
            encode_keyed(number, self, buf);
        }
    }
    #[inline]
    fn merge(
        &mut self,
        wire_type: WireType,
        buf: &mut DecodeBuf<'_>,
        depth: u32,
    ) -> Result<(), DecodeError> {
        check_wire_type(T::WIRE_TYPE, wire_type)?;
        merge_unkeyed(self, buf, depth)
    }
}

/// `optional` scalars and message presence: `Some` is written even when it holds the default.
impl<E, T: Value<E>> Field<E> for Option<T> {
    fn empty() -> Self {
        None
    }
    fn field_type() -> FieldType {
        FieldType::Optional(T::value_type())
    }
    #[inline]
    fn encoded_len(&self, number: u32) -> usize {
        self.as_ref().map_or(0, |value| keyed_len(number, value))
    }
    #[inline]
    fn encode(&self, number: u32, buf: &mut BytesMut) {
        if let Some(value) = self {
            encode_keyed(number, value, buf);
        }
    }
    #[inline]
    fn merge(
        &mut self,
        wire_type: WireType,
        buf: &mut DecodeBuf<'_>,
        depth: u32,
    ) -> Result<(), DecodeError> {
        check_wire_type(T::WIRE_TYPE, wire_type)?;
        merge_unkeyed(self.get_or_insert_with(T::empty), buf, depth)
    }
}

/// `repeated`: numeric scalars are packed on encode; packed and unpacked are both accepted.
impl<E, T: Value<E>> Field<E> for Vec<T> {
    fn empty() -> Self {
        Vec::new()
    }
    fn field_type() -> FieldType {
        FieldType::Repeated(T::value_type())
    }
    fn encoded_len(&self, number: u32) -> usize {
        if self.is_empty() {
            0
        } else if T::PACKED {
            let body: usize = self.iter().map(Value::encoded_len).sum();
            key_len(number) + varint_len(body as u64) + body
        } else {
            self.iter().map(|value| keyed_len(number, value)).sum()
        }
    }
    fn encode(&self, number: u32, buf: &mut BytesMut) {
        if self.is_empty() {
        } else if T::PACKED {
            let body: usize = self.iter().map(Value::encoded_len).sum();
            encode_key(number, WireType::LengthDelimited, buf);
            encode_varint(body as u64, buf);
            for value in self {
                value.encode(buf);
            }
        } else {
            for value in self {
                encode_keyed(number, value, buf);
            }
        }
    }
    fn merge(
        &mut self,
        wire_type: WireType,
        buf: &mut DecodeBuf<'_>,
        depth: u32,
    ) -> Result<(), DecodeError> {
        if T::PACKED && wire_type == WireType::LengthDelimited {
            let mut body = decode_length_delimited(buf)?;
            while body.has_remaining() {
                let mut value = T::empty();
                value.merge(&mut body, depth)?;
                self.push(value);
            }
            return Ok(());
        }
        check_wire_type(T::WIRE_TYPE, wire_type)?;
        // Merged in place rather than built aside and moved in: for messages, that move is a
        // copy of the whole struct. (On an error the message is discarded anyway.)
        self.push(T::empty());
        let value = self.last_mut().expect("just pushed");
        merge_unkeyed(value, buf, depth)
    }
}

/// Marks the types protobuf allows as map keys: integers, bool and string.
///
/// `#[proto(sint)]` or `#[proto(fixed)]` on a map field applies to its integer keys.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a protobuf map key",
    note = "map keys may be bool, i32, i64, u32, u64 or String"
)]
pub trait MapKey {}
impl MapKey for bool {}
impl MapKey for i32 {}
impl MapKey for i64 {}
impl MapKey for u32 {}
impl MapKey for u64 {}
impl MapKey for String {}

/// The encoded size of one map entry's body: key as field 1, value as field 2, both always written.
#[inline]
fn entry_len<E, K: MapKey + Value<E>, V: Value>(key: &K, value: &V) -> usize {
    keyed_len::<E, K>(1, key) + keyed_len::<Plain, V>(2, value)
}

fn map_encoded_len<'a, E, K: MapKey + Value<E> + 'a, V: Value + 'a>(
    number: u32,
    entries: impl Iterator<Item = (&'a K, &'a V)>,
) -> usize {
    entries
        .map(|(key, value)| {
            let len = entry_len::<E, K, V>(key, value);
            key_len(number) + varint_len(len as u64) + len
        })
        .sum()
}

fn map_encode<'a, E, K: MapKey + Value<E> + 'a, V: Value + 'a>(
    number: u32,
    entries: impl Iterator<Item = (&'a K, &'a V)>,
    buf: &mut BytesMut,
) {
    for (key, value) in entries {
        encode_key(number, WireType::LengthDelimited, buf);
        encode_varint(entry_len::<E, K, V>(key, value) as u64, buf);
        encode_keyed::<E, K>(1, key, buf);
        encode_keyed::<Plain, V>(2, value, buf);
    }
}

/// Reads one map entry; a missing key or value takes its default, as the spec says.
fn map_merge_entry<E, K: MapKey + Value<E>, V: Value>(
    wire_type: WireType,
    buf: &mut DecodeBuf<'_>,
    depth: u32,
) -> Result<(K, V), DecodeError> {
    check_wire_type(WireType::LengthDelimited, wire_type)?;
    let mut body = decode_length_delimited(buf)?;
    let (mut key, mut value) = (K::empty(), V::empty());
    while body.has_remaining() {
        match decode_key(&mut body)? {
            (1, wire_type) => Field::<E>::merge(&mut key, wire_type, &mut body, depth)?,
            (2, wire_type) => Field::<Plain>::merge(&mut value, wire_type, &mut body, depth)?,
            (number, wire_type) => skip_field(number, wire_type, &mut body, depth)?,
        }
    }
    Ok((key, value))
}

/// `map<K, V>`; the last entry for a key wins.
impl<E, K, V, S> Field<E> for HashMap<K, V, S>
where
    K: MapKey + Value<E> + Eq + Hash,
    V: Value,
    S: std::hash::BuildHasher + Default,
{
    fn empty() -> Self {
        HashMap::default()
    }
    fn field_type() -> FieldType {
        FieldType::Map(K::value_type(), V::value_type())
    }
    fn encoded_len(&self, number: u32) -> usize {
        map_encoded_len::<E, K, V>(number, self.iter())
    }
    fn encode(&self, number: u32, buf: &mut BytesMut) {
        map_encode::<E, K, V>(number, self.iter(), buf)
    }
    fn merge(
        &mut self,
        wire_type: WireType,
        buf: &mut DecodeBuf<'_>,
        depth: u32,
    ) -> Result<(), DecodeError> {
        let (key, value) = map_merge_entry::<E, K, V>(wire_type, buf, depth)?;
        self.insert(key, value);
        Ok(())
    }
}

/// `map<K, V>` with keys in order, so encoding is deterministic.
impl<E, K: MapKey + Value<E> + Ord, V: Value> Field<E> for BTreeMap<K, V> {
    fn empty() -> Self {
        BTreeMap::new()
    }
    fn field_type() -> FieldType {
        FieldType::Map(K::value_type(), V::value_type())
    }
    fn encoded_len(&self, number: u32) -> usize {
        map_encoded_len::<E, K, V>(number, self.iter())
    }
    fn encode(&self, number: u32, buf: &mut BytesMut) {
        map_encode::<E, K, V>(number, self.iter(), buf)
    }
    fn merge(
        &mut self,
        wire_type: WireType,
        buf: &mut DecodeBuf<'_>,
        depth: u32,
    ) -> Result<(), DecodeError> {
        let (key, value) = map_merge_entry::<E, K, V>(wire_type, buf, depth)?;
        self.insert(key, value);
        Ok(())
    }
}

/// A `#[derive(Message)]` enum: a message holding one `oneof`, whose members' numbers it knows.
///
/// A struct embeds one as a field of type `Option<TheEnum>` marked `#[proto(oneof)]`: the
/// members become fields of the struct's message, inside a `oneof` named after the field.
pub trait Oneof: Message {
    /// Whether `number` is one of the members' field numbers.
    fn owns(number: u32) -> bool;
}

/// A `#[proto(oneof)]` field of a struct: `Option<E>` for a oneof enum `E`; `None` when no
/// member is set.
#[diagnostic::on_unimplemented(
    message = "a #[proto(oneof)] field has type `Option<E>`, where E is an enum with #[derive(Message)]",
    label = "not `Option` of a oneof enum"
)]
pub trait OneofField: Sized {
    /// No member set.
    fn empty() -> Self;
    /// The encoded size of the member set, key included.
    fn encoded_len(&self) -> usize;
    /// Writes the member set, if any.
    fn encode(&self, buf: &mut BytesMut);
    /// Whether `number` belongs to one of the members.
    fn owns(number: u32) -> bool;
    /// Merges one occurrence of member `number`, whose key has just been read: a different
    /// member replaces the one set, the same one merges into it.
    fn merge(
        &mut self,
        number: u32,
        wire_type: WireType,
        buf: &mut DecodeBuf<'_>,
        depth: u32,
    ) -> Result<(), DecodeError>;
    /// The members, as fields of the enclosing message in the `oneof` named `oneof`.
    fn members(oneof: &'static str) -> Vec<FieldSchema>;
}

impl<T: Oneof> OneofField for Option<T> {
    fn empty() -> Self {
        None
    }
    fn encoded_len(&self) -> usize {
        self.as_ref().map_or(0, Message::encoded_len)
    }
    fn encode(&self, buf: &mut BytesMut) {
        if let Some(member) = self {
            member.encode_raw(buf);
        }
    }
    fn owns(number: u32) -> bool {
        T::owns(number)
    }
    fn merge(
        &mut self,
        number: u32,
        wire_type: WireType,
        buf: &mut DecodeBuf<'_>,
        depth: u32,
    ) -> Result<(), DecodeError> {
        self.get_or_insert_with(T::default)
            .merge_field(number, wire_type, buf, depth)
    }
    fn members(oneof: &'static str) -> Vec<FieldSchema> {
        let mut members = T::schema().fields;
        for member in &mut members {
            member.oneof = Some(oneof);
        }
        members
    }
}
