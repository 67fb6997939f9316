//! [`Value`]: how one Rust value is written as a protobuf field value, chosen by its type and an
//! encoding marker (`Plain`, `Sint`, `Fixed`) that `#[proto(sint)]` and `#[proto(fixed)]` select.

use bytes::{BufMut, Bytes, BytesMut};

use super::wire::{decode_varint, encode_varint, varint_len, DecodeBuf, WireType};
use super::DecodeError;
use crate::schema::{Scalar, ValueType};

/// The default encoding of a type: `int32`, `uint64`, `double`, `string`, a message...
#[derive(Debug)]
pub enum Plain {}
/// ZigZag varints for signed integers: `sint32`, `sint64` (`#[proto(sint)]`).
#[derive(Debug)]
pub enum Sint {}
/// Fixed-width integers: `fixed32`, `fixed64`, `sfixed32`, `sfixed64` (`#[proto(fixed)]`).
#[derive(Debug)]
pub enum Fixed {}

/// A type that is one protobuf value under the encoding `E`.
///
/// Implemented for the proto3 scalars, `String`, `Vec<u8>`, [`Bytes`], `Box<T>`, and by
/// `#[derive(Message)]` and `#[derive(Enumeration)]` for your own types. Field shapes (`Option`,
/// `Vec`, maps) are built on top of it by [`Field`](super::Field).
#[diagnostic::on_unimplemented(
    message = "`{Self}` has no protobuf mapping under this encoding",
    label = "no protobuf mapping",
    note = "fields may be bool, i32, i64, u32, u64, f32, f64, String, Vec<u8>, Bytes, a type deriving \
            Message or Enumeration, or Option, Vec, HashMap or BTreeMap of those; \
            #[proto(sint)] and #[proto(fixed)] apply to integers only"
)]
pub trait Value<E = Plain>: IsValue + Sized {
    /// How the value is laid out after its key.
    const WIRE_TYPE: WireType;
    /// Whether a repeated field of this type is packed (numeric scalars).
    const PACKED: bool = false;

    /// The proto3 default value, which a decoder starts from.
    fn empty() -> Self;
    /// The proto type, for the schema.
    fn value_type() -> ValueType;
    /// Whether this is the proto3 default value, which singular fields do not write.
    fn is_default(&self) -> bool;
    /// The encoded size, not counting the key or (for `LEN` values) the length prefix.
    fn encoded_len(&self) -> usize;
    /// Writes the value, without key or length prefix.
    fn encode(&self, buf: &mut BytesMut);
    /// Merges one occurrence into `self`: scalars are replaced, messages merged field by field.
    /// For `LEN` values `buf` holds exactly the value; otherwise the value is read from its front.
    fn merge(&mut self, buf: &mut DecodeBuf<'_>, depth: u32) -> Result<(), DecodeError>;
}

/// Marks the types that implement [`Value`] under some encoding: one value, not a field shape.
///
/// `Option`, `Vec` (other than `Vec<u8>`) and maps never implement it, which is what lets
/// [`Field`](super::Field) give them their own shapes. The derives implement it for your types.
pub trait IsValue {}

impl IsValue for i32 {}
impl IsValue for i64 {}
impl IsValue for u32 {}
impl IsValue for u64 {}
impl IsValue for bool {}
impl IsValue for f32 {}
impl IsValue for f64 {}
impl IsValue for String {}
impl IsValue for Vec<u8> {}
impl IsValue for Bytes {}
impl<T: IsValue> IsValue for Box<T> {}

macro_rules! varint_value {
    ($ty:ty, $encoding:ty, $scalar:ident, |$v:ident| $to_wire:expr, |$w:ident| $from_wire:expr) => {
        impl Value<$encoding> for $ty {
            const WIRE_TYPE: WireType = WireType::Varint;
            const PACKED: bool = true;

            fn empty() -> Self {
                <$ty>::default()
            }
            fn value_type() -> ValueType {
                ValueType::Scalar(Scalar::$scalar)
            }
            #[inline]
            fn is_default(&self) -> bool {
                *self == <$ty>::default()
            }
            #[inline]
            fn encoded_len(&self) -> usize {
                let $v = *self;
                varint_len($to_wire)
            }
            #[inline]
            fn encode(&self, buf: &mut BytesMut) {
                let $v = *self;
                encode_varint($to_wire, buf);
            }
            #[inline]
            fn merge(&mut self, buf: &mut DecodeBuf<'_>, _depth: u32) -> Result<(), DecodeError> {
                let $w = decode_varint(buf)?;
                *self = $from_wire;
                Ok(())
            }
        }
    };
}

// int32 is sign-extended to ten bytes on the wire, and truncated back on decode (the spec's rule).
varint_value!(i32, Plain, Int32, |v| v as i64 as u64, |w| w as i32);
varint_value!(i64, Plain, Int64, |v| v as u64, |w| w as i64);
varint_value!(u32, Plain, Uint32, |v| u64::from(v), |w| w as u32);
varint_value!(u64, Plain, Uint64, |v| v, |w| w);
varint_value!(bool, Plain, Bool, |v| u64::from(v), |w| w != 0);
varint_value!(
    i32,
    Sint,
    Sint32,
    |v| ((v << 1) ^ (v >> 31)) as u32 as u64,
    |w| {
        let w = w as u32;
        ((w >> 1) as i32) ^ -((w & 1) as i32)
    }
);
varint_value!(i64, Sint, Sint64, |v| ((v << 1) ^ (v >> 63)) as u64, |w| {
    ((w >> 1) as i64) ^ -((w & 1) as i64)
});

macro_rules! fixed_value {
    ($ty:ty, $encoding:ty, $scalar:ident, $wire:ident, $width:literal, $put:ident) => {
        impl Value<$encoding> for $ty {
            const WIRE_TYPE: WireType = WireType::$wire;
            const PACKED: bool = true;

            fn empty() -> Self {
                <$ty>::default()
            }
            fn value_type() -> ValueType {
                ValueType::Scalar(Scalar::$scalar)
            }
            #[inline]
            fn is_default(&self) -> bool {
                // Bitwise, so that -0.0 (which is not the default) is still written.
                self.to_le_bytes() == <$ty>::default().to_le_bytes()
            }
            #[inline]
            fn encoded_len(&self) -> usize {
                $width
            }
            #[inline]
            fn encode(&self, buf: &mut BytesMut) {
                buf.$put(*self);
            }
            #[inline]
            fn merge(&mut self, buf: &mut DecodeBuf<'_>, _depth: u32) -> Result<(), DecodeError> {
                *self = <$ty>::from_le_bytes(buf.take_array::<$width>()?);
                Ok(())
            }
        }
    };
}

fixed_value!(f64, Plain, Double, Fixed64, 8, put_f64_le);
fixed_value!(f32, Plain, Float, Fixed32, 4, put_f32_le);
fixed_value!(u32, Fixed, Fixed32, Fixed32, 4, put_u32_le);
fixed_value!(u64, Fixed, Fixed64, Fixed64, 8, put_u64_le);
fixed_value!(i32, Fixed, Sfixed32, Fixed32, 4, put_i32_le);
fixed_value!(i64, Fixed, Sfixed64, Fixed64, 8, put_i64_le);

impl Value for String {
    const WIRE_TYPE: WireType = WireType::LengthDelimited;

    fn empty() -> Self {
        String::new()
    }
    fn value_type() -> ValueType {
        ValueType::Scalar(Scalar::String)
    }
    #[inline]
    fn is_default(&self) -> bool {
        self.is_empty()
    }
    #[inline]
    fn encoded_len(&self) -> usize {
        self.len()
    }
    #[inline]
    fn encode(&self, buf: &mut BytesMut) {
        buf.put_slice(self.as_bytes());
    }
    fn merge(&mut self, buf: &mut DecodeBuf<'_>, _depth: u32) -> Result<(), DecodeError> {
        let text = std::str::from_utf8(buf.as_slice())
            .map_err(|_| DecodeError::new("string field is not valid UTF-8"))?;
        self.clear();
        self.push_str(text);
        buf.advance(buf.remaining());
        Ok(())
    }
}

impl Value for Vec<u8> {
    const WIRE_TYPE: WireType = WireType::LengthDelimited;

    fn empty() -> Self {
        Vec::new()
    }
    fn value_type() -> ValueType {
        ValueType::Scalar(Scalar::Bytes)
    }
    #[inline]
    fn is_default(&self) -> bool {
        self.is_empty()
    }
    #[inline]
    fn encoded_len(&self) -> usize {
        self.len()
    }
    #[inline]
    fn encode(&self, buf: &mut BytesMut) {
        buf.put_slice(self);
    }
    fn merge(&mut self, buf: &mut DecodeBuf<'_>, _depth: u32) -> Result<(), DecodeError> {
        self.clear();
        self.extend_from_slice(buf.as_slice());
        buf.advance(buf.remaining());
        Ok(())
    }
}

impl Value for Bytes {
    const WIRE_TYPE: WireType = WireType::LengthDelimited;

    fn empty() -> Self {
        Bytes::new()
    }
    fn value_type() -> ValueType {
        ValueType::Scalar(Scalar::Bytes)
    }
    #[inline]
    fn is_default(&self) -> bool {
        self.is_empty()
    }
    #[inline]
    fn encoded_len(&self) -> usize {
        self.len()
    }
    #[inline]
    fn encode(&self, buf: &mut BytesMut) {
        buf.put_slice(self);
    }
    fn merge(&mut self, buf: &mut DecodeBuf<'_>, _depth: u32) -> Result<(), DecodeError> {
        // Shares the received buffer instead of copying it.
        *self = buf.to_bytes();
        buf.advance(buf.remaining());
        Ok(())
    }
}

/// `Box<T>` encodes as `T`, which is how recursive messages are written.
impl<E, T: Value<E>> Value<E> for Box<T> {
    const WIRE_TYPE: WireType = T::WIRE_TYPE;
    const PACKED: bool = T::PACKED;

    fn empty() -> Self {
        Box::new(T::empty())
    }
    fn value_type() -> ValueType {
        T::value_type()
    }
    fn is_default(&self) -> bool {
        (**self).is_default()
    }
    fn encoded_len(&self) -> usize {
        (**self).encoded_len()
    }
    fn encode(&self, buf: &mut BytesMut) {
        (**self).encode(buf)
    }
    fn merge(&mut self, buf: &mut DecodeBuf<'_>, depth: u32) -> Result<(), DecodeError> {
        (**self).merge(buf, depth)
    }
}
