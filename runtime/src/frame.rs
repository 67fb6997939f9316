//! gRPC message framing: a 1-byte compressed flag and a 4-byte big-endian length before each
//! message ("Length-Prefixed-Message" in
//! <https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-HTTP2.md>).

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::compression::Compression;
use crate::{Codec, Message, Status};

/// The size of the prefix before each message.
pub(crate) const PREFIX_LEN: usize = 5;

/// The default limit on a received message, as in every gRPC implementation: 4 MiB.
pub const DEFAULT_MAX_RECEIVE_MESSAGE_SIZE: usize = 4 * 1024 * 1024;

/// How messages are written: codec, compression and size limit.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Encoding {
    pub(crate) codec: Codec,
    pub(crate) compression: Option<Compression>,
    pub(crate) max_size: usize,
}

impl Encoding {
    /// Encodes `message` with its prefix.
    pub(crate) fn encode<M: Message>(&self, message: &M) -> Result<Bytes, Status> {
        if let (Codec::Protobuf, None) = (self.codec, self.compression) {
            // Protobuf knows its size up front: a buffer of exactly that is one allocation
            // (`freeze` needs no second one for a shared header), and a message over the limit
            // fails before it is encoded.
            let expected = message.encoded_len();
            check_size(expected, self.max_size)?;
            let mut buf = BytesMut::with_capacity(PREFIX_LEN + expected);
            buf.put_bytes(0, PREFIX_LEN);
            message.encode_raw(&mut buf);
            // The prefix says what was written, not what was announced: a hand-written
            // `Message` whose `encoded_len` is off must not corrupt the stream.
            let len = buf.len() - PREFIX_LEN;
            if len != expected {
                check_size(len, self.max_size)?;
            }
            buf[1..PREFIX_LEN].copy_from_slice(&(len as u32).to_be_bytes());
            return Ok(buf.freeze());
        }
        let mut buf = BytesMut::with_capacity(PREFIX_LEN + 64);
        self.encode_into(message, &mut buf)?;
        Ok(buf.freeze())
    }

    /// Appends `message` with its prefix to `buf`, compressed if this encoding compresses.
    pub(crate) fn encode_into<M: Message>(
        &self,
        message: &M,
        buf: &mut BytesMut,
    ) -> Result<(), Status> {
        let Some(compression) = self.compression else {
            return encode_into(self.codec, message, self.max_size, buf);
        };
        let mut plain = BytesMut::new();
        encode_into(self.codec, message, self.max_size, &mut plain)?;
        let start = buf.len();
        buf.put_bytes(0, PREFIX_LEN);
        compression.compress(&plain[PREFIX_LEN..], buf)?;
        let len = buf.len() - start - PREFIX_LEN;
        buf[start] = 1;
        buf[start + 1..start + PREFIX_LEN].copy_from_slice(&(len as u32).to_be_bytes());
        Ok(())
    }
}

/// Appends `message` with its prefix to `buf`, reserving the prefix first so that the body is
/// written once, in place.
pub(crate) fn encode_into<M: Message>(
    codec: Codec,
    message: &M,
    max_size: usize,
    buf: &mut BytesMut,
) -> Result<(), Status> {
    let start = buf.len();
    buf.put_bytes(0, PREFIX_LEN);
    *buf = codec.encode(message, std::mem::take(buf))?;
    let len = buf.len() - start - PREFIX_LEN;
    if let Err(status) = check_size(len, max_size) {
        buf.truncate(start);
        return Err(status);
    }
    buf[start + 1..start + PREFIX_LEN].copy_from_slice(&(len as u32).to_be_bytes());
    Ok(())
}

/// `RESOURCE_EXHAUSTED` for a message of `len` bytes over `max_size` (or over what the prefix
/// can say).
fn check_size(len: usize, max_size: usize) -> Result<(), Status> {
    if len > max_size || len > u32::MAX as usize {
        return Err(Status::resource_exhausted(format!(
            "trying to send message larger than max ({len} vs. {max_size})"
        )));
    }
    Ok(())
}

/// What [`read_single`] found on a side that sends one message.
pub(crate) struct SingleRead {
    /// The message, if one arrived.
    pub(crate) message: Option<Bytes>,
    /// A second message arrived (reading stopped there).
    pub(crate) more_than_one: bool,
    /// The stream ended inside a message.
    pub(crate) truncated: bool,
    /// The message was compressed on the wire.
    pub(crate) compressed: bool,
    /// Its size on the wire, without the prefix.
    pub(crate) wire_size: usize,
}

/// Reads `body` to its end for a side that sends one message (a unary request or response),
/// releasing flow control as it goes; a failed read fails as `read_error` maps it. The caller
/// words the faults the result shows, and decides which to report first.
pub(crate) async fn read_single(
    body: &mut h2::RecvStream,
    max_size: usize,
    compression: Option<Compression>,
    read_error: impl Fn(h2::Error) -> Status,
) -> Result<SingleRead, Status> {
    let mut decoder = FrameDecoder::new(max_size).with_compression(compression);
    let mut message = None;
    let mut compressed = false;
    let mut wire_size = 0;
    while let Some(chunk) = body.data().await {
        let chunk = chunk.map_err(&read_error)?;
        let _ = body.flow_control().release_capacity(chunk.len());
        decoder.push(chunk);
        while let Some(next) = decoder.next_message()? {
            compressed = next.compressed;
            wire_size = next.wire_len - PREFIX_LEN;
            if message.replace(next.message).is_some() {
                return Ok(SingleRead {
                    message,
                    more_than_one: true,
                    truncated: false,
                    compressed,
                    wire_size,
                });
            }
        }
    }
    Ok(SingleRead {
        message,
        more_than_one: false,
        truncated: decoder.has_partial_message(),
        compressed,
        wire_size,
    })
}

/// One message [`FrameDecoder`] took out of the byte stream.
#[derive(Debug)]
pub(crate) struct Received {
    /// The message, decompressed.
    pub(crate) message: Bytes,
    /// How many received bytes it took, prefix included: what flow control may release.
    pub(crate) wire_len: usize,
    /// Whether its prefix flagged it compressed.
    pub(crate) compressed: bool,
}

/// Splits a byte stream into messages, whatever the DATA frame boundaries.
///
/// Memory stays bounded by the limit: a prefix announcing more than `max_size` bytes fails at
/// once, before any of its body is buffered.
#[derive(Debug)]
pub(crate) struct FrameDecoder {
    /// A received chunk not copied yet: messages wholly inside it are sliced out of it.
    front: Bytes,
    /// Bytes copied out of chunks, when messages straddle them.
    buf: BytesMut,
    max_size: usize,
    /// What the peer's `grpc-encoding` said compressed messages use.
    compression: Option<Compression>,
}

impl FrameDecoder {
    pub(crate) fn new(max_size: usize) -> Self {
        Self {
            front: Bytes::new(),
            buf: BytesMut::new(),
            max_size,
            compression: None,
        }
    }

    /// Accepts messages compressed with `compression` (the peer's `grpc-encoding`).
    pub(crate) fn with_compression(mut self, compression: Option<Compression>) -> Self {
        self.compression = compression;
        self
    }

    /// Adds received bytes. The common case, a chunk holding whole messages, is not copied.
    pub(crate) fn push(&mut self, chunk: Bytes) {
        if self.front.is_empty() && self.buf.is_empty() {
            self.front = chunk;
        } else {
            self.spill_front();
            self.buf.extend_from_slice(&chunk);
        }
    }

    /// Moves the uncopied chunk into the buffer, for a message that continues past it.
    fn spill_front(&mut self) {
        if !self.front.is_empty() {
            self.buf.extend_from_slice(&self.front);
            self.front = Bytes::new();
        }
    }

    /// The next complete message, if one has arrived.
    pub(crate) fn next_message(&mut self) -> Result<Option<Received>, Status> {
        if !self.front.is_empty() {
            if let Some((compression, len)) = self.prefix(&self.front)? {
                if self.front.len() >= PREFIX_LEN + len {
                    let body = self.front.slice(PREFIX_LEN..PREFIX_LEN + len);
                    bytes::Buf::advance(&mut self.front, PREFIX_LEN + len);
                    return self.inflate(body, compression).map(Some);
                }
            }
            self.spill_front();
        }
        let Some((compression, len)) = self.prefix(&self.buf)? else {
            return Ok(None);
        };
        if self.buf.len() < PREFIX_LEN + len {
            return Ok(None);
        }
        self.buf.advance(PREFIX_LEN);
        let body = self.buf.split_to(len).freeze();
        self.inflate(body, compression).map(Some)
    }

    fn inflate(&self, body: Bytes, compression: Option<Compression>) -> Result<Received, Status> {
        let wire_len = PREFIX_LEN + body.len();
        let message = match compression {
            None => body,
            Some(compression) => compression.decompress(&body, self.max_size)?,
        };
        Ok(Received {
            message,
            wire_len,
            compressed: compression.is_some(),
        })
    }

    /// The compression and length a message prefix at the start of `bytes` announces, once the
    /// whole prefix is there; an error for an invalid flag or a length past the limit.
    fn prefix(&self, bytes: &[u8]) -> Result<Option<(Option<Compression>, usize)>, Status> {
        if bytes.len() < PREFIX_LEN {
            return Ok(None);
        }
        let compressed = bytes[0];
        let len = u32::from_be_bytes([bytes[1], bytes[2], bytes[3], bytes[4]]) as usize;
        let compression = match (compressed, self.compression) {
            (0, _) => None,
            (1, Some(compression)) => Some(compression),
            (1, None) => {
                return Err(Status::internal(
                    "received a compressed message, but no grpc-encoding was negotiated",
                ))
            }
            (flag, _) => {
                return Err(Status::internal(format!(
                    "invalid compressed-flag {flag} in message prefix"
                )))
            }
        };
        if len > self.max_size {
            return Err(Status::resource_exhausted(format!(
                "received message larger than max ({len} vs. {})",
                self.max_size
            )));
        }
        Ok(Some((compression, len)))
    }

    /// Whether bytes of an incomplete message are left over.
    pub(crate) fn has_partial_message(&self) -> bool {
        !self.buf.is_empty() || !self.front.is_empty()
    }
}

/// Frames `payload` with a gRPC (or Connect) message prefix.
pub(crate) fn framed(flags: u8, payload: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(5 + payload.len());
    out.put_u8(flags);
    out.put_u32(payload.len() as u32);
    out.put_slice(payload);
    out.freeze()
}

/// Splits a byte stream into length-prefixed envelopes (gRPC-Web's and Connect's, whose flags
/// say more than native gRPC's), holding at most one message of at most `max` bytes.
pub(crate) struct Envelopes {
    buf: BytesMut,
    max: usize,
}

impl Envelopes {
    pub(crate) fn new(max: usize) -> Envelopes {
        Envelopes {
            buf: BytesMut::new(),
            max,
        }
    }

    pub(crate) fn push(&mut self, chunk: &[u8]) {
        self.buf.extend_from_slice(chunk);
    }

    /// The next whole envelope: its flags and payload.
    pub(crate) fn next(&mut self) -> Result<Option<(u8, Bytes)>, Status> {
        if self.buf.len() < 5 {
            return Ok(None);
        }
        let len = u32::from_be_bytes([self.buf[1], self.buf[2], self.buf[3], self.buf[4]]) as usize;
        if len > self.max {
            return Err(Status::resource_exhausted(format!(
                "message larger than the limit ({len} vs. {})",
                self.max
            )));
        }
        if self.buf.len() < 5 + len {
            return Ok(None);
        }
        let flags = self.buf[0];
        self.buf.advance(5);
        Ok(Some((flags, self.buf.split_to(len).freeze())))
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Code;

    fn framed(bodies: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for body in bodies {
            out.push(0);
            out.extend_from_slice(&(body.len() as u32).to_be_bytes());
            out.extend_from_slice(body);
        }
        out
    }

    /// A hand-written message whose `encoded_len` undercounts what `encode_raw` writes.
    #[derive(Default, serde::Serialize, serde::Deserialize)]
    struct Miscounted;

    impl Message for Miscounted {
        fn encoded_len(&self) -> usize {
            1
        }
        fn encode_raw(&self, buf: &mut BytesMut) {
            buf.put_slice(&[0x08, 0x96, 0x01]);
        }
        fn merge_field(
            &mut self,
            number: u32,
            wire_type: crate::encoding::wire::WireType,
            buf: &mut crate::encoding::DecodeBuf<'_>,
            depth: u32,
        ) -> Result<(), crate::encoding::DecodeError> {
            crate::encoding::wire::skip_field(number, wire_type, buf, depth)
        }
        fn schema() -> crate::schema::MessageSchema {
            crate::schema::MessageSchema::well_known("test.Miscounted", "test.proto")
        }
    }

    #[test]
    fn the_prefix_says_what_was_written_even_when_encoded_len_is_wrong() {
        let encoding = Encoding {
            codec: Codec::Protobuf,
            compression: None,
            max_size: 1024,
        };
        let framed = encoding.encode(&Miscounted).unwrap();
        assert_eq!(&framed[..], &[0, 0, 0, 0, 3, 0x08, 0x96, 0x01]);
        let too_small = Encoding {
            max_size: 2,
            ..encoding
        };
        let status = too_small.encode(&Miscounted).unwrap_err();
        assert_eq!(status.code(), Code::ResourceExhausted);
    }

    #[test]
    fn messages_split_across_any_boundaries_come_out_whole() {
        let stream = framed(&[b"first", b"", b"third message"]);
        for chunk_size in 1..stream.len() {
            let mut decoder = FrameDecoder::new(1024);
            let mut messages = Vec::new();
            for chunk in stream.chunks(chunk_size) {
                decoder.push(Bytes::copy_from_slice(chunk));
                while let Some(received) = decoder.next_message().unwrap() {
                    assert!(!received.compressed);
                    messages.push(received.message);
                }
            }
            assert_eq!(messages, [&b"first"[..], b"", b"third message"]);
            assert!(!decoder.has_partial_message());
        }
    }

    #[test]
    fn oversized_prefix_fails_before_its_body_arrives() {
        let mut decoder = FrameDecoder::new(10);
        decoder.push(Bytes::from_static(&[0, 0xff, 0xff, 0xff, 0xff]));
        let status = decoder.next_message().unwrap_err();
        assert_eq!(status.code(), Code::ResourceExhausted);
        assert!(decoder.buf.capacity() < 1024);
    }

    #[test]
    fn unknown_compressed_flags_are_refused() {
        let mut decoder = FrameDecoder::new(10);
        decoder.push(Bytes::from_static(&[7, 0, 0, 0, 0]));
        assert_eq!(decoder.next_message().unwrap_err().code(), Code::Internal);
    }
}
