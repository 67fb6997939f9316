//! Rust types that map to protobuf's well-known types: `std::time::Duration` is
//! `google.protobuf.Duration`, `SystemTime` is `google.protobuf.Timestamp`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::BytesMut;

use super::field::Field;
use super::value::{IsValue, Plain, Value};
use super::wire::{self, DecodeBuf, WireType};
use super::DecodeError;
use crate::schema::{FieldSchema, FieldType, MessageSchema, Scalar, ValueType};

const NANOS_PER_SECOND: i64 = 1_000_000_000;

/// `seconds` and `nanos`, the fields of both well-known types.
#[derive(Default)]
struct SecondsAndNanos {
    seconds: i64,
    nanos: i32,
}

impl SecondsAndNanos {
    fn encoded_len(&self) -> usize {
        Field::<Plain>::encoded_len(&self.seconds, 1) + Field::<Plain>::encoded_len(&self.nanos, 2)
    }

    fn encode(&self, buf: &mut BytesMut) {
        Field::<Plain>::encode(&self.seconds, 1, buf);
        Field::<Plain>::encode(&self.nanos, 2, buf);
    }

    fn decode(buf: &mut DecodeBuf<'_>, depth: u32) -> Result<Self, DecodeError> {
        let mut value = SecondsAndNanos::default();
        while buf.has_remaining() {
            match wire::decode_key(buf)? {
                (1, wire_type) => Field::<Plain>::merge(&mut value.seconds, wire_type, buf, depth)?,
                (2, wire_type) => Field::<Plain>::merge(&mut value.nanos, wire_type, buf, depth)?,
                (number, wire_type) => wire::skip_field(number, wire_type, buf, depth)?,
            }
        }
        if !(0..NANOS_PER_SECOND).contains(&i64::from(value.nanos)) {
            return Err(DecodeError::new(
                "nanos out of range 0..1e9 in a Duration or Timestamp",
            ));
        }
        Ok(value)
    }

    fn schema(name: &'static str, import: &'static str) -> MessageSchema {
        let field = |name, number| FieldSchema {
            name,
            number,
            field_type: FieldType::Singular(ValueType::Scalar(if number == 1 {
                Scalar::Int64
            } else {
                Scalar::Int32
            })),
            docs: &[],
            oneof: None,
            json_name: None,
        };
        MessageSchema {
            fields: vec![field("seconds", 1), field("nanos", 2)],
            ..MessageSchema::well_known(name, import)
        }
    }
}

fn duration_schema() -> MessageSchema {
    SecondsAndNanos::schema("google.protobuf.Duration", "google/protobuf/duration.proto")
}

fn timestamp_schema() -> MessageSchema {
    SecondsAndNanos::schema(
        "google.protobuf.Timestamp",
        "google/protobuf/timestamp.proto",
    )
}

impl IsValue for Duration {}

/// `google.protobuf.Duration`. A negative duration from a peer cannot be a `std` `Duration`, so
/// it fails to decode.
impl Value for Duration {
    const WIRE_TYPE: WireType = WireType::LengthDelimited;

    fn empty() -> Self {
        Duration::ZERO
    }
    fn value_type() -> ValueType {
        ValueType::Message(duration_schema)
    }
    fn is_default(&self) -> bool {
        self.is_zero()
    }
    fn encoded_len(&self) -> usize {
        to_wire_duration(*self).encoded_len()
    }
    fn encode(&self, buf: &mut BytesMut) {
        to_wire_duration(*self).encode(buf)
    }
    fn merge(&mut self, buf: &mut DecodeBuf<'_>, depth: u32) -> Result<(), DecodeError> {
        let value = SecondsAndNanos::decode(buf, depth)?;
        let seconds = u64::try_from(value.seconds)
            .map_err(|_| DecodeError::new("negative google.protobuf.Duration"))?;
        *self = Duration::new(seconds, value.nanos as u32);
        Ok(())
    }
}

fn to_wire_duration(duration: Duration) -> SecondsAndNanos {
    SecondsAndNanos {
        seconds: i64::try_from(duration.as_secs()).unwrap_or(i64::MAX),
        nanos: duration.subsec_nanos() as i32,
    }
}

impl IsValue for SystemTime {}

/// `google.protobuf.Timestamp`: seconds and nanoseconds since the Unix epoch, nanoseconds
/// always counting forward, also before 1970.
impl Value for SystemTime {
    const WIRE_TYPE: WireType = WireType::LengthDelimited;

    fn empty() -> Self {
        UNIX_EPOCH
    }
    fn value_type() -> ValueType {
        ValueType::Message(timestamp_schema)
    }
    fn is_default(&self) -> bool {
        *self == UNIX_EPOCH
    }
    fn encoded_len(&self) -> usize {
        to_wire_timestamp(*self).encoded_len()
    }
    fn encode(&self, buf: &mut BytesMut) {
        to_wire_timestamp(*self).encode(buf)
    }
    fn merge(&mut self, buf: &mut DecodeBuf<'_>, depth: u32) -> Result<(), DecodeError> {
        let value = SecondsAndNanos::decode(buf, depth)?;
        let since_epoch = Duration::new(value.seconds.unsigned_abs(), 0);
        let whole = if value.seconds >= 0 {
            UNIX_EPOCH.checked_add(since_epoch)
        } else {
            UNIX_EPOCH.checked_sub(since_epoch)
        };
        *self = whole
            .and_then(|time| time.checked_add(Duration::from_nanos(value.nanos as u64)))
            .ok_or_else(|| DecodeError::new("google.protobuf.Timestamp out of range"))?;
        Ok(())
    }
}

fn to_wire_timestamp(time: SystemTime) -> SecondsAndNanos {
    match time.duration_since(UNIX_EPOCH) {
        Ok(after) => to_wire_duration(after),
        Err(before) => {
            let before = before.duration();
            let seconds = i64::try_from(before.as_secs()).unwrap_or(i64::MAX);
            match before.subsec_nanos() {
                0 => SecondsAndNanos {
                    seconds: -seconds,
                    nanos: 0,
                },
                nanos => SecondsAndNanos {
                    seconds: -seconds - 1,
                    nanos: (NANOS_PER_SECOND - i64::from(nanos)) as i32,
                },
            }
        }
    }
}
