//! The runtime of [protoless](https://docs.rs/protoless): everything generated code calls.
//!
//! Depend on the `protoless` crate, which re-exports this one together with the macros.
//!
//! # Layout
//! - [`Status`] and [`Code`]: the outcome of a call, as the gRPC spec defines it.
//! - [`Message`], [`Enumeration`], [`encoding`]: the protobuf encoding, driven by field types.
//! - [`Codec`]: protobuf or postcard on the wire.
//! - [`schema`]: descriptions of services and messages, rendered as `.proto` text.
//! - [`Server`]: hosts services over HTTP/2; [`Channel`] and [`UnaryCall`]: the client side,
//!   with [`resolve`] (targets naming many servers), [`balance`] (which one each call goes to)
//!   and [`etcd`] (servers registering themselves).
//! - [`Listener`], and with the `tls` feature [`ServerTls`] and [`ClientTls`]: the transport
//!   (TCP or Unix domain sockets, TLS over either).

mod base64;
mod batch;
mod blocking;
mod client;
mod codec;
mod compression;
pub mod encoding;
pub mod error_details;
pub mod etcd;
mod flow;
mod frame;
mod headers;
pub mod health;
mod intercept;
pub mod json;
mod keepalive;
mod metadata;
#[cfg(feature = "rate-limit")]
mod rate_limit;
pub mod reflection;
pub mod resolve;
pub mod schema;
mod server;
mod status;
pub mod stream;
mod streaming;
#[cfg(feature = "telemetry")]
mod telemetry;
mod timeout;
mod trace;
mod transport;

pub use blocking::{run_blocking, Cancellation};
pub use client::balance;
pub use client::{
    kind, service_config, BidiStream, BidiStreamingCall, Call, Channel, ChannelBuilder,
    ClientStream, ClientStreamingCall, HedgingPolicy, OnewayCall, RequestSink, Response, Responses,
    RetryPolicy, ServerStreamingCall, ServiceConfigError, UnaryCall, WebProtocol,
};
pub use codec::{Codec, SerdeFormat};
pub use compression::Compression;
pub use encoding::{DecodeError, Enumeration, Message, OpenEnum};
pub use erased_serde;
pub use frame::DEFAULT_MAX_RECEIVE_MESSAGE_SIZE;
pub use intercept::{
    CallInfo, CallKind, Interceptor, MethodInfo, Outcome, Passing, Side, StartFuture,
};
pub use metadata::{InvalidMetadata, MetadataMap};
#[cfg(feature = "rate-limit")]
pub use rate_limit::RateLimit;
pub use server::{shutdown_signal, Context, Server, Web};
pub use status::{Code, Status};
pub use stream::Stream;
pub use streaming::Streaming;
#[cfg(feature = "telemetry")]
pub use telemetry::{Telemetry, LATENCY_BUCKETS, SIZE_BUCKETS};
pub use trace::TraceContext;
#[cfg(feature = "tls")]
pub use transport::tls::{ClientTls, Identity, ServerTls, TlsError};
pub use transport::{Listener, PeerIdentity};

/// What generated code refers to. Not a public API: it changes without notice.
#[doc(hidden)]
pub mod __private {
    pub use crate::encoding::{
        encode_oneof_member, oneof_member_len, wire, DecodeBuf, DecodeError, Enumeration, Field,
        Fixed, IsValue, Message, Oneof, OneofField, Plain, Sint, Value,
    };
    pub use crate::schema::{
        EnumSchema, EnumValueSchema, FieldSchema, FieldType, Idempotency, MessageSchema,
        MethodSchema, ServiceSchema, ValueType,
    };
    pub use crate::server::{
        request_schema, response_schema, serve_bidi_streaming, serve_client_streaming,
        serve_server_streaming, serve_unary, start_call, CallHandle, HandlerContext, Method,
        ServerCall, Service,
    };
    pub use bytes::{Bytes, BytesMut};
    pub use serde;
}

/// Entry points for the fuzz targets in `fuzz/`: the parsers peers reach, callable on bytes.
/// Compiled only under `cargo fuzz` (which sets `--cfg fuzzing`); never part of the API.
#[cfg(fuzzing)]
#[doc(hidden)]
pub mod __fuzz {
    use std::time::Duration;

    use bytes::{Bytes, BytesMut};

    use crate::{Compression, Status};

    /// What the frame decoder makes of `stream` when it arrives in chunks ending at `cuts`: each
    /// message with the wire bytes it took, then the error that stopped it (if any), then whether
    /// bytes of an incomplete message are left over.
    pub fn decode_frames(
        stream: &[u8],
        cuts: &[usize],
        max_size: usize,
        compression: Option<Compression>,
    ) -> (Vec<(Bytes, usize)>, Option<Status>, bool) {
        let mut decoder = crate::frame::FrameDecoder::new(max_size).with_compression(compression);
        let mut messages = Vec::new();
        let mut start = 0;
        let ends = cuts.iter().copied().filter(|&cut| cut < stream.len());
        for end in ends.chain([stream.len()]) {
            if end < start {
                continue;
            }
            decoder.push(Bytes::copy_from_slice(&stream[start..end]));
            start = end;
            loop {
                match decoder.next_message() {
                    Ok(Some(received)) => messages.push((received.message, received.wire_len)),
                    Ok(None) => break,
                    Err(status) => return (messages, Some(status), true),
                }
            }
        }
        let partial = decoder.has_partial_message();
        (messages, None, partial)
    }

    /// Parses a `grpc-timeout` value.
    pub fn parse_timeout(value: &[u8]) -> Option<Duration> {
        crate::timeout::parse(value)
    }

    /// Formats a `grpc-timeout` value.
    pub fn format_timeout(timeout: Duration) -> String {
        crate::timeout::format(timeout)
    }

    /// Percent-encodes a `grpc-message` value.
    pub fn encode_grpc_message(message: &str) -> String {
        crate::status::encode_message(message)
    }

    /// Decodes a `grpc-message` value.
    pub fn decode_grpc_message(value: &[u8]) -> String {
        crate::status::decode_message(value)
    }

    /// Base64 as `-bin` metadata is sent.
    pub fn encode_base64(bytes: &[u8]) -> String {
        crate::base64::encode(bytes)
    }

    /// Base64 as `-bin` metadata is accepted (padded or not).
    pub fn decode_base64(text: &[u8]) -> Option<Vec<u8>> {
        crate::base64::decode(text)
    }

    /// The custom metadata among received headers.
    pub fn metadata_from_headers(headers: &http::HeaderMap) -> crate::MetadataMap {
        crate::MetadataMap::from_headers(headers)
    }

    /// Compresses `data`.
    pub fn compress(compression: Compression, data: &[u8]) -> Result<Bytes, Status> {
        let mut out = BytesMut::new();
        compression.compress(data, &mut out)?;
        Ok(out.freeze())
    }

    /// Decompresses `data`, refusing output longer than `max_size`.
    pub fn decompress(
        compression: Compression,
        data: &[u8],
        max_size: usize,
    ) -> Result<Bytes, Status> {
        compression.decompress(data, max_size)
    }

    /// The wire-breaking changes from one rendered `.proto` file to another.
    pub fn breaking_changes(old: &str, new: &str) -> Vec<String> {
        crate::schema::diff::breaking_changes(old, new)
    }

    /// The line diff between two `.proto` files.
    pub fn line_diff(old: &str, new: &str) -> String {
        crate::schema::diff::line_diff(old, new)
    }
}
