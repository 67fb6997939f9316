//! [`UnaryCall`]: a call in the making. Set options, then `.await` it.

use std::future::{Future, IntoFuture};
use std::marker::PhantomData;
use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Request};

use super::Channel;
use crate::frame::{self, FrameDecoder};
use crate::status::decode_message;
use crate::{timeout, Code, Codec, Message, Status};

/// A unary call that has not been sent yet: chain options, then `.await` it.
///
/// ```no_run
/// # use protoless::{Message, Status};
/// # use std::time::Duration;
/// # #[derive(Message)] pub struct PiRequest { pub n: i32 }
/// # #[derive(Message)] pub struct PiResponse { pub value: f64 }
/// # #[protoless::service(package = "pi")]
/// # pub trait PiCalculator {
/// #     async fn calc(&self, req: PiRequest) -> Result<PiResponse, Status>;
/// # }
/// # async fn run() -> Result<(), Status> {
/// let client = PiCalculatorClient::connect("http://127.0.0.1:50051").await?;
/// let quick = client.calc(PiRequest { n: 10 }).await?;
/// let bounded = client
///     .calc(PiRequest { n: 1_000_000 })
///     .timeout(Duration::from_millis(100))
///     .await?;
/// # Ok(()) }
/// ```
#[must_use = "a call does nothing until it is awaited"]
pub struct UnaryCall<Req, Resp> {
    channel: Channel,
    path: &'static str,
    request: Req,
    timeout: Option<Duration>,
    codec: Codec,
    response: PhantomData<fn() -> Resp>,
}

impl<Req: Message, Resp: Message> UnaryCall<Req, Resp> {
    pub(super) fn new(channel: Channel, path: &'static str, request: Req) -> Self {
        UnaryCall {
            channel,
            path,
            request,
            timeout: None,
            codec: Codec::Protobuf,
            response: PhantomData,
        }
    }

    /// Fails the call with `DEADLINE_EXCEEDED` after `timeout`; the server is told the deadline
    /// (`grpc-timeout`) and stops working on the call then too.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Encodes this call with `codec` instead of protobuf.
    pub fn codec(mut self, codec: Codec) -> Self {
        self.codec = codec;
        self
    }

    async fn send(self) -> Result<Resp, Status> {
        let payload = frame::encode(
            self.codec,
            &self.request,
            self.channel.max_send_message_size(),
        )?;
        let exchange = exchange(&self.channel, || self.request_head(), payload, self.codec);
        match self.timeout {
            None => exchange.await,
            Some(timeout) => tokio::time::timeout(timeout, exchange)
                .await
                .unwrap_or_else(|_| Err(Status::deadline_exceeded("Deadline Exceeded"))),
        }
    }

    fn request_head(&self) -> Request<()> {
        let mut request = Request::new(());
        *request.method_mut() = http::Method::POST;
        *request.uri_mut() = self.channel.uri(self.path);
        let headers = request.headers_mut();
        headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static(self.codec.content_type()),
        );
        headers.insert(http::header::TE, HeaderValue::from_static("trailers"));
        headers.insert(
            http::header::USER_AGENT,
            HeaderValue::from_static(concat!("protoless/", env!("CARGO_PKG_VERSION"))),
        );
        if let Some(timeout) = self.timeout {
            let value = HeaderValue::from_str(&timeout::format(timeout))
                .expect("a formatted timeout is ASCII digits and a unit");
            headers.insert("grpc-timeout", value);
        }
        request
    }
}

impl<Req: Message, Resp: Message> IntoFuture for UnaryCall<Req, Resp> {
    type Output = Result<Resp, Status>;
    type IntoFuture = Pin<Box<dyn Future<Output = Result<Resp, Status>> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.send())
    }
}

impl<Req, Resp> std::fmt::Debug for UnaryCall<Req, Resp> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UnaryCall")
            .field("path", &self.path)
            .field("timeout", &self.timeout)
            .field("codec", &self.codec)
            .finish_non_exhaustive()
    }
}

/// How often a call the server refused unprocessed (`REFUSED_STREAM`) is sent again.
const TRANSPARENT_RETRIES: usize = 3;

/// Sends one request message and reads the one response message and the status.
///
/// A stream the server refused before processing it is retried transparently, as gRPC allows:
/// the server did no work, so sending it again is safe for any method.
async fn exchange<Resp: Message>(
    channel: &Channel,
    request: impl Fn() -> Request<()>,
    payload: Bytes,
    codec: Codec,
) -> Result<Resp, Status> {
    let mut attempt = 0;
    loop {
        let mut sender = channel.sender().await?;
        let (response, mut body) = sender.send_request(request(), false).map_err(|error| {
            channel.forget_connection();
            status_from_h2(&error)
        })?;
        body.send_data(payload.clone(), true)
            .map_err(|error| status_from_h2(&error))?;
        let response = match response.await {
            Err(error)
                if error.reason() == Some(h2::Reason::REFUSED_STREAM)
                    && attempt < TRANSPARENT_RETRIES =>
            {
                attempt += 1;
                continue;
            }
            other => other.map_err(|error| status_from_h2(&error))?,
        };
        let message = read_response(response, channel.max_receive_message_size()).await?;
        return codec.decode(message);
    }
}

async fn read_response(
    response: http::Response<h2::RecvStream>,
    max_size: usize,
) -> Result<Bytes, Status> {
    let (head, mut body) = response.into_parts();
    if head.status != http::StatusCode::OK {
        let code = Code::from_http(head.status.as_u16());
        return Err(status_from_headers(&head.headers).unwrap_or_else(|| {
            Status::new(code, format!("unexpected HTTP status code {}", head.status))
        }));
    }
    // Trailers-Only: the status came with the headers and there is no body.
    if let Some(status) = status_from_headers(&head.headers) {
        return Err(if status.code() == Code::Ok {
            Status::internal("server sent no response message")
        } else {
            status
        });
    }
    let content_type = head.headers.get(http::header::CONTENT_TYPE);
    if content_type
        .and_then(|value| value.to_str().ok())
        .and_then(Codec::from_content_type)
        .is_none()
    {
        return Err(Status::unknown(format!(
            "response has content-type {content_type:?}, not a gRPC one"
        )));
    }
    let mut decoder = FrameDecoder::new(max_size);
    let mut message = None;
    while let Some(chunk) = body.data().await {
        let chunk = chunk.map_err(|error| status_from_h2(&error))?;
        decoder.push(&chunk);
        let _ = body.flow_control().release_capacity(chunk.len());
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
    let status = trailers
        .as_ref()
        .and_then(status_from_headers)
        .unwrap_or_else(|| Status::internal("server closed the stream without sending trailers"));
    if status.code() != Code::Ok {
        return Err(status);
    }
    if decoder.has_partial_message() {
        return Err(Status::internal("response stream ended inside a message"));
    }
    message.ok_or_else(|| Status::internal("server sent no response message"))
}

/// The status in `grpc-status`, `grpc-message` and `grpc-status-details-bin`, if present.
pub(crate) fn status_from_headers(headers: &HeaderMap) -> Option<Status> {
    let code = headers.get("grpc-status")?;
    let code = Code::from_header(code.as_bytes()).unwrap_or(Code::Unknown);
    let message = headers
        .get("grpc-message")
        .map(|value| decode_message(value.as_bytes()))
        .unwrap_or_default();
    let mut status = Status::new(code, message);
    if let Some(details) = headers.get("grpc-status-details-bin") {
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
