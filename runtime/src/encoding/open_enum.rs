//! [`OpenEnum`]: a proto enum field that keeps numbers this program does not know.

use std::marker::PhantomData;

use bytes::BytesMut;

use super::value::{IsValue, Plain, Value};
use super::wire::{DecodeBuf, WireType};
use super::{DecodeError, Enumeration};
use crate::schema::ValueType;

/// An enum field that preserves unknown numbers, as proto3 specifies for open enums.
///
/// A plain `Color` field reads a number it does not know as its zero value, since a Rust enum
/// cannot hold it. `OpenEnum<Color>` keeps the number, so a message passed along by a program
/// built before a value was added still carries it.
///
/// ```
/// use protoless::{Enumeration, OpenEnum};
///
/// #[derive(Enumeration, Clone, Copy, Debug, PartialEq)]
/// enum Color { Unspecified = 0, Red = 1 }
///
/// let known = OpenEnum::from(Color::Red);
/// assert_eq!(known.get(), Ok(Color::Red));
/// let newer = OpenEnum::<Color>::from_i32(7);
/// assert_eq!(newer.get(), Err(7));
/// ```
pub struct OpenEnum<E> {
    number: i32,
    enumeration: PhantomData<fn() -> E>,
}

impl<E: Enumeration> OpenEnum<E> {
    /// The value with this number, known or not.
    pub fn from_i32(number: i32) -> Self {
        OpenEnum {
            number,
            enumeration: PhantomData,
        }
    }

    /// The variant, or the number when this program does not know it.
    pub fn get(&self) -> Result<E, i32> {
        E::from_i32(self.number).ok_or(self.number)
    }

    /// The number on the wire.
    pub fn to_i32(&self) -> i32 {
        self.number
    }
}

impl<E: Enumeration> From<E> for OpenEnum<E> {
    fn from(value: E) -> Self {
        OpenEnum::from_i32(value.to_i32())
    }
}

impl<E> Clone for OpenEnum<E> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<E> Copy for OpenEnum<E> {}
impl<E> PartialEq for OpenEnum<E> {
    fn eq(&self, other: &Self) -> bool {
        self.number == other.number
    }
}
impl<E> Eq for OpenEnum<E> {}
impl<E> Default for OpenEnum<E> {
    fn default() -> Self {
        OpenEnum {
            number: 0,
            enumeration: PhantomData,
        }
    }
}

impl<E: Enumeration + std::fmt::Debug> std::fmt::Debug for OpenEnum<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.get() {
            Ok(value) => value.fmt(f),
            Err(number) => write!(f, "OpenEnum({number})"),
        }
    }
}

impl<E> serde::Serialize for OpenEnum<E> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_i32(self.number)
    }
}

impl<'de, E> serde::Deserialize<'de> for OpenEnum<E> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(OpenEnum {
            number: i32::deserialize(deserializer)?,
            enumeration: PhantomData,
        })
    }
}

impl<E: Enumeration> IsValue for OpenEnum<E> {}

impl<E: Enumeration> Value for OpenEnum<E> {
    const WIRE_TYPE: WireType = WireType::Varint;
    const PACKED: bool = true;

    fn empty() -> Self {
        OpenEnum::from_i32(0)
    }
    fn value_type() -> ValueType {
        ValueType::Enum(E::schema)
    }
    fn is_default(&self) -> bool {
        self.number == 0
    }
    fn encoded_len(&self) -> usize {
        Value::<Plain>::encoded_len(&self.number)
    }
    fn encode(&self, buf: &mut BytesMut) {
        Value::<Plain>::encode(&self.number, buf)
    }
    fn merge(&mut self, buf: &mut DecodeBuf<'_>, depth: u32) -> Result<(), DecodeError> {
        Value::<Plain>::merge(&mut self.number, buf, depth)
    }
}
