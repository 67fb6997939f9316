//! Calls in the making ([`Call`]): set options, then `.await` to send. Unary calls answer with
//! the response; streaming calls with a handle to send and receive messages.

use std::future::{Future, IntoFuture};
use std::marker::PhantomData;
use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use h2::client::ResponseFuture;
use h2::{RecvStream, SendStream};
use http::{HeaderMap, HeaderValue, Request};
use tokio::time::Instant;

use super::Channel;
use crate::flow::send_flow_controlled;
use crate::frame::{self, FrameDecoder};
use crate::status::decode_message;
use crate::{timeout, Code, Codec, Message, Status, Streaming};

/// The four shapes of a gRPC method, as type markers of [`Call`].
pub mod kind {
    /// One request, one response.
    #[derive(Debug)]
    pub enum Unary {}
    /// One request, a stream of responses.
    #[derive(Debug)]
    pub enum ServerStreaming {}
    /// A stream of requests, one response.
    #[derive(Debug)]
    pub enum ClientStreaming {}
    /// Streams both ways.
    #[derive(Debug)]
    pub enum BidiStreaming {}
}

/// A call that has not been sent yet: chain options, then `.await` it.
///
/// What the `.await` gives depends on the method's shape:
///
/// | shape | `.await` gives |
/// | --- | --- |
/// | [`UnaryCall`] | the response |
/// | [`ServerStreamingCall`] | a [`Streaming`] of responses |
/// | [`ClientStreamingCall`] | a [`ClientStream`]: `send` requests, then `finish` for the response |
/// | [`BidiStreamingCall`] | a [`BidiStream`]: `send` and `message` in any order |
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
pub struct Call<Req, Resp, Kind> {
    channel: Channel,
    path: &'static str,
    request: Option<Req>,
    timeout: Option<Duration>,
    codec: Codec,
    shape: PhantomData<fn(Kind) -> Resp>,
}

/// A unary call: `.await` gives the response.
pub type UnaryCall<Req, Resp> = Call<Req, Resp, kind::Unary>;
/// A server-streaming call: `.await` gives a [`Streaming`] of responses.
pub type ServerStreamingCall<Req, Resp> = Call<Req, Resp, kind::ServerStreaming>;
/// A client-streaming call: `.await` gives a [`ClientStream`].
pub type ClientStreamingCall<Req, Resp> = Call<Req, Resp, kind::ClientStreaming>;
/// A bidirectional call: `.await` gives a [`BidiStream`].
pub type BidiStreamingCall<Req, Resp> = Call<Req, Resp, kind::BidiStreaming>;

type BoxedCall<T> = Pin<Box<dyn Future<Output = Result<T, Status>> + Send>>;

impl<Req: Message, Resp: Message, Kind> Call<Req, Resp, Kind> {
    pub(super) fn new(channel: Channel, path: &'static str, request: Option<Req>) -> Self {
        Call {
            channel,
            path,
            request,
            timeout: None,
            codec: Codec::Protobuf,
            shape: PhantomData,
        }
    }

    /// Fails the call with `DEADLINE_EXCEEDED` after `timeout`; the server is told the deadline
    /// (`grpc-timeout`) and stops working on the call then too. For streaming calls the deadline
    /// covers the whole exchange.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Encodes this call with `codec` instead of protobuf.
    pub fn codec(mut self, codec: Codec) -> Self {
        self.codec = codec;
        self
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

    fn deadline(&self) -> Option<Instant> {
        self.timeout.map(|timeout| Instant::now() + timeout)
    }

    fn encode_request(&mut self) -> Result<Bytes, Status> {
        let request = self
            .request
            .take()
            .expect("this call shape carries a request");
        frame::encode(self.codec, &request, self.channel.max_send_message_size())
    }

    /// Opens the HTTP/2 stream, leaving the request body open for messages.
    async fn open(&self) -> Result<(SendStream<Bytes>, ResponseFuture), Status> {
        let mut sender = self.channel.sender().await?;
        let (response, body) =
            sender
                .send_request(self.request_head(), false)
                .map_err(|error| {
                    self.channel.forget_connection();
                    status_from_h2(&error)
                })?;
        Ok((body, response))
    }

    /// Sends the one request message and waits for the response headers.
    ///
    /// A stream the server refused before processing it (`REFUSED_STREAM`) is sent again, as
    /// gRPC's transparent retry allows: the server did no work, so this is safe for any method.
    async fn send_single(&mut self) -> Result<Head, Status> {
        let payload = self.encode_request()?;
        let mut attempt = 0;
        loop {
            let (mut body, response) = self.open().await?;
            body.send_data(payload.clone(), true)
                .map_err(|error| status_from_h2(&error))?;
            match response.await {
                Err(error)
                    if error.reason() == Some(h2::Reason::REFUSED_STREAM)
                        && attempt < TRANSPARENT_RETRIES =>
                {
                    attempt += 1;
                }
                other => return Head::read(other.map_err(|error| status_from_h2(&error))?),
            }
        }
    }

    fn streaming(&self, head: Head, deadline: Option<Instant>) -> Streaming<Resp> {
        head.into_streaming(self.codec, self.channel.max_receive_message_size())
            .with_deadline(deadline)
    }

    fn sink(&self, body: SendStream<Bytes>, deadline: Option<Instant>) -> RequestSink<Req> {
        RequestSink {
            body,
            codec: self.codec,
            max_message_size: self.channel.max_send_message_size(),
            deadline,
            closed: false,
            request: PhantomData,
        }
    }
}

/// How often a call the server refused unprocessed is sent again.
const TRANSPARENT_RETRIES: usize = 3;

/// Runs `work` under the call's deadline.
async fn within<T>(
    deadline: Option<Instant>,
    work: impl Future<Output = Result<T, Status>>,
) -> Result<T, Status> {
    match deadline {
        None => work.await,
        Some(deadline) => tokio::time::timeout_at(deadline, work)
            .await
            .unwrap_or_else(|_| Err(Status::deadline_exceeded("Deadline Exceeded"))),
    }
}

impl<Req: Message, Resp: Message> IntoFuture for UnaryCall<Req, Resp> {
    type Output = Result<Resp, Status>;
    type IntoFuture = BoxedCall<Resp>;

    fn into_future(mut self) -> Self::IntoFuture {
        Box::pin(async move {
            let deadline = self.deadline();
            within(deadline, async {
                match self.send_single().await? {
                    Head::Body(body) => {
                        let max = self.channel.max_receive_message_size();
                        self.codec.decode(read_single_response(body, max).await?)
                    }
                    Head::Ended(status) if status.code() == Code::Ok => {
                        Err(Status::internal("server sent no response message"))
                    }
                    Head::Ended(status) => Err(status),
                }
            })
            .await
        })
    }
}

impl<Req: Message, Resp: Message> IntoFuture for ServerStreamingCall<Req, Resp> {
    type Output = Result<Streaming<Resp>, Status>;
    type IntoFuture = BoxedCall<Streaming<Resp>>;

    fn into_future(mut self) -> Self::IntoFuture {
        Box::pin(async move {
            let deadline = self.deadline();
            let head = within(deadline, self.send_single()).await?;
            Ok(self.streaming(head, deadline))
        })
    }
}

impl<Req: Message, Resp: Message> IntoFuture for ClientStreamingCall<Req, Resp> {
    type Output = Result<ClientStream<Req, Resp>, Status>;
    type IntoFuture = BoxedCall<ClientStream<Req, Resp>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            let deadline = self.deadline();
            let (body, response) = within(deadline, self.open()).await?;
            Ok(ClientStream {
                requests: self.sink(body, deadline),
                responses: Responses::waiting(response, &self, deadline),
            })
        })
    }
}

impl<Req: Message, Resp: Message> IntoFuture for BidiStreamingCall<Req, Resp> {
    type Output = Result<BidiStream<Req, Resp>, Status>;
    type IntoFuture = BoxedCall<BidiStream<Req, Resp>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            let deadline = self.deadline();
            let (body, response) = within(deadline, self.open()).await?;
            Ok(BidiStream {
                requests: self.sink(body, deadline),
                responses: Responses::waiting(response, &self, deadline),
            })
        })
    }
}

impl<Req, Resp, Kind> std::fmt::Debug for Call<Req, Resp, Kind> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Call")
            .field("path", &self.path)
            .field("timeout", &self.timeout)
            .field("codec", &self.codec)
            .finish_non_exhaustive()
    }
}

/// Reads the body of a unary response: one message, then the status in the trailers.
///
/// Unary calls read here directly rather than through a [`Streaming`], which would spawn a task.
async fn read_single_response(mut body: RecvStream, max_size: usize) -> Result<Bytes, Status> {
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

/// The response headers, read: a body to come, or a Trailers-Only status.
enum Head {
    Body(RecvStream),
    Ended(Status),
}

impl Head {
    fn into_streaming<Resp: Message>(
        self,
        codec: Codec,
        max_message_size: usize,
    ) -> Streaming<Resp> {
        match self {
            Head::Body(body) => Streaming::new(body, codec, max_message_size, true),
            Head::Ended(status) => {
                Streaming::ended(codec, (status.code() != Code::Ok).then_some(status))
            }
        }
    }

    fn read(response: http::Response<RecvStream>) -> Result<Head, Status> {
        let (head, body) = response.into_parts();
        if head.status != http::StatusCode::OK {
            let code = Code::from_http(head.status.as_u16());
            return Err(status_from_headers(&head.headers).unwrap_or_else(|| {
                Status::new(code, format!("unexpected HTTP status code {}", head.status))
            }));
        }
        if let Some(status) = status_from_headers(&head.headers) {
            return Ok(Head::Ended(status));
        }
        let content_type = head.headers.get(http::header::CONTENT_TYPE);
        let is_grpc = content_type
            .and_then(|value| value.to_str().ok())
            .and_then(Codec::from_content_type)
            .is_some();
        if !is_grpc {
            return Err(Status::unknown(format!(
                "response has content-type {content_type:?}, not a gRPC one"
            )));
        }
        Ok(Head::Body(body))
    }
}

/// Sends the request messages of a client-streaming or bidirectional call.
pub struct RequestSink<Req> {
    body: SendStream<Bytes>,
    codec: Codec,
    max_message_size: usize,
    deadline: Option<Instant>,
    closed: bool,
    request: PhantomData<fn(Req)>,
}

impl<Req: Message> RequestSink<Req> {
    /// Sends one request, waiting while the server's flow-control window is full.
    ///
    /// Fails when the call has ended; the response side then tells the server's status.
    pub async fn send(&mut self, request: Req) -> Result<(), Status> {
        if self.closed {
            return Err(Status::failed_precondition("requests were already closed"));
        }
        let message = frame::encode(self.codec, &request, self.max_message_size)?;
        within(self.deadline, async {
            send_flow_controlled(&mut self.body, message)
                .await
                .map_err(|error| status_from_h2(&error))
        })
        .await
    }

    /// Tells the server no more requests follow (HTTP/2 END_STREAM). Closing twice is harmless.
    pub fn close(&mut self) -> Result<(), Status> {
        if !self.closed {
            self.closed = true;
            self.body
                .send_data(Bytes::new(), true)
                .map_err(|error| status_from_h2(&error))?;
        }
        Ok(())
    }
}

impl<Req> std::fmt::Debug for RequestSink<Req> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestSink")
            .field("closed", &self.closed)
            .finish_non_exhaustive()
    }
}

/// The responses of a client-streaming or bidirectional call.
///
/// The server may send its response headers only with its first message, so they are awaited
/// on the first read, not when the call opens: a client can send first without blocking.
pub struct Responses<Resp> {
    state: ResponsesState<Resp>,
}

enum ResponsesState<Resp> {
    Waiting {
        response: ResponseFuture,
        codec: Codec,
        max_message_size: usize,
        deadline: Option<Instant>,
    },
    Open(Streaming<Resp>),
    Failed(Status),
}

impl<Resp: Message> Responses<Resp> {
    fn waiting(
        response: ResponseFuture,
        call: &Call<impl Message, Resp, impl Sized>,
        deadline: Option<Instant>,
    ) -> Self {
        Responses {
            state: ResponsesState::Waiting {
                response,
                codec: call.codec,
                max_message_size: call.channel.max_receive_message_size(),
                deadline,
            },
        }
    }

    /// The next response; `Ok(None)` once the server has finished, `Err` with its status if the
    /// call failed.
    pub async fn message(&mut self) -> Result<Option<Resp>, Status> {
        if matches!(self.state, ResponsesState::Waiting { .. }) {
            let placeholder = ResponsesState::Failed(Status::internal("response headers lost"));
            let ResponsesState::Waiting {
                response,
                codec,
                max_message_size,
                deadline,
            } = std::mem::replace(&mut self.state, placeholder)
            else {
                unreachable!("checked just above")
            };
            let head = within(deadline, async {
                Head::read(response.await.map_err(|error| status_from_h2(&error))?)
            })
            .await;
            self.state = match head {
                Ok(head) => ResponsesState::Open(
                    head.into_streaming(codec, max_message_size)
                        .with_deadline(deadline),
                ),
                Err(status) => ResponsesState::Failed(status),
            };
        }
        match &mut self.state {
            ResponsesState::Open(streaming) => streaming.message().await,
            ResponsesState::Failed(status) => Err(status.clone()),
            ResponsesState::Waiting { .. } => unreachable!("opened just above"),
        }
    }
}

impl<Resp> std::fmt::Debug for Responses<Resp> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match &self.state {
            ResponsesState::Waiting { .. } => "waiting for headers",
            ResponsesState::Open(_) => "open",
            ResponsesState::Failed(_) => "failed",
        };
        f.debug_struct("Responses").field("state", &state).finish()
    }
}

/// An open client-streaming call: [`send`](Self::send) the requests, then
/// [`finish`](Self::finish) for the server's one response.
///
/// Dropping it before `finish` cancels the call.
#[derive(Debug)]
pub struct ClientStream<Req, Resp> {
    requests: RequestSink<Req>,
    responses: Responses<Resp>,
}

impl<Req: Message, Resp: Message> ClientStream<Req, Resp> {
    /// Sends one request, waiting while the server's flow-control window is full.
    ///
    /// Fails when the server has ended the call; [`finish`](Self::finish) then tells its status.
    pub async fn send(&mut self, request: Req) -> Result<(), Status> {
        self.requests.send(request).await
    }

    /// Closes the request stream and waits for the response.
    pub async fn finish(mut self) -> Result<Resp, Status> {
        // A server that already answered may have closed its side: its answer is what counts.
        let _ = self.requests.close();
        let response = self
            .responses
            .message()
            .await?
            .ok_or_else(|| Status::internal("server sent no response message"))?;
        match self.responses.message().await? {
            None => Ok(response),
            Some(_) => Err(Status::internal(
                "server sent more than one response message",
            )),
        }
    }
}

/// An open bidirectional call: [`send`](Self::send) requests and read
/// [`message`](Self::message)s in any order, or [`split`](Self::split) the two directions
/// between tasks.
///
/// Dropping it before the server finishes cancels the call.
#[derive(Debug)]
pub struct BidiStream<Req, Resp> {
    requests: RequestSink<Req>,
    responses: Responses<Resp>,
}

impl<Req: Message, Resp: Message> BidiStream<Req, Resp> {
    /// Sends one request, waiting while the server's flow-control window is full.
    pub async fn send(&mut self, request: Req) -> Result<(), Status> {
        self.requests.send(request).await
    }

    /// Tells the server no more requests follow.
    pub fn close_send(&mut self) -> Result<(), Status> {
        self.requests.close()
    }

    /// The next response; `Ok(None)` once the server has finished.
    pub async fn message(&mut self) -> Result<Option<Resp>, Status> {
        self.responses.message().await
    }

    /// The two directions apart, to send from one task and read in another.
    pub fn split(self) -> (RequestSink<Req>, Responses<Resp>) {
        (self.requests, self.responses)
    }
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
