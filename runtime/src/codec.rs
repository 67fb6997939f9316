//! [`Codec`]: how messages become bytes. protobuf is the default and what other languages speak;
//! postcard is the compact choice between Rust peers; any serde format can be added.

use std::fmt;

use bytes::{Bytes, BytesMut};

use crate::{Message, Status};

/// A message encoding, named in the call's `content-type` (`application/grpc+<name>`).
///
/// The server answers in the codec each request used; a client picks one per channel or call.
///
/// ```
/// use protoless::Codec;
///
/// assert_eq!(Codec::from_content_type("application/grpc"), Some(Codec::Protobuf));
/// assert_eq!(Codec::from_content_type("application/grpc+postcard"), Some(Codec::Postcard));
/// assert_eq!(Codec::Postcard.content_type(), "application/grpc+postcard");
/// assert_eq!(Codec::from_content_type("application/json"), None);
/// ```
#[derive(Clone, Copy, Default)]
#[non_exhaustive]
pub enum Codec {
    /// Protocol Buffers, `application/grpc` (or `application/grpc+proto`): what every gRPC stack
    /// speaks.
    #[default]
    Protobuf,
    /// [postcard](https://docs.rs/postcard), `application/grpc+postcard`: serde's compact binary
    /// format, for Rust-to-Rust calls.
    Postcard,
    /// Another serde format, `application/grpc+<name>`: see [`SerdeFormat`].
    Serde(&'static dyn SerdeFormat),
    /// Protocol Buffers' canonical JSON mapping (see [`json`](crate::json)),
    /// `application/grpc+json`: what other stacks' JSON codecs speak. A server accepts it only
    /// when given it with [`Server::accept_codec`](crate::Server::accept_codec).
    Json,
}

/// A serde format as a gRPC codec, such as JSON; pass it as [`Codec::Serde`].
///
/// Messages implement serde through `#[derive(Message)]`, so a format needs only to say how to
/// drive its serializer and deserializer, through [`erased_serde`]'s object-safe traits:
///
/// ```
/// use protoless::{erased_serde, Codec, SerdeFormat};
///
/// struct Json;
///
/// impl SerdeFormat for Json {
///     fn content_type(&self) -> &'static str {
///         "application/grpc+json"
///     }
///     fn serialize(&self, value: &dyn erased_serde::Serialize, out: &mut Vec<u8>) -> Result<(), String> {
///         let mut json = serde_json::Serializer::new(out);
///         value
///             .erased_serialize(&mut <dyn erased_serde::Serializer>::erase(&mut json))
///             .map_err(|error| error.to_string())
///     }
///     fn deserialize(
///         &self,
///         bytes: &[u8],
///         visit: &mut dyn FnMut(&mut dyn erased_serde::Deserializer) -> Result<(), erased_serde::Error>,
///     ) -> Result<(), String> {
///         let mut json = serde_json::Deserializer::from_slice(bytes);
///         visit(&mut <dyn erased_serde::Deserializer>::erase(&mut json)).map_err(|error| error.to_string())
///     }
/// }
///
/// static JSON: Json = Json;
/// assert_eq!(Codec::Serde(&JSON).content_type(), "application/grpc+json");
/// ```
pub trait SerdeFormat: Send + Sync + 'static {
    /// The content type, `application/grpc+` and a lowercase ASCII name, such as
    /// `application/grpc+json`.
    fn content_type(&self) -> &'static str;
    /// Appends `value`, serialized, to `out`.
    fn serialize(
        &self,
        value: &dyn erased_serde::Serialize,
        out: &mut Vec<u8>,
    ) -> Result<(), String>;
    /// Deserializes `bytes`: make a deserializer and hand it to `visit`, which builds the value.
    fn deserialize(
        &self,
        bytes: &[u8],
        visit: &mut dyn FnMut(
            &mut dyn erased_serde::Deserializer,
        ) -> Result<(), erased_serde::Error>,
    ) -> Result<(), String>;
}

impl Codec {
    /// The built-in codec a `content-type` names, or `None` when it is not a gRPC content type
    /// this library knows by itself. Parameters after `;` are ignored.
    pub fn from_content_type(content_type: &str) -> Option<Codec> {
        builtin(subtype(content_type)?)
    }

    /// The codec among `custom` (or the built-ins) that `content_type` names.
    pub(crate) fn negotiate(content_type: &str, custom: &[Codec]) -> Option<Codec> {
        let subtype = subtype(content_type)?;
        builtin(subtype).or_else(|| {
            custom
                .iter()
                .copied()
                .find(|codec| codec.subtype() == subtype)
        })
    }

    fn subtype(self) -> &'static str {
        match self {
            Codec::Protobuf => "",
            Codec::Postcard => "postcard",
            Codec::Serde(format) => subtype(format.content_type()).unwrap_or_default(),
            Codec::Json => "json",
        }
    }

    /// The `content-type` header value for this codec.
    pub fn content_type(self) -> &'static str {
        match self {
            Codec::Protobuf => "application/grpc",
            Codec::Postcard => "application/grpc+postcard",
            Codec::Serde(format) => format.content_type(),
            Codec::Json => "application/grpc+json",
        }
    }

    /// Appends the encoding of `message` to `buf`.
    pub fn encode<M: Message>(self, message: &M, buf: BytesMut) -> Result<BytesMut, Status> {
        let failed = |error: &dyn fmt::Display| {
            Status::internal(format!("failed to encode message: {error}"))
        };
        match self {
            Codec::Protobuf => {
                let mut buf = buf;
                message.encode(&mut buf);
                Ok(buf)
            }
            Codec::Postcard => postcard::to_extend(message, buf).map_err(|error| failed(&error)),
            Codec::Serde(format) => {
                let mut out = Vec::new();
                format
                    .serialize(message, &mut out)
                    .map_err(|error| failed(&error))?;
                let mut buf = buf;
                buf.extend_from_slice(&out);
                Ok(buf)
            }
            Codec::Json => {
                let json = crate::json::to_json(message).map_err(|error| failed(&error))?;
                let mut buf = buf;
                buf.extend_from_slice(json.as_bytes());
                Ok(buf)
            }
        }
    }

    /// Decodes one whole message.
    pub fn decode<M: Message>(self, bytes: Bytes) -> Result<M, Status> {
        let decoded = match self {
            Codec::Protobuf => M::decode(bytes).map_err(|error| error.to_string()),
            Codec::Postcard => postcard::from_bytes(&bytes)
                .map_err(|error| format!("failed to decode postcard message: {error}")),
            Codec::Serde(format) => {
                let mut message = None;
                format
                    .deserialize(&bytes, &mut |deserializer| {
                        message = Some(erased_serde::deserialize::<M>(deserializer)?);
                        Ok(())
                    })
                    .and_then(|()| message.ok_or_else(|| "the format produced no value".to_owned()))
                    .map_err(|error| {
                        format!(
                            "failed to decode {} message: {error}",
                            format.content_type()
                        )
                    })
            }
            Codec::Json => crate::json::from_json(&bytes)
                .map_err(|error| format!("failed to decode JSON message: {error}")),
        };
        decoded.map_err(Status::internal)
    }
}

/// The built-in codec a subtype (`proto`, `postcard`; empty for protobuf) names.
fn builtin(subtype: &str) -> Option<Codec> {
    match subtype {
        "" | "proto" => Some(Codec::Protobuf),
        "postcard" => Some(Codec::Postcard),
        _ => None,
    }
}

/// What follows `application/grpc+` in a content type (empty for `application/grpc`), without
/// its parameters; `None` for a content type that is not gRPC's. Runs for every call.
fn subtype(content_type: &str) -> Option<&str> {
    // A short value: a plain scan beats `memchr`'s setup.
    let essence = match content_type.bytes().position(|byte| byte == b';') {
        Some(end) => &content_type[..end],
        None => content_type,
    }
    .trim();
    let rest = essence.strip_prefix("application/grpc")?;
    if rest.is_empty() {
        Some("")
    } else {
        rest.strip_prefix('+')
    }
}

impl PartialEq for Codec {
    fn eq(&self, other: &Codec) -> bool {
        self.subtype() == other.subtype()
    }
}

impl Eq for Codec {}

impl fmt::Debug for Codec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Codec::Protobuf => f.write_str("Protobuf"),
            Codec::Postcard => f.write_str("Postcard"),
            Codec::Serde(format) => write!(f, "Serde({:?})", format.content_type()),
            Codec::Json => f.write_str("Json"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A custom format that is only ever named, never used.
    struct Fake;

    impl SerdeFormat for Fake {
        fn content_type(&self) -> &'static str {
            "application/grpc+fake"
        }
        fn serialize(
            &self,
            _: &dyn erased_serde::Serialize,
            _: &mut Vec<u8>,
        ) -> Result<(), String> {
            Err("not used".into())
        }
        fn deserialize(
            &self,
            _: &[u8],
            _: &mut dyn FnMut(
                &mut dyn erased_serde::Deserializer,
            ) -> Result<(), erased_serde::Error>,
        ) -> Result<(), String> {
            Err("not used".into())
        }
    }

    #[test]
    fn content_types_name_their_codec_whatever_their_parameters() {
        for (content_type, codec) in [
            ("application/grpc", Some(Codec::Protobuf)),
            ("application/grpc+proto", Some(Codec::Protobuf)),
            ("application/grpc; charset=utf-8", Some(Codec::Protobuf)),
            (" application/grpc+postcard ;x=y", Some(Codec::Postcard)),
            ("application/grpc+json", None),
            ("application/grpcx", None),
            ("application/json", None),
            ("", None),
        ] {
            assert_eq!(
                Codec::from_content_type(content_type),
                codec,
                "{content_type:?}"
            );
        }
    }

    #[test]
    fn negotiation_knows_the_built_ins_and_the_custom_formats_given() {
        static FAKE: Fake = Fake;
        let custom = [Codec::Serde(&FAKE)];
        let negotiate = |content_type| Codec::negotiate(content_type, &custom);
        assert_eq!(negotiate("application/grpc"), Some(Codec::Protobuf));
        assert_eq!(
            negotiate("application/grpc+postcard"),
            Some(Codec::Postcard)
        );
        let fake = negotiate("application/grpc+fake; charset=utf-8").unwrap();
        assert_eq!(fake.content_type(), "application/grpc+fake");
        assert_eq!(negotiate("application/grpc+json"), None);
        assert_eq!(Codec::negotiate("application/grpc+fake", &[]), None);
        // Protobuf's JSON mapping only where accepted.
        assert_eq!(
            Codec::negotiate("application/grpc+json", &[Codec::Json]),
            Some(Codec::Json)
        );
    }
}
