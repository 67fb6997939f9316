//! One call on the server: reading the request, running the handler under its deadline and the
//! client's cancellation, and answering with messages and trailers.

use std::any::Any;
use std::future::{poll_fn, Future};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::task::Poll;

use bytes::Bytes;
use h2::server::SendResponse;
use h2::RecvStream;
use http::{HeaderMap, HeaderValue};
use tokio::time::Instant;

use super::ServerConfig;
use crate::frame::{self, FrameDecoder};
use crate::status::encode_message;
use crate::{Codec, Message, Status};

/// A call the server has routed to a service but not yet answered.
///
/// Generated code passes it to the runtime's call drivers; it is not useful on its own.
#[derive(Debug)]
pub struct ServerCall {
    pub(super) codec: Codec,
    pub(super) body: RecvStream,
    pub(super) respond: SendResponse<Bytes>,
    pub(super) deadline: Option<Instant>,
    pub(super) config: Arc<ServerConfig>,
}

impl ServerCall {
    /// Answers with `status` and no message (a Trailers-Only response).
    pub(super) fn fail(mut self, status: &Status) {
        send_trailers_only(&mut self.respond, self.codec, status);
    }
}

/// Runs a unary call: one request in, one response (or a status) out.
///
/// The handler is dropped, and so cancelled, when the deadline passes or the client resets the
/// stream; a panic in it fails this call alone with `INTERNAL`.
pub async fn serve_unary<Req, Resp, Handler, Fut>(call: ServerCall, handler: Handler)
where
    Req: Message,
    Resp: Message,
    Handler: FnOnce(Req) -> Fut + Send,
    Fut: Future<Output = Result<Resp, Status>> + Send,
{
    let ServerCall {
        codec,
        mut body,
        mut respond,
        deadline,
        config,
    } = call;
    let work = async {
        let message = read_single_message(&mut body, config.max_receive_message_size).await?;
        let request: Req = codec.decode(message)?;
        let response = catch_unwind(handler(request))
            .await
            .map_err(|panic| Status::internal(panic_message(&*panic)))??;
        frame::encode(codec, &response, config.max_send_message_size)
    };
    let outcome = tokio::select! {
        outcome = with_deadline(deadline, work) => outcome,
        // The client reset the stream: nobody is listening, so stop the handler and say nothing.
        _ = poll_fn(|cx| respond.poll_reset(cx)) => return,
    };
    match outcome {
        Ok(message) => send_message(&mut respond, codec, message),
        Err(status) => send_trailers_only(&mut respond, codec, &status),
    }
}

/// Awaits `work`, failing with `DEADLINE_EXCEEDED` once `deadline` passes.
async fn with_deadline<T>(
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

/// Reads the request stream to its end, expecting exactly one message.
async fn read_single_message(body: &mut RecvStream, max_size: usize) -> Result<Bytes, Status> {
    let mut decoder = FrameDecoder::new(max_size);
    let mut message = None;
    while let Some(chunk) = body.data().await {
        let chunk =
            chunk.map_err(|error| Status::internal(format!("failed to read request: {error}")))?;
        decoder.push(&chunk);
        let _ = body.flow_control().release_capacity(chunk.len());
        while let Some(next) = decoder.next_message()? {
            if message.replace(next).is_some() {
                return Err(Status::internal(
                    "a unary method received more than one request message",
                ));
            }
        }
    }
    if decoder.has_partial_message() {
        return Err(Status::internal("request stream ended inside a message"));
    }
    message.ok_or_else(|| Status::internal("a unary method received no request message"))
}

/// Polls `future`, turning a panic into an error instead of unwinding through the server.
async fn catch_unwind<F: Future>(future: F) -> Result<F::Output, Box<dyn Any + Send>> {
    let mut future = std::pin::pin!(future);
    poll_fn(move |cx| {
        match std::panic::catch_unwind(AssertUnwindSafe(|| future.as_mut().poll(cx))) {
            Ok(Poll::Ready(output)) => Poll::Ready(Ok(output)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(panic) => Poll::Ready(Err(panic)),
        }
    })
    .await
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

fn response_head(codec: Codec) -> http::Response<()> {
    let mut response = http::Response::new(());
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static(codec.content_type()),
    );
    response
}

/// Writes `grpc-status`, `grpc-message` and `grpc-status-details-bin` into `headers`.
pub(super) fn put_status(headers: &mut HeaderMap, status: &Status) {
    headers.insert("grpc-status", HeaderValue::from(status.code().as_i32()));
    if !status.message().is_empty() {
        let message = encode_message(status.message());
        if let Ok(value) = HeaderValue::from_str(&message) {
            headers.insert("grpc-message", value);
        }
    }
    if !status.details().is_empty() {
        let details = crate::base64::encode(status.details());
        if let Ok(value) = HeaderValue::from_str(&details) {
            headers.insert("grpc-status-details-bin", value);
        }
    }
}

fn send_message(respond: &mut SendResponse<Bytes>, codec: Codec, message: Bytes) {
    // Errors here mean the client went away; there is no one left to tell.
    let Ok(mut stream) = respond.send_response(response_head(codec), false) else {
        return;
    };
    if stream.send_data(message, false).is_err() {
        return;
    }
    let mut trailers = HeaderMap::with_capacity(1);
    put_status(&mut trailers, &Status::new(crate::Code::Ok, ""));
    let _ = stream.send_trailers(trailers);
}

pub(super) fn send_trailers_only(respond: &mut SendResponse<Bytes>, codec: Codec, status: &Status) {
    let mut response = response_head(codec);
    put_status(response.headers_mut(), status);
    let _ = respond.send_response(response, true);
}
