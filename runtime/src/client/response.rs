//! Reading what a server answers: the response head, the messages, the status in the trailers,
//! and the metadata that came with them.

use bytes::Bytes;
use h2::RecvStream;
use http::HeaderMap;

use crate::compression::Compression;
use crate::frame::FrameDecoder;
use crate::headers::{GRPC_ENCODING, GRPC_MESSAGE, GRPC_STATUS, GRPC_STATUS_DETAILS};
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
        let metadata = MetadataMap::from_headers(&head.headers);
        if head.status != http::StatusCode::OK {
            let code = Code::from_http(head.status.as_u16());
            let status = status_from_headers(&head.headers).unwrap_or_else(|| {
                Status::new(code, format!("unexpected HTTP status code {}", head.status))
            });
            return Err(status.with_metadata(metadata));
        }
        if let Some(status) = status_from_headers(&head.headers) {
            return Ok(Head::Ended(status.with_metadata(metadata)));
        }
        let content_type = head.headers.get(http::header::CONTENT_TYPE);
        let is_grpc = content_type
            .and_then(|value| value.to_str().ok())
            .is_some_and(|value| value.starts_with("application/grpc"));
        if !is_grpc {
            return Err(Status::unknown(format!(
                "response has content-type {content_type:?}, not a gRPC one"
            )));
        }
        let compression = match head.headers.get(&GRPC_ENCODING).map(|value| value.to_str()) {
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
            Head::Ended(status) => {
                let headers = status.metadata().clone();
                Streaming::ended(codec, (status.code() != Code::Ok).then_some(status))
                    .with_headers(headers)
            }
        }
    }
}

/// Reads the body of a unary response: one message, then the status in the trailers.
///
/// Unary calls read here directly rather than through a [`Streaming`], which would spawn a task.
pub(super) async fn read_single_response(
    mut body: RecvStream,
    compression: Option<Compression>,
    mut headers: MetadataMap,
    max_size: usize,
) -> Result<(Bytes, MetadataMap, MetadataMap), Status> {
    let mut decoder = FrameDecoder::new(max_size).with_compression(compression);
    let mut message = None;
    while let Some(chunk) = body.data().await {
        let chunk = chunk.map_err(|error| status_from_h2(&error))?;
        let _ = body.flow_control().release_capacity(chunk.len());
        decoder.push(chunk);
        while let Some(next) = decoder.next_message()? {
            if message.replace(next).is_some() {
                return Err(Status::internal(
                    "server sent more than one response message",
                ));
            }
        }
    }
    let trailers = body
        .trailers()
        .await
        .map_err(|error| status_from_h2(&error))?;
    let (status, trailers) = status_and_trailers(trailers.as_ref());
    if status.code() != Code::Ok {
        headers.extend(&trailers);
        return Err(status.with_metadata(headers));
    }
    if decoder.has_partial_message() {
        return Err(Status::internal("response stream ended inside a message"));
    }
    let message = message.ok_or_else(|| Status::internal("server sent no response message"))?;
    Ok((message, headers, trailers))
}

/// The status in the trailers (`INTERNAL` if there are none) and their custom metadata.
pub(crate) fn status_and_trailers(trailers: Option<&HeaderMap>) -> (Status, MetadataMap) {
    match trailers {
        Some(trailers) => (
            status_from_headers(trailers)
                .unwrap_or_else(|| Status::internal("server sent trailers without grpc-status")),
            MetadataMap::from_headers(trailers),
        ),
        None => (
            Status::internal("server closed the stream without sending trailers"),
            MetadataMap::new(),
        ),
    }
}

/// The status in `grpc-status`, `grpc-message` and `grpc-status-details-bin`, if present.
pub(crate) fn status_from_headers(headers: &HeaderMap) -> Option<Status> {
    let code = headers.get(&GRPC_STATUS)?;
    let code = Code::from_header(code.as_bytes()).unwrap_or(Code::Unknown);
    let message = headers
        .get(&GRPC_MESSAGE)
        .map(|value| decode_message(value.as_bytes()))
        .unwrap_or_default();
    let mut status = Status::new(code, message);
    if let Some(details) = headers.get(&GRPC_STATUS_DETAILS) {
        if let Some(details) = crate::base64::decode(details.as_bytes()) {
            status = status.with_details(details);
        }
    }
    Some(status)
}

/// Maps an h2 error as the gRPC spec's "Errors" table maps RST_STREAM codes.
pub(crate) fn status_from_h2(error: &h2::Error) -> Status {
    use h2::Reason;
    let code = match error.reason() {
        Some(Reason::CANCEL) => Code::Cancelled,
        Some(Reason::REFUSED_STREAM) => Code::Unavailable,
        Some(Reason::ENHANCE_YOUR_CALM) => Code::ResourceExhausted,
        Some(Reason::INADEQUATE_SECURITY) => Code::PermissionDenied,
        Some(_) => Code::Internal,
        None if error.is_io() || error.is_go_away() => Code::Unavailable,
        None => Code::Internal,
    };
    Status::new(code, format!("HTTP/2 error: {error}"))
}
