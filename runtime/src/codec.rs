//! [`Codec`]: how messages become bytes. protobuf is the default and what other languages speak;
//! postcard is the compact choice between Rust peers.

use bytes::{Bytes, BytesMut};

use crate::{Message, Status};

/// A message encoding, named in the call's `content-type` (`application/grpc+<name>`).
///
/// The server answers in the codec each request used; a client picks one per call.
///
/// ```
/// use protoless::Codec;
///
/// assert_eq!(Codec::from_content_type("application/grpc"), Some(Codec::Protobuf));
/// assert_eq!(Codec::from_content_type("application/grpc+postcard"), Some(Codec::Postcard));
/// assert_eq!(Codec::Postcard.content_type(), "application/grpc+postcard");
/// assert_eq!(Codec::from_content_type("application/json"), None);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Codec {
    /// Protocol Buffers, `application/grpc` (or `application/grpc+proto`): what every gRPC stack
    /// speaks.
    #[default]
    Protobuf,
    /// [postcard](https://docs.rs/postcard), `application/grpc+postcard`: serde's compact binary
    /// format, for Rust-to-Rust calls.
    Postcard,
}

impl Codec {
    /// The codec a `content-type` names, or `None` when it is not a gRPC content type this
    /// library speaks. Parameters after `;` are ignored.
    pub fn from_content_type(content_type: &str) -> Option<Codec> {
        let essence = content_type.split(';').next().unwrap_or_default().trim();
        match essence.strip_prefix("application/grpc")? {
            "" | "+proto" => Some(Codec::Protobuf),
            "+postcard" => Some(Codec::Postcard),
            _ => None,
        }
    }

    /// The `content-type` header value for this codec.
    pub fn content_type(self) -> &'static str {
        match self {
            Codec::Protobuf => "application/grpc",
            Codec::Postcard => "application/grpc+postcard",
        }
    }

    /// Appends the encoding of `message` to `buf`.
    pub fn encode<M: Message>(self, message: &M, buf: BytesMut) -> Result<BytesMut, Status> {
        match self {
            Codec::Protobuf => {
                let mut buf = buf;
                message.encode(&mut buf);
                Ok(buf)
            }
            Codec::Postcard => postcard::to_extend(message, buf)
                .map_err(|error| Status::internal(format!("failed to encode message: {error}"))),
        }
    }

    /// Decodes one whole message.
    pub fn decode<M: Message>(self, bytes: Bytes) -> Result<M, Status> {
        let decoded = match self {
            Codec::Protobuf => M::decode(bytes).map_err(|error| error.to_string()),
            Codec::Postcard => postcard::from_bytes(&bytes)
                .map_err(|error| format!("failed to decode postcard message: {error}")),
        };
        decoded.map_err(Status::internal)
    }
}
