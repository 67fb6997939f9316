//! One call on the server: reading the request(s), running the handler under its deadline and
//! the client's cancellation, and answering with messages and trailers.
//!
//! One driver per call shape; they share the pieces below. Every wait is raced against the
//! deadline and against the client resetting the stream: when either wins, the handler (and its
//! response stream) is dropped, which cancels it.

use std::any::Any;
use std::future::{poll_fn, Future};
use std::panic::AssertUnwindSafe;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{self, Poll};

use bytes::{Bytes, BytesMut};
use futures_core::Stream;
use h2::server::SendResponse;
use h2::{RecvStream, SendStream};
use http::{HeaderMap, HeaderValue};
use tokio::time::{Instant, Sleep};

use super::context::{Inherited, CALL_SCOPE};
use super::{Context, Method, ServerConfig};
use crate::compression::Compression;
use crate::flow::send_flow_controlled;
use crate::frame::{self, Encoding, SingleRead};
use crate::headers::{GRPC_ENCODING, GRPC_MESSAGE, GRPC_STATUS, GRPC_STATUS_DETAILS};
use crate::intercept::{CallInfo, Intercepted, Side};
use crate::metadata::MetadataMap;
use crate::status::encode_message;
use crate::transport::Peer;
use crate::{Code, Codec, Message, Status, Streaming};

/// A call the server has routed to a service but not yet answered.
///
/// Generated code passes it to the runtime's call drivers; it is not useful on its own.
#[derive(Debug)]
pub struct ServerCall {
    pub(super) codec: Codec,
    pub(super) body: RecvStream,
    pub(super) respond: SendResponse<Bytes>,
    pub(super) info: CallDetails,
    pub(super) config: Arc<ServerConfig>,
    /// What the request's messages are compressed with (its `grpc-encoding`).
    pub(super) request_compression: Option<Compression>,
    /// What to compress responses with, if anything.
    pub(super) response_compression: Option<Compression>,
    /// The call's place in the server's concurrent-call limit, if it has one.
    pub(super) load: Option<LoadGuard>,
}

/// A call counted against the server's concurrent-call limit, until it is dropped.
#[derive(Debug)]
pub(super) struct LoadGuard(Arc<AtomicUsize>);

impl Drop for LoadGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// What a handler's [`Context`] is made of, if the handler takes one.
#[derive(Debug)]
pub(super) struct CallDetails {
    /// Boxed, and only when there is any (most calls carry none): the call's future stays small.
    pub(super) metadata: Option<Box<MetadataMap>>,
    pub(super) deadline: Option<Instant>,
    pub(super) peer: Peer,
    /// The client's `grpc-accept-encoding`, for a handler that chooses the response's
    /// compression itself.
    pub(super) accept_encoding: Option<HeaderValue>,
}

/// What a handler takes beside its request: a [`Context`], or `()` when it declares none, so
/// that a handler without one costs no context at all. Generated code names it; not for users.
pub trait HandlerContext: Send + Sized {
    /// Makes the value, calling `context` only when a [`Context`] is wanted.
    fn make(context: impl FnOnce() -> Context) -> Self;

    /// Tells the context whether the one request message came compressed.
    fn request_read(&self, compressed: bool);
}

impl HandlerContext for () {
    fn make(_: impl FnOnce() -> Context) {}

    fn request_read(&self, _: bool) {}
}

impl HandlerContext for Context {
    fn make(context: impl FnOnce() -> Context) -> Context {
        context()
    }

    fn request_read(&self, compressed: bool) {
        self.set_request_compressed(compressed);
    }
}

impl ServerCall {
    /// Counts this call against the server's concurrent-call limit, or says it is over it
    /// (load shedding: `RESOURCE_EXHAUSTED`, with a `RetryInfo` of a second).
    pub(super) fn take_load(&mut self, shared: &super::Shared) -> Result<(), Status> {
        let (Some(load), Some(limit)) = (&shared.load, self.config.max_concurrent_calls) else {
            return Ok(());
        };
        if load.fetch_add(1, Ordering::AcqRel) >= limit {
            load.fetch_sub(1, Ordering::AcqRel);
            let status = Status::resource_exhausted(format!(
                "the server is running its limit of {limit} concurrent calls; retry later"
            ));
            return Err(status.with_detail(crate::error_details::RetryInfo {
                retry_delay: Some(std::time::Duration::from_secs(1)),
            }));
        }
        self.load = Some(LoadGuard(load.clone()));
        Ok(())
    }

    /// Answers with `status` and no message (a Trailers-Only response).
    pub(super) fn fail(self, status: &Status) {
        let (_, responder, _) = self.start();
        responder.finish(status);
    }

    fn start(self) -> (RecvStream, Responder, Deadline) {
        let deadline = self.info.deadline;
        let responder = Responder {
            respond: self.respond,
            stream: None,
            codec: self.codec,
            config: self.config,
            info: self.info,
            context: None,
            request_compression: self.request_compression,
            response_compression: self.response_compression,
            done: false,
            intercepted: None,
            extra_trailers: None,
            _load: self.load,
        };
        let deadline = Deadline {
            at: deadline,
            sleep: deadline.map(|at| Box::pin(tokio::time::sleep_until(at))),
        };
        (self.body, responder, deadline)
    }
}

/// Runs a unary call: one request in, one response (or a status) out.
///
/// The drivers below are plain functions returning a future, not `async fn`s, so that the call
/// they take apart is not kept in the future beside its parts: the future is the call's whole
/// task, allocated once per call.
pub fn serve_unary<M, Handler, Fut, C>(
    call: ServerCall,
    handler: Handler,
) -> impl Future<Output = ()> + Send
where
    M: Method,
    Handler: FnOnce(M::Request, C) -> Fut + Send,
    C: HandlerContext,
    Fut: Future<Output = Result<M::Response, Status>> + Send,
{
    let (mut body, mut responder, mut deadline) = call.start();
    async move {
        // Boxed, so that calls on a server without interceptors carry none of their state.
        if responder.intercepts() && !Box::pin(responder.intercept(M::INFO, &mut deadline)).await {
            return;
        }
        let wire = responder.wire();
        let at = responder.inherited(deadline.at);
        let context = C::make(|| responder.context());
        let intercepted = responder.intercepted.clone();
        let work = async {
            let read = wire.read_single(&mut body).await?;
            context.request_read(read.compressed);
            let wire_size = read.wire_size;
            let request: M::Request = wire.single_request(read)?;
            if let Some(intercepted) = &intercepted {
                intercepted.message(&request, true, wire_size);
            }
            handled(run_handler(at, handler(request, context)).await)
        };
        let outcome = watch(&mut responder, &mut deadline, work).await;
        responder.answer_single(outcome);
    }
}

/// Runs a server-streaming call: one request in, a stream of responses out.
pub fn serve_server_streaming<M, Handler, Fut, C, Replies>(
    call: ServerCall,
    handler: Handler,
) -> impl Future<Output = ()> + Send
where
    M: Method,
    Handler: FnOnce(M::Request, C) -> Fut + Send,
    C: HandlerContext,
    Fut: Future<Output = Result<Replies, Status>> + Send,
    Replies: Stream<Item = Result<M::Response, Status>> + Send,
{
    let (mut body, mut responder, mut deadline) = call.start();
    async move {
        // Boxed, so that calls on a server without interceptors carry none of their state.
        if responder.intercepts() && !Box::pin(responder.intercept(M::INFO, &mut deadline)).await {
            return;
        }
        let wire = responder.wire();
        let at = responder.inherited(deadline.at);
        let context = C::make(|| responder.context());
        let intercepted = responder.intercepted.clone();
        let work = async {
            let read = wire.read_single(&mut body).await?;
            context.request_read(read.compressed);
            let wire_size = read.wire_size;
            let request: M::Request = wire.single_request(read)?;
            if let Some(intercepted) = &intercepted {
                intercepted.message(&request, true, wire_size);
            }
            handled(run_handler(at, handler(request, context)).await)
        };
        let outcome = watch(&mut responder, &mut deadline, work).await;
        if let Some(replies) = responder.settle(outcome) {
            responder.pump(replies, &mut deadline, at).await;
        }
    }
}

/// Runs a client-streaming call: a stream of requests in, one response out.
pub fn serve_client_streaming<M, Handler, Fut, C>(
    call: ServerCall,
    handler: Handler,
) -> impl Future<Output = ()> + Send
where
    M: Method,
    Handler: FnOnce(Streaming<M::Request>, C) -> Fut + Send,
    C: HandlerContext,
    Fut: Future<Output = Result<M::Response, Status>> + Send,
{
    let (body, mut responder, mut deadline) = call.start();
    async move {
        // Boxed, so that calls on a server without interceptors carry none of their state.
        if responder.intercepts() && !Box::pin(responder.intercept(M::INFO, &mut deadline)).await {
            return;
        }
        let requests = responder.requests(body);
        let at = responder.inherited(deadline.at);
        let context = C::make(|| responder.context());
        let work = async { handled(run_handler(at, handler(requests, context)).await) };
        let outcome = watch(&mut responder, &mut deadline, work).await;
        responder.answer_single(outcome);
    }
}

/// Runs a bidirectional call: streams both ways, at the pace each side sets.
pub fn serve_bidi_streaming<M, Handler, Fut, C, Replies>(
    call: ServerCall,
    handler: Handler,
) -> impl Future<Output = ()> + Send
where
    M: Method,
    Handler: FnOnce(Streaming<M::Request>, C) -> Fut + Send,
    C: HandlerContext,
    Fut: Future<Output = Result<Replies, Status>> + Send,
    Replies: Stream<Item = Result<M::Response, Status>> + Send,
{
    let (body, mut responder, mut deadline) = call.start();
    async move {
        // Boxed, so that calls on a server without interceptors carry none of their state.
        if responder.intercepts() && !Box::pin(responder.intercept(M::INFO, &mut deadline)).await {
            return;
        }
        let requests = responder.requests(body);
        let at = responder.inherited(deadline.at);
        let context = C::make(|| responder.context());
        let work = async { handled(run_handler(at, handler(requests, context)).await) };
        let outcome = watch(&mut responder, &mut deadline, work).await;
        if let Some(replies) = responder.settle(outcome) {
            responder.pump(replies, &mut deadline, at).await;
        }
    }
}

/// How a watched piece of work ended.
enum Outcome<T> {
    Done(T),
    /// The deadline passed first.
    Expired,
    /// The client reset the stream: nobody is listening any more.
    Abandoned,
}

/// The call's deadline, if it has one.
struct Deadline {
    at: Option<Instant>,
    sleep: Option<Pin<Box<Sleep>>>,
}

impl Deadline {
    fn poll_expired(&mut self, cx: &mut task::Context<'_>) -> Poll<()> {
        match &mut self.sleep {
            Some(sleep) => sleep.as_mut().poll(cx),
            None => Poll::Pending,
        }
    }

    async fn expired(&mut self) {
        poll_fn(|cx| self.poll_expired(cx)).await;
    }
}

fn deadline_exceeded() -> Status {
    Status::deadline_exceeded("Deadline Exceeded")
}

/// Awaits `work` unless the deadline passes or the client resets the stream first.
fn watch<'a, F: Future>(
    responder: &'a mut Responder,
    deadline: &'a mut Deadline,
    work: F,
) -> Watch<'a, F> {
    Watch {
        work,
        responder,
        deadline,
    }
}

pin_project_lite::pin_project! {
    /// The future of [`watch`]: a struct rather than an `async fn`, so that `work` is stored once,
    /// in place, instead of being moved from argument to local to select.
    struct Watch<'a, F> {
        #[pin]
        work: F,
        responder: &'a mut Responder,
        deadline: &'a mut Deadline,
    }
}

impl<F: Future> Future for Watch<'_, F> {
    type Output = Outcome<F::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut task::Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Poll::Ready(output) = this.work.poll(cx) {
            return Poll::Ready(Outcome::Done(output));
        }
        if this.deadline.poll_expired(cx).is_ready() {
            return Poll::Ready(Outcome::Expired);
        }
        if this.responder.poll_reset(cx).is_ready() {
            return Poll::Ready(Outcome::Abandoned);
        }
        Poll::Pending
    }
}

/// Runs a handler, catching a panic so that it fails this call alone (see [`handled`]). Client
/// calls the handler makes inherit the call's deadline and trace.
fn run_handler<F: Future>(scope: Inherited, handler: F) -> CatchUnwind<InDeadline<F>> {
    catch_unwind(if scope.is_empty() {
        // Each call runs in a task of its own, outside any other call's scope: without a
        // deadline or a trace there is nothing to inherit, and no task-local to set at every
        // poll.
        InDeadline::Plain { future: handler }
    } else {
        InDeadline::Scoped {
            future: CALL_SCOPE.scope(scope, handler),
        }
    })
}

pin_project_lite::pin_project! {
    /// A handler's future, in the scope of its call's deadline when it has one.
    #[project = InDeadlineProjection]
    enum InDeadline<F: Future> {
        Scoped {
            #[pin]
            future: tokio::task::futures::TaskLocalFuture<Inherited, F>,
        },
        Plain {
            #[pin]
            future: F,
        },
    }
}

impl<F: Future> Future for InDeadline<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut task::Context<'_>) -> Poll<F::Output> {
        match self.project() {
            InDeadlineProjection::Scoped { future } => future.poll(cx),
            InDeadlineProjection::Plain { future } => future.poll(cx),
        }
    }
}

/// A handler's result, with a panic turned into `INTERNAL`.
fn handled<T>(outcome: Result<Result<T, Status>, Panic>) -> Result<T, Status> {
    outcome.unwrap_or_else(|panic| Err(Status::internal(panic_message(&*panic))))
}

/// What a panic left behind.
type Panic = Box<dyn Any + Send>;

/// How a call's requests are read: one small copyable value, so that a call's
/// future holds it once.
#[derive(Clone, Copy)]
struct Wire {
    codec: Codec,
    request_compression: Option<Compression>,
    max_receive: usize,
}

impl Wire {
    /// The requests of a client-streaming or bidirectional call.
    fn stream<Req: Message>(&self, body: RecvStream) -> Streaming<Req> {
        Streaming::new(body, self.codec, self.max_receive, false)
            .with_compression(self.request_compression)
    }

    /// Reads the request stream to its end, for a method that takes one message (see
    /// [`Wire::single_request`]).
    fn read_single<'a>(
        &self,
        body: &'a mut RecvStream,
    ) -> impl Future<Output = Result<SingleRead, Status>> + 'a {
        frame::read_single(body, self.max_receive, self.request_compression, |error| {
            Status::internal(format!("failed to read request: {error}"))
        })
    }

    /// The one request message [`Wire::read_single`] read, decoded.
    fn single_request<Req: Message>(&self, read: SingleRead) -> Result<Req, Status> {
        if read.more_than_one {
            return Err(Status::internal(
                "a method that takes one request message received more than one",
            ));
        }
        if read.truncated {
            return Err(Status::internal("request stream ended inside a message"));
        }
        let message = read
            .message
            .ok_or_else(|| Status::internal("no request message was received"))?;
        self.codec.decode(message)
    }
}

/// Polls `future`, turning a panic into an error instead of unwinding through the server.
fn catch_unwind<F: Future>(future: F) -> CatchUnwind<F> {
    CatchUnwind { future }
}

pin_project_lite::pin_project! {
    /// The future of [`catch_unwind`].
    struct CatchUnwind<F> {
        #[pin]
        future: F,
    }
}

impl<F: Future> Future for CatchUnwind<F> {
    type Output = Result<F::Output, Panic>;

    fn poll(self: Pin<&mut Self>, cx: &mut task::Context<'_>) -> Poll<Self::Output> {
        let future = self.project().future;
        match std::panic::catch_unwind(AssertUnwindSafe(|| future.poll(cx))) {
            Ok(Poll::Ready(output)) => Poll::Ready(Ok(output)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(panic) => Poll::Ready(Err(panic)),
        }
    }
}

fn panic_message(panic: &(dyn Any + Send)) -> String {
    let detail = panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str));
    match detail {
        Some(detail) => format!("handler panicked: {detail}"),
        None => "handler panicked".to_owned(),
    }
}

/// The sending half of a call: headers before the first message, messages as HTTP/2 flow
/// control allows, trailers at the end.
struct Responder {
    respond: SendResponse<Bytes>,
    /// Set once the response headers are sent.
    stream: Option<SendStream<Bytes>>,
    codec: Codec,
    config: Arc<ServerConfig>,
    /// What the handler's context is made of, until it is made.
    info: CallDetails,
    /// The handler's context, if it takes one: its response headers and trailers.
    context: Option<Context>,
    request_compression: Option<Compression>,
    /// What responses are compressed with unless the handler chooses otherwise.
    response_compression: Option<Compression>,
    /// Set once the call is answered, or nobody is left to answer.
    done: bool,
    /// The call's interceptors, when the server has any.
    intercepted: Option<Arc<Intercepted>>,
    /// Trailers the interceptors added at the end.
    extra_trailers: Option<Box<MetadataMap>>,
    /// Held until the call is answered.
    _load: Option<LoadGuard>,
}

impl Drop for Responder {
    /// A call dropped unanswered had its task aborted: the server's drain timeout ran out, or
    /// the runtime is shutting down. The client still gets a status, not a stream that stops.
    fn drop(&mut self) {
        if !self.done {
            let status = Status::unavailable("the server shut down before the call finished");
            self.send_end(Some(&status));
        }
    }
}

/// The peer reset or closed the stream; there is no one left to answer.
struct Gone;

impl Responder {
    /// Ready once the client has reset the stream.
    /// An error here means the connection itself is gone, which ends the call the same way.
    fn poll_reset(&mut self, cx: &mut task::Context<'_>) -> Poll<()> {
        let reason_or_error = match &mut self.stream {
            Some(stream) => stream.poll_reset(cx),
            None => self.respond.poll_reset(cx),
        };
        reason_or_error.map(drop)
    }

    /// What the handler's client calls inherit: the deadline, and the trace the call arrived
    /// with (its `traceparent`), continued as a new hop.
    fn inherited(&self, deadline: Option<Instant>) -> Inherited {
        let trace = self
            .info
            .metadata
            .as_deref()
            .and_then(|metadata| metadata.get(crate::trace::TRACEPARENT))
            .and_then(crate::TraceContext::parse)
            .map(|trace| trace.child());
        Inherited { deadline, trace }
    }

    /// Whether the server has interceptors.
    fn intercepts(&self) -> bool {
        self.config.interceptors.get().is_some()
    }

    /// Runs the server's interceptors' `start` for a call of `method`, before anything is read
    /// (a tap), watched like the handler; whether the call goes on (if not, it was answered).
    async fn intercept(&mut self, method: crate::MethodInfo, deadline: &mut Deadline) -> bool {
        let Some(chain) = self.config.interceptors.get() else {
            return true;
        };
        let metadata = self.info.metadata.take().map(|metadata| *metadata);
        let call = CallInfo::new(
            method,
            Side::Server,
            metadata.unwrap_or_default(),
            self.info.deadline,
            self.info.peer.addr,
        );
        let mut intercepted = Intercepted {
            chain: chain.clone(),
            call,
        };
        let started = watch(self, deadline, intercepted.start()).await;
        // The handler sees the metadata as the interceptors left it.
        self.info.metadata = Some(Box::new(intercepted.call.metadata().clone()));
        self.intercepted = Some(Arc::new(intercepted));
        match started {
            Outcome::Done(Ok(())) => true,
            Outcome::Done(Err(status)) => {
                self.send_end(Some(&status));
                false
            }
            Outcome::Expired => {
                self.send_end(Some(&deadline_exceeded()));
                false
            }
            Outcome::Abandoned => {
                self.done = true;
                false
            }
        }
    }

    /// The requests of a client-streaming or bidirectional call, shown to the interceptors.
    fn requests<Req: Message>(&self, body: RecvStream) -> Streaming<Req> {
        let requests = self.wire().stream(body);
        match &self.intercepted {
            Some(intercepted) => requests.observed(intercepted.clone(), true),
            None => requests,
        }
    }

    /// The call's response compression, fixed from now on: messages are about to be encoded.
    fn fix_compression(&mut self) -> Option<Compression> {
        if let Some(context) = &self.context {
            context.fix_send_compression();
        }
        self.compression()
    }

    /// The handler's context, made on first use.
    fn context(&mut self) -> Context {
        let info = &mut self.info;
        let context = self.context.get_or_insert_with(|| {
            let metadata = info.metadata.take().map(|metadata| *metadata);
            Context::new(
                metadata.unwrap_or_default(),
                info.deadline,
                std::mem::take(&mut info.peer),
                info.accept_encoding.take(),
            )
        });
        context.clone()
    }

    /// How the call's requests are read.
    fn wire(&self) -> Wire {
        Wire {
            codec: self.codec,
            request_compression: self.request_compression,
            max_receive: self.config.max_receive_message_size,
        }
    }

    /// What the call's responses are compressed with: the handler's choice, else the server's.
    fn compression(&self) -> Option<Compression> {
        let chosen = self.context.as_ref().and_then(Context::send_compression);
        chosen.unwrap_or(self.response_compression)
    }

    /// How the next response message is encoded, given the call's `compression` and the
    /// handler's choice for the messages it sends now.
    fn encoding(&self, compression: Option<Compression>) -> Encoding {
        let per_message = self
            .context
            .as_ref()
            .is_none_or(Context::message_compression);
        Encoding {
            codec: self.codec,
            compression: compression.filter(|_| per_message),
            max_size: self.config.max_send_message_size,
        }
    }

    /// The response headers: content type, compression and the handler's custom headers.
    fn head(&self) -> http::Response<()> {
        let mut response = http::Response::new(());
        response.headers_mut().insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static(self.codec.content_type()),
        );
        if let Some(compression) = self.compression() {
            response
                .headers_mut()
                .insert(GRPC_ENCODING, HeaderValue::from_static(compression.name()));
        }
        if let Some(context) = &self.context {
            context.take_headers().write_to(response.headers_mut());
        }
        if let Some(intercepted) = &self.intercepted {
            intercepted
                .call
                .response_headers()
                .write_to(response.headers_mut());
        }
        response
    }

    /// The status (`None` for OK), the handler's trailers and the status's own metadata, into
    /// `headers`.
    fn put_end(&self, headers: &mut HeaderMap, status: Option<&Status>) {
        match status {
            Some(status) => put_status(headers, status),
            None => {
                headers.insert(GRPC_STATUS, Code::Ok.header_value());
            }
        }
        if let Some(context) = &self.context {
            context.take_trailers().write_to(headers);
        }
        if let Some(trailers) = &self.extra_trailers {
            trailers.write_to(headers);
        }
        if let Some(status) = status {
            status.metadata().write_to(headers);
        }
    }

    fn started(&mut self) -> Result<&mut SendStream<Bytes>, Gone> {
        if self.stream.is_none() {
            let stream = self
                .respond
                .send_response(self.head(), false)
                .map_err(|_| Gone)?;
            self.stream = Some(stream);
        }
        Ok(self.stream.as_mut().expect("just started"))
    }

    /// Sends one framed message, waiting for flow-control capacity so that a slow client slows
    /// this side down instead of growing a buffer.
    async fn send(&mut self, message: Bytes) -> Result<(), Gone> {
        let stream = self.started()?;
        send_flow_controlled(stream, message)
            .await
            .map_err(|_| Gone)
    }

    /// Ends the call with `status`: in the trailers after messages, or Trailers-Only.
    fn finish(mut self, status: &Status) {
        self.send_end(Some(status));
    }

    /// Ends the call with `OK`.
    fn finish_ok(mut self) {
        self.send_end(None);
    }

    /// Nobody is left to answer: the client reset the stream or the connection is gone.
    fn abandon(mut self) {
        self.done = true;
    }

    /// Ends the call with `status`, `None` meaning `OK` (which needs no `Status` built).
    fn send_end(&mut self, status: Option<&Status>) {
        self.done = true;
        if let Some(intercepted) = self.intercepted.take() {
            let (status, trailers) = intercepted.end(status.cloned()).into_parts();
            self.extra_trailers = Some(Box::new(trailers));
            return self.send_end_as_is(status.as_ref());
        }
        self.send_end_as_is(status);
    }

    /// Ends the call with `status`, past the interceptors.
    fn send_end_as_is(&mut self, status: Option<&Status>) {
        let custom_headers = self.context.as_ref().is_some_and(Context::has_headers);
        if self.stream.is_none() && custom_headers {
            // Headers the handler set go in a HEADERS frame of their own, as grpc-go sends
            // them: folded into a Trailers-Only response, clients would find them among the
            // trailers.
            let _ = self.started();
        }
        if self.stream.is_some() {
            let mut trailers = HeaderMap::with_capacity(2);
            self.put_end(&mut trailers, status);
            if let Some(stream) = &mut self.stream {
                let _ = stream.send_trailers(trailers);
            }
        } else {
            let mut response = self.head();
            self.put_end(response.headers_mut(), status);
            let _ = self.respond.send_response(response, true);
        }
    }

    /// Answers a call with one response message or the status that replaced it.
    fn answer_single<Resp: Message>(mut self, outcome: Outcome<Result<Resp, Status>>) {
        let response = match outcome {
            Outcome::Done(Ok(response)) => response,
            Outcome::Done(Err(status)) => return self.finish(&status),
            Outcome::Expired => return self.finish(&deadline_exceeded()),
            Outcome::Abandoned => return self.abandon(),
        };
        let message = match self.encoding(self.compression()).encode(&response) {
            Ok(message) => message,
            Err(status) => return self.finish(&status),
        };
        if let Some(intercepted) = &self.intercepted {
            intercepted.message(&response, false, message.len() - crate::frame::PREFIX_LEN);
        }
        // The message is at most the send limit, so h2 may buffer it whole.
        let sent = self
            .started()
            .and_then(|stream| stream.send_data(message, false).map_err(|_| Gone));
        match sent {
            Ok(()) => self.finish_ok(),
            Err(Gone) => self.abandon(),
        }
    }

    /// The handler's response stream, or `None` once the call has been answered without one.
    fn settle<T>(&mut self, outcome: Outcome<Result<T, Status>>) -> Option<T> {
        let status = match outcome {
            Outcome::Done(Ok(replies)) => return Some(replies),
            Outcome::Done(Err(status)) => status,
            Outcome::Expired => deadline_exceeded(),
            Outcome::Abandoned => {
                self.done = true;
                return None;
            }
        };
        self.send_end(Some(&status));
        None
    }

    /// Sends every message of `replies`, then the status that ended it.
    ///
    /// Messages the stream has ready at once are sent together, up to [`BATCH_BYTES`], so a
    /// fast producer fills DATA frames instead of sending one small frame per message (which
    /// costs a frame header each, and which h2 peers treat as a flood past a point).
    async fn pump<Resp, Replies>(
        mut self,
        replies: Replies,
        deadline: &mut Deadline,
        scope: Inherited,
    ) where
        Resp: Message,
        Replies: Stream<Item = Result<Resp, Status>>,
    {
        let mut replies = pin!(replies);
        // Chosen once, before the first message: the response headers announce it.
        let mut compression = None;
        // The stream runs code of the handler's too: its client calls inherit the deadline and
        // the trace.
        let mut poll_next = move |cx: &mut std::task::Context<'_>| {
            CALL_SCOPE.sync_scope(scope, || replies.as_mut().poll_next(cx))
        };
        loop {
            let next = catch_unwind(poll_fn(&mut poll_next));
            let first = match watch(&mut self, deadline, next).await {
                Outcome::Done(next) => next,
                Outcome::Expired => return self.finish(&deadline_exceeded()),
                Outcome::Abandoned => return self.abandon(),
            };
            let compression = *compression.get_or_insert_with(|| self.fix_compression());
            let mut batch = BytesMut::new();
            let mut next = first;
            let end = loop {
                match next {
                    Ok(Some(Ok(reply))) => {
                        let encoding = self.encoding(compression);
                        let before = batch.len();
                        if let Err(status) = encoding.encode_into(&reply, &mut batch) {
                            break Some(status);
                        }
                        if let Some(intercepted) = &self.intercepted {
                            let wire_size = batch.len() - before - crate::frame::PREFIX_LEN;
                            intercepted.message(&reply, false, wire_size);
                        }
                    }
                    Ok(Some(Err(status))) => break Some(status),
                    Ok(None) => break Some(Status::new(Code::Ok, "")),
                    Err(panic) => break Some(Status::internal(panic_message(&*panic))),
                }
                if batch.len() >= BATCH_BYTES {
                    break None;
                }
                // Take whatever else is ready now, without waiting for it.
                let ready = catch_unwind(poll_fn(|cx| Poll::Ready(poll_next(cx))));
                next = match ready.await {
                    Ok(Poll::Ready(item)) => Ok(item),
                    Ok(Poll::Pending) => break None,
                    Err(panic) => Err(panic),
                };
            };
            if !batch.is_empty() {
                let sent = tokio::select! {
                    biased;
                    sent = self.send(batch.freeze()) => sent.map(|()| true),
                    () = deadline.expired() => Ok(false),
                };
                match sent {
                    Ok(true) => {}
                    Ok(false) => return self.finish(&deadline_exceeded()),
                    Err(Gone) => return self.abandon(),
                }
            }
            if let Some(status) = end {
                return self.finish(&status);
            }
        }
    }
}

/// How many bytes of ready messages [`Responder::pump`] gathers into one send.
const BATCH_BYTES: usize = 32 * 1024;

/// Writes `grpc-status`, `grpc-message` and `grpc-status-details-bin` into `headers`.
pub(super) fn put_status(headers: &mut HeaderMap, status: &Status) {
    headers.insert(GRPC_STATUS, status.code().header_value());
    if !status.message().is_empty() {
        let message = encode_message(status.message());
        if let Ok(value) = HeaderValue::from_str(&message) {
            headers.insert(GRPC_MESSAGE, value);
        }
    }
    if !status.details().is_empty() {
        let details = crate::base64::encode(status.details());
        if let Ok(value) = HeaderValue::from_str(&details) {
            headers.insert(GRPC_STATUS_DETAILS, value);
        }
    }
}
