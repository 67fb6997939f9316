//! [`Status`] and [`Code`]: the outcome of a gRPC call, as
//! <https://grpc.github.io/grpc/core/md_doc_statuscodes.html> defines it.

use std::fmt;

use bytes::Bytes;

use crate::metadata::MetadataMap;

/// A gRPC status code, with the numbers and meanings of the gRPC spec.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Code {
    /// Not an error; returned on success.
    Ok = 0,
    /// The operation was cancelled, typically by the caller.
    Cancelled = 1,
    /// Unknown error, for example a status from another address space this one does not know.
    Unknown = 2,
    /// The client specified an invalid argument, whatever the state of the system.
    InvalidArgument = 3,
    /// The deadline expired before the operation could complete.
    DeadlineExceeded = 4,
    /// Some requested entity (a file, a key) was not found.
    NotFound = 5,
    /// The entity that a client attempted to create already exists.
    AlreadyExists = 6,
    /// The caller does not have permission to execute the operation.
    PermissionDenied = 7,
    /// Some resource has been exhausted: a quota, the file system, a message size limit.
    ResourceExhausted = 8,
    /// The system is not in a state required for the operation's execution.
    FailedPrecondition = 9,
    /// The operation was aborted, typically because of a concurrency issue.
    Aborted = 10,
    /// The operation was attempted past the valid range.
    OutOfRange = 11,
    /// The operation is not implemented or not supported by this service.
    Unimplemented = 12,
    /// Internal error: an invariant the underlying system expects has been broken.
    Internal = 13,
    /// The service is currently unavailable; a retry with backoff may succeed.
    Unavailable = 14,
    /// Unrecoverable data loss or corruption.
    DataLoss = 15,
    /// The request does not have valid authentication credentials.
    Unauthenticated = 16,
}

impl Code {
    /// Every code, in numeric order.
    pub const ALL: [Code; 17] = [
        Code::Ok,
        Code::Cancelled,
        Code::Unknown,
        Code::InvalidArgument,
        Code::DeadlineExceeded,
        Code::NotFound,
        Code::AlreadyExists,
        Code::PermissionDenied,
        Code::ResourceExhausted,
        Code::FailedPrecondition,
        Code::Aborted,
        Code::OutOfRange,
        Code::Unimplemented,
        Code::Internal,
        Code::Unavailable,
        Code::DataLoss,
        Code::Unauthenticated,
    ];

    /// The code with this number; numbers outside 0..=16 are [`Code::Unknown`], as the spec says.
    pub fn from_i32(value: i32) -> Code {
        usize::try_from(value)
            .ok()
            .and_then(|index| Self::ALL.get(index).copied())
            .unwrap_or(Code::Unknown)
    }

    /// The code's number.
    pub fn as_i32(self) -> i32 {
        self as i32
    }

    /// The code as a `grpc-status` header value, without allocating.
    pub(crate) fn header_value(self) -> http::HeaderValue {
        const DIGITS: [&str; 17] = [
            "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "15",
            "16",
        ];
        http::HeaderValue::from_static(DIGITS[self as usize])
    }

    /// The spec's name, such as `INVALID_ARGUMENT`.
    pub fn name(self) -> &'static str {
        match self {
            Code::Ok => "OK",
            Code::Cancelled => "CANCELLED",
            Code::Unknown => "UNKNOWN",
            Code::InvalidArgument => "INVALID_ARGUMENT",
            Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
            Code::NotFound => "NOT_FOUND",
            Code::AlreadyExists => "ALREADY_EXISTS",
            Code::PermissionDenied => "PERMISSION_DENIED",
            Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
            Code::FailedPrecondition => "FAILED_PRECONDITION",
            Code::Aborted => "ABORTED",
            Code::OutOfRange => "OUT_OF_RANGE",
            Code::Unimplemented => "UNIMPLEMENTED",
            Code::Internal => "INTERNAL",
            Code::Unavailable => "UNAVAILABLE",
            Code::DataLoss => "DATA_LOSS",
            Code::Unauthenticated => "UNAUTHENTICATED",
        }
    }

    /// Parses the value of a `grpc-status` header; anything but a number is `None`.
    pub(crate) fn from_header(value: &[u8]) -> Option<Code> {
        let text = std::str::from_utf8(value).ok()?;
        text.parse::<i32>().ok().map(Code::from_i32)
    }

    /// The code for an HTTP status on a response that carried no `grpc-status`, per
    /// <https://github.com/grpc/grpc/blob/master/doc/http-grpc-status-mapping.md>.
    pub(crate) fn from_http(status: u16) -> Code {
        match status {
            400 => Code::Internal,
            401 => Code::Unauthenticated,
            403 => Code::PermissionDenied,
            404 => Code::Unimplemented,
            429 | 502 | 503 | 504 => Code::Unavailable,
            _ => Code::Unknown,
        }
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The outcome of a failed call: a [`Code`], a message for developers, and optional binary
/// details (a serialized `google.rpc.Status`, sent as `grpc-status-details-bin`).
///
/// Handlers return `Err(Status)`; clients receive it. Build one with the constructor named after
/// its code:
///
/// ```
/// use protoless::{Code, Status};
///
/// let status = Status::invalid_argument("n must be positive, got -3");
/// assert_eq!(status.code(), Code::InvalidArgument);
/// assert_eq!(status.message(), "n must be positive, got -3");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Status {
    inner: Box<Inner>,
}

#[derive(Clone, PartialEq, Eq)]
struct Inner {
    code: Code,
    message: String,
    details: Bytes,
    metadata: MetadataMap,
    /// On the client, the response headers that came before the status.
    headers: MetadataMap,
}

macro_rules! constructors {
    ($($(#[$doc:meta])* $name:ident => $code:ident,)*) => {
        $(
            $(#[$doc])*
            pub fn $name(message: impl Into<String>) -> Status {
                Status::new(Code::$code, message)
            }
        )*
    };
}

impl Status {
    /// A status with `code` and `message`.
    pub fn new(code: Code, message: impl Into<String>) -> Status {
        Status {
            inner: Box::new(Inner {
                code,
                message: message.into(),
                details: Bytes::new(),
                metadata: MetadataMap::new(),
                headers: MetadataMap::new(),
            }),
        }
    }

    constructors! {
        /// [`Code::Cancelled`]: the operation was cancelled.
        cancelled => Cancelled,
        /// [`Code::Unknown`]: an error with no better code.
        unknown => Unknown,
        /// [`Code::InvalidArgument`]: the request is invalid whatever the system's state.
        invalid_argument => InvalidArgument,
        /// [`Code::DeadlineExceeded`]: the deadline expired.
        deadline_exceeded => DeadlineExceeded,
        /// [`Code::NotFound`]: a requested entity was not found.
        not_found => NotFound,
        /// [`Code::AlreadyExists`]: the entity to create already exists.
        already_exists => AlreadyExists,
        /// [`Code::PermissionDenied`]: the caller may not do this.
        permission_denied => PermissionDenied,
        /// [`Code::ResourceExhausted`]: a quota or limit was exhausted.
        resource_exhausted => ResourceExhausted,
        /// [`Code::FailedPrecondition`]: the system is not in the state the operation requires.
        failed_precondition => FailedPrecondition,
        /// [`Code::Aborted`]: aborted, typically by a concurrency conflict.
        aborted => Aborted,
        /// [`Code::OutOfRange`]: past the valid range.
        out_of_range => OutOfRange,
        /// [`Code::Unimplemented`]: not implemented or not supported.
        unimplemented => Unimplemented,
        /// [`Code::Internal`]: a broken invariant.
        internal => Internal,
        /// [`Code::Unavailable`]: try again later.
        unavailable => Unavailable,
        /// [`Code::DataLoss`]: unrecoverable data loss.
        data_loss => DataLoss,
        /// [`Code::Unauthenticated`]: missing or invalid credentials.
        unauthenticated => Unauthenticated,
    }

    /// Attaches binary details: usually a serialized `google.rpc.Status`.
    pub fn with_details(mut self, details: impl Into<Bytes>) -> Status {
        self.inner.details = details.into();
        self
    }

    /// Attaches metadata: a server sends it in the trailers, beside the handler's own; a client
    /// finds a failed call's trailers here.
    pub fn with_metadata(mut self, metadata: MetadataMap) -> Status {
        self.inner.metadata = metadata;
        self
    }

    /// The metadata that came with the status: on the client, the trailers of the failed call
    /// (for a Trailers-Only answer, the custom metadata of its one header block).
    pub fn metadata(&self) -> &MetadataMap {
        &self.inner.metadata
    }

    /// On the client, the response headers the server sent before it failed the call; empty
    /// when it answered with the status alone (Trailers-Only).
    ///
    /// ```
    /// # use protoless::{Code, Status};
    /// fn server_id(status: &Status) -> Option<&str> {
    ///     status.headers().get("server-id")
    /// }
    /// assert_eq!(server_id(&Status::unavailable("down")), None);
    /// ```
    pub fn headers(&self) -> &MetadataMap {
        &self.inner.headers
    }

    pub(crate) fn with_headers(mut self, headers: MetadataMap) -> Status {
        self.inner.headers = headers;
        self
    }

    pub(crate) fn metadata_mut(&mut self) -> &mut MetadataMap {
        &mut self.inner.metadata
    }

    /// The code.
    pub fn code(&self) -> Code {
        self.inner.code
    }

    /// The message for developers.
    pub fn message(&self) -> &str {
        &self.inner.message
    }

    /// The binary details; empty when there are none.
    pub fn details(&self) -> &Bytes {
        &self.inner.details
    }
}

impl fmt::Debug for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut debug = f.debug_struct("Status");
        debug
            .field("code", &self.code())
            .field("message", &self.message());
        if !self.details().is_empty() {
            debug.field("details", &self.details());
        }
        debug.finish()
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code(), self.message())
    }
}

impl std::error::Error for Status {}

/// A handler that sets a malformed or reserved metadata key broke its own invariant: the call
/// fails with `INTERNAL`, so that `?` works on [`Context::insert_header`](crate::Context::insert_header)
/// and friends.
///
/// ```
/// # use protoless::{Context, Status};
/// fn tag(ctx: &Context, shard: &str) -> Result<(), Status> {
///     ctx.insert_header("x-shard", shard)?;
///     Ok(())
/// }
/// ```
impl From<crate::InvalidMetadata> for Status {
    fn from(error: crate::InvalidMetadata) -> Status {
        Status::internal(format!("invalid metadata: {error}"))
    }
}

/// Bytes that do not decode as the message they should hold (an embedded payload, say) are a
/// bad request: `INVALID_ARGUMENT`.
impl From<crate::DecodeError> for Status {
    fn from(error: crate::DecodeError) -> Status {
        Status::invalid_argument(format!("failed to decode: {error}"))
    }
}

/// Percent-encodes a `grpc-message` value: bytes outside printable ASCII, and `%`, become `%XX`.
pub(crate) fn encode_message(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    for &byte in message.as_bytes() {
        if (0x20..=0x7e).contains(&byte) && byte != b'%' {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Decodes a `grpc-message` value; a malformed escape is kept as it is, as the spec asks.
pub(crate) fn decode_message(value: &[u8]) -> String {
    let mut bytes = Vec::with_capacity(value.len());
    let mut index = 0;
    while index < value.len() {
        let hex = |at: usize| value.get(at).and_then(|&b| (b as char).to_digit(16));
        match (value[index], hex(index + 1), hex(index + 2)) {
            (b'%', Some(high), Some(low)) => {
                bytes.push((high * 16 + low) as u8);
                index += 3;
            }
            (byte, _, _) => {
                bytes.push(byte);
                index += 1;
            }
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_have_the_spec_numbers() {
        for (number, code) in Code::ALL.iter().enumerate() {
            assert_eq!(code.as_i32(), number as i32);
            assert_eq!(Code::from_i32(number as i32), *code);
        }
        assert_eq!(Code::from_i32(17), Code::Unknown);
        assert_eq!(Code::from_i32(-1), Code::Unknown);
    }

    #[test]
    fn messages_survive_percent_encoding() {
        for message in [
            "plain",
            "100% sure",
            "π ≈ 3.14159, ünïcödé ✓",
            "line\nbreak",
            "",
        ] {
            let encoded = encode_message(message);
            assert!(encoded.bytes().all(|b| (0x20..=0x7e).contains(&b)));
            assert_eq!(decode_message(encoded.as_bytes()), message);
        }
    }

    #[test]
    fn malformed_escapes_are_kept() {
        assert_eq!(decode_message(b"50%zz and %4"), "50%zz and %4");
    }
}
