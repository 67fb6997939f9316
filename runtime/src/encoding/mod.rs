//! The protobuf encoding, type-directed: [`Message`] for structs, [`Field`] for the shape of each
//! field, [`Value`] for the values inside, [`Enumeration`] for proto enums.
//!
//! Follows <https://protobuf.dev/programming-guides/encoding/>: proto3 defaults are not written,
//! unknown fields are skipped, packed and unpacked repeated scalars are both accepted, repeated
//! occurrences of a singular field replace scalars and merge messages. Decoding is bounded: it
//! never reads past its input, never allocates more than the input's size, refuses nesting past
//! [`wire::RECURSION_LIMIT`], and never panics.

mod field;
mod open_enum;
mod value;
mod well_known;
pub mod wire;

use std::borrow::Cow;
use std::fmt;

use bytes::{Bytes, BytesMut};

pub use field::{encode_oneof_member, oneof_member_len, Field, MapKey, Oneof, OneofField};
pub use open_enum::OpenEnum;
pub use value::{Fixed, IsValue, Plain, Sint, Value};
pub use wire::{DecodeBuf, WireType};

use crate::schema::{EnumSchema, MessageSchema};

/// A protobuf message: a struct with `#[derive(Message)]`.
///
/// The derive writes this implementation, the type's serde implementation (for postcard and other
/// serde formats) and its schema (for the `.proto` export). You rarely call these methods yourself:
/// the generated server and client do.
///
/// ```
/// use protoless::Message;
///
/// #[derive(Message, Clone, Debug, PartialEq)]
/// pub struct PiRequest {
///     pub n: i32,
/// }
///
/// let bytes = PiRequest { n: 150 }.encode_to_vec();
/// assert_eq!(bytes, [0x08, 0x96, 0x01]);
/// assert_eq!(PiRequest::decode(bytes).unwrap(), PiRequest { n: 150 });
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a protobuf message",
    label = "not a message",
    note = "requests and responses are structs with #[derive(protoless::Message)], or `()` for no response"
)]
pub trait Message:
    Default + serde::Serialize + serde::de::DeserializeOwned + Send + Sync + 'static
{
    /// The size of the encoded message.
    fn encoded_len(&self) -> usize;
    /// Writes the fields; `buf` grows as needed.
    fn encode_raw(&self, buf: &mut BytesMut);
    /// Merges one field whose key was just read; unknown numbers are skipped.
    fn merge_field(
        &mut self,
        number: u32,
        wire_type: WireType,
        buf: &mut DecodeBuf<'_>,
        depth: u32,
    ) -> Result<(), DecodeError>;
    /// Describes the message for the `.proto` export.
    fn schema() -> MessageSchema;

    /// Encodes into `buf`, reserving the exact size first.
    fn encode(&self, buf: &mut BytesMut) {
        buf.reserve(self.encoded_len());
        self.encode_raw(buf);
    }

    /// Encodes into a new vector.
    fn encode_to_vec(&self) -> Vec<u8> {
        let mut buf = BytesMut::with_capacity(self.encoded_len());
        self.encode_raw(&mut buf);
        buf.to_vec()
    }

    /// Decodes a whole message; `bytes::Bytes` fields share `buf` rather than copy it.
    fn decode(buf: impl Into<Bytes>) -> Result<Self, DecodeError> {
        let owner = buf.into();
        let mut message = Self::default();
        message.merge(&mut DecodeBuf::new(&owner), 0)?;
        Ok(message)
    }

    /// Merges every field in `buf` into `self`, at nesting `depth`.
    fn merge(&mut self, buf: &mut DecodeBuf<'_>, depth: u32) -> Result<(), DecodeError> {
        while buf.has_remaining() {
            let (number, wire_type) = wire::decode_key(buf)?;
            self.merge_field(number, wire_type, buf, depth)?;
        }
        Ok(())
    }
}

/// A proto enum: a Rust enum of unit variants with `#[derive(Enumeration)]`.
///
/// proto3 enums are open: a number this enum does not know leaves the field at its current value
/// (zero for a new message) instead of failing the whole message. To keep such numbers, declare
/// the field as [`OpenEnum<YourEnum>`](OpenEnum).
pub trait Enumeration: Copy + Default + Send + Sync + 'static {
    /// The variant's number.
    fn to_i32(self) -> i32;
    /// The variant with this number, if there is one.
    fn from_i32(value: i32) -> Option<Self>;
    /// Describes the enum for the `.proto` export.
    fn schema() -> EnumSchema;
}

/// Why bytes could not be decoded as a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodeError {
    // Boxed so that `Result<(), DecodeError>`, returned by every field of every message, is one
    // pointer wide: errors are rare, the happy path is hot.
    reason: Box<Cow<'static, str>>,
}

impl DecodeError {
    /// A decode error with this reason.
    #[cold]
    pub fn new(reason: impl Into<Cow<'static, str>>) -> Self {
        Self {
            reason: Box::new(reason.into()),
        }
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "failed to decode protobuf message: {}", self.reason)
    }
}

impl std::error::Error for DecodeError {}

/// `()` is `google.protobuf.Empty`: the answer of a method that returns nothing.
impl Message for () {
    fn encoded_len(&self) -> usize {
        0
    }
    fn encode_raw(&self, _buf: &mut BytesMut) {}
    fn merge_field(
        &mut self,
        number: u32,
        wire_type: WireType,
        buf: &mut DecodeBuf<'_>,
        depth: u32,
    ) -> Result<(), DecodeError> {
        wire::skip_field(number, wire_type, buf, depth)
    }
    fn schema() -> MessageSchema {
        MessageSchema::well_known("google.protobuf.Empty", "google/protobuf/empty.proto")
    }
}
