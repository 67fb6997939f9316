//! The protobuf wire format's primitives: varints, field keys, wire types and skipping unknown
//! fields. See <https://protobuf.dev/programming-guides/encoding/>.

use bytes::{BufMut, Bytes, BytesMut};

use super::DecodeError;

/// The bytes being decoded: a slice of a shared buffer. Decoding walks the slice without
/// touching reference counts; only `bytes::Bytes` fields take a counted share of the buffer.
#[derive(Clone, Copy, Debug)]
pub struct DecodeBuf<'a> {
    owner: &'a Bytes,
    rest: &'a [u8],
}

impl<'a> DecodeBuf<'a> {
    /// All of `owner`.
    pub fn new(owner: &'a Bytes) -> Self {
        DecodeBuf {
            owner,
            rest: owner.as_ref(),
        }
    }

    /// How many bytes are left.
    #[inline]
    pub fn remaining(&self) -> usize {
        self.rest.len()
    }

    /// Whether any byte is left.
    #[inline]
    pub fn has_remaining(&self) -> bool {
        !self.rest.is_empty()
    }

    /// The bytes left.
    #[inline]
    pub fn as_slice(&self) -> &'a [u8] {
        self.rest
    }

    /// Skips `len` bytes, which must be there.
    #[inline]
    pub fn advance(&mut self, len: usize) {
        self.rest = &self.rest[len..];
    }

    /// Takes the next `len` bytes, which must be there, as their own buffer.
    #[inline]
    pub fn split_to(&mut self, len: usize) -> DecodeBuf<'a> {
        let (head, tail) = self.rest.split_at(len);
        self.rest = tail;
        DecodeBuf {
            owner: self.owner,
            rest: head,
        }
    }

    /// The bytes left as a [`Bytes`] sharing the decoded buffer, without copying.
    pub fn to_bytes(&self) -> Bytes {
        if self.rest.is_empty() {
            Bytes::new()
        } else {
            self.owner.slice_ref(self.rest)
        }
    }

    /// The next `N` bytes, for fixed-width values.
    #[inline]
    pub fn take_array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        match self.rest.split_first_chunk::<N>() {
            Some((array, tail)) => {
                self.rest = tail;
                Ok(*array)
            }
            None => Err(DecodeError::new("truncated fixed-width value")),
        }
    }
}

/// How deeply messages may nest before decoding gives up, as in the reference implementations.
pub const RECURSION_LIMIT: u32 = 100;

/// The largest field number the protobuf spec allows (2^29 - 1).
pub const MAX_FIELD_NUMBER: u32 = (1 << 29) - 1;

/// The wire type of a field: how its value is laid out after the key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WireType {
    /// `VARINT`: int32, int64, uint32, uint64, sint32, sint64, bool, enum.
    Varint = 0,
    /// `I64`: fixed64, sfixed64, double.
    Fixed64 = 1,
    /// `LEN`: string, bytes, embedded messages, packed repeated fields.
    LengthDelimited = 2,
    /// `SGROUP`: start of a proto2 group (deprecated; skipped when unknown).
    StartGroup = 3,
    /// `EGROUP`: end of a proto2 group.
    EndGroup = 4,
    /// `I32`: fixed32, sfixed32, float.
    Fixed32 = 5,
}

impl WireType {
    #[inline]
    fn from_bits(bits: u64) -> Result<Self, DecodeError> {
        Ok(match bits {
            0 => Self::Varint,
            1 => Self::Fixed64,
            2 => Self::LengthDelimited,
            3 => Self::StartGroup,
            4 => Self::EndGroup,
            5 => Self::Fixed32,
            other => return Err(invalid_wire_type(other)),
        })
    }
}

// The errors are built out of line: formatting code inlined into the per-field path would
// crowd the instruction cache for nothing.

#[cold]
#[inline(never)]
fn invalid_wire_type(bits: u64) -> DecodeError {
    DecodeError::new(format!("invalid wire type {bits}"))
}

#[cold]
#[inline(never)]
fn invalid_field_number(number: u64) -> DecodeError {
    DecodeError::new(format!("invalid field number {number}"))
}

#[cold]
#[inline(never)]
fn unexpected_wire_type(expected: WireType, actual: WireType) -> DecodeError {
    DecodeError::new(format!(
        "invalid wire type: expected {expected:?}, got {actual:?}"
    ))
}

/// Appends `value` as a base-128 varint.
#[inline]
pub fn encode_varint(mut value: u64, buf: &mut BytesMut) {
    while value >= 0x80 {
        buf.put_u8((value as u8) | 0x80);
        value >>= 7;
    }
    buf.put_u8(value as u8);
}

/// The number of bytes [`encode_varint`] writes for `value`.
#[inline]
pub const fn varint_len(value: u64) -> usize {
    // Each byte carries 7 bits; `| 1` makes zero take one byte.
    (64 - (value | 1).leading_zeros() as usize).div_ceil(7)
}

/// Reads a varint, refusing truncated input and encodings longer than ten bytes.
#[inline]
pub fn decode_varint(buf: &mut DecodeBuf<'_>) -> Result<u64, DecodeError> {
    let bytes = buf.as_slice();
    // Field keys and most lengths and numbers fit in one byte.
    if let Some(&byte) = bytes.first() {
        if byte < 0x80 {
            buf.advance(1);
            return Ok(u64::from(byte));
        }
    }
    decode_varint_slow(buf)
}

#[inline(never)]
fn decode_varint_slow(buf: &mut DecodeBuf<'_>) -> Result<u64, DecodeError> {
    let bytes = buf.as_slice();
    let mut value = 0u64;
    for (index, &byte) in bytes.iter().take(10).enumerate() {
        value |= u64::from(byte & 0x7f) << (index * 7);
        if byte < 0x80 {
            if index == 9 && byte > 1 {
                return Err(DecodeError::new("varint overflows 64 bits"));
            }
            buf.advance(index + 1);
            return Ok(value);
        }
    }
    if bytes.len() >= 10 {
        Err(DecodeError::new("varint is longer than ten bytes"))
    } else {
        Err(DecodeError::new("truncated varint"))
    }
}

/// Appends a field key: the field number and wire type packed into one varint.
#[inline]
pub fn encode_key(number: u32, wire_type: WireType, buf: &mut BytesMut) {
    encode_varint(u64::from(number) << 3 | wire_type as u64, buf);
}

/// The number of bytes a field key takes.
#[inline]
pub const fn key_len(number: u32) -> usize {
    varint_len((number as u64) << 3)
}

/// Reads a field key, refusing field number 0 and numbers above 2^29 - 1.
#[inline]
pub fn decode_key(buf: &mut DecodeBuf<'_>) -> Result<(u32, WireType), DecodeError> {
    let key = decode_varint(buf)?;
    let wire_type = WireType::from_bits(key & 0x7)?;
    let number = key >> 3;
    if number == 0 || number > u64::from(MAX_FIELD_NUMBER) {
        return Err(invalid_field_number(number));
    }
    Ok((number as u32, wire_type))
}

/// Reads a length prefix and splits that many bytes off `buf`, refusing lengths past its end.
#[inline]
pub fn decode_length_delimited<'a>(buf: &mut DecodeBuf<'a>) -> Result<DecodeBuf<'a>, DecodeError> {
    let len = decode_varint(buf)?;
    if len > buf.remaining() as u64 {
        return Err(DecodeError::new(
            "length-delimited field runs past the end of its message",
        ));
    }
    Ok(buf.split_to(len as usize))
}

/// Checks that a field arrived with the wire type its declaration expects.
#[inline]
pub fn check_wire_type(expected: WireType, actual: WireType) -> Result<(), DecodeError> {
    if expected == actual {
        Ok(())
    } else {
        Err(unexpected_wire_type(expected, actual))
    }
}

/// Skips the value of a field this message does not know, as proto3 requires.
pub fn skip_field(
    number: u32,
    wire_type: WireType,
    buf: &mut DecodeBuf<'_>,
    depth: u32,
) -> Result<(), DecodeError> {
    let len = match wire_type {
        WireType::Varint => {
            decode_varint(buf)?;
            0
        }
        WireType::Fixed64 => 8,
        WireType::Fixed32 => 4,
        WireType::LengthDelimited => {
            decode_length_delimited(buf)?;
            0
        }
        WireType::StartGroup => return skip_group(number, buf, depth),
        WireType::EndGroup => return Err(DecodeError::new("unexpected end-group tag")),
    };
    if buf.remaining() < len {
        return Err(DecodeError::new("truncated fixed-width field"));
    }
    buf.advance(len);
    Ok(())
}

fn skip_group(number: u32, buf: &mut DecodeBuf<'_>, depth: u32) -> Result<(), DecodeError> {
    let depth = enter(depth)?;
    loop {
        if !buf.has_remaining() {
            return Err(DecodeError::new("unterminated group"));
        }
        let (inner, wire_type) = decode_key(buf)?;
        if wire_type == WireType::EndGroup {
            return if inner == number {
                Ok(())
            } else {
                Err(DecodeError::new("mismatched end-group tag"))
            };
        }
        skip_field(inner, wire_type, buf, depth)?;
    }
}

/// Counts one more level of nesting, failing past [`RECURSION_LIMIT`].
#[inline]
pub fn enter(depth: u32) -> Result<u32, DecodeError> {
    if depth >= RECURSION_LIMIT {
        Err(DecodeError::new(
            "message nesting exceeds the recursion limit of 100",
        ))
    } else {
        Ok(depth + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(value: u64) -> u64 {
        let mut buf = BytesMut::new();
        encode_varint(value, &mut buf);
        assert_eq!(buf.len(), varint_len(value), "length of {value}");
        let bytes = buf.freeze();
        let mut cursor = DecodeBuf::new(&bytes);
        let decoded = decode_varint(&mut cursor).unwrap();
        assert!(!cursor.has_remaining());
        decoded
    }

    #[test]
    fn varints_roundtrip_at_every_length_boundary() {
        for shift in 0..64 {
            for value in [(1u64 << shift) - 1, 1u64 << shift] {
                assert_eq!(roundtrip(value), value);
            }
        }
        assert_eq!(roundtrip(u64::MAX), u64::MAX);
    }

    #[test]
    fn hostile_varints_are_refused() {
        assert!(decode_varint(&mut DecodeBuf::new(&Bytes::from_static(&[0x80, 0x80]))).is_err());
        assert!(decode_varint(&mut DecodeBuf::new(&Bytes::from_static(&[0xff; 11]))).is_err());
        let overflow = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02];
        assert!(decode_varint(&mut DecodeBuf::new(&Bytes::copy_from_slice(&overflow))).is_err());
    }

    #[test]
    fn field_number_zero_and_unknown_wire_types_are_refused() {
        assert!(decode_key(&mut DecodeBuf::new(&Bytes::from_static(&[0x00]))).is_err());
        assert!(decode_key(&mut DecodeBuf::new(&Bytes::from_static(&[0x0e]))).is_err());
    }

    #[test]
    fn length_past_the_end_is_refused() {
        assert!(
            decode_length_delimited(&mut DecodeBuf::new(&Bytes::from_static(&[0x05, 1, 2])))
                .is_err()
        );
    }
}
