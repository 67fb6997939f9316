//! The runtime of [protoless](https://docs.rs/protoless): everything generated code calls.
//!
//! Depend on the `protoless` crate, which re-exports this one together with the macros.
//!
//! # Layout
//! - [`Status`] and [`Code`]: the outcome of a call, as the gRPC spec defines it.
//! - [`Message`], [`Enumeration`], [`encoding`]: the protobuf encoding, driven by field types.
//! - [`Codec`]: protobuf or postcard on the wire.
//! - [`schema`]: descriptions of services and messages, rendered as `.proto` text.
//! - [`Server`]: hosts services over HTTP/2; [`Channel`] and [`UnaryCall`]: the client side.
//! - [`Listener`], and with the `tls` feature [`ServerTls`] and [`ClientTls`]: the transport
//!   (TCP or Unix domain sockets, TLS over either).

mod base64;
mod blocking;
mod client;
mod codec;
mod compression;
pub mod encoding;
pub mod error_details;
mod flow;
mod frame;
mod headers;
mod intercept;
mod metadata;
#[cfg(feature = "rate-limit")]
mod rate_limit;
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
pub use client::{
    kind, BidiStream, BidiStreamingCall, Call, Channel, ChannelBuilder, ClientStream,
    ClientStreamingCall, OnewayCall, RequestSink, Response, Responses, ServerStreamingCall,
    UnaryCall,
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
pub use server::{shutdown_signal, Context, Server};
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
        Fixed, IsValue, Message, Plain, Sint, Value,
    };
    pub use crate::schema::{
        EnumSchema, EnumValueSchema, FieldSchema, FieldType, Idempotency, MessageSchema,
        MethodSchema, ServiceSchema, ValueType,
    };
    pub use crate::server::{
        request_schema, response_schema, serve_bidi_streaming, serve_client_streaming,
        serve_server_streaming, serve_unary, spawn_call, CallHandle, HandlerContext, Method,
        ServerCall, Service,
    };
    pub use bytes::{Bytes, BytesMut};
    pub use serde;
}
