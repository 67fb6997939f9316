//! Browsers and HTTP/1.1: gRPC-Web and the Connect protocol, on the port that serves native
//! gRPC ([`Web`], through [`Server::web`](super::Server::web)).
//!
//! One mechanism serves both: each web request becomes a native gRPC call, made over an
//! in-memory HTTP/2 connection to this same server (one per client connection, carrying the
//! client's address and certificate), and its answer is written back in the request's
//! protocol. Services, interceptors, limits and deadlines therefore apply exactly as to native
//! calls, and the native path pays nothing for any of this. JSON is translated through each
//! method's schema (see [`json`](crate::json)).

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use base64::Engine;
use bytes::Bytes;
use http::header::{HeaderName, CONTENT_TYPE};
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode};
use http_body::{Body, Frame};
use http_body_util::BodyExt;
use tokio::sync::{mpsc, watch};

use super::{Phase, Shared};
use crate::frame::{framed, Envelopes};
use crate::headers::{GRPC_MESSAGE, GRPC_STATUS};
use crate::schema::{Idempotency, MessageSchema, MethodSchema};
use crate::status::decode_message;
use crate::transport::Peer;
use crate::{Code, Status};

/// Serving browsers and HTTP/1.1 clients beside native gRPC: gRPC-Web
/// (`application/grpc-web[+proto]`, `application/grpc-web-text[+proto]`) and the Connect
/// protocol (unary `application/json` and `application/proto` POSTs, GETs of
/// `#[no_side_effects]` methods, and streams in `application/connect+json` or `+proto`), over
/// HTTP/1.1 and HTTP/2, with CORS for the origins allowed.
///
/// ```
/// use protoless::{Server, Web};
///
/// let server = Server::builder().web(Web::new().allow_origin("https://app.example.com"));
/// ```
#[derive(Clone, Debug, Default)]
pub struct Web {
    origins: Origins,
}

#[derive(Clone, Debug, Default)]
enum Origins {
    /// Same-origin callers only: no CORS headers.
    #[default]
    None,
    Any,
    List(Vec<String>),
}

impl Web {
    /// gRPC-Web and Connect for callers of the page's own origin (no cross-origin callers).
    pub fn new() -> Web {
        Web::default()
    }

    /// Lets pages from `origin` (`https://app.example.com`) call across origins (CORS).
    pub fn allow_origin(mut self, origin: &str) -> Web {
        match &mut self.origins {
            Origins::List(list) => list.push(origin.to_owned()),
            Origins::None => self.origins = Origins::List(vec![origin.to_owned()]),
            Origins::Any => {}
        }
        self
    }

    /// Lets pages from any origin call: for demos and public APIs only, as any site a user
    /// visits may then call the service with the user's network position.
    pub fn allow_any_origin(mut self) -> Web {
        self.origins = Origins::Any;
        self
    }

    /// The value of `Access-Control-Allow-Origin` for a request from `origin`, if allowed.
    fn allowed(&self, origin: Option<&HeaderValue>) -> Option<HeaderValue> {
        let origin = origin?;
        match &self.origins {
            Origins::None => None,
            Origins::Any => Some(origin.clone()),
            Origins::List(list) => list
                .iter()
                .any(|allowed| allowed.as_bytes() == origin.as_bytes())
                .then(|| origin.clone()),
        }
    }
}

/// Headers a cross-origin page may read.
const EXPOSED: &str = "grpc-status, grpc-message, grpc-status-details-bin, content-encoding, \
                       connect-content-encoding, connect-accept-encoding, *";
/// Headers a cross-origin page may send.
const ALLOWED_HEADERS: &str = "content-type, connect-protocol-version, connect-timeout-ms, \
                               connect-content-encoding, connect-accept-encoding, grpc-timeout, \
                               x-grpc-web, x-user-agent, authorization, *";

/// The body of a web response: chunks from the task that writes the answer.
pub(crate) struct WebBody(BodyState);

enum BodyState {
    Full(Option<Bytes>),
    Channel(mpsc::Receiver<Bytes>),
}

impl WebBody {
    fn full(bytes: impl Into<Bytes>) -> WebBody {
        WebBody(BodyState::Full(Some(bytes.into())))
    }

    fn empty() -> WebBody {
        WebBody(BodyState::Full(None))
    }
}

impl Body for WebBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match &mut self.0 {
            BodyState::Full(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            BodyState::Channel(receiver) => receiver
                .poll_recv(cx)
                .map(|chunk| chunk.map(|b| Ok(Frame::data(b)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self.0, BodyState::Full(None))
    }

    fn size_hint(&self) -> http_body::SizeHint {
        match &self.0 {
            BodyState::Full(bytes) => {
                http_body::SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64))
            }
            BodyState::Channel(_) => http_body::SizeHint::default(),
        }
    }
}

/// The in-memory HTTP/2 connection one client connection's web calls go through, opened on
/// its first web call.
pub(crate) struct Gateway {
    shared: Arc<Shared>,
    peer: Peer,
    phase: watch::Receiver<Phase>,
    /// The in-memory connection, made on the first web call and again if it ended.
    inner: tokio::sync::Mutex<Option<h2::client::SendRequest<Bytes>>>,
}

impl Gateway {
    pub(crate) fn new(shared: Arc<Shared>, peer: Peer, phase: watch::Receiver<Phase>) -> Self {
        Gateway {
            shared,
            peer,
            phase,
            inner: tokio::sync::Mutex::new(None),
        }
    }

    pub(crate) fn web(&self) -> Option<&Web> {
        self.shared.config.web.as_deref()
    }

    async fn sender(&self) -> Result<h2::client::SendRequest<Bytes>, Status> {
        let mut inner = self.inner.lock().await;
        if let Some(sender) = inner.as_ref() {
            if let Ok(ready) = sender.clone().ready().await {
                return Ok(ready);
            }
        }
        // None yet, or it ended (the server shutting down ends it with the others).
        let (client, server) = tokio::io::duplex(super::IN_PROCESS_BUFFER);
        tokio::spawn(super::connection::serve_inner(
            server,
            self.peer.clone(),
            self.shared.clone(),
            self.phase.clone(),
        ));
        let (sender, connection) = h2::client::Builder::new()
            .initial_window_size(1 << 20)
            .initial_connection_window_size(2 << 20)
            .handshake::<_, Bytes>(client)
            .await
            .map_err(|error| Status::unavailable(format!("gateway: {error}")))?;
        tokio::spawn(connection);
        *inner = Some(sender.clone());
        drop(inner);
        sender
            .ready()
            .await
            .map_err(|error| Status::unavailable(format!("gateway: {error}")))
    }

    /// The schema of the method `path` names, if this server has it.
    fn method(&self, path: &str) -> Option<MethodSchema> {
        let (service, method) = path.strip_prefix('/')?.split_once('/')?;
        let schema = self.shared.services.get(service)?.schema();
        schema.methods.into_iter().find(|m| m.name == method)
    }
}

/// The web protocol of a request, by its method and content type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Protocol {
    GrpcWeb { text: bool },
    ConnectUnary { json: bool },
    ConnectStream { json: bool },
}

impl Protocol {
    /// The content type an answer in this protocol carries (a gRPC-Web answer echoes whether
    /// the request named `+proto`; this is the named form).
    fn content_type(self) -> &'static str {
        match self {
            Protocol::ConnectUnary { json: true } => "application/json",
            Protocol::ConnectUnary { json: false } => "application/proto",
            Protocol::ConnectStream { json: true } => "application/connect+json",
            Protocol::ConnectStream { json: false } => "application/connect+proto",
            Protocol::GrpcWeb { text: true } => "application/grpc-web-text+proto",
            Protocol::GrpcWeb { text: false } => "application/grpc-web+proto",
        }
    }

    fn of(method: &Method, content_type: &str) -> Option<Protocol> {
        let essence = content_type
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        if *method == Method::GET {
            return Some(Protocol::ConnectUnary { json: true });
        }
        Some(match essence.as_str() {
            "application/grpc-web" | "application/grpc-web+proto" => {
                Protocol::GrpcWeb { text: false }
            }
            "application/grpc-web-text" | "application/grpc-web-text+proto" => {
                Protocol::GrpcWeb { text: true }
            }
            "application/json" => Protocol::ConnectUnary { json: true },
            "application/proto" => Protocol::ConnectUnary { json: false },
            "application/connect+json" => Protocol::ConnectStream { json: true },
            "application/connect+proto" => Protocol::ConnectStream { json: false },
            _ => return None,
        })
    }
}

/// Whether a request on the HTTP/2 path is one for the web protocols (when they are on).
pub(crate) fn is_web(method: &Method, headers: &HeaderMap) -> bool {
    if *method == Method::OPTIONS || *method == Method::GET {
        return true;
    }
    headers
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| Protocol::of(method, value))
        .is_some()
}

/// Answers one web request.
pub(crate) async fn handle<B>(gateway: Arc<Gateway>, request: Request<B>) -> Response<WebBody>
where
    B: Body<Data = Bytes> + Send + Unpin + 'static,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    let web = gateway.web().cloned().unwrap_or_default();
    let origin = web.allowed(request.headers().get(http::header::ORIGIN));
    let mut response = if request.method() == Method::OPTIONS {
        preflight(origin.is_some())
    } else {
        translate(&gateway, request).await
    };
    if let Some(origin) = origin {
        let headers = response.headers_mut();
        headers.insert(http::header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        headers.insert(
            http::header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static(EXPOSED),
        );
        headers.append(http::header::VARY, HeaderValue::from_static("Origin"));
    }
    response
}

/// The answer to a CORS preflight: allowed when the origin is.
fn preflight(allowed: bool) -> Response<WebBody> {
    let mut response = Response::new(WebBody::empty());
    if !allowed {
        *response.status_mut() = StatusCode::FORBIDDEN;
        return response;
    }
    *response.status_mut() = StatusCode::NO_CONTENT;
    let headers = response.headers_mut();
    headers.insert(
        http::header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, POST"),
    );
    headers.insert(
        http::header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static(ALLOWED_HEADERS),
    );
    headers.insert(
        http::header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("7200"),
    );
    response
}

fn plain(status: StatusCode, text: &str) -> Response<WebBody> {
    let mut response = Response::new(WebBody::full(format!("{text}\n")));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// Headers that belong to HTTP or to the web protocol, not to the call's metadata.
fn is_protocol_header(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "host"
            | "connection"
            | "keep-alive"
            | "content-length"
            | "content-type"
            | "content-encoding"
            | "accept"
            | "accept-encoding"
            | "transfer-encoding"
            | "upgrade"
            | "te"
            | "origin"
            | "referer"
            | "x-grpc-web"
            | "x-user-agent"
            | "connect-protocol-version"
            | "connect-timeout-ms"
            | "connect-content-encoding"
            | "connect-accept-encoding"
            | "sec-fetch-mode"
            | "sec-fetch-site"
            | "sec-fetch-dest"
            | "http2-settings"
            | "proxy-connection"
    ) || name.as_str().starts_with("access-control-")
}

async fn translate<B>(gateway: &Gateway, request: Request<B>) -> Response<WebBody>
where
    B: Body<Data = Bytes> + Send + Unpin + 'static,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    let (head, body) = request.into_parts();
    let content_type = head
        .headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let Some(protocol) = Protocol::of(&head.method, content_type) else {
        return plain(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "expected gRPC-Web (application/grpc-web[-text]) or Connect (application/json, \
             application/proto, application/connect+json, application/connect+proto); native \
             gRPC (application/grpc) needs HTTP/2",
        );
    };
    if head.method != Method::POST && head.method != Method::GET {
        return plain(
            StatusCode::METHOD_NOT_ALLOWED,
            "use POST (or GET for Connect)",
        );
    }
    let path = head.uri.path().to_owned();
    let method = gateway.method(&path);
    let config = &gateway.shared.config;
    let max = config.max_receive_message_size;
    // The call's metadata: every header that is not the protocol's.
    let mut inner = Request::new(());
    *inner.method_mut() = Method::POST;
    *inner.uri_mut() = match http::Uri::builder()
        .scheme("http")
        .authority("web")
        .path_and_query(path.as_str())
        .build()
    {
        Ok(uri) => uri,
        Err(_) => return plain(StatusCode::BAD_REQUEST, "malformed path"),
    };
    for (name, value) in &head.headers {
        if !is_protocol_header(name) {
            inner.headers_mut().append(name, value.clone());
        }
    }
    inner
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
    inner
        .headers_mut()
        .insert(http::header::TE, HeaderValue::from_static("trailers"));
    if let Some(ms) = head
        .headers
        .get("connect-timeout-ms")
        .and_then(|v| v.to_str().ok())
    {
        // Up to 10 digits (Connect's limit); grpc-timeout takes 8, so long ones go in seconds.
        let digits = !ms.is_empty() && ms.len() <= 10 && ms.bytes().all(|b| b.is_ascii_digit());
        match ms.parse::<u64>() {
            Ok(ms) if digits && ms > 0 => {
                let timeout = if ms < 100_000_000 {
                    format!("{ms}m")
                } else {
                    format!("{}S", ms.div_ceil(1000))
                };
                let value = HeaderValue::from_str(&timeout).expect("digits and a unit");
                inner.headers_mut().insert("grpc-timeout", value);
            }
            _ => {
                return connect_error(
                    &Status::invalid_argument(format!("invalid connect-timeout-ms {ms:?}")),
                    HeaderMap::new(),
                )
            }
        }
    }
    match protocol {
        Protocol::GrpcWeb { text } => grpc_web(gateway, inner, body, text, content_type).await,
        Protocol::ConnectUnary { json } => {
            let Some(method) = method else {
                return connect_error(
                    &Status::unimplemented(format!("unknown method {path}")),
                    HeaderMap::new(),
                );
            };
            if method.client_streaming || method.server_streaming {
                return plain(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "a streaming method takes application/connect+json or application/connect+proto",
                );
            }
            let message = if head.method == Method::GET {
                if method.idempotency != Idempotency::NoSideEffects {
                    return plain(
                        StatusCode::METHOD_NOT_ALLOWED,
                        "GET is for #[no_side_effects] methods only; POST instead",
                    );
                }
                match get_message(head.uri.query().unwrap_or_default(), max) {
                    Ok(message) => message,
                    Err(status) => return connect_error(&status, HeaderMap::new()),
                }
            } else {
                let compression = match compression_of(
                    head.headers
                        .get("content-encoding")
                        .map(HeaderValue::as_bytes),
                ) {
                    Ok(compression) => compression,
                    Err(status) => return connect_error(&status, HeaderMap::new()),
                };
                let read = read_all(body, max, config.handshake_timeout).await;
                let read = match (read, compression) {
                    (Ok(bytes), Some(compression)) => compression.decompress(&bytes, max),
                    (read, _) => read,
                };
                match read {
                    Ok(bytes) => (bytes, json),
                    Err(status) => return connect_error(&status, HeaderMap::new()),
                }
            };
            connect_unary(gateway, inner, &method, message).await
        }
        Protocol::ConnectStream { json } => {
            let Some(method) = method else {
                return connect_stream_error(
                    Status::unimplemented(format!("unknown method {path}")),
                    json,
                );
            };
            let compression = match compression_of(
                head.headers
                    .get("connect-content-encoding")
                    .map(HeaderValue::as_bytes),
            ) {
                Ok(compression) => compression,
                Err(status) => return connect_stream_error(status, json),
            };
            connect_stream(gateway, inner, &method, body, (json, compression)).await
        }
    }
}

/// Reads a whole request body, up to `max` bytes, within `time` (a body that trickles in
/// forever would hold the connection).
async fn read_all<B>(body: B, max: usize, time: std::time::Duration) -> Result<Bytes, Status>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    let limited = http_body_util::Limited::new(body, max);
    let Ok(collected) = tokio::time::timeout(time, limited.collect()).await else {
        return Err(Status::deadline_exceeded(format!(
            "the request body did not arrive within {time:?}"
        )));
    };
    match collected {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(error) if error.is::<http_body_util::LengthLimitError>() => Err(
            Status::resource_exhausted(format!("request larger than the limit of {max} bytes")),
        ),
        Err(error) => Err(Status::cancelled(format!("request body failed: {error}"))),
    }
}

/// The compression a `content-encoding` (or `connect-content-encoding`, or a Connect GET's
/// `compression` parameter) names: gzip and deflate, as native gRPC; `unimplemented` for others.
fn compression_of(encoding: Option<&[u8]>) -> Result<Option<crate::Compression>, Status> {
    match encoding.map(|name| std::str::from_utf8(name).unwrap_or_default()) {
        None | Some("identity") => Ok(None),
        Some(name) => crate::Compression::from_name(name)
            .map(Some)
            .ok_or_else(|| {
                Status::unimplemented(format!(
                    "unsupported compression {name:?}; use gzip, deflate or identity"
                ))
            }),
    }
}

/// The message of a Connect GET: `message` (percent-encoded, base64 if `base64=1`, compressed
/// as `compression` names, at most `max` bytes once decompressed) and `encoding` (`json` or
/// `proto`).
fn get_message(query: &str, max: usize) -> Result<(Bytes, bool), Status> {
    let (mut message, mut base64, mut encoding, mut compression) = (None, false, None, None);
    for pair in query.split('&') {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let value = percent_decode(value)
            .ok_or_else(|| Status::invalid_argument(format!("malformed query value of {key}")))?;
        match key {
            "message" => message = Some(value),
            "base64" => base64 = value == b"1",
            "encoding" => encoding = Some(value),
            "compression" => compression = Some(value),
            _ => {}
        }
    }
    let compression = compression_of(compression.as_deref())?;
    let json = match encoding.as_deref() {
        Some(b"json") => true,
        Some(b"proto") => false,
        _ => {
            return Err(Status::invalid_argument(
                "a Connect GET names its encoding: encoding=json or encoding=proto",
            ))
        }
    };
    let message = message.unwrap_or_default();
    let message = if base64 {
        crate::base64::decode_any(&message)
            .ok_or_else(|| Status::invalid_argument("message is not base64"))?
    } else {
        message
    };
    let message = match compression {
        Some(compression) => compression.decompress(&message, max)?,
        None => Bytes::from(message),
    };
    Ok((message, json))
}

fn percent_decode(text: &str) -> Option<Vec<u8>> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = text.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            byte => {
                out.push(byte);
                i += 1;
            }
        }
    }
    Some(out)
}

/// A native call in flight: its response head, or why there is none.
struct Answer {
    headers: HeaderMap,
    /// `None` for a Trailers-Only answer (its status is in `headers`).
    body: Option<h2::RecvStream>,
}

/// Starts the native call: sends its head, then `send` pumps the request body.
async fn call(
    gateway: &Gateway,
    request: Request<()>,
    send: impl FnOnce(h2::SendStream<Bytes>) -> Option<tokio::task::JoinHandle<()>>,
) -> Result<(Answer, Option<tokio::task::JoinHandle<()>>), Status> {
    let mut sender = gateway.sender().await?;
    let (response, stream) = sender
        .send_request(request, false)
        .map_err(|error| Status::unavailable(format!("gateway: {error}")))?;
    let pump = send(stream);
    let response = response
        .await
        .map_err(|error| crate::client::status_from_h2(&error))?;
    let (parts, body) = response.into_parts();
    let trailers_only = parts.headers.contains_key(GRPC_STATUS);
    Ok((
        Answer {
            headers: parts.headers,
            body: (!trailers_only).then_some(body),
        },
        pump,
    ))
}

/// Sends `messages` (framed) on the native call's request body, then ends it.
fn send_all(mut stream: h2::SendStream<Bytes>, messages: Bytes) {
    if messages.is_empty() {
        let _ = stream.send_data(Bytes::new(), true);
        return;
    }
    tokio::spawn(async move {
        let _ = crate::flow::send_flow_controlled(&mut stream, messages).await;
        let _ = stream.send_data(Bytes::new(), true);
    });
}

/// The status a native answer ended with.
fn status_of(trailers: &HeaderMap) -> Status {
    let code = trailers
        .get(GRPC_STATUS)
        .and_then(|value| Code::from_header(value.as_bytes()))
        .unwrap_or(Code::Unknown);
    let message = trailers
        .get(GRPC_MESSAGE)
        .map(|value| decode_message(value.as_bytes()))
        .unwrap_or_default();
    let mut status = Status::new(code, message);
    if let Some(details) = trailers
        .get("grpc-status-details-bin")
        .and_then(|value| crate::base64::decode(value.as_bytes()))
    {
        status = status.with_details(details);
    }
    status
}

/// The call's metadata among `headers`: what is not gRPC's own.
fn metadata_headers(headers: &HeaderMap) -> impl Iterator<Item = (&HeaderName, &HeaderValue)> {
    headers.iter().filter(|(name, _)| {
        !matches!(
            name.as_str(),
            "content-type"
                | "grpc-status"
                | "grpc-message"
                | "grpc-status-details-bin"
                | "grpc-encoding"
                | "grpc-accept-encoding"
                | "content-length"
        )
    })
}

// ---------------------------------------------------------------------------------------------
// gRPC-Web.

async fn grpc_web<B>(
    gateway: &Gateway,
    mut inner: Request<()>,
    body: B,
    text: bool,
    content_type: &str,
) -> Response<WebBody>
where
    B: Body<Data = Bytes> + Send + Unpin + 'static,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    // gRPC-Web clients name their compression as native clients do.
    let _ = &mut inner;
    let response_type = if text || content_type.contains("+proto") {
        Protocol::GrpcWeb { text }.content_type()
    } else {
        "application/grpc-web"
    };
    let answered = call(gateway, inner, |stream| {
        Some(tokio::spawn(pump_request(body, stream, text)))
    })
    .await;
    let mut response = Response::new(WebBody::empty());
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(response_type));
    let (answer, pump) = match answered {
        Ok(answered) => answered,
        Err(status) => {
            // Trailers-Only, in the headers.
            super::call::put_status(response.headers_mut(), &status);
            return response;
        }
    };
    for (name, value) in answer.headers.iter() {
        if name != CONTENT_TYPE {
            response.headers_mut().append(name, value.clone());
        }
    }
    let Some(mut body) = answer.body else {
        // Trailers-Only: the status is in the headers already.
        return response;
    };
    let (sender, receiver) = mpsc::channel(8);
    *response.body_mut() = WebBody(BodyState::Channel(receiver));
    tokio::spawn(async move {
        let mut encoder = text.then(Base64Stream::default);
        let send = |chunk: Bytes, encoder: &mut Option<Base64Stream>| {
            let chunk = match encoder {
                Some(encoder) => encoder.encode(&chunk, false),
                None => chunk,
            };
            let sender = sender.clone();
            async move { chunk.is_empty() || sender.send(chunk).await.is_ok() }
        };
        while let Some(chunk) = next_chunk(&mut body, &sender).await {
            let Ok(chunk) = chunk else {
                break;
            };
            let _ = body.flow_control().release_capacity(chunk.len());
            if !send(chunk, &mut encoder).await {
                // The client went away: dropping the streams cancels the call.
                return;
            }
        }
        if sender.is_closed() {
            return;
        }
        let status = match body.trailers().await {
            Ok(Some(trailers)) => {
                let mut block = Vec::new();
                for (name, value) in trailers.iter() {
                    block.extend_from_slice(name.as_str().as_bytes());
                    block.extend_from_slice(b": ");
                    block.extend_from_slice(value.as_bytes());
                    block.extend_from_slice(b"\r\n");
                }
                block
            }
            _ => b"grpc-status: 13\r\ngrpc-message: the call ended without trailers\r\n".to_vec(),
        };
        let trailer = framed(0x80, &status);
        let trailer = match &mut encoder {
            Some(encoder) => encoder.encode(&trailer, true),
            None => trailer,
        };
        let _ = sender.send(trailer).await;
        drop(pump);
    });
    response
}

/// The next chunk of a native answer; `None` at its end, or once the web client has gone (the
/// web answer's receiver dropped): then the caller returns, and dropping the native call's
/// streams cancels it, even while its handler sends nothing.
async fn next_chunk(
    body: &mut h2::RecvStream,
    sender: &mpsc::Sender<Bytes>,
) -> Option<Result<Bytes, h2::Error>> {
    tokio::select! {
        chunk = body.data() => chunk,
        () = sender.closed() => None,
    }
}

/// Copies a gRPC-Web request body onto the native call's (base64-decoded for `text`).
async fn pump_request<B>(mut body: B, mut stream: h2::SendStream<Bytes>, text: bool)
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    let mut pending = Vec::new();
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else {
            stream.send_reset(h2::Reason::CANCEL);
            return;
        };
        let Ok(chunk) = frame.into_data() else {
            continue;
        };
        let chunk = if text {
            pending.extend(chunk.iter().filter(|b| !b.is_ascii_whitespace()));
            match decode_quanta(&mut pending) {
                Some(decoded) => decoded,
                None => {
                    stream.send_reset(h2::Reason::PROTOCOL_ERROR);
                    return;
                }
            }
        } else {
            chunk
        };
        if !chunk.is_empty()
            && crate::flow::send_flow_controlled(&mut stream, chunk)
                .await
                .is_err()
        {
            return;
        }
    }
    if !pending.is_empty() {
        // An unpadded tail: what it decodes to, or the request is broken.
        match crate::base64::decode_any(&pending) {
            Some(tail) => {
                if crate::flow::send_flow_controlled(&mut stream, Bytes::from(tail))
                    .await
                    .is_err()
                {
                    return;
                }
            }
            None => {
                stream.send_reset(h2::Reason::PROTOCOL_ERROR);
                return;
            }
        }
    }
    let _ = stream.send_data(Bytes::new(), true);
}

/// Decodes and removes every whole 4-character quantum of `pending` (base64 text whose
/// padding may come between messages, each message encoded on its own); `None` when the text
/// is not base64. At most three characters stay for the next chunk.
fn decode_quanta(pending: &mut Vec<u8>) -> Option<Bytes> {
    let whole = pending.len() / 4 * 4;
    let mut decoded = Vec::with_capacity(whole / 4 * 3);
    let mut start = 0;
    for quantum in (0..whole).step_by(4) {
        // A padded quantum ends a run that decodes on its own.
        if pending[quantum..quantum + 4].contains(&b'=') {
            decoded.extend(crate::base64::decode_any(&pending[start..quantum + 4])?);
            start = quantum + 4;
        }
    }
    decoded.extend(crate::base64::decode_any(&pending[start..whole])?);
    pending.drain(..whole);
    Some(Bytes::from(decoded))
}

/// Base64 over a stream of chunks: whole quanta as they come, the rest padded at the end.
#[derive(Default)]
struct Base64Stream {
    rest: Vec<u8>,
}

impl Base64Stream {
    fn encode(&mut self, chunk: &[u8], last: bool) -> Bytes {
        self.rest.extend_from_slice(chunk);
        let end = if last {
            self.rest.len()
        } else {
            self.rest.len() / 3 * 3
        };
        let whole: Vec<u8> = self.rest.drain(..end).collect();
        Bytes::from(base64::engine::general_purpose::STANDARD.encode(whole))
    }
}

// ---------------------------------------------------------------------------------------------
// Connect.

/// Connect's name for a code, and the HTTP status a unary error gets.
fn connect_code(code: Code) -> (&'static str, StatusCode) {
    match code {
        Code::Cancelled => ("canceled", StatusCode::from_u16(499).expect("valid")),
        Code::Unknown => ("unknown", StatusCode::INTERNAL_SERVER_ERROR),
        Code::InvalidArgument => ("invalid_argument", StatusCode::BAD_REQUEST),
        Code::DeadlineExceeded => ("deadline_exceeded", StatusCode::GATEWAY_TIMEOUT),
        Code::NotFound => ("not_found", StatusCode::NOT_FOUND),
        Code::AlreadyExists => ("already_exists", StatusCode::CONFLICT),
        Code::PermissionDenied => ("permission_denied", StatusCode::FORBIDDEN),
        Code::ResourceExhausted => ("resource_exhausted", StatusCode::TOO_MANY_REQUESTS),
        Code::FailedPrecondition => ("failed_precondition", StatusCode::BAD_REQUEST),
        Code::Aborted => ("aborted", StatusCode::CONFLICT),
        Code::OutOfRange => ("out_of_range", StatusCode::BAD_REQUEST),
        Code::Unimplemented => ("unimplemented", StatusCode::NOT_IMPLEMENTED),
        Code::Internal => ("internal", StatusCode::INTERNAL_SERVER_ERROR),
        Code::Unavailable => ("unavailable", StatusCode::SERVICE_UNAVAILABLE),
        Code::DataLoss => ("data_loss", StatusCode::INTERNAL_SERVER_ERROR),
        Code::Unauthenticated => ("unauthenticated", StatusCode::UNAUTHORIZED),
        Code::Ok => ("ok", StatusCode::OK),
    }
}

/// Connect's error JSON: code, message, and the details of a `google.rpc.Status`.
fn error_json(status: &Status) -> serde_json::Value {
    let mut error = serde_json::Map::new();
    error.insert("code".into(), connect_code(status.code()).0.into());
    if !status.message().is_empty() {
        error.insert("message".into(), status.message().into());
    }
    let details = status
        .rpc_status()
        .map(|rpc| rpc.details)
        .unwrap_or_default();
    if !details.is_empty() {
        let unpadded = base64::engine::general_purpose::STANDARD_NO_PAD;
        let details = details
            .into_iter()
            .map(|any| {
                let type_name = any.type_url.rsplit('/').next().unwrap_or_default();
                serde_json::json!({"type": type_name, "value": unpadded.encode(any.value)})
            })
            .collect::<Vec<_>>();
        error.insert("details".into(), details.into());
    }
    serde_json::Value::Object(error)
}

/// A unary Connect error: its HTTP status, the error JSON, `metadata` as headers.
fn connect_error(status: &Status, metadata: HeaderMap) -> Response<WebBody> {
    let mut response = Response::new(WebBody::full(error_json(status).to_string()));
    *response.status_mut() = connect_code(status.code()).1;
    *response.headers_mut() = metadata;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// Translates one message between protobuf and JSON by `schema`.
fn to_proto(schema: &MessageSchema, message: &[u8], json: bool) -> Result<Bytes, Status> {
    if !json {
        return Ok(Bytes::copy_from_slice(message));
    }
    crate::json::schema_json_to_proto(schema, message)
        .map(Bytes::from)
        .map_err(|error| Status::invalid_argument(format!("invalid JSON request: {error}")))
}

fn from_proto(schema: &MessageSchema, message: &[u8], json: bool) -> Result<Bytes, Status> {
    if !json {
        return Ok(Bytes::copy_from_slice(message));
    }
    crate::json::schema_proto_to_json(schema, message)
        .map(|text| Bytes::from(text.into_bytes()))
        .map_err(|error| Status::internal(format!("response has no JSON form: {error}")))
}

async fn connect_unary(
    gateway: &Gateway,
    inner: Request<()>,
    method: &MethodSchema,
    (message, json): (Bytes, bool),
) -> Response<WebBody> {
    let input = (method.input)();
    let request = match to_proto(&input, &message, json) {
        Ok(request) => framed(0, &request),
        Err(status) => return connect_error(&status, HeaderMap::new()),
    };
    let answered = call(gateway, inner, |stream| {
        send_all(stream, request);
        None
    })
    .await;
    let (answer, _) = match answered {
        Ok(answered) => answered,
        Err(status) => return connect_error(&status, HeaderMap::new()),
    };
    let mut metadata = HeaderMap::new();
    for (name, value) in metadata_headers(&answer.headers) {
        metadata.append(name, value.clone());
    }
    let Some(mut body) = answer.body else {
        let status = status_of(&answer.headers);
        let status = if status.code() == Code::Ok {
            Status::internal("the server sent no response message")
        } else {
            status
        };
        return connect_error(&status, metadata);
    };
    let max = gateway.shared.config.max_send_message_size;
    let mut envelopes = Envelopes::new(max.min(u32::MAX as usize));
    let mut messages = Vec::new();
    while let Some(chunk) = body.data().await {
        let Ok(chunk) = chunk else { break };
        let _ = body.flow_control().release_capacity(chunk.len());
        envelopes.push(&chunk);
        loop {
            match envelopes.next() {
                Ok(Some((0, message))) => messages.push(message),
                Ok(Some(_)) => {
                    return connect_error(
                        &Status::internal("the response was compressed unasked"),
                        metadata,
                    )
                }
                Ok(None) => break,
                Err(status) => return connect_error(&status, metadata),
            }
        }
    }
    let trailers = match body.trailers().await {
        Ok(Some(trailers)) => trailers,
        _ => {
            return connect_error(
                &Status::internal("the call ended without trailers"),
                metadata,
            )
        }
    };
    for (name, value) in metadata_headers(&trailers) {
        if let Ok(name) = HeaderName::from_bytes(format!("trailer-{name}").as_bytes()) {
            metadata.append(name, value.clone());
        }
    }
    let status = status_of(&trailers);
    if status.code() != Code::Ok {
        return connect_error(&status, metadata);
    }
    let [message] = messages.as_slice() else {
        return connect_error(
            &Status::internal(format!("a unary call answered {} messages", messages.len())),
            metadata,
        );
    };
    let output = (method.output)();
    match from_proto(&output, message, json) {
        Ok(body) => {
            let mut response = Response::new(WebBody::full(body));
            *response.headers_mut() = metadata;
            let content_type = Protocol::ConnectUnary { json }.content_type();
            response
                .headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
            response
        }
        Err(status) => connect_error(&status, metadata),
    }
}

/// A Connect stream that fails before it starts: HTTP 200, the error in the end envelope.
/// (The end message is JSON whatever the codec; the content type is the request's, as
/// Connect clients check.)
fn connect_stream_error(status: Status, json: bool) -> Response<WebBody> {
    let end = serde_json::json!({ "error": error_json(&status) }).to_string();
    let mut response = Response::new(WebBody::full(framed(0x02, end.as_bytes())));
    let content_type = Protocol::ConnectStream { json }.content_type();
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

async fn connect_stream<B>(
    gateway: &Gateway,
    inner: Request<()>,
    method: &MethodSchema,
    body: B,
    (json, compression): (bool, Option<crate::Compression>),
) -> Response<WebBody>
where
    B: Body<Data = Bytes> + Send + Unpin + 'static,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    let content_type = HeaderValue::from_static(Protocol::ConnectStream { json }.content_type());
    let (input, output) = ((method.input)(), (method.output)());
    let max = gateway.shared.config.max_receive_message_size;
    let failure = Arc::new(std::sync::Mutex::new(None));
    let pumped = failure.clone();
    let answered = call(gateway, inner, |stream| {
        Some(tokio::spawn(pump_connect_requests(
            body,
            stream,
            input,
            (json, compression),
            max,
            pumped,
        )))
    })
    .await;
    let (answer, pump) = match answered {
        Ok(answered) => answered,
        Err(status) => {
            // A request broken before the answer began says how it was broken.
            let broken = failure.lock().unwrap_or_else(|p| p.into_inner()).take();
            return connect_stream_error(broken.unwrap_or(status), json);
        }
    };
    let mut response = Response::new(WebBody::empty());
    for (name, value) in metadata_headers(&answer.headers) {
        response.headers_mut().append(name, value.clone());
    }
    response.headers_mut().insert(CONTENT_TYPE, content_type);
    let (sender, receiver) = mpsc::channel(8);
    *response.body_mut() = WebBody(BodyState::Channel(receiver));
    let max_send = gateway.shared.config.max_send_message_size;
    tokio::spawn(async move {
        let _pump = pump;
        let end = |status: Status, trailers: &HeaderMap| {
            let mut metadata = serde_json::Map::new();
            for (name, value) in metadata_headers(trailers) {
                if let Ok(value) = value.to_str() {
                    let entry = metadata
                        .entry(name.as_str())
                        .or_insert_with(|| serde_json::Value::Array(Vec::new()));
                    if let serde_json::Value::Array(values) = entry {
                        values.push(value.into());
                    }
                }
            }
            let mut end = serde_json::Map::new();
            if status.code() != Code::Ok {
                end.insert("error".into(), error_json(&status));
            }
            if !metadata.is_empty() {
                end.insert("metadata".into(), metadata.into());
            }
            framed(0x02, serde_json::Value::Object(end).to_string().as_bytes())
        };
        let Some(mut body) = answer.body else {
            let _ = sender
                .send(end(status_of(&answer.headers), &answer.headers))
                .await;
            return;
        };
        let mut envelopes = Envelopes::new(max_send.min(u32::MAX as usize));
        while let Some(chunk) = next_chunk(&mut body, &sender).await {
            let Ok(chunk) = chunk else { break };
            let _ = body.flow_control().release_capacity(chunk.len());
            envelopes.push(&chunk);
            loop {
                let message = match envelopes.next() {
                    Ok(Some((0, message))) => message,
                    Ok(Some(_)) => {
                        let status = Status::internal("the response was compressed unasked");
                        let _ = sender.send(end(status, &HeaderMap::new())).await;
                        return;
                    }
                    Ok(None) => break,
                    Err(status) => {
                        let _ = sender.send(end(status, &HeaderMap::new())).await;
                        return;
                    }
                };
                let message = match from_proto(&output, &message, json) {
                    Ok(message) => framed(0, &message),
                    Err(status) => {
                        let _ = sender.send(end(status, &HeaderMap::new())).await;
                        return;
                    }
                };
                if sender.send(message).await.is_err() {
                    return;
                }
            }
        }
        if sender.is_closed() {
            return;
        }
        let (status, trailers) = match body.trailers().await {
            Ok(Some(trailers)) => (status_of(&trailers), trailers),
            _ => (
                Status::internal("the call ended without trailers"),
                HeaderMap::new(),
            ),
        };
        // A call the request's own fault ended says that fault.
        let broken = failure.lock().unwrap_or_else(|p| p.into_inner()).take();
        let status = match broken {
            Some(broken) if status.code() != Code::Ok => broken,
            _ => status,
        };
        let _ = sender.send(end(status, &trailers)).await;
    });
    response
}

/// Copies Connect request envelopes onto the native call, as protobuf.
async fn pump_connect_requests<B>(
    mut body: B,
    mut stream: h2::SendStream<Bytes>,
    input: MessageSchema,
    (json, compression): (bool, Option<crate::Compression>),
    max: usize,
    failure: Arc<std::sync::Mutex<Option<Status>>>,
) where
    B: Body<Data = Bytes> + Unpin,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    // A broken request ends the call; its reason goes to the client in the end message.
    let fail = |status: Status, stream: &mut h2::SendStream<Bytes>| {
        *failure.lock().unwrap_or_else(|p| p.into_inner()) = Some(status);
        stream.send_reset(h2::Reason::CANCEL);
    };
    let mut envelopes = Envelopes::new(max);
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else {
            stream.send_reset(h2::Reason::CANCEL);
            return;
        };
        let Ok(chunk) = frame.into_data() else {
            continue;
        };
        envelopes.push(&chunk);
        loop {
            let message = match (envelopes.next(), compression) {
                (Ok(Some((0, message))), _) => message,
                // Compressed as `connect-content-encoding` said.
                (Ok(Some((1, message))), Some(compression)) => {
                    match compression.decompress(&message, max) {
                        Ok(message) => message,
                        Err(status) => return fail(status, &mut stream),
                    }
                }
                (Ok(Some((1, _))), None) => {
                    let status = Status::internal(
                        "a compressed request, but no connect-content-encoding named how",
                    );
                    return fail(status, &mut stream);
                }
                // A request stream has no end-stream envelope, nor any other flag.
                (Ok(Some((flags, _))), _) => {
                    let status = Status::invalid_argument(format!(
                        "invalid envelope flags {flags:#04x} in the request"
                    ));
                    return fail(status, &mut stream);
                }
                (Err(status), _) => return fail(status, &mut stream),
                (Ok(None), _) => break,
            };
            let message = match to_proto(&input, &message, json) {
                Ok(message) => message,
                Err(status) => return fail(status, &mut stream),
            };
            if crate::flow::send_flow_controlled(&mut stream, framed(0, &message))
                .await
                .is_err()
            {
                return;
            }
        }
    }
    if !envelopes.is_empty() {
        let status = Status::invalid_argument("the request ended inside a message");
        return fail(status, &mut stream);
    }
    let _ = stream.send_data(Bytes::new(), true);
}

/// A request body read from HTTP/2, its flow-control window released as it is read.
struct H2Body(h2::RecvStream);

impl Body for H2Body {
    type Data = Bytes;
    type Error = h2::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, h2::Error>>> {
        match std::task::ready!(self.0.poll_data(cx)) {
            Some(Ok(chunk)) => {
                let _ = self.0.flow_control().release_capacity(chunk.len());
                Poll::Ready(Some(Ok(Frame::data(chunk))))
            }
            Some(Err(error)) => Poll::Ready(Some(Err(error))),
            None => match std::task::ready!(self.0.poll_trailers(cx)) {
                Ok(Some(trailers)) => Poll::Ready(Some(Ok(Frame::trailers(trailers)))),
                Ok(None) => Poll::Ready(None),
                Err(error) => Poll::Ready(Some(Err(error))),
            },
        }
    }
}

/// A web request that arrived over HTTP/2: answered through the gateway, on the stream.
pub(crate) fn over_h2(
    gateway: Arc<Gateway>,
    request: Request<h2::RecvStream>,
    mut respond: h2::server::SendResponse<Bytes>,
) -> super::CallHandle {
    super::start_call(async move {
        let response = handle(gateway, request.map(H2Body)).await;
        let (head, mut body) = response.into_parts();
        let head = Response::from_parts(head, ());
        let Ok(mut stream) = respond.send_response(head, body.is_end_stream()) else {
            return;
        };
        if body.is_end_stream() {
            return;
        }
        loop {
            // The client may reset the stream while the answer waits: that ends the call.
            let frame = tokio::select! {
                frame = body.frame() => frame,
                _ = std::future::poll_fn(|cx| stream.poll_reset(cx)) => return,
            };
            let Some(Ok(frame)) = frame else { break };
            if let Ok(chunk) = frame.into_data() {
                if crate::flow::send_flow_controlled(&mut stream, chunk)
                    .await
                    .is_err()
                {
                    return;
                }
            }
        }
        let _ = stream.send_data(Bytes::new(), true);
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocols_are_told_by_method_and_content_type() {
        let post = Method::POST;
        assert_eq!(
            Protocol::of(&post, "application/grpc-web+proto"),
            Some(Protocol::GrpcWeb { text: false })
        );
        assert_eq!(
            Protocol::of(&post, "application/grpc-web-text"),
            Some(Protocol::GrpcWeb { text: true })
        );
        assert_eq!(
            Protocol::of(&post, "application/json; charset=utf-8"),
            Some(Protocol::ConnectUnary { json: true })
        );
        assert_eq!(
            Protocol::of(&post, "application/connect+proto"),
            Some(Protocol::ConnectStream { json: false })
        );
        assert_eq!(Protocol::of(&post, "application/grpc"), None);
        assert_eq!(
            Protocol::of(&Method::GET, ""),
            Some(Protocol::ConnectUnary { json: true })
        );
    }

    #[test]
    fn base64_streams_split_anywhere_decode_whole() {
        let mut stream = Base64Stream::default();
        let mut text = Vec::new();
        for chunk in [&b"a"[..], b"bcd", b"ef", b"g"] {
            text.extend_from_slice(&stream.encode(chunk, false));
        }
        text.extend_from_slice(&stream.encode(b"", true));
        assert_eq!(crate::base64::decode_any(&text).unwrap(), b"abcdefg");
    }

    #[test]
    fn base64_text_with_padding_between_messages_decodes_in_any_chunks() {
        // Two messages, each padded: "AA==" "AQI=" , then an unpadded tail "Aw".
        let text = b"AA==AQI=Aw";
        for split in 0..text.len() {
            let mut pending = Vec::new();
            let mut decoded = Vec::new();
            for chunk in [&text[..split], &text[split..]] {
                pending.extend_from_slice(chunk);
                decoded.extend_from_slice(&decode_quanta(&mut pending).unwrap());
                assert!(pending.len() < 4);
            }
            decoded.extend(crate::base64::decode_any(&pending).unwrap());
            assert_eq!(decoded, [0, 1, 2, 3], "split at {split}");
        }
        // Many padded quanta in one chunk leave nothing behind (no quadratic buffering).
        let mut pending = b"AA==".repeat(1000);
        assert_eq!(decode_quanta(&mut pending).unwrap().len(), 1000);
        assert!(pending.is_empty());
        assert!(decode_quanta(&mut b"A!==".to_vec()).is_none());
    }

    #[test]
    fn get_messages_read_percent_and_base64_encodings() {
        let max = 1 << 20;
        let query = "connect=v1&encoding=json&message=%7B%22name%22%3A%22x%22%7D";
        let (message, json) = get_message(query, max).unwrap();
        assert!(json);
        assert_eq!(&message[..], br#"{"name":"x"}"#);
        let (message, json) = get_message("encoding=proto&base64=1&message=CgF4", max).unwrap();
        assert!(!json);
        assert_eq!(&message[..], b"\x0a\x01x");
        assert!(get_message("message=x", max).is_err());
        let query = "encoding=proto&base64=1&compression=identity&message=CgF4";
        assert_eq!(&get_message(query, max).unwrap().0[..], b"\x0a\x01x");
    }

    #[test]
    fn get_messages_are_decompressed_within_the_limit() {
        let mut gzipped = bytes::BytesMut::new();
        crate::Compression::Gzip
            .compress(&[b'x'; 1000], &mut gzipped)
            .unwrap();
        let text = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&gzipped);
        let query = format!("encoding=proto&base64=1&compression=gzip&message={text}");
        assert_eq!(get_message(&query, 1000).unwrap().0.len(), 1000);
        let too_large = get_message(&query, 999).unwrap_err();
        assert_eq!(
            too_large.code(),
            crate::Code::ResourceExhausted,
            "{too_large:?}"
        );
        let query = "encoding=proto&base64=1&compression=br&message=CgF4";
        let unknown = get_message(query, 1000).unwrap_err();
        assert_eq!(unknown.code(), crate::Code::Unimplemented, "{unknown:?}");
    }
}
