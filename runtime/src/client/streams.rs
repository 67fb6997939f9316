//! The handles of open streaming calls: [`ClientStream`], [`BidiStream`], and their halves
//! [`RequestSink`] and [`Responses`].

use std::marker::PhantomData;

use bytes::Bytes;
use h2::client::ResponseFuture;
use h2::SendStream;
use tokio::time::Instant;

use super::call::within;
use super::replay::Replay;
use super::response::{status_from_h2, Head, Response};
use std::sync::Arc;

use crate::compression::Compression;
use crate::flow::send_flow_controlled;
use crate::frame::Encoding;
use crate::intercept::Intercepted;
use crate::metadata::MetadataMap;
use crate::{Codec, Message, Status, Streaming};

/// Sends the request messages of a client-streaming or bidirectional call.
pub struct RequestSink<Req> {
    body: SendStream<Bytes>,
    encoding: Encoding,
    /// The call's compression, which [`set_message_compression`](Self::set_message_compression)
    /// switches on and off per message.
    compression: Option<Compression>,
    deadline: Option<Instant>,
    closed: bool,
    cancelled: bool,
    /// The channel's interceptors, shown each request.
    intercepted: Option<Arc<Intercepted>>,
    request: PhantomData<fn(Req)>,
}

impl<Req: Message> RequestSink<Req> {
    pub(super) fn new(
        body: SendStream<Bytes>,
        encoding: Encoding,
        deadline: Option<Instant>,
        intercepted: Option<Arc<Intercepted>>,
    ) -> Self {
        RequestSink {
            body,
            compression: encoding.compression,
            encoding,
            deadline,
            closed: false,
            cancelled: false,
            intercepted,
            request: PhantomData,
        }
    }

    /// Sends one request, waiting while the server's flow-control window is full.
    ///
    /// Fails when the call has ended. On a [`ClientStream`] or [`BidiStream`], once the server
    /// has ended the call, `send` gives the server's status if it failed the call, and `Ok` if
    /// it succeeded without reading on (the request is dropped; the responses tell the rest).
    /// A split-off sink cannot read the answer: it fails with `FAILED_PRECONDITION`, and the
    /// [`Responses`] half gives the server's status.
    pub async fn send(&mut self, request: Req) -> Result<(), Status> {
        let message = self.encode(&request)?;
        self.send_encoded(message)
            .await
            .map_err(|error| match error {
                SendError::Status(status) => status,
                // This half cannot read the answer: say where it is rather than how h2 failed.
                SendError::Ended => Status::failed_precondition(
                    "the server has ended the call; its status comes with the responses",
                ),
            })
    }

    /// Frames `request`, or says why it cannot be sent: failures of this side's own making.
    fn encode(&self, request: &Req) -> Result<Bytes, Status> {
        if self.cancelled {
            return Err(cancelled());
        }
        if self.closed {
            return Err(Status::failed_precondition("requests were already closed"));
        }
        let message = self.encoding.encode(request)?;
        if let Some(intercepted) = &self.intercepted {
            intercepted.message(request, true, message.len() - crate::frame::PREFIX_LEN);
        }
        Ok(message)
    }

    /// Sends a framed request; fails when the stream has ended or the deadline passes.
    async fn send_encoded(&mut self, message: Bytes) -> Result<(), SendError> {
        let sent = within(self.deadline, async {
            Ok(send_flow_controlled(&mut self.body, message).await)
        })
        .await;
        match sent {
            Ok(Ok(())) => Ok(()),
            // The connection itself failed: UNAVAILABLE, as the spec maps it.
            Ok(Err(error)) if error.is_io() => Err(SendError::Status(status_from_h2(&error))),
            // The stream was reset or closed: by the server, which has answered.
            Ok(Err(_)) => Err(SendError::Ended),
            Err(deadline) => Err(SendError::Status(deadline)),
        }
    }

    /// Whether the requests sent from now on are compressed, when the call compresses (see
    /// [`Call::compression`](crate::Call::compression)); the default is yes.
    pub fn set_message_compression(&mut self, enabled: bool) {
        self.encoding.compression = self.compression.filter(|_| enabled);
    }

    /// Tells the server no more requests follow (HTTP/2 END_STREAM). Closing twice, or after
    /// the server ended the call, is harmless.
    pub fn close(&mut self) -> Result<(), Status> {
        if !self.closed {
            self.closed = true;
            // Fails only when the stream has ended already: the responses say how.
            let _ = self.body.send_data(Bytes::new(), true);
        }
        Ok(())
    }

    /// Cancels the call: the server is told with `RST_STREAM(CANCEL)`, and sends and reads fail
    /// with `CANCELLED` from now on.
    pub fn cancel(&mut self) {
        if !self.cancelled {
            self.cancelled = true;
            self.body.send_reset(h2::Reason::CANCEL);
        }
    }
}

/// Why a framed request was not sent.
enum SendError {
    /// A failure with its own status: the deadline, or a broken connection.
    Status(Status),
    /// The stream has ended (the server answered, or reset it): its answer tells how.
    Ended,
}

fn cancelled() -> Status {
    Status::cancelled("the call was cancelled by the client")
}

impl<Req> std::fmt::Debug for RequestSink<Req> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestSink")
            .field("closed", &self.closed)
            .field("cancelled", &self.cancelled)
            .finish_non_exhaustive()
    }
}

/// The responses of a client-streaming or bidirectional call.
///
/// The server may send its response headers only with its first message, so they are awaited
/// on the first read, not when the call opens: a client can send first without blocking.
pub struct Responses<Resp> {
    state: ResponsesState<Resp>,
    /// Counts the call on its connection (for balancing) while the responses are read.
    _load: Option<super::Load>,
}

// `Open` is where a call spends its life, and the state is not moved once the call is open:
// boxing it would cost each streaming call an allocation for nothing.
#[allow(clippy::large_enum_variant)]
enum ResponsesState<Resp> {
    Waiting {
        response: ResponseFuture,
        reading: Reading,
    },
    /// The attempt failed before response headers: the call is not committed, and a retry may
    /// replace this attempt. [`settle`](Responses::settle) makes the failure the call's.
    EndedEarly {
        /// A Trailers-Only answer, or why there was none.
        failure: Result<Head, Status>,
        reading: Reading,
    },
    Open(Streaming<Resp>),
    Failed(Status),
}

/// How to read the responses, once their head has come.
struct Reading {
    codec: Codec,
    max_message_size: usize,
    deadline: Option<Instant>,
    intercepted: Option<Arc<Intercepted>>,
}

impl<Resp: Message> Responses<Resp> {
    pub(super) fn waiting(
        response: ResponseFuture,
        codec: Codec,
        max_message_size: usize,
        deadline: Option<Instant>,
        intercepted: Option<Arc<Intercepted>>,
        load: Option<super::Load>,
    ) -> Self {
        Responses {
            state: ResponsesState::Waiting {
                response,
                reading: Reading {
                    codec,
                    max_message_size,
                    deadline,
                    intercepted,
                },
            },
            _load: load,
        }
    }

    /// The server's response headers, once the first [`message`](Self::message) read them.
    pub fn headers(&self) -> Option<&MetadataMap> {
        match &self.state {
            ResponsesState::Open(streaming) => Some(streaming.headers()),
            _ => None,
        }
    }

    /// The server's trailers, once the stream has ended.
    pub fn trailers(&self) -> Option<&MetadataMap> {
        match &self.state {
            ResponsesState::Open(streaming) => streaming.trailers(),
            _ => None,
        }
    }

    /// Whether the response [`message`](Self::message) returned last came compressed.
    pub fn last_message_compressed(&self) -> bool {
        match &self.state {
            ResponsesState::Open(streaming) => streaming.last_message_compressed(),
            _ => false,
        }
    }

    /// Stops reading: the call is cancelled (`RST_STREAM(CANCEL)` once the requests are done
    /// too), and reads fail with `CANCELLED` from now on.
    pub fn cancel(&mut self) {
        match &mut self.state {
            ResponsesState::Open(streaming) => streaming.cancel(),
            state => *state = ResponsesState::Failed(cancelled()),
        }
    }

    /// The next response; `Ok(None)` once the server has finished, `Err` with its status if the
    /// call failed.
    pub async fn message(&mut self) -> Result<Option<Resp>, Status> {
        self.open().await;
        match &mut self.state {
            ResponsesState::Open(streaming) => streaming.message().await,
            ResponsesState::Failed(status) => Err(status.clone()),
            _ => unreachable!("opened just above"),
        }
    }

    /// After a send failed, how the server ended the call: `Ok` when it succeeded (without
    /// reading every request), else its status. The messages it sent stay to be read.
    async fn outcome_after_failed_send(&mut self) -> Result<(), Status> {
        self.open().await;
        match &mut self.state {
            ResponsesState::Open(streaming) => {
                let deadline = streaming.deadline();
                match within(deadline, async { Ok(streaming.outcome().await) }).await? {
                    None => Ok(()),
                    Some(status) => Err(status),
                }
            }
            ResponsesState::Failed(status) => Err(status.clone()),
            _ => unreachable!("opened just above"),
        }
    }

    /// Reads the response headers, if not yet done, and makes an early failure the call's.
    async fn open(&mut self) {
        self.read_head().await;
        self.settle();
    }

    /// Reads the response headers, if not yet done. An attempt that failed before them is
    /// left [`EndedEarly`](ResponsesState::EndedEarly), for a retry to replace.
    async fn read_head(&mut self) {
        if !matches!(self.state, ResponsesState::Waiting { .. }) {
            return;
        }
        let placeholder = ResponsesState::Failed(Status::internal("response headers lost"));
        let ResponsesState::Waiting { response, reading } =
            std::mem::replace(&mut self.state, placeholder)
        else {
            unreachable!("checked just above")
        };
        let head = within(reading.deadline, async {
            Head::read(response.await.map_err(|error| status_from_h2(&error))?)
        })
        .await;
        self.state = match head {
            Ok(Head::Ended(status)) if status.code() != crate::Code::Ok => {
                ResponsesState::EndedEarly {
                    failure: Ok(Head::Ended(status)),
                    reading,
                }
            }
            Ok(head) => ResponsesState::Open(reading.streaming(head)),
            Err(status) => ResponsesState::EndedEarly {
                failure: Err(status),
                reading,
            },
        };
    }

    /// How the attempt failed, if it did before response headers.
    fn early_failure(&self) -> Option<Status> {
        match &self.state {
            ResponsesState::EndedEarly {
                failure: Ok(Head::Ended(status)) | Err(status),
                ..
            } => Some(status.clone()),
            _ => None,
        }
    }

    /// Makes an early failure the call's answer: a Trailers-Only one is read as a stream that
    /// fails (its trailers kept); without an answer, its interceptors hear of it here.
    fn settle(&mut self) {
        if !matches!(self.state, ResponsesState::EndedEarly { .. }) {
            return;
        }
        let placeholder = ResponsesState::Failed(Status::internal("response headers lost"));
        let ResponsesState::EndedEarly { failure, reading } =
            std::mem::replace(&mut self.state, placeholder)
        else {
            unreachable!("checked just above")
        };
        self.state = match failure {
            Ok(head) => ResponsesState::Open(reading.streaming(head)),
            Err(status) => ResponsesState::Failed(match reading.intercepted {
                Some(intercepted) => intercepted.end_failed(status),
                None => status,
            }),
        };
    }

    /// Ends the call with `status`, a retry having failed to start (before settling).
    fn fail_early(&mut self, status: Status) {
        if let ResponsesState::EndedEarly { failure, .. } = &mut self.state {
            *failure = Err(status);
        }
    }
}

impl Reading {
    fn streaming<Resp: Message>(self, head: Head) -> Streaming<Resp> {
        let streaming = head
            .into_streaming(self.codec, self.max_message_size)
            .with_deadline(self.deadline);
        match self.intercepted {
            Some(intercepted) => streaming.observed_to_the_end(intercepted),
            None => streaming,
        }
    }
}

impl<Resp> std::fmt::Debug for Responses<Resp> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match &self.state {
            ResponsesState::Waiting { .. } => "waiting for headers",
            ResponsesState::EndedEarly { .. } => "failed before headers",
            ResponsesState::Open(_) => "open",
            ResponsesState::Failed(_) => "failed",
        };
        f.debug_struct("Responses").field("state", &state).finish()
    }
}

/// Both directions of a call that streams requests, and what it needs to be retried while
/// it is not committed.
struct Exchange<Req, Resp> {
    requests: RequestSink<Req>,
    responses: Responses<Resp>,
    /// While a retry policy is in force and the call not committed.
    replay: Option<Box<Replay<Req, Resp>>>,
}

impl<Req: Message, Resp: Message> Exchange<Req, Resp> {
    /// Sends `request`; when that fails because the attempt ended, tries the next if the call
    /// may be retried, and otherwise gives the call's outcome.
    async fn send(&mut self, request: Req) -> Result<(), Status> {
        // Failures of this side's own making, the deadline and a broken connection stand as
        // they are; a stream the server ended gets its answer.
        let message = self.requests.encode(&request)?;
        if let Some(replay) = &mut self.replay {
            if !replay.keep(&message) {
                // Past the bound: what was sent cannot be sent again, so the call commits.
                self.replay = None;
            }
        }
        let failed = match self.requests.send_encoded(message).await {
            Ok(()) => return Ok(()),
            Err(failed) => failed,
        };
        if self.replay.is_some() {
            // The message is kept: a new attempt sends it with the others.
            // Boxed: the retry's state stays out of every send's future.
            if Box::pin(self.retry_early_failures(false)).await {
                return Ok(());
            }
        } else if let SendError::Status(status) = failed {
            return Err(status);
        }
        self.responses.outcome_after_failed_send().await
    }

    /// Reads the head of the attempt; while it failed before the response headers and the
    /// retry policy allows, opens the next attempt, sending again what was sent. With
    /// `until_answered`, reads each new attempt's head too, until the call commits or fails;
    /// without, returns `true` as soon as a new attempt is open.
    async fn retry_early_failures(&mut self, until_answered: bool) -> bool {
        while let Some(replay) = &mut self.replay {
            self.responses.read_head().await;
            let Some(failure) = self.responses.early_failure() else {
                // Response headers came: the call is committed.
                self.replay = None;
                return false;
            };
            match replay.next_attempt(failure).await {
                Ok((body, responses)) => {
                    self.requests.body = body;
                    self.responses = responses;
                    if !until_answered {
                        return true;
                    }
                }
                Err(status) => {
                    self.replay = None;
                    self.responses.fail_early(status);
                }
            }
        }
        self.responses.settle();
        false
    }

    /// The next response; first, while the call is not committed, its head, retrying as the
    /// policy allows.
    async fn message(&mut self) -> Result<Option<Resp>, Status> {
        if self.replay.is_some() {
            Box::pin(self.retry_early_failures(true)).await;
        }
        self.responses.message().await
    }

    fn close(&mut self) -> Result<(), Status> {
        if let Some(replay) = &mut self.replay {
            replay.close();
        }
        self.requests.close()
    }

    fn cancel(&mut self) {
        self.replay = None;
        self.requests.cancel();
        self.responses.cancel();
    }
}

impl<Req, Resp> std::fmt::Debug for Exchange<Req, Resp> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Exchange")
            .field("requests", &self.requests)
            .field("responses", &self.responses)
            .field("retryable", &self.replay.is_some())
            .finish()
    }
}

/// An open client-streaming call: [`send`](Self::send) the requests, then
/// [`finish`](Self::finish) for the server's one response.
///
/// A call with a retry policy (see [`Call::retry_policy`](crate::Call::retry_policy)) is tried
/// again, its requests sent again, when it fails before the server's response headers.
///
/// Dropping it before `finish` cancels the call.
#[derive(Debug)]
pub struct ClientStream<Req, Resp> {
    call: Exchange<Req, Resp>,
}

impl<Req: Message, Resp: Message> ClientStream<Req, Resp> {
    pub(super) fn new(
        requests: RequestSink<Req>,
        responses: Responses<Resp>,
        replay: Option<Box<Replay<Req, Resp>>>,
    ) -> Self {
        ClientStream {
            call: Exchange {
                requests,
                responses,
                replay,
            },
        }
    }

    /// Sends one request, waiting while the server's flow-control window is full.
    ///
    /// Once the server has ended the call, this gives its status if it failed the call, and
    /// `Ok` if it succeeded without reading on; [`finish`](Self::finish) gives its response.
    pub async fn send(&mut self, request: Req) -> Result<(), Status> {
        self.call.send(request).await
    }

    /// Whether the requests sent from now on are compressed, when the call compresses; see
    /// [`RequestSink::set_message_compression`].
    pub fn set_message_compression(&mut self, enabled: bool) {
        self.call.requests.set_message_compression(enabled);
    }

    /// Cancels the call (`RST_STREAM(CANCEL)`): sends and [`finish`](Self::finish) fail with
    /// `CANCELLED` from now on. Dropping the stream cancels it too.
    pub fn cancel(&mut self) {
        self.call.cancel();
    }

    /// Closes the request stream and waits for the response.
    pub async fn finish(self) -> Result<Resp, Status> {
        Ok(self.finish_into_response().await?.message)
    }

    /// Closes the request stream and waits for the response, with the server's response
    /// headers and trailers (as [`UnaryCall::into_response`](crate::Call::into_response)).
    pub async fn finish_into_response(mut self) -> Result<Response<Resp>, Status> {
        // A server that already answered may have closed its side: its answer is what counts.
        let _ = self.call.close();
        let message = self
            .call
            .message()
            .await?
            .ok_or_else(|| Status::internal("server sent no response message"))?;
        let responses = &mut self.call.responses;
        let compressed = responses.last_message_compressed();
        if responses.message().await?.is_some() {
            return Err(Status::internal(
                "server sent more than one response message",
            ));
        }
        Ok(Response {
            message,
            headers: responses.headers().cloned().unwrap_or_default(),
            trailers: responses.trailers().cloned().unwrap_or_default(),
            compressed,
        })
    }
}

/// An open bidirectional call: [`send`](Self::send) requests and read
/// [`message`](Self::message)s in any order, or [`split`](Self::split) the two directions
/// between tasks.
///
/// A call with a retry policy (see [`Call::retry_policy`](crate::Call::retry_policy)) is tried
/// again, the requests sent so far sent again, when it fails before the server's response
/// headers, until it is split.
///
/// Dropping it before the server finishes cancels the call.
#[derive(Debug)]
pub struct BidiStream<Req, Resp> {
    call: Exchange<Req, Resp>,
}

impl<Req: Message, Resp: Message> BidiStream<Req, Resp> {
    pub(super) fn new(
        requests: RequestSink<Req>,
        responses: Responses<Resp>,
        replay: Option<Box<Replay<Req, Resp>>>,
    ) -> Self {
        BidiStream {
            call: Exchange {
                requests,
                responses,
                replay,
            },
        }
    }

    /// Sends one request, waiting while the server's flow-control window is full.
    ///
    /// Once the server has ended the call, this gives its status if it failed the call, and
    /// `Ok` if it succeeded without reading on; [`message`](Self::message) reads what it sent.
    pub async fn send(&mut self, request: Req) -> Result<(), Status> {
        self.call.send(request).await
    }

    /// Whether the requests sent from now on are compressed, when the call compresses; see
    /// [`RequestSink::set_message_compression`].
    pub fn set_message_compression(&mut self, enabled: bool) {
        self.call.requests.set_message_compression(enabled);
    }

    /// Cancels the call (`RST_STREAM(CANCEL)`): sends and reads fail with `CANCELLED` from
    /// now on. Dropping the stream cancels it too.
    pub fn cancel(&mut self) {
        self.call.cancel();
    }

    /// The server's response headers, once the first [`message`](Self::message) read them.
    pub fn headers(&self) -> Option<&MetadataMap> {
        self.call.responses.headers()
    }

    /// The server's trailers, once the stream has ended.
    pub fn trailers(&self) -> Option<&MetadataMap> {
        self.call.responses.trailers()
    }

    /// Whether the response [`message`](Self::message) returned last came compressed.
    pub fn last_message_compressed(&self) -> bool {
        self.call.responses.last_message_compressed()
    }

    /// Tells the server no more requests follow.
    pub fn close_send(&mut self) -> Result<(), Status> {
        self.call.close()
    }

    /// The next response; `Ok(None)` once the server has finished.
    pub async fn message(&mut self) -> Result<Option<Resp>, Status> {
        self.call.message().await
    }

    /// The two directions apart, to send from one task and read in another. The call commits
    /// here: it is not retried from now on.
    pub fn split(self) -> (RequestSink<Req>, Responses<Resp>) {
        (self.call.requests, self.call.responses)
    }
}
