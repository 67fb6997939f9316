//! Calls to services that speak only gRPC-Web or the Connect protocol over HTTP/1.1
//! ([`ChannelBuilder::web`](super::ChannelBuilder::web)).
//!
//! The mirror of the server's gateway: the channel's connection is an in-memory HTTP/2
//! connection to a gateway that makes each native call a web request, over HTTP/1.1
//! connections to the server (as many as calls run at once, kept for reuse), and writes the
//! answer back as a native one. Everything above the connection (deadlines, metadata,
//! interceptors, retries, balancing) is the native client's.

use std::sync::{Arc, Mutex};

use bytes::{Buf, Bytes};
use http::header::{HeaderName, CONTENT_TYPE};
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full};

use super::subchannel::Connector;
use crate::frame::{framed, Envelopes};
use crate::headers::{GRPC_MESSAGE, GRPC_STATUS};
use crate::transport::{Address, Io};
use crate::{Code, Status};

/// The protocol a channel's calls go as when the server does not speak native gRPC (see
/// [`ChannelBuilder::web`](super::ChannelBuilder::web)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum WebProtocol {
    /// gRPC-Web (`application/grpc-web+proto`), trailers in the body.
    GrpcWeb,
    /// The Connect protocol: unary calls as plain POSTs (`application/proto`), streams as
    /// `application/connect+proto`.
    Connect,
}

/// The in-memory connection's buffer.
pub(super) const BUFFER: usize = 256 * 1024;

/// The header by which a call tells the gateway its shape (the Connect protocol sends unary
/// calls unlike streams); it goes no further than the gateway.
pub(super) const KIND: HeaderName = HeaderName::from_static("protoless-web-kind");

type OutBody = UnsyncBoxBody<Bytes, Box<dyn std::error::Error + Send + Sync>>;
type Sender = hyper::client::conn::http1::SendRequest<OutBody>;

/// HTTP/1.1 connections to the server, kept for the next call once a call is done with one.
struct Pool {
    idle: Mutex<Vec<Sender>>,
    connector: Arc<Connector>,
    address: Address,
    /// Told when the server cannot be reached any more: the gateway then closes its in-memory
    /// connection, so that the channel sees the connection lost (and backs off, re-resolves,
    /// and picks another address) as for native gRPC.
    unreachable: tokio::sync::Notify,
}

/// How long dialling the server may take (gRPC's minimum connect timeout).
const DIAL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(20);

impl Pool {
    async fn add(&self, io: Box<dyn Io>) -> Result<Sender, Status> {
        let (sender, connection) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(io))
                .await
                .map_err(|error| Status::unavailable(format!("HTTP/1.1 handshake: {error}")))?;
        tokio::spawn(connection);
        Ok(sender)
    }

    /// An idle connection (and `true`), or a new one.
    async fn take(&self) -> Result<(Sender, bool), Status> {
        loop {
            let idle = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
            match idle {
                // Only one that can take a request now: one still busy (a request body still
                // streaming) or closed is let go.
                Some(sender) if sender.is_ready() => return Ok((sender, true)),
                Some(_) => {}
                None => break,
            }
        }
        Ok((self.dial().await?, false))
    }

    /// A new connection; telling the gateway if the server cannot be reached.
    async fn dial(&self) -> Result<Sender, Status> {
        let dialled = tokio::time::timeout(DIAL_TIMEOUT, self.connector.dial(&self.address)).await;
        let io = match dialled {
            Ok(Ok(io)) => io,
            Ok(Err(status)) => {
                self.unreachable.notify_one();
                return Err(status);
            }
            Err(_) => {
                self.unreachable.notify_one();
                return Err(Status::unavailable(format!(
                    "failed to connect to {}: timed out",
                    self.address
                )));
            }
        };
        self.add(io).await
    }

    /// Checks, after a connection failed under a request, whether the server can still be
    /// reached (telling the gateway if not); a new connection is kept for the next call.
    fn probe(self: &Arc<Self>) {
        let pool = self.clone();
        tokio::spawn(async move {
            if let Ok(sender) = pool.dial().await {
                pool.give_back(sender);
            }
        });
    }

    /// `sender`'s connection is free again (its last response read to the end).
    fn give_back(&self, sender: Sender) {
        if !sender.is_closed() {
            self.idle
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(sender);
        }
    }
}

/// Serves the channel's in-memory HTTP/2 connection: each call becomes a web request.
pub(super) async fn serve(
    io: tokio::io::DuplexStream,
    first: Box<dyn Io>,
    connector: Arc<Connector>,
    address: Address,
    protocol: WebProtocol,
) {
    let pool = Arc::new(Pool {
        idle: Mutex::new(Vec::new()),
        connector,
        address,
        unreachable: tokio::sync::Notify::new(),
    });
    match pool.add(first).await {
        Ok(sender) => pool.give_back(sender),
        Err(_) => return,
    }
    let Ok(mut connection) = h2::server::handshake(io).await else {
        return;
    };
    loop {
        let accepted = tokio::select! {
            accepted = connection.accept() => accepted,
            // Dropping the connection ends the channel's side of it.
            () = pool.unreachable.notified() => return,
        };
        let Some(Ok((request, respond))) = accepted else {
            return;
        };
        tokio::spawn(forward(pool.clone(), protocol, request, respond));
    }
}

/// A native request body, as an HTTP body.
struct NativeBody(h2::RecvStream);

impl http_body::Body for NativeBody {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        match std::task::ready!(self.0.poll_data(cx)) {
            Some(Ok(chunk)) => {
                let _ = self.0.flow_control().release_capacity(chunk.len());
                std::task::Poll::Ready(Some(Ok(http_body::Frame::data(chunk))))
            }
            Some(Err(error)) => std::task::Poll::Ready(Some(Err(error.into()))),
            None => std::task::Poll::Ready(None),
        }
    }
}

/// Makes one native call a web request, and its answer a native one.
async fn forward(
    pool: Arc<Pool>,
    protocol: WebProtocol,
    request: Request<h2::RecvStream>,
    mut respond: h2::server::SendResponse<Bytes>,
) {
    let (head, body) = request.into_parts();
    let unary = head.headers.get(KIND).is_some_and(|kind| kind == "unary");
    let answer = async {
        let (mut sender, reused) = pool.take().await?;
        let mut out = Request::builder()
            .method(http::Method::POST)
            .uri(head.uri.path_and_query().map_or("/", |p| p.as_str()));
        if let Some(authority) = head.uri.authority() {
            out = out.header(http::header::HOST, authority.as_str());
        }
        let headers = out.headers_mut().expect("a valid request so far");
        for (name, value) in &head.headers {
            if !matches!(
                name.as_str(),
                "te" | "content-type" | "grpc-timeout" | "grpc-encoding" | "grpc-accept-encoding"
            ) && name != KIND
            {
                headers.append(name, value.clone());
            }
        }
        let passed = |name: &str| head.headers.get(name).cloned();
        let timeout_ms = passed("grpc-timeout")
            .and_then(|value| crate::timeout::parse(value.as_bytes()))
            // Connect takes at most 10 digits.
            .map(|timeout| timeout.as_millis().clamp(1, 9_999_999_999).to_string());
        let body = match (protocol, unary) {
            (WebProtocol::GrpcWeb, _) => {
                headers.insert(
                    CONTENT_TYPE,
                    HeaderValue::from_static("application/grpc-web+proto"),
                );
                headers.insert("x-grpc-web", HeaderValue::from_static("1"));
                for name in ["grpc-timeout", "grpc-encoding", "grpc-accept-encoding"] {
                    if let Some(value) = passed(name) {
                        headers.insert(name, value);
                    }
                }
                NativeBody(body).boxed_unsync()
            }
            (WebProtocol::Connect, true) => {
                headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/proto"));
                headers.insert("connect-protocol-version", HeaderValue::from_static("1"));
                if let Some(ms) = &timeout_ms {
                    headers.insert(
                        "connect-timeout-ms",
                        HeaderValue::from_str(ms).expect("digits"),
                    );
                }
                let framed = NativeBody(body)
                    .collect()
                    .await
                    .map_err(|error| Status::cancelled(format!("request: {error}")))?
                    .to_bytes();
                let (flags, message) = unframe(framed)?;
                if flags & 1 == 1 {
                    if let Some(encoding) = passed("grpc-encoding") {
                        headers.insert(http::header::CONTENT_ENCODING, encoding);
                    }
                }
                Full::new(message)
                    .map_err(|never| match never {})
                    .boxed_unsync()
            }
            (WebProtocol::Connect, false) => {
                headers.insert(
                    CONTENT_TYPE,
                    HeaderValue::from_static("application/connect+proto"),
                );
                headers.insert("connect-protocol-version", HeaderValue::from_static("1"));
                if let Some(ms) = &timeout_ms {
                    headers.insert(
                        "connect-timeout-ms",
                        HeaderValue::from_str(ms).expect("digits"),
                    );
                }
                if let Some(value) = passed("grpc-encoding") {
                    headers.insert("connect-content-encoding", value);
                }
                if let Some(value) = passed("grpc-accept-encoding") {
                    headers.insert("connect-accept-encoding", value);
                }
                NativeBody(body).boxed_unsync()
            }
        };
        let out = out
            .body(body)
            .map_err(|error| Status::internal(format!("request: {error}")))?;
        let failed = |error: hyper::Error| {
            pool.probe();
            Status::unavailable(format!("HTTP/1.1 request failed: {error}"))
        };
        let response = match sender.try_send_request(out).await {
            Ok(response) => response,
            // An idle connection the server closed before this request was written (its
            // close not yet seen when the connection was taken): the request goes on a new one.
            Err(mut error) if reused && error.message().is_some() => {
                let out = error.take_message().expect("just checked");
                sender = pool.dial().await?;
                sender.send_request(out).await.map_err(failed)?
            }
            Err(error) => return Err(failed(error.into_error())),
        };
        Ok::<_, Status>((sender, response))
    };
    // A call the caller cancels (RST_STREAM) drops its web request, which closes that HTTP/1.1
    // connection: the server hears of it as it would of a native cancel.
    let answered = tokio::select! {
        answered = answer => answered,
        _ = std::future::poll_fn(|cx| respond.poll_reset(cx)) => return,
    };
    let (sender, response) = match answered {
        Ok(answered) => answered,
        Err(status) => return trailers_only(&mut respond, &status, HeaderMap::new()),
    };
    let done = match (protocol, unary) {
        (WebProtocol::GrpcWeb, _) => grpc_web_answer(response, &mut respond).await,
        (WebProtocol::Connect, true) => connect_unary_answer(response, &mut respond).await,
        (WebProtocol::Connect, false) => connect_stream_answer(response, &mut respond).await,
    };
    if done {
        pool.give_back(sender);
    }
}

/// One framed message: its flags and payload; anything else is not a unary request.
fn unframe(mut framed: Bytes) -> Result<(u8, Bytes), Status> {
    if framed.len() < 5 {
        return Err(Status::internal("a unary call without its request"));
    }
    let flags = framed[0];
    let len = u32::from_be_bytes([framed[1], framed[2], framed[3], framed[4]]) as usize;
    framed.advance(5);
    if framed.len() != len {
        return Err(Status::internal("a unary call with more than one request"));
    }
    Ok((flags, framed))
}

/// Answers the native call with `status` alone, `metadata` beside it.
fn trailers_only(
    respond: &mut h2::server::SendResponse<Bytes>,
    status: &Status,
    metadata: HeaderMap,
) {
    let mut response = Response::new(());
    *response.headers_mut() = metadata;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
    put_status(response.headers_mut(), status);
    let _ = respond.send_response(response, true);
}

fn put_status(headers: &mut HeaderMap, status: &Status) {
    headers.insert(GRPC_STATUS, status.code().header_value());
    if let Ok(value) = HeaderValue::from_str(&crate::status::encode_message(status.message())) {
        headers.insert(GRPC_MESSAGE, value);
    }
    if !status.details().is_empty() {
        if let Ok(value) = HeaderValue::from_str(&crate::base64::encode(status.details())) {
            headers.insert("grpc-status-details-bin", value);
        }
    }
}

/// HTTP/1.1's connection-level headers, which HTTP/2 (and so a native answer) must not carry.
fn hop_by_hop(name: &str) -> bool {
    matches!(
        name,
        "connection" | "keep-alive" | "proxy-connection" | "transfer-encoding" | "upgrade" | "te"
    )
}

/// The headers of a web answer that are the call's metadata.
fn metadata(headers: &HeaderMap) -> HeaderMap {
    let mut metadata = HeaderMap::new();
    for (name, value) in headers {
        let protocol = matches!(
            name.as_str(),
            "content-type"
                | "content-length"
                | "content-encoding"
                | "date"
                | "vary"
                | "grpc-status"
                | "grpc-message"
                | "grpc-status-details-bin"
        ) || hop_by_hop(name.as_str())
            || name.as_str().starts_with("access-control-")
            || name.as_str().starts_with("trailer-")
            || name.as_str().starts_with("connect-");
        if !protocol {
            metadata.append(name, value.clone());
        }
    }
    metadata
}

/// A non-200 answer to a gRPC-Web request: the status its HTTP status maps to.
fn http_failure(status: StatusCode) -> Status {
    Status::new(
        Code::from_http(status.as_u16()),
        format!("unexpected HTTP status code {status}"),
    )
}

/// Reads the next frame of `body` into `pending`; `false` at its end.
async fn fill(body: &mut hyper::body::Incoming, pending: &mut Envelopes) -> Result<bool, Status> {
    loop {
        match body.frame().await {
            None => return Ok(false),
            Some(Err(error)) => {
                return Err(Status::unavailable(format!(
                    "the answer broke off: {error}"
                )))
            }
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    pending.push(&data);
                    return Ok(true);
                }
            }
        }
    }
}

/// The largest message of a web answer this gateway holds (the channel then applies its own
/// limit).
const MAX_ANSWER_MESSAGE: usize = 64 << 20;

/// Writes a streamed web answer (gRPC-Web's, or a Connect stream's) back as a native one: its
/// messages as they come, then the trailers that `end` makes of the envelope flagged
/// `end_flag`; `true` once it was read to its end.
async fn stream_answer(
    head: &http::response::Parts,
    mut body: hyper::body::Incoming,
    respond: &mut h2::server::SendResponse<Bytes>,
    compression_header: &str,
    end_flag: u8,
    end: fn(&[u8]) -> HeaderMap,
) -> bool {
    let mut native = Response::new(());
    *native.headers_mut() = metadata(&head.headers);
    native
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
    if let Some(encoding) = head.headers.get(compression_header) {
        native
            .headers_mut()
            .insert("grpc-encoding", encoding.clone());
    }
    let Ok(mut stream) = respond.send_response(native, false) else {
        return false;
    };
    let mut pending = Envelopes::new(MAX_ANSWER_MESSAGE);
    let failure = loop {
        match pending.next() {
            Ok(Some((flags, payload))) if flags & end_flag != 0 => {
                let _ = stream.send_trailers(end(&payload));
                // Read on to the end, so that the connection may serve another call.
                return matches!(fill(&mut body, &mut pending).await, Ok(false));
            }
            Ok(Some((flags, payload))) => {
                let message = framed(flags, &payload);
                if crate::flow::send_flow_controlled(&mut stream, message)
                    .await
                    .is_err()
                {
                    return false;
                }
            }
            Ok(None) => {
                let filled = tokio::select! {
                    filled = fill(&mut body, &mut pending) => filled,
                    // Cancelled by the caller: dropping the answer closes its connection.
                    _ = std::future::poll_fn(|cx| stream.poll_reset(cx)) => return false,
                };
                match filled {
                    Ok(true) => {}
                    Ok(false) => break Status::internal("the answer ended without its trailers"),
                    Err(status) => break status,
                }
            }
            Err(status) => break status,
        }
    };
    let mut trailers = HeaderMap::new();
    put_status(&mut trailers, &failure);
    let _ = stream.send_trailers(trailers);
    false
}

/// Writes a gRPC-Web answer back as a native one; `true` once it was read to its end.
async fn grpc_web_answer(
    response: Response<hyper::body::Incoming>,
    respond: &mut h2::server::SendResponse<Bytes>,
) -> bool {
    let (head, mut body) = response.into_parts();
    if head.status != StatusCode::OK {
        trailers_only(respond, &http_failure(head.status), metadata(&head.headers));
        return false;
    }
    if head.headers.contains_key(GRPC_STATUS) {
        // Trailers-Only: the status and metadata, without HTTP/1.1's own headers.
        let mut response = Response::new(());
        *response.headers_mut() = metadata(&head.headers);
        for name in ["grpc-status", "grpc-message", "grpc-status-details-bin"] {
            if let Some(value) = head.headers.get(name) {
                response.headers_mut().insert(name, value.clone());
            }
        }
        response
            .headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
        let _ = respond.send_response(response, true);
        return body.frame().await.is_none();
    }
    stream_answer(&head, body, respond, "grpc-encoding", 0x80, parse_trailers).await
}

/// A gRPC-Web trailer block (`name: value` lines) as headers.
fn parse_trailers(block: &[u8]) -> HeaderMap {
    let mut trailers = HeaderMap::new();
    for line in block.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let name = line[..colon].to_ascii_lowercase();
        let value = line[colon + 1..].trim_ascii();
        if hop_by_hop(std::str::from_utf8(&name).unwrap_or_default()) {
            continue;
        }
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(&name),
            HeaderValue::from_bytes(value),
        ) {
            trailers.append(name, value);
        }
    }
    if !trailers.contains_key(GRPC_STATUS) {
        put_status(
            &mut trailers,
            &Status::internal("the gRPC-Web trailers have no grpc-status"),
        );
    }
    trailers
}

/// Connect's error JSON as a status (its details as a `google.rpc.Status`).
fn connect_error(error: &serde_json::Value, fallback: Code) -> Status {
    let code = error
        .get("code")
        .and_then(|code| code.as_str())
        .and_then(code_from_connect)
        .unwrap_or(fallback);
    let message = error
        .get("message")
        .and_then(|message| message.as_str())
        .unwrap_or_default();
    let mut status = Status::new(code, message);
    let details: Vec<crate::error_details::Any> = error
        .get("details")
        .and_then(|details| details.as_array())
        .map(|details| {
            details
                .iter()
                .filter_map(|detail| {
                    let type_name = detail.get("type")?.as_str()?;
                    let value = detail.get("value")?.as_str()?;
                    let value = crate::base64::decode_any(value.as_bytes())?;
                    Some(crate::error_details::Any {
                        type_url: format!("type.googleapis.com/{type_name}"),
                        value,
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    if !details.is_empty() {
        let rpc = crate::error_details::RpcStatus {
            code: code.as_i32(),
            message: message.to_owned(),
            details,
        };
        status = status.with_details(crate::Message::encode_to_vec(&rpc));
    }
    status
}

/// The code Connect names `name`.
fn code_from_connect(name: &str) -> Option<Code> {
    Some(match name {
        "canceled" => Code::Cancelled,
        "unknown" => Code::Unknown,
        "invalid_argument" => Code::InvalidArgument,
        "deadline_exceeded" => Code::DeadlineExceeded,
        "not_found" => Code::NotFound,
        "already_exists" => Code::AlreadyExists,
        "permission_denied" => Code::PermissionDenied,
        "resource_exhausted" => Code::ResourceExhausted,
        "failed_precondition" => Code::FailedPrecondition,
        "aborted" => Code::Aborted,
        "out_of_range" => Code::OutOfRange,
        "unimplemented" => Code::Unimplemented,
        "internal" => Code::Internal,
        "unavailable" => Code::Unavailable,
        "data_loss" => Code::DataLoss,
        "unauthenticated" => Code::Unauthenticated,
        _ => return None,
    })
}

/// The most a Connect answer read whole (a unary answer, an error) may be.
const MAX_WHOLE_ANSWER: usize = 4 << 20;

async fn read_whole(body: hyper::body::Incoming) -> Result<Bytes, Status> {
    match http_body_util::Limited::new(body, MAX_WHOLE_ANSWER)
        .collect()
        .await
    {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(error) if error.is::<http_body_util::LengthLimitError>() => {
            Err(Status::resource_exhausted(format!(
                "the answer is larger than {MAX_WHOLE_ANSWER} bytes"
            )))
        }
        Err(error) => Err(Status::unavailable(format!(
            "the answer broke off: {error}"
        ))),
    }
}

/// Writes a Connect unary answer back as a native one; `true` once it was read to its end.
async fn connect_unary_answer(
    response: Response<hyper::body::Incoming>,
    respond: &mut h2::server::SendResponse<Bytes>,
) -> bool {
    let (head, body) = response.into_parts();
    let mut native_headers = metadata(&head.headers);
    let mut trailers = HeaderMap::new();
    for (name, value) in &head.headers {
        if let Some(name) = name.as_str().strip_prefix("trailer-") {
            if let Ok(name) = HeaderName::from_bytes(name.as_bytes()) {
                trailers.append(name, value.clone());
            }
        }
    }
    let read = tokio::select! {
        read = read_whole(body) => read,
        // Cancelled by the caller: dropping the answer closes its connection.
        _ = std::future::poll_fn(|cx| respond.poll_reset(cx)) => return false,
    };
    let body = match read {
        Ok(body) => body,
        Err(status) => {
            trailers_only(respond, &status, native_headers);
            return false;
        }
    };
    if head.status != StatusCode::OK {
        let fallback = Code::from_http(head.status.as_u16());
        let status = match serde_json::from_slice::<serde_json::Value>(&body) {
            Ok(error) => connect_error(&error, fallback),
            Err(_) => http_failure(head.status),
        };
        native_headers.extend(trailers);
        trailers_only(respond, &status, native_headers);
        return true;
    }
    native_headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
    let compressed = match head.headers.get(http::header::CONTENT_ENCODING) {
        Some(encoding) if encoding != "identity" => {
            native_headers.insert("grpc-encoding", encoding.clone());
            1
        }
        _ => 0,
    };
    let Ok(mut stream) = respond.send_response(
        Response::from_parts(
            {
                let mut parts = Response::new(()).into_parts().0;
                parts.headers = native_headers;
                parts
            },
            (),
        ),
        false,
    ) else {
        return true;
    };
    if crate::flow::send_flow_controlled(&mut stream, framed(compressed, &body))
        .await
        .is_err()
    {
        return true;
    }
    trailers.insert(GRPC_STATUS, Code::Ok.header_value());
    let _ = stream.send_trailers(trailers);
    true
}

/// Writes a Connect streaming answer back as a native one; `true` once it was read to its end.
async fn connect_stream_answer(
    response: Response<hyper::body::Incoming>,
    respond: &mut h2::server::SendResponse<Bytes>,
) -> bool {
    let (head, body) = response.into_parts();
    if head.status != StatusCode::OK {
        let fallback = Code::from_http(head.status.as_u16());
        let status = match read_whole(body).await {
            Ok(bytes) => match serde_json::from_slice::<serde_json::Value>(&bytes) {
                Ok(error) => connect_error(&error, fallback),
                Err(_) => http_failure(head.status),
            },
            Err(status) => status,
        };
        trailers_only(respond, &status, metadata(&head.headers));
        return false;
    }
    stream_answer(
        &head,
        body,
        respond,
        "connect-content-encoding",
        0x02,
        end_of_stream,
    )
    .await
}

/// Connect's end-of-stream message (`{"error": ..., "metadata": ...}`) as native trailers.
fn end_of_stream(payload: &[u8]) -> HeaderMap {
    let mut trailers = HeaderMap::new();
    let Ok(end) = serde_json::from_slice::<serde_json::Value>(payload) else {
        put_status(
            &mut trailers,
            &Status::internal("the Connect stream's end message is not JSON"),
        );
        return trailers;
    };
    if let Some(metadata) = end.get("metadata").and_then(|m| m.as_object()) {
        for (name, values) in metadata {
            let Ok(name) = HeaderName::from_bytes(name.as_bytes()) else {
                continue;
            };
            if hop_by_hop(name.as_str()) {
                continue;
            }
            for value in values.as_array().into_iter().flatten() {
                if let Some(Ok(value)) = value.as_str().map(HeaderValue::from_str) {
                    trailers.append(name.clone(), value);
                }
            }
        }
    }
    match end.get("error") {
        Some(error) => put_status(&mut trailers, &connect_error(error, Code::Unknown)),
        None => {
            trailers.insert(GRPC_STATUS, Code::Ok.header_value());
        }
    }
    trailers
}
