//! Reading what a server answers: the response head, the messages, the status in the trailers,
//! and the metadata that came with them.

use bytes::Bytes;
use h2::RecvStream;
use http::{HeaderMap, HeaderValue};

use crate::compression::Compression;
use crate::frame::read_single;
use crate::headers::{text, GrpcHeaders};
use crate::metadata::MetadataMap;
use crate::status::decode_message;
use crate::{Code, Codec, Message, Status, Streaming};

/// A response with the metadata that came with it: what
/// [`UnaryCall::into_response`](crate::Call::into_response) gives.
#[derive(Debug, Clone)]
pub struct Response<T> {
    /// The response message.
    pub message: T,
    /// The server's custom response headers.
    pub headers: MetadataMap,
    /// The server's custom trailers.
    pub trailers: MetadataMap,
    /// Whether the response message came compressed on the wire.
    pub compressed: bool,
}

/// The response headers, read: a body to come, or a Trailers-Only status.
pub(super) enum Head {
    Body {
        body: RecvStream,
        headers: MetadataMap,
        compression: Option<Compression>,
    },
    Ended(Status),
}

impl Head {
    pub(super) fn read(response: http::Response<RecvStream>) -> Result<Head, Status> {
        let (head, body) = response.into_parts();
        let found = GrpcHeaders::scan(&head.headers);
        let metadata = found.metadata(&head.headers);
        if head.status != http::StatusCode::OK {
            let code = Code::from_http(head.status.as_u16());
            let status = status_from(&found).unwrap_or_else(|| {
                Status::new(code, format!("unexpected HTTP status code {}", head.status))
            });
            return Err(status.with_metadata(metadata));
        }
        if let Some(status) = status_from(&found) {
            return Ok(Head::Ended(status.with_metadata(metadata)));
        }
        let content_type = found.content_type;
        let is_grpc = content_type
            .and_then(text)
            .is_some_and(|value| value.starts_with("application/grpc"));
        if !is_grpc {
            return Err(Status::unknown(format!(
                "response has content-type {content_type:?}, not a gRPC one"
            )));
        }
        let compression = match found.encoding.map(|value| value.to_str()) {
            None | Some(Ok("identity")) => None,
            Some(Ok(name)) => match Compression::from_name(name) {
                Some(compression) => Some(compression),
                None => {
                    return Err(Status::internal(format!(
                        "the server compressed with {name:?}, which this client did not offer"
                    )))
                }
            },
            Some(Err(_)) => return Err(Status::internal("malformed grpc-encoding")),
        };
        Ok(Head::Body {
            body,
            headers: metadata,
            compression,
        })
    }

    pub(super) fn into_streaming<Resp: Message>(
        self,
        codec: Codec,
        max_message_size: usize,
    ) -> Streaming<Resp> {
        match self {
            Head::Body {
                body,
                headers,
                compression,
            } => Streaming::new(body, codec, max_message_size, true)
                .with_compression(compression)
                .with_headers(headers),
            // Trailers-Only: its one header block holds the trailers.
            Head::Ended(status) => {
                let trailers = status.metadata().clone();
                Streaming::ended(
                    codec,
                    (status.code() != Code::Ok).then_some(status),
                    trailers,
                )
            }
        }
    }
}

/// A unary response as read: the message (not decoded yet) and what came with it.
pub(super) struct SingleResponse {
    pub(super) message: Bytes,
    pub(super) headers: MetadataMap,
    pub(super) trailers: MetadataMap,
    pub(super) compressed: bool,
    pub(super) wire_size: usize,
}

/// Reads the body of a unary response: one message, then the status in the trailers.
///
/// Unary calls read here directly rather than through a [`Streaming`], which would spawn a task.
pub(super) async fn read_single_response(
    mut body: RecvStream,
    compression: Option<Compression>,
    headers: MetadataMap,
    max_size: usize,
) -> Result<SingleResponse, Status> {
    let read = read_single(&mut body, max_size, compression, |error| {
        status_from_h2(&error)
    })
    .await?;
    if read.more_than_one {
        return Err(Status::internal(
            "server sent more than one response message",
        ));
    }
    let trailers = body
        .trailers()
        .await
        .map_err(|error| status_from_h2(&error))?;
    let (outcome, trailers) = end_of_call(trailers.as_ref());
    if let Err(status) = outcome {
        return Err(status.with_metadata(trailers).with_headers(headers));
    }
    if read.truncated {
        return Err(Status::internal("response stream ended inside a message"));
    }
    let message = read
        .message
        .ok_or_else(|| Status::internal("server sent no response message"))?;
    Ok(SingleResponse {
        message,
        headers,
        trailers,
        compressed: read.compressed,
        wire_size: read.wire_size,
    })
}

/// How the trailers ended the call, and their custom metadata. An `OK` status is `Ok(())`,
/// with nothing allocated; no trailers, or no `grpc-status` in them, is `INTERNAL`.
pub(crate) fn end_of_call(trailers: Option<&HeaderMap>) -> (Result<(), Status>, MetadataMap) {
    let Some(trailers) = trailers else {
        let status = Status::internal("server closed the stream without sending trailers");
        return (Err(status), MetadataMap::new());
    };
    let found = GrpcHeaders::scan(trailers);
    let outcome = match found.status.map(code_of) {
        Some(Code::Ok) => Ok(()),
        Some(code) => Err(status_with(code, &found)),
        None => Err(Status::internal("server sent trailers without grpc-status")),
    };
    (outcome, found.metadata(trailers))
}

/// The status in `grpc-status`, `grpc-message` and `grpc-status-details-bin`, if present.
fn status_from(found: &GrpcHeaders<'_>) -> Option<Status> {
    Some(status_with(code_of(found.status?), found))
}

fn code_of(value: &HeaderValue) -> Code {
    Code::from_header(value.as_bytes()).unwrap_or(Code::Unknown)
}

fn status_with(code: Code, found: &GrpcHeaders<'_>) -> Status {
    let message = found
        .message
        .map(|value| decode_message(value.as_bytes()))
        .unwrap_or_default();
    let mut status = Status::new(code, message);
    if let Some(details) = found.details {
        if let Some(details) = crate::base64::decode(details.as_bytes()) {
            status = status.with_details(details);
        }
    }
    status
}

/// Maps an h2 error as the gRPC spec's "Errors" table maps RST_STREAM codes.
pub(crate) fn status_from_h2(error: &h2::Error) -> Status {
    use h2::Reason;
    // A connection that broke or was closed under the call (a GOAWAY, sent or received, for a
    // protocol error or otherwise) is unavailable, as the spec's transport failures are.
    if error.is_io() || (error.is_go_away() && error.reason() != Some(Reason::ENHANCE_YOUR_CALM)) {
        return Status::new(Code::Unavailable, format!("HTTP/2 error: {error}"));
    }
    let code = match error.reason() {
        Some(Reason::CANCEL) => Code::Cancelled,
        Some(Reason::REFUSED_STREAM) => Code::Unavailable,
        Some(Reason::ENHANCE_YOUR_CALM) => Code::ResourceExhausted,
        Some(Reason::INADEQUATE_SECURITY) => Code::PermissionDenied,
        Some(_) | None => Code::Internal,
    };
    Status::new(code, format!("HTTP/2 error: {error}"))
}
